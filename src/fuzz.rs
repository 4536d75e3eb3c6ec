//! Fuzz targets: every reader of user files, fed arbitrary bytes.
//!
//! Each function takes the fuzzer's bytes and returns nothing: a reader may refuse the input
//! (that is its job), but a panic, an abort or a hang is a bug. `fuzz/` runs these under
//! libFuzzer (`fuzz/run [SECONDS]`, nightly); `tests/fuzz_replay.rs` replays every committed
//! corpus file and every crash found so far through the same functions on stable, so a fixed
//! crash stays fixed. Where an input is accepted, the target also checks what must hold of it
//! (a tokenizer decodes what it encoded).

use crate::router::{audit, catalog, gate, litellm, policy, workload};
use ch01_bpe::Tokenizer;
use std::sync::{Arc, LazyLock};

/// A fuzz target: takes any bytes, may refuse them, must not panic.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/` call them.
pub const TARGETS: [(&str, Target); 7] = [
    ("bpe_roundtrip", bpe_roundtrip),
    ("tiktoken_ranks", tiktoken_ranks),
    ("tokenizer_json", tokenizer_json),
    ("gguf", gguf),
    ("config_json", config_json),
    ("yaml", yaml),
    ("jsonl", jsonl),
];

/// The shipped model catalog, priced as `route` prices it.
static CATALOG: LazyLock<catalog::Catalog> = LazyLock::new(|| {
    catalog::parse_with(
        crate::data::MODELS_YAML,
        "data/models.yaml",
        &catalog::budget_quote,
    )
    .expect("the shipped catalog parses")
});

/// The tokenizers the workbench ships (chapter 01's builtin rank tables).
static TOKENIZERS: LazyLock<Vec<Arc<Tokenizer>>> = LazyLock::new(|| {
    ch01_bpe::tiktoken::ENCODINGS
        .iter()
        .map(|e| ch01_bpe::tiktoken::builtin(e.name).expect("builtin tokenizer"))
        .collect()
});

/// First byte picks a shipped tokenizer, the rest is text: encoding then decoding gives the
/// text back, with special tokens ordinary and with them recognised.
pub fn bpe_roundtrip(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let tok = &TOKENIZERS[pick as usize % TOKENIZERS.len()];
    let text = String::from_utf8_lossy(rest);
    let ordinary = tok.encode_ordinary(&text);
    assert_eq!(tok.decode(&ordinary).unwrap(), text, "{}", tok.name());
    let special = tok.encode_with_special_tokens(&text);
    assert_eq!(tok.decode(&special).unwrap(), text, "{}", tok.name());
    assert!(special.len() <= ordinary.len());
}

/// A `.tiktoken` rank file, then a tokenizer built from its ranks.
pub fn tiktoken_ranks(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ranks) = ch01_bpe::tiktoken::parse_rank_file(&text, "fuzz.tiktoken")
        && let Ok(tok) = ch01_bpe::tiktoken::ENCODINGS[0].with_ranks(ranks)
    {
        round_trip(&tok, "héllo <|endoftext|> 123");
    }
}

/// A `tokenizer.json`, then a short text through what it built.
pub fn tokenizer_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(tok) = ch01_bpe::hf::from_tokenizer_json(&text, "fuzz.json") {
        round_trip(&tok, "héllo wörld 42");
    }
}

fn round_trip(tok: &Tokenizer, text: &str) {
    let ids = tok.encode_ordinary(text);
    // A vocabulary may lack some bytes (then decoding refuses); what decodes is the text.
    if let Ok(back) = tok.decode_bytes(&ids) {
        assert_eq!(back, text.as_bytes());
    }
}

/// A GGUF file: header, metadata and tensor index (chapter 07), every tensor dequantized, the
/// model config and tokenizer read from it, and the budget's architecture.
pub fn gguf(data: &[u8]) {
    use ch07_real_model::gguf::Gguf;
    let Ok(g) = Gguf::from_bytes(data.to_vec(), "fuzz.gguf") else {
        return;
    };
    for t in &g.tensors {
        let _ = g.dequantize(&t.name);
    }
    let _ = ch07_real_model::model::config_from_gguf(&g);
    let _ = ch07_real_model::tokenizer::GgufTokenizer::from_gguf(&g);
    let _ = crate::budget::gguf::to_architecture(&g, "fuzz.gguf");
}

/// JSON configs: first byte picks a Hugging Face `config.json` (the budget's architecture) or
/// a LiteLLM price file.
pub fn config_json(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if pick % 2 == 0 {
        if let Ok(v) = serde_json::from_str(&text) {
            let _ = crate::budget::arch::from_hf_config(&v, "config.json");
        }
    } else if let Ok(prices) = litellm::parse(&text, "prices.json") {
        let rules = [("*".to_string(), "premium".to_string())];
        let _ = litellm::to_catalog(&prices, &rules, "prices.json", None);
    }
}

/// YAML files: first byte picks the architecture catalog, the hardware catalog, the router's
/// model catalog (self-hosted entries priced by the budget), a policy or a workload.
pub fn yaml(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match pick % 5 {
        0 => {
            let _ = crate::budget::arch::parse_catalog(&text, "architectures.yaml");
        }
        1 => {
            let _ = crate::budget::hardware::parse_catalog(&text, "hardware.yaml");
        }
        2 => {
            // Only catalog ids: a path here would read this machine's files.
            let quote = |sh: &catalog::SelfHosted| {
                let lower = sh.architecture.to_lowercase();
                if lower.ends_with(".gguf") || lower.ends_with(".json") {
                    crate::bail_input!("not a catalog id");
                }
                catalog::budget_quote(sh)
            };
            let _ = catalog::parse_with(&text, "models.yaml", &quote);
        }
        3 => {
            if let Ok(p) = policy::parse(&text, "policy.yaml") {
                let _ = p.check_tiers(&CATALOG, "policy.yaml");
            }
        }
        _ => {
            let _ = workload::parse(&text, "workload.yaml", &workload::Ch01Tokenizers);
        }
    }
}

/// JSONL: tool-call outputs scored by the quality gate, and an audit log with outcomes
/// reviewed against the shipped catalog and policy.
pub fn jsonl(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = gate::score_files(
        &[("outputs.jsonl".into(), text.to_string())],
        &gate::tool_specs(),
    );
    let (mut bad, mut n) = (Vec::new(), 0);
    let lines: Vec<audit::AuditLine> = audit::read_jsonl(&text, "audit.jsonl", &mut bad, &mut n);
    let outcomes: Vec<audit::OutcomeLine> =
        audit::read_jsonl(&text, "outcomes.jsonl", &mut bad, &mut n);
    let _ = audit::review(
        &CATALOG,
        &policy::default_policy(),
        &lines,
        &outcomes,
        bad,
        n,
    );
}
