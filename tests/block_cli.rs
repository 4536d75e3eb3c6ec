//! `llm-workbench block …` as a user meets it: JSON output that agrees with the formula, and
//! bad configs or arguments that exit 2 with one line naming the field or file.

mod common;

use common::bin;
use std::path::{Path, PathBuf};

fn run(args: &[&str]) -> (i32, String, String) {
    common::run(bin().args(args))
}

fn write_config(name: &str, json: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("block_cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path
}

fn assert_bad_input(args: &[&str], must_mention: &str) {
    common::assert_bad_input(bin().args(args), &[must_mention]);
}

#[test]
fn params_of_the_shipped_smollm2_config() {
    let (code, stdout, stderr) = run(&[
        "block",
        "params",
        "--config",
        "data/configs/smollm2-135m.config.json",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["total_params"], 134_515_008);
    let rows = v["rows"].as_array().unwrap();
    let sum: u64 = rows.iter().map(|r| r["params"].as_u64().unwrap()).sum();
    assert_eq!(sum, 134_515_008, "the rows add up to the total");
    let flops: f64 = rows
        .iter()
        .map(|r| r["flops_per_token"].as_f64().unwrap())
        .sum();
    assert!((flops - v["flops_per_token"].as_f64().unwrap()).abs() < 1.0);
}

#[test]
fn bad_configs_exit_2_naming_the_field() {
    let base =
        r#""model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "vocab_size": 100"#;
    let heads = write_config(
        "heads.json",
        &format!(r#"{{{base}, "num_attention_heads": 5, "num_hidden_layers": 2}}"#),
    );
    assert_bad_input(
        &["block", "params", "--config", heads.to_str().unwrap()],
        "num_attention_heads",
    );
    let kv = write_config(
        "kv.json",
        &format!(
            r#"{{{base}, "num_attention_heads": 4, "num_key_value_heads": 3, "num_hidden_layers": 2}}"#
        ),
    );
    assert_bad_input(
        &["block", "params", "--config", kv.to_str().unwrap()],
        "num_key_value_heads",
    );
    let zero = write_config(
        "zero.json",
        &format!(r#"{{{base}, "num_attention_heads": 4, "num_hidden_layers": 0}}"#),
    );
    assert_bad_input(
        &["block", "params", "--config", zero.to_str().unwrap()],
        "num_hidden_layers",
    );
    let typo = write_config(
        "typo.json",
        &format!(r#"{{{base}, "num_attention_heads": 4, "num_layers": 2}}"#),
    );
    assert_bad_input(
        &["block", "params", "--config", typo.to_str().unwrap()],
        "num_layers",
    );
    let falcon = write_config(
        "falcon.json",
        r#"{"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4}"#,
    );
    assert_bad_input(
        &["block", "params", "--config", falcon.to_str().unwrap()],
        "\"falcon\" is not a family this reader knows (supported: llama, mistral,",
    );
    let broken = write_config("broken.json", "{ \"hidden_size\": ");
    assert_bad_input(
        &["block", "params", "--config", broken.to_str().unwrap()],
        "broken.json",
    );
    assert_bad_input(
        &["block", "params", "--config", "no/such/config.json"],
        "no/such/config.json",
    );
    assert_bad_input(&["block", "train", "--steps", "0"], "--steps");
    assert_bad_input(
        &["block", "train", "--corpus", "no/such/corpus.txt"],
        "no/such/corpus.txt",
    );
}

#[test]
fn a_short_training_run_reports_every_step() {
    let (code, stdout, stderr) = run(&[
        "block",
        "train",
        "--steps",
        "3",
        "--tokens",
        "4",
        "--no-chart",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["demo"]["losses"].as_array().unwrap().len(), 3);
    assert!(
        v["demo"]["generated"]
            .as_str()
            .unwrap()
            .starts_with(ch03_transformer_block::DEMO_PROMPT)
    );
}
