//! Every command against bad input: a missing, empty, garbage or truncated file, a huge,
//! negative or zero number, an unknown id. Each row must exit 2 with exactly one line on
//! stderr that names the file, flag or value at fault, never panic, and write nothing: the
//! command runs in an empty folder (with the records directory inside it) that must stay
//! empty, and the input files must be unchanged. A new command adds rows here.

mod common;

use ch07_real_model::gguf::{MetaValue, write_gguf};
use ch07_real_model::quants::GgmlType;
use common::{bin, temp_dir};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

/// Bad input files, by name, written once into `dir`.
fn write_inputs(dir: &Path) {
    let valid_gguf = write_gguf(
        &[
            ("general.architecture", MetaValue::Str("llama".into())),
            ("llama.block_count", MetaValue::Uint(2)),
            ("llama.embedding_length", MetaValue::Uint(64)),
        ],
        &[(
            "token_embd.weight",
            vec![64, 10],
            GgmlType::F32,
            vec![0u8; 2560],
        )],
    );
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let files: [(&str, &[u8]); 14] = [
        ("empty.txt", b""),
        ("empty.json", b""),
        ("empty.yaml", b""),
        ("empty.gguf", b""),
        ("empty.jsonl", b""),
        ("garbage.txt", &garbage),
        ("garbage.json", &garbage),
        ("garbage.yaml", &garbage),
        ("garbage.gguf", &garbage),
        ("garbage.tiktoken", &garbage),
        (
            "truncated.json",
            b"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0",
        ),
        (
            "truncated.yaml",
            b"models:\n  - id: x\n    tier: [premium\n",
        ),
        ("truncated.gguf", &valid_gguf[..valid_gguf.len() - 100]),
        ("ids.txt", b"1 2 3"),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// One row: the arguments (`{in}` is replaced by the inputs folder) and what the line on
/// stderr must mention.
struct Row(&'static str, &'static [&'static str]);

const ROWS: &[Row] = &[
    // Chapter 01: tokenizers, corpora, ids.
    Row(
        "bpe encode --tokenizer cl100k_base {in}/missing.txt",
        &["missing.txt"],
    ),
    Row(
        "bpe encode --tokenizer cl100k_base {in}/garbage.txt",
        &["garbage.txt", "UTF-8"],
    ),
    Row(
        "bpe encode --tokenizer {in}/missing.json {in}/ids.txt",
        &["missing.json"],
    ),
    Row(
        "bpe encode --tokenizer {in}/empty.json {in}/ids.txt",
        &["empty.json"],
    ),
    Row(
        "bpe encode --tokenizer {in}/garbage.json {in}/ids.txt",
        &["garbage.json"],
    ),
    Row(
        "bpe encode --tokenizer {in}/truncated.json {in}/ids.txt",
        &["truncated.json"],
    ),
    Row(
        "bpe encode --tokenizer {in}/garbage.tiktoken {in}/ids.txt",
        &["garbage.tiktoken"],
    ),
    Row(
        "bpe encode --tokenizer nosuch_base {in}/ids.txt",
        &["nosuch_base"],
    ),
    Row(
        "bpe decode --tokenizer cl100k_base {in}/garbage.txt",
        &["garbage.txt"],
    ),
    Row(
        "bpe decode --tokenizer cl100k_base {in}/huge-id.txt",
        &["99999999999"],
    ),
    Row(
        "bpe decode --tokenizer cl100k_base {in}/negative-id.txt",
        &["-1"],
    ),
    Row(
        "bpe decode --tokenizer cl100k_base {in}/unknown-id.txt",
        &["4000000000"],
    ),
    Row(
        "bpe count --tokenizer cl100k_base {in}/missing.txt",
        &["missing.txt"],
    ),
    Row(
        "bpe train --corpus {in}/missing.txt --vocab-size 300 --out tok.json",
        &["missing.txt"],
    ),
    Row(
        "bpe train --corpus {in}/empty.txt --vocab-size 300 --out tok.json",
        &["empty.txt"],
    ),
    Row(
        "bpe train --corpus {in}/garbage.txt --vocab-size 300 --out tok.json",
        &["garbage.txt"],
    ),
    Row(
        "bpe train --corpus {in}/ids.txt --vocab-size 0 --out tok.json",
        &["vocab"],
    ),
    Row(
        "bpe train --corpus {in}/ids.txt --vocab-size -1 --out tok.json",
        &["-1"],
    ),
    Row(
        "bpe train --corpus {in}/ids.txt --vocab-size 99999999999 --out tok.json",
        &["vocab"],
    ),
    // Chapter 02: sizes.
    Row("attention compare --seq 0", &["--seq"]),
    Row("attention compare --seq -5", &["-5"]),
    Row(
        "attention compare --seq 4000000000 --batch 4000000000",
        &["4 GiB"],
    ),
    Row(
        "attention compare --seq 64 --head-dim 18446744073709551615",
        &["4 GiB"],
    ),
    Row(
        "attention compare --seq 64 --batch 18446744073709551615 --heads 18446744073709551615",
        &["4 GiB"],
    ),
    Row("attention saturation --seq 0", &["--seq"]),
    Row("attention saturation --seq 99999999999999", &["--seq"]),
    Row(
        "attention heatmap --tokenizer {in}/missing.json --dir charts",
        &["missing.json"],
    ),
    Row("attention heatmap --text  --dir charts", &["--text"]),
    // Chapter 03: configs and training.
    Row("block params --config {in}/missing.json", &["missing.json"]),
    Row("block params --config {in}/empty.json", &["empty.json"]),
    Row("block params --config {in}/garbage.json", &["garbage.json"]),
    Row(
        "block params --config {in}/truncated.json",
        &["truncated.json"],
    ),
    Row(
        "block params --config {in}/huge.config.json",
        &["huge.config.json", "hidden_size"],
    ),
    Row(
        "budget --model {in}/huge.config.json",
        &["huge.config", "does not fit"],
    ),
    Row("block params --context 0", &["--context"]),
    Row("block params --context -1", &["-1"]),
    Row(
        "block train --corpus {in}/missing.txt --no-chart",
        &["missing.txt"],
    ),
    Row(
        "block train --corpus {in}/empty.txt --no-chart",
        &["empty.txt"],
    ),
    Row(
        "block train --corpus {in}/garbage.txt --no-chart",
        &["garbage.txt"],
    ),
    Row("block train --steps 0 --no-chart", &["--steps"]),
    Row("block train --steps 99999999999 --no-chart", &["--steps"]),
    Row("block train --tokens 99999999999 --no-chart", &["--tokens"]),
    // Chapters 04 and 07: generation and models.
    Row(
        "generate --prompt hi --max-new-tokens 0",
        &["--max-new-tokens"],
    ),
    Row(
        "generate --prompt hi --max-new-tokens 99999999999",
        &["--max-new-tokens"],
    ),
    Row("generate --prompt hi --max-new-tokens -3", &["-3"]),
    Row("generate --prompt hi --cache nosuch", &["nosuch"]),
    Row(
        "generate --prompt hi --model {in}/missing.gguf",
        &["missing.gguf"],
    ),
    Row(
        "generate --prompt hi --model {in}/empty.gguf",
        &["empty.gguf"],
    ),
    Row(
        "generate --prompt hi --model {in}/garbage.gguf",
        &["garbage.gguf"],
    ),
    Row(
        "generate --prompt hi --model {in}/truncated.gguf",
        &["truncated.gguf"],
    ),
    Row(
        "generate --prompt hi --model nosuch-model",
        &["nosuch-model"],
    ),
    Row("fetch nosuch-model", &["nosuch-model"]),
    // Chapter 06.
    Row("moe --tokens 0", &["--tokens"]),
    Row("moe --tokens -1", &["-1"]),
    Row("moe --tokens 99999999999", &["--tokens"]),
    Row("moe --experts 0", &["experts"]),
    Row("moe --experts 8 --top-k 9", &["top_k"]),
    // The serving budget.
    Row("budget --model nosuch-model", &["nosuch-model"]),
    Row("budget --model {in}/missing.json", &["missing.json"]),
    Row("budget --model {in}/empty.json", &["empty.json"]),
    Row("budget --model {in}/garbage.json", &["garbage.json"]),
    Row("budget --model {in}/truncated.json", &["truncated.json"]),
    Row("budget --model {in}/empty.gguf", &["empty.gguf"]),
    Row("budget --model {in}/garbage.gguf", &["garbage.gguf"]),
    Row("budget --model {in}/truncated.gguf", &["truncated.gguf"]),
    Row(
        "budget --model llama-3.1-8b --hardware nosuch-gpu",
        &["nosuch-gpu"],
    ),
    Row("budget --model llama-3.1-8b --context 0", &["--context"]),
    Row("budget --model llama-3.1-8b --context -1", &["-1"]),
    Row(
        "budget --model llama-3.1-8b --context 99999999999",
        &["context"],
    ),
    Row(
        "budget --model llama-3.1-8b --batch 100000",
        &["--batch 100000", "maximum concurrency"],
    ),
    Row("budget --model llama-3.1-8b --batch 0", &["--batch"]),
    Row("budget --model llama-3.1-8b --tp 0", &["--tp"]),
    Row(
        "budget --model llama-3.1-8b --gpu-memory-utilization 1.5",
        &["utilization"],
    ),
    Row(
        "budget --model llama-3.1-8b --hardware this-machine",
        &["this-machine"],
    ),
    // The cost router and the quality gate.
    Row("route --catalog {in}/missing.yaml", &["missing.yaml"]),
    Row("route --catalog {in}/empty.yaml", &["empty.yaml"]),
    Row("route --catalog {in}/garbage.yaml", &["garbage.yaml"]),
    Row("route --catalog {in}/truncated.yaml", &["truncated.yaml"]),
    Row("route --workload {in}/missing.yaml", &["missing.yaml"]),
    Row("route --workload {in}/empty.yaml", &["empty.yaml"]),
    Row("route --workload {in}/garbage.yaml", &["garbage.yaml"]),
    Row("route --policy {in}/empty.yaml", &["empty.yaml"]),
    Row("route --policy {in}/garbage.yaml", &["garbage.yaml"]),
    Row(
        "route --outputs {in}/missing.jsonl --no-chart",
        &["missing.jsonl"],
    ),
    Row(
        "route --outputs {in}/garbage.jsonl --no-chart --audit audit.jsonl",
        &["garbage.jsonl"],
    ),
    Row(
        "route review --audit {in}/missing.jsonl --outcomes {in}/empty.jsonl",
        &["missing.jsonl"],
    ),
    Row(
        "route review --audit {in}/empty.jsonl --outcomes {in}/empty.jsonl",
        &["empty.jsonl"],
    ),
    Row(
        "route review --audit {in}/garbage.txt --outcomes {in}/empty.jsonl",
        &["garbage.txt"],
    ),
    Row(
        "route import-litellm --prices {in}/missing.json --tier *=premium",
        &["missing.json"],
    ),
    Row(
        "route import-litellm --prices {in}/garbage.json --tier *=premium",
        &["garbage.json"],
    ),
    Row(
        "route import-litellm --prices {in}/truncated.json --tier *=premium",
        &["truncated.json"],
    ),
    Row(
        "route import-litellm --prices {in}/truncated.json --tier premium",
        &["--tier"],
    ),
    Row(
        "route compare-prices {in}/missing.yaml {in}/empty.yaml",
        &["missing.yaml"],
    ),
    Row(
        "toolcall score --outputs {in}/missing.jsonl",
        &["missing.jsonl"],
    ),
    Row(
        "toolcall score --outputs {in}/empty.jsonl",
        &["empty.jsonl"],
    ),
    Row(
        "toolcall score --outputs {in}/garbage.txt",
        &["garbage.txt"],
    ),
    Row(
        "toolcall score --outputs {in}/empty.jsonl --tools {in}/truncated.json",
        &["truncated.json"],
    ),
    Row(
        "toolcall run --model smollm2 --out o.jsonl",
        &["smollm2", "fetch"],
    ),
    Row(
        "toolcall run --model {in}/garbage.gguf --out o.jsonl",
        &["garbage.gguf"],
    ),
    Row(
        "toolcall run --model smollm2 --tools {in}/garbage.json --out o.jsonl",
        &["garbage.json"],
    ),
    Row(
        "toolcall run --model smollm2 --requests {in}/truncated.yaml --out o.jsonl",
        &["truncated.yaml"],
    ),
    Row(
        "toolcall run --model smollm2 --requests {in}/empty.yaml --out o.jsonl",
        &["empty.yaml"],
    ),
    Row(
        "toolcall run --model smollm2 --limit 0 --out o.jsonl",
        &["--limit"],
    ),
    Row(
        "toolcall run --model smollm2 --max-new-tokens 0 --out o.jsonl",
        &["--max-new-tokens"],
    ),
    Row(
        "toolcall run --model smollm2 --out {in}/missing/o.jsonl",
        &["--out", "missing"],
    ),
    Row("toolcall schema --out {in}/missing/x.json", &["x.json"]),
    Row("route --cpu-usd-per-hour -1", &["--cpu-usd-per-hour"]),
    Row("route --cpu-usd-per-hour 0", &["--cpu-usd-per-hour"]),
    Row("route --cpu-usd-per-hour nan", &["--cpu-usd-per-hour"]),
    Row("report --records {in}/missing", &["missing"]),
    Row("report --records {in}/ids.txt", &["ids.txt"]),
    // Unknown flags, and the flags the rows above do not reach.
    Row("tour --nosuch", &["--nosuch"]),
    Row("machine --nosuch", &["--nosuch"]),
    Row("gqa --nosuch", &["--nosuch"]),
    Row("moe --tokens 65536 --experts 256", &["65536"]),
    Row("attention saturation --seq 100000", &["--seq"]),
    Row("attention compare --tile 0", &["--tile"]),
    Row(
        "attention heatmap --tokenizer {in}/garbage.json --dir charts",
        &["garbage.json"],
    ),
    Row(
        "attention heatmap --tokenizer {in}/truncated.json --dir charts",
        &["truncated.json"],
    ),
    Row(
        "bpe count --tokenizer {in}/garbage.tiktoken {in}/ids.txt",
        &["garbage.tiktoken"],
    ),
    Row(
        "bpe decode --tokenizer {in}/truncated.json {in}/ids.txt",
        &["truncated.json"],
    ),
    Row(
        "bpe train --corpus {in}/ids.txt --vocab-size 300 --out nosuch/tok.json",
        &["nosuch"],
    ),
    Row("generate --prompt hi --temperature -1", &["--temperature"]),
    Row("generate --prompt hi --top-p 2", &["--top-p"]),
    Row("generate --prompt hi --top-k 0", &["--top-k"]),
    Row(
        "generate --prompt hi --model smollm2 --weights nosuch",
        &["nosuch"],
    ),
    Row(
        "generate --prompt hi --model smollm2 --activations nosuch",
        &["nosuch"],
    ),
    Row("budget --model llama-3.1-8b --tenant nosuch", &["--tenant"]),
    Row("budget --sweep nosuch=1..2", &["nosuch"]),
    Row("budget --sweep batch=0..8", &["--sweep"]),
    Row("budget --sweep batch=1..8 --batch 4", &["--batch"]),
    Row("budget --sweep batch=1..8 --models nosuch", &["nosuch"]),
    Row(
        "budget --model llama-3.1-8b --context-percentiles garbage",
        &["garbage"],
    ),
    Row(
        "budget --model llama-3.1-8b --block-size 0",
        &["--block-size"],
    ),
    Row("budget --model llama-3.1-8b --kv-dtype nosuch", &["nosuch"]),
    Row("budget --model llama-3.1-8b --weights nosuch", &["nosuch"]),
    Row(
        "budget --model llama-3.1-8b --prompt-tokens 0",
        &["--prompt-tokens"],
    ),
    Row(
        "budget --model llama-3.1-8b --compute-efficiency 0",
        &["efficiency"],
    ),
    Row(
        "budget --model llama-3.1-8b --bandwidth-efficiency 2",
        &["efficiency"],
    ),
    Row(
        "budget --model llama-3.1-8b --usd-per-hour -1",
        &["--usd-per-hour"],
    ),
    Row("budget --model llama-3.1-8b --calibrate", &["--calibrate"]),
    Row(
        "route review --audit {in}/empty.jsonl --outcomes {in}/empty.jsonl --catalog {in}/garbage.yaml",
        &["garbage.yaml"],
    ),
    Row(
        "route review --audit {in}/empty.jsonl --outcomes {in}/empty.jsonl --policy {in}/garbage.yaml",
        &["garbage.yaml"],
    ),
    Row(
        "route compare-prices {in}/garbage.yaml {in}/garbage.json",
        &["garbage"],
    ),
    Row(
        "route import-litellm --prices {in}/garbage.json --tier *=premium --as-of garbage",
        &["garbage"],
    ),
];

/// Names and contents of every file under `dir`.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                out.push((path.clone(), Vec::new()));
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_command_refuses_bad_input_with_one_line_and_writes_nothing() {
    let root = temp_dir("bad-input-matrix");
    let inputs = root.join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    write_inputs(&inputs);
    for (name, text) in [
        ("huge-id.txt", "1 99999999999"),
        ("negative-id.txt", "1 -1 2"),
        ("unknown-id.txt", "[1, 4000000000]"),
    ] {
        std::fs::write(inputs.join(name), text).unwrap();
    }
    std::fs::write(inputs.join("garbage.jsonl"), [0xffu8, 0xfe, b'\n', 0x00]).unwrap();
    let shipped = include_str!("../data/configs/smollm2-135m.config.json");
    let huge = shipped.replace("\"hidden_size\": 576", "\"hidden_size\": 99999999999");
    assert_ne!(huge, shipped);
    std::fs::write(inputs.join("huge.config.json"), huge).unwrap();
    let before = snapshot(&inputs);
    let mut failures = Vec::new();
    for Row(args, mention) in ROWS {
        let cwd = root.join("cwd");
        let _ = std::fs::remove_dir_all(&cwd);
        std::fs::create_dir_all(&cwd).unwrap();
        let args: Vec<String> = args
            .split(' ')
            .map(|a| a.replace("{in}", inputs.to_str().unwrap()))
            .collect();
        let out = bin()
            .args(&args)
            .current_dir(&cwd)
            .env("WORKBENCH_RECORDS", cwd.join("records"))
            .env("WORKBENCH_MODELS", cwd.join("models"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.trim_end();
        let mut wrong = Vec::new();
        match (out.status.code(), out.status.signal()) {
            (Some(2), _) => {}
            (Some(code), _) => wrong.push(format!("exit {code}")),
            (None, signal) => wrong.push(format!("killed by signal {signal:?}")),
        }
        if line.lines().count() != 1 {
            wrong.push(format!("{} lines on stderr", line.lines().count()));
        }
        if stderr.contains("panicked") {
            wrong.push("panicked".into());
        }
        for m in *mention {
            if !line.contains(m) {
                wrong.push(format!("does not mention {m:?}"));
            }
        }
        let written = snapshot(&cwd);
        if !written.is_empty() {
            wrong.push(format!(
                "wrote {:?}",
                written.iter().map(|w| &w.0).collect::<Vec<_>>()
            ));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {line}",
                args.join(" "),
                wrong.join(", ")
            ));
        }
    }
    assert_eq!(snapshot(&inputs), before, "an input file changed");
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}
