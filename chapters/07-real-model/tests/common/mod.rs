//! The real model, fetched once per test binary through the same code as
//! `llm-workbench fetch smollm2` (a file lock makes parallel binaries download it once).
#![allow(dead_code)]

use burn::tensor::Device;
use ch03_transformer_block::LlamaModel;
use ch07_real_model::fetch::{SMOLLM2, ensure};
use ch07_real_model::{Gguf, GgufTokenizer, load_model};
use std::sync::LazyLock;

pub static GGUF: LazyLock<Gguf> = LazyLock::new(|| {
    let fetched = ensure(&SMOLLM2).unwrap_or_else(|e| panic!("{e}"));
    Gguf::open(fetched.path()).unwrap_or_else(|e| panic!("{e}"))
});

pub static TOKENIZER: LazyLock<GgufTokenizer> =
    LazyLock::new(|| GgufTokenizer::from_gguf(&GGUF).unwrap_or_else(|e| panic!("{e}")));

pub static MODEL: LazyLock<LlamaModel> =
    LazyLock::new(|| load_model(&GGUF, &Device::flex()).unwrap_or_else(|e| panic!("{e}")));

/// A committed reference fixture from `data/reference/smollm2/`.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/reference/smollm2")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Bytes from a fixture's hex string.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
