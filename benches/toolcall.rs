//! Constrained decoding measured: the time to compute one allowed-token mask over SmolLM2's
//! 49,152-token vocabulary, chapter 07's trie walk beside llguidance on the same JSON Schema,
//! the same dialect and the same steps (every step of the expected calls of the shipped
//! requests: mask, then take the call's next token). llguidance keeps caches between steps (its
//! lexer states and token-set slices), chapter 07 walks the trie afresh every time.

#[path = "../chapters/07-real-model/tests/common/llguidance_ref.rs"]
mod llguidance_ref;

use ch01_bpe::TokenId;
use ch07_real_model::constrain::ToolCallConstraint;
use ch07_real_model::fetch::{SMOLLM2, ensure};
use ch07_real_model::toolschema::{render_call, to_json_schema};
use ch07_real_model::{Gguf, GgufTokenizer};
use criterion::{Criterion, criterion_group, criterion_main};
use llm_workbench::bench::{Timing, timing};
use llm_workbench::records::{Record, Spread, Throughput};
use llm_workbench::router::gate::tool_specs;
use llm_workbench::router::requests;
use std::time::Duration;

fn bench_masks(c: &mut Criterion) {
    let gguf = Gguf::open_metadata(ensure(&SMOLLM2).expect("the model").path()).expect("GGUF");
    let tok = GgufTokenizer::from_gguf(&gguf).expect("tokenizer");
    let stop = tok.special_id("<|im_end|>").expect("<|im_end|>");
    let tools = tool_specs();
    let schema = to_json_schema(&tools);
    let text = std::fs::read_to_string("data/toolcalls/requests.yaml").expect("requests");
    let calls: Vec<Vec<TokenId>> = requests::parse(&text, "requests.yaml", &tools)
        .expect("requests parse")
        .iter()
        .filter(|r| r.language == "en")
        .map(|r| {
            let tool = tools.iter().find(|t| t.name == r.expected_tool).unwrap();
            tok.tokenizer
                .encode_ordinary(&render_call(tool, &r.expected_params))
        })
        .collect();
    let steps: usize = calls.iter().map(|c| c.len() + 1).sum();
    let ours = ToolCallConstraint::new(&tools, &tok.tokenizer, stop);
    let factory = llguidance_ref::factory(&tok.tokenizer, stop);

    let run_ours = || {
        let mut allowed = 0;
        for call in &calls {
            let mut state = ours.dfa.start;
            for &t in call {
                allowed += ours.mask(state).count();
                state = ours.advance(state, t);
            }
            allowed += ours.mask(state).count();
        }
        allowed
    };
    let run_theirs = || {
        let mut allowed = 0;
        for call in &calls {
            let mut m = llguidance_ref::matcher(&factory, &schema);
            for &t in call {
                allowed += m.compute_mask().expect("mask").num_set();
                m.consume_token(t).expect("an allowed token");
            }
            allowed += m.compute_mask_or_eos().expect("mask").num_set();
        }
        allowed
    };
    assert_eq!(
        run_ours(),
        run_theirs(),
        "the two allow different token counts"
    );

    let mut group = c.benchmark_group("toolcall/mask");
    group.sample_size(10);
    group.bench_function("ours", |b| b.iter(run_ours));
    group.bench_function("llguidance", |b| b.iter(run_theirs));
    group.finish();

    // Seconds per mask: each run times a whole walk of `steps` masks.
    let per_mask = |f: &dyn Fn() -> usize| {
        let timed: Timing = timing(f, 5, Duration::from_secs(2));
        let per = |d: Duration| d.as_secs_f64() / steps as f64;
        let spread = Spread {
            p25_s: per(timed.p25),
            p75_s: per(timed.p75),
            runs: timed.runs,
        };
        (per(timed.median), spread)
    };
    let ((t_ours, spread_ours), (t_theirs, spread_theirs)) =
        (per_mask(&run_ours), per_mask(&run_theirs));
    println!(
        "per mask over {steps} steps ({} calls): ours {:.3} ms, llguidance {:.3} ms ({:.1}× llguidance's time)",
        calls.len(),
        t_ours * 1e3,
        t_theirs * 1e3,
        t_ours / t_theirs
    );
    println!(
        "automaton: {} DFA states; trie: {} nodes over {} text tokens",
        ours.dfa.states(),
        ours.trie.nodes(),
        tok.tokenizer.vocab_size() - tok.tokenizer.special_ids().len()
    );
    for (who, t, spread) in [
        ("ours", t_ours, spread_ours),
        ("llguidance", t_theirs, spread_theirs),
    ] {
        let params = serde_json::json!({
            "model": SMOLLM2.budget_id, "vocab": tok.tokenizer.vocab_size(),
            "steps": steps, "calls": calls.len(), "dfa_states": ours.dfa.states(),
            "ratio_to_llguidance": t_ours / t_theirs,
        });
        Record::new(
            &format!("toolcall/mask/{who}"),
            "07-real-model",
            params,
            Throughput {
                value: 1.0 / t,
                unit: "masks/s".into(),
            },
            t,
        )
        .with_spread(spread)
        .write()
        .expect("records directory is writable");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_masks
}
criterion_main!(benches);
