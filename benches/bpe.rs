//! Chapter 01 benches, single-threaded, side by side on the same text:
//!
//! * `bpe/encode_cl100k`: MB/s of our encoder, tiktoken-rs, bpe-openai and the `tokenizers`
//!   crate, all with cl100k_base, on the shipped corpora (English, Korean, Arabic, code,
//!   emoji, whitespace, numbers), repeated to 4× their size;
//! * `bpe/train`: our fast and naive trainers and `tokenizers`' BpeTrainer, same corpus, same
//!   split pattern, same vocabulary size — and the peak bytes each holds while training.
//!
//! Each case also writes a record (`target/workbench/records/`) for `llm-workbench report`.

use ch01_bpe::{FastTrainer, NaiveTrainer, Pattern, TieBreak, TrainConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::alloc::CountingAlloc;
use llm_workbench::bench::{Timing, bytes_of, timing};
use llm_workbench::records::{Record, Throughput as RecThroughput};
use std::time::Duration;

/// The `tokenizers` trainer configured as in chapter 01's parity test (one definition for both).
#[path = "../chapters/01-bpe/tests/common/hf_trainer.rs"]
mod hf_trainer;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const TRAIN_VOCAB: usize = 2048;

/// A named case: runs once, returns a size so the work cannot be optimised away.
type Case<'a> = (&'static str, Box<dyn Fn() -> usize + 'a>);

fn corpus() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpora");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("data/corpora")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn record(
    id: &str,
    params: serde_json::Value,
    value: f64,
    unit: &str,
    timed: &Timing,
    bytes: Option<llm_workbench::alloc::AllocStats>,
) {
    let r = Record::new(
        id,
        "01-bpe",
        params,
        RecThroughput {
            value,
            unit: unit.into(),
        },
        timed.median.as_secs_f64(),
    )
    .with_spread(timed)
    .with_bytes(bytes);
    if let Err(e) = r.write() {
        eprintln!("could not write record {id}: {e}");
    }
}

fn bench_encode(c: &mut Criterion) {
    tokenizers::utils::parallelism::set_parallelism(false);
    let text = corpus().repeat(4);
    let ours = ch01_bpe::load("cl100k_base", None).unwrap();
    let tiktoken = tiktoken_rs::cl100k_base().unwrap();
    let bpe_openai = bpe_openai::cl100k_base();
    let hf: tokenizers::Tokenizer = ch01_bpe::hf::to_tokenizer_json(&ours)
        .unwrap()
        .parse()
        .unwrap();

    // Same ids from all four before any timing.
    let ids = ours.encode_ordinary(&text);
    assert_eq!(ids, tiktoken.encode_ordinary(&text));
    assert_eq!(ids, bpe_openai.encode(text.as_str()));
    assert_eq!(ids, hf.encode(text.as_str(), false).unwrap().get_ids());

    let encoders: Vec<Case> = vec![
        ("ours", Box::new(|| ours.encode_ordinary(&text).len())),
        (
            "tiktoken-rs",
            Box::new(|| tiktoken.encode_ordinary(&text).len()),
        ),
        (
            "bpe-openai",
            Box::new(|| bpe_openai.encode(text.as_str()).len()),
        ),
        (
            "tokenizers",
            Box::new(|| hf.encode(text.as_str(), false).unwrap().len()),
        ),
    ];
    let mut group = c.benchmark_group("bpe/encode_cl100k");
    group.throughput(Throughput::Bytes(text.len() as u64));
    for (name, f) in &encoders {
        group.bench_function(*name, |b| b.iter(f));
    }
    group.finish();

    for (name, f) in &encoders {
        let timed = timing(f, 10, Duration::from_secs(1));
        let t = timed.median.as_secs_f64();
        let mb_s = text.len() as f64 / t / 1e6;
        record(
            &format!("bpe/encode_cl100k/{name}"),
            serde_json::json!({"encoder": name, "encoding": "cl100k_base", "text_bytes": text.len(), "tokens": ids.len(), "threads": 1}),
            mb_s,
            "MB/s",
            &timed,
            bytes_of(f),
        );
        println!("encode {name:<12} {mb_s:8.2} MB/s");
    }
}

fn bench_train(c: &mut Criterion) {
    tokenizers::utils::parallelism::set_parallelism(false);
    let text = corpus();
    let config = TrainConfig {
        tie_break: TieBreak::ByteLevelOrder,
        ..TrainConfig::new(TRAIN_VOCAB, Pattern::Cl100k)
    };
    let trainers: Vec<Case> = vec![
        (
            "fast",
            Box::new(|| {
                ch01_bpe::train(&FastTrainer, &text, &config)
                    .unwrap()
                    .merges
                    .len()
            }),
        ),
        (
            "naive",
            Box::new(|| {
                ch01_bpe::train(&NaiveTrainer, &text, &config)
                    .unwrap()
                    .merges
                    .len()
            }),
        ),
        (
            "tokenizers",
            Box::new(|| {
                hf_trainer::hf_train(&text, TRAIN_VOCAB, Pattern::Cl100k).get_vocab_size(false)
            }),
        ),
    ];
    let mut group = c.benchmark_group("bpe/train_cl100k_pattern");
    group.sample_size(10);
    for (name, f) in &trainers {
        group.bench_function(format!("{name}_vocab{TRAIN_VOCAB}"), |b| b.iter(f));
    }
    group.finish();

    for (name, f) in &trainers {
        let timed = timing(f, 3, Duration::from_millis(500));
        let t = timed.median.as_secs_f64();
        let bytes = bytes_of(f);
        record(
            &format!("bpe/train/{name}"),
            serde_json::json!({"trainer": name, "vocab_size": TRAIN_VOCAB, "pattern": "cl100k", "corpus_bytes": text.len(), "threads": 1}),
            text.len() as f64 / t / 1e6,
            "MB/s",
            &timed,
            bytes,
        );
        println!(
            "train  {name:<12} {:9.4} s  peak {:>12} bytes",
            t,
            bytes.map_or(0, |b| b.peak_bytes)
        );
    }
}

// No criterion plots: they need a system font this machine may lack; our records feed the report.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_encode, bench_train
}
criterion_main!(benches);
