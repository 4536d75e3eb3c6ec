//! Chapter 09 measured: chapter 09's engine serving SmolLM2-135M (f32 weights, chapter 07's
//! burn model) on this machine.
//!
//! 1. **The batch curve**: `B` requests arriving together (32-token prompts, 32 output tokens),
//!    `B` = 1…64; decode tokens/s over the steps where all `B` decode, beside the budget's
//!    `this-machine` roofline for the same shape, batch and context (at 100% and calibrated
//!    with the efficiencies these records imply), and beside the same rows through the model
//!    as one dense step without the paged attention (what the weights alone cost). A record
//!    per batch (`serving/decode/batch-B`) for `budget --calibrate` and the report.
//! 2. **Continuous vs static batching** on one workload (48 requests, Poisson arrivals, mixed
//!    lengths): throughput, time to first token and time per output token.
//! 3. **Arrival rate**: the same engine at 1…8 requests/s.
//!
//! `SERVING_BENCH_BATCHES=1,8,64` measures a subset of the batch sizes; `SERVING_BENCH_PARTS=
//! batch,policy,rate` a subset of the parts. Writes `ch09-batch-curve` into the report folder.

use burn::tensor::Device;
use ch03_transformer_block::LlamaModel;
use ch03_transformer_block::train::ids_tensor;
use ch07_real_model::fetch::SMOLLM2;
use ch07_real_model::{GgufTokenizer, config_from_gguf, load_model};
use ch09_serving::{
    Batching, Engine, EngineConfig, Request, Served, Summary, decode_tokens_per_s, from_trace,
    prompt_from, synthetic,
};
use criterion::{Criterion, criterion_group, criterion_main};
use llm_workbench::budget::calc::Efficiency;
use llm_workbench::budget::{hardware, measured};
use llm_workbench::plot::{Chart, Series, report_dir};
use llm_workbench::records::{Record, Throughput as Rate, records_dir};
use std::time::Instant;

/// Only the model file is shared with chapters 07 and 08's benches.
#[allow(dead_code)]
#[path = "common/smollm2.rs"]
mod smollm2;

const PROMPT: usize = 32;
const OUTPUT: usize = 32;
const BLOCK: usize = 16;

fn selected(var: &str, name: &str) -> bool {
    std::env::var(var).map_or(true, |list| list.split(',').any(|x| x.trim() == name))
}

fn batches() -> Vec<usize> {
    [1, 2, 4, 8, 16, 32, 64]
        .into_iter()
        .filter(|b| selected("SERVING_BENCH_BATCHES", &b.to_string()))
        .collect()
}

fn serve(model: &LlamaModel, config: EngineConfig, requests: &[Request]) -> Served {
    Engine::new(model, config).unwrap().serve(requests).unwrap()
}

/// The same `b` rows through the model as one dense step (one sequence of `b` tokens, no
/// cache): every weight product of a batch-`b` decode step, without paged attention.
fn dense_rows_tokens_per_s(model: &LlamaModel, b: usize, device: &Device) -> f64 {
    let ids: Vec<u32> = (0..b as u32).map(|i| 100 + i).collect();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let logits = model.forward(ids_tensor(&ids, 1, device)).unwrap();
            let _ = logits.into_data();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    b as f64 / times[times.len() / 2]
}

fn bench_serving(_: &mut Criterion) {
    let gguf = smollm2::open_gguf();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let device = llm_workbench::device::bench_device();
    let model = load_model(&gguf, &device).unwrap();
    let config = config_from_gguf(&gguf).unwrap();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpora/english.txt"),
    )
    .unwrap();
    let source = tokenizer.tokenizer.encode_ordinary(&text);
    let shape = serde_json::json!({
        "model": SMOLLM2.budget_id, "weights": "f32", "cache": "paged", "block_size": BLOCK,
        "layers": config.num_hidden_layers, "hidden": config.hidden_size,
        "heads": config.num_attention_heads, "kv_heads": config.kv_heads(),
        "head_dim": config.head_dim(), "vocab": config.vocab_size,
        "intermediate": config.intermediate_size,
        "tied_embeddings": config.tie_word_embeddings,
    });

    if selected("SERVING_BENCH_PARTS", "batch") {
        batch_curve(&model, &source, &shape, &device);
    }
    if selected("SERVING_BENCH_PARTS", "policy") {
        policies(&model, &source, &shape);
    }
    if selected("SERVING_BENCH_PARTS", "rate") {
        rates(&model, &source, &shape);
    }
}

