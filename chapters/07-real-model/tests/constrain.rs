//! Constrained decoding against llguidance (the engine behind llama.cpp's and vLLM's structured
//! output), given the same JSON Schema (`data/toolcalls/tools.schema.json`) and SmolLM2's
//! vocabulary, with its options set to this chapter's dialect: `", "` and `": "` separators and
//! no other whitespace (`whitespace_flexible: false`), escapes `\" \\ \b \f \n \r \t` only
//! (`json_allowed_escapes`), properties in schema order (llguidance's only order), its default
//! integer and number regexes. At every step of every sequence the two allowed-token sets must
//! be equal, over all 49,152 tokens.
//!
//! Sequences: each expected call of `data/toolcalls/requests.yaml` tokenized as the model's
//! tokenizer does, a few calls with escapes and non-ASCII text, and seeded random walks that
//! pick any allowed token (the odd tokens a real model might choose: partial UTF-8, `"}}`,
//! numbers glued to separators).

mod common;
#[path = "common/llguidance_ref.rs"]
mod llguidance_ref;

use ch01_bpe::TokenId;
use ch02_attention::lookup::SplitMix64;
use ch07_real_model::constrain::{DEAD, ToolCallConstraint};
use ch07_real_model::toolschema::{ToolSpec, from_json_schema, render_call};
use common::TOKENIZER;
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;
use std::time::{Duration, Instant};

fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/toolcalls")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn schema() -> Value {
    serde_json::from_str(&data("tools.schema.json")).unwrap()
}

fn theirs(m: &mut Matcher) -> Vec<TokenId> {
    m.compute_mask_or_eos().unwrap().to_list()
}

struct Walk {
    steps: usize,
    ours: Duration,
    theirs: Duration,
}

/// Follows `tokens` (or, with `rng`, random allowed tokens) comparing the masks at each step.
fn walk(
    c: &ToolCallConstraint,
    factory: &ParserFactory,
    tokens: Option<&[TokenId]>,
    mut rng: Option<&mut SplitMix64>,
    label: &str,
    w: &mut Walk,
) {
    let mut m = llguidance_ref::matcher(factory, &schema());
    let mut state = c.dfa.start;
    for step in 0.. {
        let t0 = Instant::now();
        let ours = c.mask(state);
        w.ours += t0.elapsed();
        let t1 = Instant::now();
        let reference = theirs(&mut m);
        w.theirs += t1.elapsed();
        w.steps += 1;
        let ours_ids = ours.ids();
        // Runs use the budget-aware mask: with room to spare it is the plain mask, and with a
        // short budget it keeps a subset of it.
        assert_eq!(
            c.mask_within(state, usize::MAX).ids(),
            ours_ids,
            "{label}: step {step}"
        );
        let short = c.mask_within(state, 12).ids();
        assert!(
            short.iter().all(|id| ours.contains(*id)),
            "{label}: step {step}: a budget allowed a token the mask refuses"
        );
        if ours_ids != reference {
            let show = |ids: Vec<TokenId>| -> Vec<String> {
                let n = ids.len();
                let mut v: Vec<String> = ids
                    .into_iter()
                    .take(8)
                    .map(|id| {
                        let b = TOKENIZER.tokenizer.decode_bytes(&[id]).unwrap_or_default();
                        format!("{id}:{:?}", String::from_utf8_lossy(&b))
                    })
                    .collect();
                v.push(format!("({n} in all)"));
                v
            };
            let only_ours = ours_ids
                .iter()
                .copied()
                .filter(|i| !reference.contains(i))
                .collect();
            let only_theirs = reference
                .iter()
                .copied()
                .filter(|i| !ours.contains(*i))
                .collect();
            panic!(
                "{label}: step {step}: allowed sets differ: only ours {:?}; only llguidance {:?}",
                show(only_ours),
                show(only_theirs)
            );
        }
        let next = match (tokens, rng.as_deref_mut()) {
            (Some(t), _) if step < t.len() => t[step],
            (Some(_), _) => c.stop,
            (None, Some(r)) => {
                let ids = ours.ids();
                if step >= 60 {
                    return; // most walks are still inside a string: any token continues it
                }
                if ids.contains(&c.stop) {
                    c.stop
                } else {
                    ids[(r.next_f64() * ids.len() as f64) as usize]
                }
            }
            (None, None) => unreachable!(),
        };
        if next == c.stop {
            assert!(
                ours.contains(c.stop),
                "{label}: stop not allowed at the end"
            );
            return;
        }
        assert!(
            ours.contains(next),
            "{label}: step {step}: token {next} not allowed"
        );
        state = c.advance(state, next);
        assert_ne!(state, DEAD, "{label}");
        m.consume_token(next).unwrap();
    }
}

fn calls(tools: &[ToolSpec]) -> Vec<String> {
    let requests: Value = serde_yaml_ng::from_str(&data("requests.yaml")).unwrap();
    let mut out: Vec<String> = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let tool = tools
                .iter()
                .find(|t| t.name == r["expectedTool"].as_str().unwrap())
                .unwrap();
            render_call(tool, r["expectedParams"].as_object().unwrap())
        })
        .collect();
    out.sort();
    out.dedup();
    out.extend([
        r#"{"tool": "rotate_secret", "params": {"name": "서울-db \"main\"\n\\ok", "namespace": "تجربة 🚀"}}"#.to_string(),
        r#"{"tool": "query_metrics", "params": {"metric": "", "window_days": -0, "threshold": -12.5E+3}}"#.to_string(),
        r#"{"tool": "restart_pods", "params": {"region": "\t\b\f\r", "selector": "a=b,c", "only_failed": true}}"#.to_string(),
    ]);
    out
}

#[test]
fn masks_equal_llguidance_at_every_step() {
    let tools = from_json_schema(&schema()).unwrap();
    let stop = TOKENIZER.special_id("<|im_end|>").unwrap();
    let c = ToolCallConstraint::new(&tools, &TOKENIZER.tokenizer, stop);
    let factory = llguidance_ref::factory(&TOKENIZER.tokenizer, stop);
    let mut w = Walk {
        steps: 0,
        ours: Duration::ZERO,
        theirs: Duration::ZERO,
    };
    let calls = calls(&tools);
    assert!(calls.len() >= 40, "{}", calls.len());
    for call in &calls {
        let tokens = TOKENIZER.tokenizer.encode_ordinary(call);
        walk(&c, &factory, Some(&tokens), None, call, &mut w);
    }
    let mut rng = SplitMix64(7);
    for i in 0..12 {
        walk(
            &c,
            &factory,
            None,
            Some(&mut rng),
            &format!("random walk {i}"),
            &mut w,
        );
    }
    eprintln!(
        "{} masks equal; mean time per mask: ours {:.3} ms, llguidance {:.3} ms (debug-profile test build)",
        w.steps,
        w.ours.as_secs_f64() * 1e3 / w.steps as f64,
        w.theirs.as_secs_f64() * 1e3 / w.steps as f64
    );
    assert!(w.steps > 1000, "{}", w.steps);
}
