//! `llm-workbench budget` as a user meets it: JSON fields with units, the sweep charts,
//! this-machine from the machine records, HF config and GGUF inputs, and every bad input
//! answered with one line and exit code 2.

mod common;

use common::{assert_bad_input, bin, json, run, temp_dir};
use std::path::Path;
use std::process::Command;

fn budget(args: &[&str]) -> Command {
    let mut c = bin();
    c.arg("budget").args(args);
    c
}

#[test]
fn json_fields_name_their_units() {
    let v = json(&mut budget(&[
        "--model",
        "llama-3.1-8b",
        "--hardware",
        "h100-sxm",
        "--context",
        "8k",
        "--json",
    ]));
    assert_eq!(v["kv_bytes_per_token"], 131072.0);
    assert_eq!(v["context_tokens"], 8192);
    for field in [
        "weight_bytes",
        "params_total",
        "params_active",
        "max_concurrency",
        "kv_pool_bytes_per_gpu",
        "pool_tokens",
        "decode_tokens_per_s_aggregate",
        "usd_per_mtok_output",
        "vllm_command",
    ] {
        assert!(!v[field].is_null(), "missing {field}");
    }
    assert_eq!(v["vllm"]["max_model_len"], 8192);
    assert_eq!(v["vllm"]["block_size"], 16);
}