fn batch_curve(model: &LlamaModel, source: &[u32], shape: &serde_json::Value, device: &Device) {
    let mut records = Vec::new();
    let mut dense = Vec::new();
    println!(
        "batch | decode tok/s | step ms | dense rows tok/s | TTFT p50/p95 ms | TPOT p50/p95 ms"
    );
    for b in batches() {
        let requests: Vec<Request> = (0..b)
            .map(|id| Request {
                id,
                arrival_s: 0.0,
                prompt: prompt_from(source, id, PROMPT),
                output_tokens: OUTPUT,
            })
            .collect();
        let config = EngineConfig {
            max_batch: b,
            max_step_tokens: b * PROMPT,
            pool_blocks: b * (PROMPT + OUTPUT).div_ceil(BLOCK),
            block_size: BLOCK,
            batching: Batching::Continuous,
        };
        let served = serve(model, config, &requests);
        let rate = decode_tokens_per_s(&served.steps, b).expect("steps where all decode");
        let summary = Summary::of(&served);
        let dense_rate = dense_rows_tokens_per_s(model, b, device);
        dense.push((b as f64, dense_rate));
        let ms = |v: Option<f64>| v.map_or(f64::NAN, |v| v * 1e3);
        println!(
            "{b:5} | {rate:12.1} | {:7.1} | {dense_rate:16.1} | {:6.0} / {:6.0} | {:5.1} / {:5.1}",
            b as f64 / rate * 1e3,
            summary.ttft_p50_s * 1e3,
            summary.ttft_p95_s * 1e3,
            ms(summary.tpot_p50_s),
            ms(summary.tpot_p95_s)
        );
        let mut params = shape.clone();
        let extra = serde_json::json!({
            "batch": b, "prompt_tokens": PROMPT, "output_tokens": OUTPUT,
            // Mean positions attended over the decode steps: prompt + half the output.
            "context": PROMPT + OUTPUT / 2,
            "dense_rows_tokens_per_s": dense_rate,
            "summary": summary,
        });
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let record = Record::new(
            &format!("serving/decode/batch-{b}"),
            "09-serving",
            params,
            Rate {
                value: rate,
                unit: "tokens/s".into(),
            },
            b as f64 / rate,
        );
        record.write().expect("records directory is writable");
        records.push(record);
    }
    predicted_vs_measured(&records, &dense);
}

/// The budget's `this-machine` prediction per batch, at 100% and calibrated with the
/// efficiencies these records imply, and the chart of all of it.
fn predicted_vs_measured(records: &[Record], dense: &[(f64, f64)]) {
    let dir = records_dir();
    let hw = match hardware::this_machine(&dir) {
        Ok(hw) => hw,
        Err(e) => {
            println!("no prediction: {e}");
            return;
        }
    };
    let m = measured::compare(records, &hw, &dir.display().to_string());
    let calibrated = Efficiency {
        bandwidth: m.median_efficiency.unwrap_or(1.0),
        compute: m.median_compute_efficiency.unwrap_or(1.0),
    };
    println!(
        "this-machine: {:.1} GB/s, {:.0} GFLOP/s; implied efficiency: bandwidth {:.2}, compute {}",
        hw.bandwidth_bytes_per_s / 1e9,
        hw.peak_flops_for("fp32").0 / 1e9,
        calibrated.bandwidth,
        m.median_compute_efficiency
            .map_or("– (no compute-bound batch)".into(), |c| format!("{c:.2}"))
    );
    println!("batch | measured | roofline 100% | bound | calibrated | measured/calibrated");
    let (mut at_full, mut at_calibrated, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    for (r, c) in records.iter().zip(&m.comparisons) {
        let cal = measured::predict(r, &hw, calibrated).expect("a decode record");
        println!(
            "{:5} | {:8.1} | {:13.1} | {:7} | {:10.1} | {:.2}",
            c.batch,
            c.measured_tokens_per_s,
            c.predicted_tokens_per_s,
            c.bound,
            cal.tokens_per_s,
            c.measured_tokens_per_s / cal.tokens_per_s
        );
        let b = c.batch as f64;
        ours.push((b, c.measured_tokens_per_s));
        at_full.push((b, c.predicted_tokens_per_s));
        at_calibrated.push((b, cal.tokens_per_s));
    }
    let chart = Chart::line(
        "ch09-batch-curve",
        "SmolLM2-135M f32: decode tokens/s against batch size",
        "batch (sequences decoding together)",
        "decode tokens/s",
        (true, true),
        vec![
            Series {
                name: "budget roofline at 100%".into(),
                points: at_full,
            },
            Series {
                name: format!(
                    "budget, calibrated ({:.0}% bandwidth, {:.0}% compute)",
                    calibrated.bandwidth * 100.0,
                    calibrated.compute * 100.0
                ),
                points: at_calibrated,
            },
            Series {
                name: "the same rows as one dense step (no paged attention)".into(),
                points: dense.to_vec(),
            },
            Series {
                name: "chapter 09 engine, measured".into(),
                points: ours,
            },
        ],
    );
    match chart.write(&report_dir()) {
        Ok(files) => println!("chart: {}", files[0].display()),
        Err(e) => println!("chart not drawn: {e}"),
    }
}

fn summary_row(name: &str, s: &Summary) {
    let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0}", v * 1e3));
    println!(
        "{name:>12} | {:7.1} | {:>6} / {:>6} | {:>5} / {:>5} | {:5.1} | {:3.0}% | {}",
        s.output_tokens_per_s,
        ms(Some(s.ttft_p50_s)),
        ms(Some(s.ttft_p95_s)),
        ms(s.tpot_p50_s),
        ms(s.tpot_p95_s),
        s.mean_batch,
        s.pool_utilisation_mean * 100.0,
        s.preemptions
    );
}

