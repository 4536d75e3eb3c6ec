//! What chapter 07's and chapter 08's benches share: the prompt and token counts llama.cpp is run
//! with (`data/reference/smollm2/llamacpp_speed.py`), the prompt itself, and llama.cpp's figures.

use burn::tensor::Device;
use ch03_transformer_block::LlamaConfig;
use ch04_kv_cache::{Overflow, PreallocCache};
use ch07_real_model::fetch::{SMOLLM2, ensure};
use ch07_real_model::{Generated, Gguf, GgufTokenizer};
use llm_workbench::records::Spread;
use std::path::Path;
use std::process::Command;

/// The model file, fetched first if needed (as `llm-workbench fetch smollm2` does).
pub fn open_gguf() -> Gguf {
    let fetched = ensure(&SMOLLM2).unwrap_or_else(|e| panic!("{e}"));
    Gguf::open(fetched.path()).unwrap()
}

/// The spread of one phase (`prefill` or `decode`) over whole generations: the quartiles of
/// its seconds for `tokens` tokens in each.
pub fn phase_spread(runs: &[Generated], phase: &str, tokens: usize) -> Spread {
    let seconds: Vec<f64> = runs
        .iter()
        .map(|g| match phase {
            "prefill" => tokens as f64 / g.prefill_tokens_per_s(),
            _ => tokens as f64 / g.decode_tokens_per_s(),
        })
        .collect();
    Spread::of_times(&seconds).expect("at least one run")
}

pub const PROMPT_TOKENS: usize = 128;
pub const NEW_TOKENS: usize = 64;

/// llama.cpp's prefill and decode tokens/s on the same file, prompt and counts, or why there
/// are none (its reference environment is made by `data/reference/smollm2/setup.sh`).
pub fn llama_cpp(threads: usize) -> Result<serde_json::Value, String> {
    let cache = std::env::var_os("WORKBENCH_CACHE").map_or_else(
        || Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/llm-workbench"),
        Into::into,
    );
    let python = cache.join("reference-venv/bin/python");
    if !python.exists() {
        return Err(format!(
            "{} is missing: run data/reference/smollm2/setup.sh",
            python.display()
        ));
    }
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/reference/smollm2/llamacpp_speed.py"))
        .args(["--threads", &threads.to_string()])
        .args(["--prompt-tokens", &PROMPT_TOKENS.to_string()])
        .args(["--new-tokens", &NEW_TOKENS.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("llamacpp_speed.py: {e}: {line:?}"))
}

/// The same tokens llamacpp_speed.py uses: the English corpus, from its start.
pub fn prompt(tokenizer: &GgufTokenizer) -> Vec<u32> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpora/english.txt"),
    )
    .unwrap();
    let mut prompt = tokenizer.tokenizer.encode_ordinary(&text);
    while prompt.len() < PROMPT_TOKENS {
        prompt.extend(prompt.clone());
    }
    prompt.truncate(PROMPT_TOKENS);
    prompt
}

/// A pre-allocated cache for the prompt and the new tokens.
pub fn cache(config: &LlamaConfig, device: &Device) -> PreallocCache {
    let (l, kv, d) = (
        config.num_hidden_layers,
        config.kv_heads(),
        config.head_dim(),
    );
    PreallocCache::new(
        l,
        1,
        kv,
        d,
        PROMPT_TOKENS + NEW_TOKENS,
        Overflow::Error,
        device,
    )
    .unwrap()
}
