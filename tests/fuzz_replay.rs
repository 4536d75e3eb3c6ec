//! The fuzz targets on stable: every committed corpus input and every crash the fuzzer found
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through its target function, so a
//! fixed crash stays fixed without nightly. `fuzz/run` finds new ones.

use llm_workbench::fuzz::TARGETS;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn inputs(folder: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(folder).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_runs_without_a_panic() {
    let mut total = 0;
    for (name, target) in TARGETS {
        let corpus = inputs("corpus", name);
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name}/ is empty: seed it (WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_replay)"
        );
        for path in corpus.iter().chain(&inputs("regressions", name)) {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", path.display());
            total += 1;
        }
    }
    assert!(total >= TARGETS.len());
}

/// The seed inputs each target starts from: small valid files of every kind the workbench
/// reads, so the fuzzer begins inside the formats rather than at random bytes. The committed
/// `seed-*` files must equal what this builds from today's data and code (a changed format or
/// shipped file makes them stale); `WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_replay` rewrites
/// them.
#[test]
fn the_seed_corpora_are_current() {
    use ch01_bpe::{FastTrainer, Pattern, TrainConfig, hf, train};
    use ch07_real_model::gguf::{MetaValue, write_gguf};
    use ch07_real_model::quants::GgmlType;
    let write = std::env::var_os("WRITE_FUZZ_SEEDS").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = |p: &str| std::fs::read(root.join("data").join(p)).unwrap();
    let seed = |target: &str, name: &str, pick: Option<u8>, bytes: &[u8]| {
        let path = fuzz_dir()
            .join("corpus")
            .join(target)
            .join(format!("seed-{name}"));
        let mut out = pick.map(|p| vec![p]).unwrap_or_default();
        out.extend_from_slice(bytes);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, out).unwrap();
        } else {
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == out,
                "{} is stale: WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_replay",
                path.display()
            );
        }
    };
    // Text for the round trip: a slice of each shipped corpus, and special-token text.
    for (i, (name, text)) in llm_workbench::data::CORPORA.iter().enumerate() {
        let cut = text.char_indices().nth(300).map_or(text.len(), |c| c.0);
        seed(
            "bpe_roundtrip",
            name,
            Some(i as u8),
            &text.as_bytes()[..cut],
        );
    }
    let specials = "a<|endoftext|>b<|fim_prefix|>c<|endofprompt|><|endoftext";
    for i in 0..3 {
        seed(
            "bpe_roundtrip",
            &format!("specials-{i}"),
            Some(i),
            specials.as_bytes(),
        );
    }
    // A trained tokenizer as tokenizer.json, and a rank file of its bytes and merges.
    let text = String::from_utf8(data("corpora/english.txt")).unwrap();
    let mut config = TrainConfig::new(300, Pattern::Cl100k);
    config.special_tokens = vec!["<|endoftext|>".into()];
    let tok = train(&FastTrainer, &text[..4000], &config)
        .unwrap()
        .tokenizer;
    seed(
        "tokenizer_json",
        "trained.json",
        None,
        hf::to_tokenizer_json(&tok).unwrap().as_bytes(),
    );
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let ranks: String = (0..tok.vocab_size() as u32)
        .filter_map(|id| Some(format!("{} {id}\n", b64(tok.token_bytes(id)?))))
        .collect();
    seed("tiktoken_ranks", "trained.tiktoken", None, ranks.as_bytes());
    // A small Llama-shaped GGUF with a tokenizer and a tensor of each stored type.
    let vocab: Vec<MetaValue> = ["a", "b", "ab", "<s>"]
        .iter()
        .map(|s| MetaValue::Str((*s).into()))
        .collect();
    let metadata = [
        ("general.architecture", MetaValue::Str("llama".into())),
        ("llama.block_count", MetaValue::Uint(1)),
        ("llama.embedding_length", MetaValue::Uint(32)),
        ("llama.feed_forward_length", MetaValue::Uint(64)),
        ("llama.attention.head_count", MetaValue::Uint(2)),
        ("llama.attention.head_count_kv", MetaValue::Uint(1)),
        ("llama.context_length", MetaValue::Uint(128)),
        ("llama.rope.freq_base", MetaValue::Float(10000.0)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::Float(1e-5),
        ),
        ("tokenizer.ggml.model", MetaValue::Str("gpt2".into())),
        ("tokenizer.ggml.tokens", MetaValue::Array(vocab)),
        (
            "tokenizer.ggml.merges",
            MetaValue::Array(vec![MetaValue::Str("a b".into())]),
        ),
    ];
    let tensors = [
        (
            "token_embd.weight",
            vec![32, 4],
            GgmlType::F32,
            vec![0u8; 512],
        ),
        (
            "blk.0.attn_q.weight",
            vec![32, 32],
            GgmlType::Q4_1,
            vec![7u8; 32 * 20],
        ),
        (
            "blk.0.attn_k.weight",
            vec![32, 16],
            GgmlType::Q8_0,
            vec![3u8; 16 * 34],
        ),
        (
            "blk.0.attn_norm.weight",
            vec![32],
            GgmlType::F16,
            vec![0x3cu8; 64],
        ),
    ];
    seed("gguf", "llama.gguf", None, &write_gguf(&metadata, &tensors));
    // Configs, catalogs and logs as shipped, each behind the byte that picks its reader.
    seed(
        "config_json",
        "smollm2.config.json",
        Some(0),
        &data("configs/smollm2-135m.config.json"),
    );
    seed(
        "config_json",
        "litellm.json",
        Some(1),
        &data("prices/litellm-sample.json"),
    );
    seed(
        "yaml",
        "architectures.yaml",
        Some(0),
        &data("architectures.yaml"),
    );
    seed("yaml", "hardware.yaml", Some(1), &data("hardware.yaml"));
    seed("yaml", "models.yaml", Some(2), &data("models.yaml"));
    seed(
        "yaml",
        "policy.yaml",
        Some(3),
        &data("policies/default.yaml"),
    );
    seed(
        "yaml",
        "workload.yaml",
        Some(4),
        &data("workloads/ops-assistant.yaml"),
    );
    seed(
        "jsonl",
        "toolcalls.jsonl",
        None,
        &data("toolcalls/sample-outputs.jsonl"),
    );
    seed(
        "jsonl",
        "outcomes.jsonl",
        None,
        &data("audit/sample-outcomes.jsonl"),
    );
}