fn write_summary(id: &str, shape: &serde_json::Value, extra: serde_json::Value, s: &Summary) {
    let mut params = shape.clone();
    let p = params.as_object_mut().unwrap();
    p.extend(extra.as_object().unwrap().clone());
    p.insert("summary".into(), serde_json::to_value(s).unwrap());
    Record::new(
        id,
        "09-serving",
        params,
        Rate {
            value: s.output_tokens_per_s,
            unit: "tokens/s".into(),
        },
        s.makespan_s,
    )
    .write()
    .expect("records directory is writable");
}

const HEADER: &str =
    "      policy | tok/s   | TTFT p50 / p95 ms | TPOT p50 / p95 ms | batch | pool | pre-empted";

/// Continuous against static batching on one workload: 48 requests at 3 per second, prompts
/// 32–96 tokens, outputs 16–48 (the spread of lengths is what static batching pays for).
fn policies(model: &LlamaModel, source: &[u32], shape: &serde_json::Value) {
    let requests = from_trace(&synthetic(48, Some(3.0), 64, 32, 1).unwrap(), source);
    println!("{HEADER}");
    for (name, batching) in [
        ("continuous", Batching::Continuous),
        ("static", Batching::Static),
    ] {
        let config = EngineConfig {
            max_batch: 16,
            max_step_tokens: 256,
            pool_blocks: 256,
            block_size: BLOCK,
            batching,
        };
        let s = Summary::of(&serve(model, config, &requests));
        summary_row(name, &s);
        let extra = serde_json::json!({"batching": name, "requests": 48, "rate": 3.0,
            "prompt_tokens": 64, "output_tokens": 32, "max_batch": 16, "max_step_tokens": 256});
        write_summary(&format!("serving/workload/{name}"), shape, extra, &s);
    }
}

/// Continuous batching as the arrival rate grows: 32 requests at 1, 2, 4 and 8 per second.
fn rates(model: &LlamaModel, source: &[u32], shape: &serde_json::Value) {
    println!("{HEADER}");
    for rate in [1.0, 2.0, 4.0, 8.0] {
        let requests = from_trace(&synthetic(32, Some(rate), 64, 32, 2).unwrap(), source);
        let config = EngineConfig {
            max_batch: 16,
            max_step_tokens: 256,
            pool_blocks: 256,
            block_size: BLOCK,
            batching: Batching::Continuous,
        };
        let s = Summary::of(&serve(model, config, &requests));
        summary_row(&format!("{rate} req/s"), &s);
        let extra = serde_json::json!({"batching": "continuous", "requests": 32, "rate": rate,
            "prompt_tokens": 64, "output_tokens": 32, "max_batch": 16, "max_step_tokens": 256});
        write_summary(&format!("serving/rate/{rate}"), shape, extra, &s);
    }
}

criterion_group!(benches, bench_serving);
criterion_main!(benches);
