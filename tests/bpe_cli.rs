//! `llm-workbench bpe …` through the binary: the contract, and bad input → one line, exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llm-workbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpe_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write(name: &str, bytes: &[u8]) -> String {
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Exit 2 and one line on stderr that contains `needle`.
fn bad(args: &[&str], needle: &str) {
    let out = bin(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line, got {err:?}"
    );
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
}

const ENGLISH: &str = "data/corpora/english.txt";

#[test]
fn train_then_encode_decode_and_count_with_the_trained_file() {
    let out_path = tmp("trained.json").display().to_string();
    let train = json(&bin(&[
        "bpe",
        "train",
        "--corpus",
        ENGLISH,
        "--vocab-size",
        "400",
        "--pattern",
        "gpt2",
        "--out",
        &out_path,
        "--special",
        "<|endoftext|>",
        "--json",
    ]));
    assert_eq!(train["merges"], 144);
    assert_eq!(train["vocab_size"], 401);
    assert!(Path::new(&out_path).exists());

    let text = "Byte pair encoding, 2 ways: naive & fast.\n";
    let input = write("in.txt", text.as_bytes());
    let enc = json(&bin(&[
        "bpe",
        "encode",
        "--tokenizer",
        &out_path,
        "--json",
        &input,
    ]));
    let ids = enc["ids"].as_array().unwrap();
    assert!(!ids.is_empty() && ids.len() < text.len());
    let ids_file = write("ids.json", enc.to_string().as_bytes());
    let dec = json(&bin(&[
        "bpe",
        "decode",
        "--tokenizer",
        &out_path,
        "--json",
        &ids_file,
    ]));
    assert_eq!(dec["text"], text);
    assert_eq!(dec["valid_utf8"], true);
}

#[test]
fn encode_with_cl100k_matches_tiktoken_and_plain_output_is_ids() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(ENGLISH)).unwrap();
    let enc = json(&bin(&[
        "bpe",
        "encode",
        "--tokenizer",
        "cl100k_base",
        "--json",
        ENGLISH,
    ]));
    let ids: Vec<u32> = enc["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(
        ids,
        tiktoken_rs::cl100k_base_singleton().encode_ordinary(&text)
    );
    let plain = bin(&["bpe", "encode", "--tokenizer", "cl100k_base", ENGLISH]);
    let plain: Vec<u32> = String::from_utf8(plain.stdout)
        .unwrap()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(plain, ids);
}

#[test]
fn count_reports_every_file() {
    let out = json(&bin(&[
        "bpe",
        "count",
        "--tokenizer",
        "o200k_base",
        "--json",
        ENGLISH,
        "data/corpora/korean.txt",
    ]));
    let files = out["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let korean = &files[1];
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpora/korean.txt"),
    )
    .unwrap();
    assert_eq!(
        korean["tokens"],
        tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(&text)
            .len()
    );
    assert_eq!(korean["characters"], text.chars().count());
    assert_eq!(korean["bytes"], text.len());
    let per_1k = korean["tokens_per_1k_chars"].as_f64().unwrap();
    assert!(
        (per_1k - 1000.0 * korean["tokens"].as_f64().unwrap() / text.chars().count() as f64).abs()
            < 1e-9
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let out = tmp("x.json").display().to_string();
    let missing = tmp("missing.txt").display().to_string();
    bad(
        &[
            "bpe",
            "train",
            "--corpus",
            ENGLISH,
            "--vocab-size",
            "100",
            "--out",
            &out,
        ],
        "below 256",
    );
    bad(
        &[
            "bpe",
            "train",
            "--corpus",
            &missing,
            "--vocab-size",
            "300",
            "--out",
            &out,
        ],
        "missing.txt",
    );
    let empty = write("empty.txt", b"");
    bad(
        &[
            "bpe",
            "train",
            "--corpus",
            &empty,
            "--vocab-size",
            "300",
            "--out",
            &out,
        ],
        "empty",
    );
    let invalid = write("invalid.txt", b"fine text \xff\xfe more");
    bad(
        &[
            "bpe",
            "train",
            "--corpus",
            &invalid,
            "--vocab-size",
            "300",
            "--out",
            &out,
        ],
        "byte offset 10",
    );
    bad(
        &["bpe", "encode", "--tokenizer", "cl100k_base", &invalid],
        "byte offset 10",
    );
    bad(
        &["bpe", "encode", "--tokenizer", "p99k_base", ENGLISH],
        "unknown tokenizer",
    );
    let corrupt_ranks = write("bad.tiktoken", b"IQ== 0\nnot base64! 1\n");
    bad(
        &["bpe", "encode", "--tokenizer", &corrupt_ranks, ENGLISH],
        "bad.tiktoken:2:",
    );
    let corrupt_json = write("bad.json", b"{\"model\": {\"type\": \"BPE\", ");
    bad(
        &["bpe", "count", "--tokenizer", &corrupt_json, ENGLISH],
        "bad.json",
    );
    let special = write("special.txt", b"hello <|endoftext|>");
    bad(
        &["bpe", "encode", "--tokenizer", "cl100k_base", &special],
        "not allowed",
    );
    let ok = bin(&[
        "bpe",
        "encode",
        "--tokenizer",
        "cl100k_base",
        "--allow-special",
        "--json",
        &special,
    ]);
    assert!(
        json(&ok)["ids"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(100257))
    );
    let ids = write("ids.txt", b"15339 999999999");
    bad(
        &["bpe", "decode", "--tokenizer", "cl100k_base", &ids],
        "999999999",
    );
    bad(
        &[
            "bpe",
            "train",
            "--corpus",
            ENGLISH,
            "--vocab-size",
            "300",
            "--pattern",
            "gpt5",
            "--out",
            &out,
        ],
        "gpt5",
    );
}

#[test]
fn the_tour_section_compares_the_same_essay_across_languages() {
    let tour = llm_workbench::commands::bpe::tour_section(300).unwrap();
    assert_eq!(tour.trained_merges, 44);
    let row = |name: &str| tour.rows.iter().find(|r| r.corpus == name).unwrap();
    assert_eq!(row("english.txt").cl100k_vs_english, Some(1.0));
    let korean = row("korean.txt");
    let english = row("english.txt");
    assert_eq!(
        korean.cl100k_vs_english,
        Some(korean.cl100k_tokens as f64 / english.cl100k_tokens as f64)
    );
    assert!(
        korean.cl100k_vs_english.unwrap() > 1.0,
        "Korean costs more tokens than English"
    );
    assert_eq!(
        row("code_rust.rs.txt").o200k_vs_english,
        None,
        "code is not the same essay"
    );
}