#[test]
fn readable_table_by_default() {
    let (code, out, _) = run(&mut budget(&[
        "--model",
        "qwen3-30b-a3b",
        "--context",
        "32k",
        "--tenant",
        "chat:8k:0.5",
        "--tenant",
        "rag:32k:50%",
        "--context-percentiles",
        "p50=2k,p90=8k,p99=32k",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("max concurrency at 32,768 tokens"), "{out}");
    assert!(out.contains("vllm serve Qwen/Qwen3-30B-A3B"), "{out}");
    assert!(out.contains("Context distribution"), "{out}");
    assert!(out.contains("chat") && out.contains("rag"), "{out}");
}

#[test]
fn sweep_prints_and_plots() {
    let v = json(&mut budget(&[
        "--sweep",
        "context=1k..16k",
        "--models",
        "llama-3.1-8b,deepseek-v3",
        "--json",
    ]));
    assert_eq!(
        v["contexts"],
        serde_json::json!([1024, 2048, 4096, 8192, 16384])
    );
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    // MLA's latent is smaller than Llama-8B's GQA cache at every context.
    let kv = |i: usize| {
        series[i]["kv_bytes_per_request"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(
        kv(1)
            .iter()
            .zip(kv(0).iter())
            .all(|(mla, gqa)| mla.as_f64() < gqa.as_f64())
    );
    for chart in v["charts"].as_array().unwrap() {
        assert!(Path::new(chart.as_str().unwrap()).exists(), "{chart}");
    }
}

#[test]
fn this_machine_needs_machine_records_then_works() {
    let dir = temp_dir("budget_this_machine");
    assert_bad_input(
        budget(&["--model", "smollm2-135m", "--hardware", "this-machine"])
            .env("WORKBENCH_RECORDS", &dir),
        &["llm-workbench machine"],
    );
    let (code, _, err) = run(bin()
        .args(["machine", "--quick"])
        .env("WORKBENCH_RECORDS", &dir));
    assert_eq!(code, 0, "{err}");
    let v = json(
        budget(&[
            "--model",
            "smollm2-135m",
            "--hardware",
            "this-machine",
            "--context",
            "2k",
            "--json",
        ])
        .env("WORKBENCH_RECORDS", &dir),
    );
    assert_eq!(v["hardware"], "this-machine");
    assert_eq!(v["kv_cache_dtype"], "f32");
    assert!(v["decode_tokens_per_s_per_request"].as_f64().unwrap() > 0.0);
    // No chapter 04 records here: the comparison says what is missing instead of inventing one.
    assert!(
        v["measured"]["missing"]
            .as_str()
            .unwrap()
            .contains("04-kv-cache")
    );
    assert_bad_input(
        budget(&[
            "--model",
            "smollm2-135m",
            "--hardware",
            "this-machine",
            "--calibrate",
        ])
        .env("WORKBENCH_RECORDS", &dir),
        &["--calibrate"],
    );
}

#[test]
fn reads_a_hf_config_json() {
    let dir = temp_dir("budget_hf_config");
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        r#"{"_name_or_path": "Qwen/Qwen2.5-7B", "model_type": "qwen2", "hidden_size": 3584,
            "intermediate_size": 18944, "num_attention_heads": 28, "num_key_value_heads": 4,
            "num_hidden_layers": 28, "max_position_embeddings": 131072, "vocab_size": 152064,
            "tie_word_embeddings": false, "sliding_window": 131072, "use_sliding_window": false}"#,
    )
    .unwrap();
    let v = json(&mut budget(&["--model", path.to_str().unwrap(), "--json"]));
    // 2 × 28 layers × 4 KV heads × 128 × 2 bytes.
    assert_eq!(v["kv_bytes_per_token"], 57344.0);
    let catalog = json(&mut budget(&["--model", "qwen2.5-7b", "--json"]));
    assert_eq!(v["params_total"], catalog["params_total"]);

    std::fs::write(&path, "{\"hidden_size\": 10,\n  oops}").unwrap();
    assert_bad_input(
        &mut budget(&["--model", path.to_str().unwrap()]),
        &["config.json:2:"],
    );
    std::fs::write(&path, r#"{"model_type": "llama", "hidden_size": 64}"#).unwrap();
    assert_bad_input(
        &mut budget(&["--model", path.to_str().unwrap()]),
        &["num_hidden_layers"],
    );
    assert_bad_input(
        &mut budget(&["--model", "/no/such/config.json"]),
        &["/no/such/config.json"],
    );
}

/// A GGUF v3 header with metadata and two tensor infos (no tensor data is needed).
fn tiny_gguf() -> Vec<u8> {
    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend((v.len() as u64).to_le_bytes());
        out.extend(v.as_bytes());
    }
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(2u64.to_le_bytes()); // tensors
    b.extend(9u64.to_le_bytes()); // metadata pairs
    let kv_u32 = |b: &mut Vec<u8>, k: &str, v: u32| {
        s(b, k);
        b.extend(4u32.to_le_bytes());
        b.extend(v.to_le_bytes());
    };
    s(&mut b, "general.architecture");
    b.extend(8u32.to_le_bytes());
    s(&mut b, "qwen3");
    kv_u32(&mut b, "qwen3.block_count", 28);
    kv_u32(&mut b, "qwen3.embedding_length", 1024);
    kv_u32(&mut b, "qwen3.feed_forward_length", 3072);
    kv_u32(&mut b, "qwen3.attention.head_count", 16);
    kv_u32(&mut b, "qwen3.attention.head_count_kv", 8);
    kv_u32(&mut b, "qwen3.attention.key_length", 128);
    kv_u32(&mut b, "qwen3.context_length", 40960);
    kv_u32(&mut b, "qwen3.vocab_size", 151936);
    for name in ["token_embd.weight", "blk.0.attn_q.weight"] {
        s(&mut b, name);
        b.extend(2u32.to_le_bytes());
        b.extend(1024u64.to_le_bytes());
        b.extend(16u64.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
    }
    b
}

#[test]
fn reads_a_gguf_file() {
    let dir = temp_dir("budget_gguf");
    let path = dir.join("qwen3-0.6b-like.gguf");
    std::fs::write(&path, tiny_gguf()).unwrap();
    let v = json(&mut budget(&[
        "--model",
        path.to_str().unwrap(),
        "--context",
        "4k",
        "--json",
    ]));
    // head_dim 128 from key_length (16 × 128 ≠ 1024): 2 × 28 × 8 × 128 × 2 bytes.
    assert_eq!(v["kv_bytes_per_token"], 114688.0);
    assert_eq!(v["attention"], "GQA");

    std::fs::write(&path, b"GGUF\x03\x00\x00\x00\x01").unwrap();
    assert_bad_input(
        &mut budget(&["--model", path.to_str().unwrap()]),
        &["qwen3-0.6b-like.gguf"],
    );
    std::fs::write(&path, b"not a gguf at all").unwrap();
    assert_bad_input(
        &mut budget(&["--model", path.to_str().unwrap()]),
        &["not a GGUF file"],
    );
}

#[test]
fn bad_inputs_are_one_line_exit_2() {
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-8"]),
        &["did you mean", "llama-3.1-8b"],
    );
    assert_bad_input(&mut budget(&["--model", "qwen3-30b"]), &["qwen3-30b-a3b"]);
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--hardware", "h100"]),
        &["h100-sxm"],
    );
    // Weights that do not fit: by how much, and what would fit.
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-70b"]),
        &["does not fit", "by ", "--tp 2", "fp8"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--gpu-memory-utilization", "1.5"]),
        &["(0, 1]"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--gpu-memory-utilization", "0"]),
        &["(0, 1]"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--gpu-memory-utilization", "-0.5"]),
        &["(0, 1]"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--context", "-5"]),
        &["-5"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--context", "4k"]),
        &["at most 1024"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--block-size", "0"]),
        &["--block-size"],
    );
    assert_bad_input(
        &mut budget(&["--model", "gpt2-small", "--overhead-gib", "-1"]),
        &["--overhead-gib"],
    );
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-8b", "--tp", "3"]),
        &["--tp 3"],
    );
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-8b", "--weights", "int3"]),
        &["--weights"],
    );
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-8b", "--tenant", "chat:8k"]),
        &["--tenant"],
    );
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-8b", "--tenant", "chat:8k:1.5"]),
        &["share"],
    );
    assert_bad_input(
        &mut budget(&[
            "--model",
            "llama-3.1-8b",
            "--context-percentiles",
            "p150=2k",
        ]),
        &["--context-percentiles"],
    );
    assert_bad_input(&mut budget(&["--sweep", "tokens=1k..2k"]), &["--sweep"]);
    assert_bad_input(&mut budget(&[]), &["--model"]);
}

/// The batch where decode turns compute-bound, derived by hand from Llama-3.1-8B's published
/// parameter count (8,030,261,248, of which the 525,336,576-weight input embedding is not read
/// in decode) and the H100 SXM datasheet (989.4 TFLOP/s dense bf16, 3.35 TB/s), at the budget's
/// default 50% / 80% efficiencies: a step reads W bytes of weights plus K per sequence and does
/// F FLOPs per sequence, so it is compute-bound once b·F/(0.5·989.4e12) > (W + b·K)/(0.8·3.35e12).
#[test]
fn batch_sweep_finds_where_decode_turns_compute_bound() {
    let context: f64 = 16.0;
    let read_params = 8_030_261_248.0 - 525_336_576.0;
    let w = 2.0 * read_params;
    let f = 2.0 * read_params + 2.0 * 32.0 * (128.0 + 128.0) * context * 32.0;
    let k = 131_072.0 * context;
    let (compute, bandwidth) = (0.5 * 989.4e12, 0.8 * 3.35e12);
    let by_hand = (w / bandwidth) / (f / compute - k / bandwidth);
    let v = json(&mut budget(&[
        "--sweep",
        "batch=1..1k",
        "--models",
        "llama-3.1-8b,llama-3.1-8b-as-mha",
        "--hardware",
        "h100-sxm",
        "--context",
        "16",
        "--json",
    ]));
    assert_eq!(
        v["batches"],
        serde_json::json!([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    );
    let gqa = &v["series"][0];
    let from = gqa["compute_bound_from_batch"].as_f64().unwrap();
    assert!(
        (from - by_hand.ceil()).abs() <= 1.0,
        "compute-bound from batch {from}, by hand {by_hand:.1}"
    );
    assert!((gqa["ridge_flop_per_byte"].as_f64().unwrap() - 989.4 / 3.35).abs() < 1e-6);
    let points = gqa["points"].as_array().unwrap();
    // Batch 1 does about one FLOP per byte read (2 FLOPs per bf16 weight of 2 bytes).
    let first = points[0]["flop_per_byte"].as_f64().unwrap();
    assert!((0.99..1.01).contains(&first), "{first}");
    for p in points {
        let b = p["batch"].as_f64().unwrap();
        let bound = if b >= from { "compute" } else { "memory" };
        assert_eq!(p["bound"], bound, "{p}");
    }
    // At 4k tokens each MHA sequence reads 2 GiB of KV for ~17 GFLOP: no batch is compute-bound.
    let v = json(&mut budget(&[
        "--sweep",
        "batch=1..64",
        "--models",
        "llama-3.1-8b-as-mha",
        "--hardware",
        "h100-sxm",
        "--context",
        "4k",
        "--json",
    ]));
    assert!(v["series"][0]["compute_bound_from_batch"].is_null(), "{v}");
    for chart in v["charts"].as_array().unwrap() {
        assert!(Path::new(chart.as_str().unwrap()).exists(), "{chart}");
    }
    assert_bad_input(
        &mut budget(&["--sweep", "batch=1..8", "--batch", "4"]),
        &["--batch"],
    );
    assert_bad_input(&mut budget(&["--sweep", "batch=0..8"]), &["--sweep"]);
}

/// A corrupt machine record is named, not mistaken for "no machine records".
#[test]
fn a_corrupt_machine_record_is_named() {
    let dir = temp_dir("budget_corrupt_machine");
    let file = format!(
        "{}.json",
        llm_workbench::machine::MATMUL_ID.replace('/', "__")
    );
    std::fs::write(dir.join(&file), "{\"schema\": 1, \"limits\": ").unwrap();
    assert_bad_input(
        budget(&["--model", "smollm2-135m", "--hardware", "this-machine"])
            .env("WORKBENCH_RECORDS", &dir),
        &[&file],
    );
}

/// A batch the KV pool cannot hold at the context is refused, naming the maximum; the
/// maximum itself is accepted.
#[test]
fn a_batch_beyond_the_pools_concurrency_is_refused() {
    let v = json(&mut budget(&["--model", "llama-3.1-8b", "--json"]));
    let max = v["max_concurrency"].as_f64().unwrap().floor() as u64;
    assert!(max > 1);
    let at_max = json(&mut budget(&[
        "--model",
        "llama-3.1-8b",
        "--json",
        "--batch",
        &max.to_string(),
    ]));
    assert_eq!(at_max["batch"], max);
    assert_bad_input(
        &mut budget(&["--model", "llama-3.1-8b", "--batch", &(max + 1).to_string()]),
        &[
            &format!("--batch {}", max + 1),
            &format!("maximum concurrency {max}"),
        ],
    );
}
