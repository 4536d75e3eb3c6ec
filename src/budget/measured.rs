//! Predicted vs measured: the budget's decode roofline on this machine against the decode
//! records chapter 04 (`04-kv-cache`, batch 1) and chapter 09 (`09-serving`, batches 1…64)
//! write, and the efficiency factors they imply.
//!
//! A record is used when its throughput is in tokens/s, its id says `decode`, it used a cache
//! (`params.cache` is not `none`), and its params give the model shape: `layers`, `hidden` (or
//! `d_model`), `heads`, optional `kv_heads` and `head_dim` (else hidden / heads, which is how
//! the chapters' own models define it), `vocab`, `intermediate` (or `d_ff`), the context
//! (`context` / `tokens` / `seq_len`), optional `batch` and `kv_bytes`. Records are f32 on CPU:
//! records measured on a GPU (`--device`/`WORKBENCH_DEVICE`) are left out.
//!
//! Two efficiencies, because a decode step has two roofs. Where the roofline at 100% says a
//! step is memory-bound, measured ÷ predicted is the share of the bandwidth it reached; the
//! batch-1 records measure that most cleanly (the least compute per byte). Where it says
//! compute-bound (large batches), the ratio is the share of the matmul peak it reached.
//! `--calibrate` applies both, so a calibrated batch curve bends where this machine's does.

use super::arch::{Architecture, AttentionBias, MlpKind, NormKind};
use super::calc::*;
use super::hardware::Hardware;
use crate::records::Record;
use serde::Serialize;

/// The chapters whose decode records are compared.
pub const CHAPTERS: [&str; 2] = ["04-kv-cache", "09-serving"];

/// One decode record next to its prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub bench_id: String,
    pub context_tokens: u64,
    pub batch: u64,
    pub measured_tokens_per_s: f64,
    /// Roofline at 100% bandwidth and compute efficiency.
    pub predicted_tokens_per_s: f64,
    /// measured / predicted.
    pub implied_efficiency: f64,
    pub measured_kv_bytes: Option<f64>,
    pub predicted_kv_bytes: f64,
    /// The roof that limits the step at 100% efficiency: `memory` or `compute`.
    pub bound: &'static str,
}

/// All comparisons, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredReport {
    pub records_dir: String,
    pub chapter_records: usize,
    pub comparisons: Vec<Comparison>,
    /// Median implied efficiency of the memory-bound records at batch 1 (of all memory-bound
    /// ones when there is no batch-1 record): the bandwidth efficiency `--calibrate` applies.
    pub median_efficiency: Option<f64>,
    /// Median implied efficiency of the compute-bound records: the compute efficiency
    /// `--calibrate` applies, when any record reached the compute roof.
    pub median_compute_efficiency: Option<f64>,
    pub missing: Option<String>,
}

fn param_u64(r: &Record, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| r.params.get(*k).and_then(|v| v.as_u64()))
}

/// The model shape a record describes, if it gives one.
pub fn shape_of(r: &Record) -> Option<Architecture> {
    let layers = param_u64(r, &["layers", "n_layers"])?;
    let hidden = param_u64(r, &["hidden", "d_model"])?;
    let heads = param_u64(r, &["heads", "n_heads"])?;
    let kv_heads = param_u64(r, &["kv_heads", "n_kv_heads"]).unwrap_or(heads);
    let head_dim = param_u64(r, &["head_dim"]).unwrap_or(hidden / heads.max(1));
    Some(Architecture {
        id: r.bench_id.clone(),
        name: r.bench_id.clone(),
        hf_repo: None,
        source: format!("record {}", r.bench_id),
        date: r.unix_time_s.to_string(),
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate: param_u64(r, &["intermediate", "d_ff"])?,
        vocab: param_u64(r, &["vocab", "vocab_size"])?,
        tied_embeddings: r
            .params
            .get("tied_embeddings")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        max_context: u64::MAX,
        mlp: MlpKind::Gated,
        norm: NormKind::Rms,
        norms_per_layer: 2,
        attention_bias: AttentionBias::None,
        mlp_bias: false,
        qk_norm: false,
        learned_positions: false,
        sliding_window: None,
        moe: None,
        mla: None,
        native_weights: None,
        published: None,
        notes: None,
    })
}

/// A decode record's tokens/s on `hw` under the roofline at efficiency `eff`, with the
/// context and batch it was measured at and the roof that binds; `None` when the record is not
/// a cached decode with its model shape in its params.
pub fn predict(r: &Record, hw: &Hardware, eff: Efficiency) -> Option<Prediction> {
    if !(r.throughput.unit.contains("tokens/s") && r.bench_id.contains("decode")) {
        return None;
    }
    if r.params.get("cache").and_then(|v| v.as_str()) == Some("none") {
        return None;
    }
    let a = shape_of(r)?;
    let context = param_u64(r, &["context", "tokens", "seq_len"])?;
    let batch = param_u64(r, &["batch"]).unwrap_or(1);
    let (peak, _) = hw.peak_flops_for("fp32");
    let p = param_counts(&a);
    let w = weight_bytes(&p, WeightScheme::plain(WeightDtype::F32));
    let kv_per_request = kv_bytes_for_tokens(&a, KvDtype::F32, 1, context);
    let bytes = decode_step_bytes_per_gpu(&a, &w, kv_per_request, batch, 1);
    let flops = decode_step_flops(&a, &p, batch, context);
    let step = decode_step_seconds(bytes, hw.bandwidth_bytes_per_s, flops, peak, 1, eff);
    let memory_s = bytes / (hw.bandwidth_bytes_per_s * eff.bandwidth);
    Some(Prediction {
        context_tokens: context,
        batch,
        tokens_per_s: batch as f64 / step,
        bound: if step > memory_s { "compute" } else { "memory" },
        kv_bytes: kv_per_request * batch as f64,
    })
}

/// What [`predict`] gives for one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub context_tokens: u64,
    pub batch: u64,
    pub tokens_per_s: f64,
    pub bound: &'static str,
    pub kv_bytes: f64,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// Compares every usable decode record of [`CHAPTERS`] with the roofline on `hw`.
pub fn compare(records: &[Record], hw: &Hardware, records_dir: &str) -> MeasuredReport {
    // `this-machine` is the CPU: a record from a GPU run of the same bench is not its evidence.
    let chapter: Vec<&Record> = records
        .iter()
        .filter(|r| CHAPTERS.contains(&r.chapter.as_str()) && r.on_cpu())
        .collect();
    let full = Efficiency {
        compute: 1.0,
        bandwidth: 1.0,
    };
    let mut comparisons: Vec<Comparison> = chapter
        .iter()
        .filter_map(|r| {
            let p = predict(r, hw, full)?;
            Some(Comparison {
                bench_id: r.bench_id.clone(),
                context_tokens: p.context_tokens,
                batch: p.batch,
                measured_tokens_per_s: r.throughput.value,
                predicted_tokens_per_s: p.tokens_per_s,
                implied_efficiency: r.throughput.value / p.tokens_per_s,
                measured_kv_bytes: r.params.get("kv_bytes").and_then(|v| v.as_f64()),
                predicted_kv_bytes: p.kv_bytes,
                bound: p.bound,
            })
        })
        .collect();
    // A batch curve reads in batch order (ids sort `batch-16` before `batch-2`).
    comparisons.sort_by(|a, b| (a.batch, &a.bench_id).cmp(&(b.batch, &b.bench_id)));
    let implied = |keep: &dyn Fn(&Comparison) -> bool| {
        median(
            comparisons
                .iter()
                .filter(|c| keep(c))
                .map(|c| c.implied_efficiency)
                .collect(),
        )
    };
    let median_efficiency = implied(&|c| c.bound == "memory" && c.batch == 1)
        .or_else(|| implied(&|c| c.bound == "memory"));
    let median_compute_efficiency = implied(&|c| c.bound == "compute");
    let missing = if chapter.is_empty() {
        Some(format!(
            "no chapter 04-kv-cache or 09-serving records in {records_dir}: run `cargo bench --bench kv_cache` (batch 1) or `cargo bench --bench serving` (batches 1…64) to measure decode tokens/s"
        ))
    } else if comparisons.is_empty() {
        Some(format!(
            "{} chapter 04/09 records, none a cached decode in tokens/s with the model shape in its params",
            chapter.len()
        ))
    } else {
        None
    };
    MeasuredReport {
        records_dir: records_dir.to_string(),
        chapter_records: chapter.len(),
        comparisons,
        median_efficiency,
        median_compute_efficiency,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{SCHEMA, Throughput};
    use std::collections::BTreeMap;

    fn record(
        bench_id: &str,
        chapter: &str,
        params: serde_json::Value,
        tokens_per_s: f64,
    ) -> Record {
        Record {
            schema: SCHEMA,
            bench_id: bench_id.into(),
            chapter: chapter.into(),
            params,
            throughput: Throughput {
                value: tokens_per_s,
                unit: "tokens/s".into(),
            },
            time_s: 1.0 / tokens_per_s,
            spread: None,
            bytes: None,
            limits: None,
            machine: None,
            device: None,
            run_id: None,
            git_rev: "test".into(),
            unix_time_s: 0,
        }
    }

    #[test]
    fn a_gpu_record_is_not_this_machines_evidence() {
        let shape = serde_json::json!({"layers": 2, "hidden": 64, "heads": 4, "vocab": 100,
                                       "intermediate": 128, "context": 100, "cache": "prealloc"});
        let on_cpu = record("a/decode", CHAPTERS[0], shape.clone(), 20.0);
        let mut on_gpu = record("b/decode", CHAPTERS[0], shape, 500.0);
        on_gpu.device = Some(crate::device::DeviceInfo {
            backend: "cuda".into(),
            name: "NVIDIA H200".into(),
            memory_bytes: None,
        });
        let m = compare(&[on_cpu, on_gpu], &cpu(), "test");
        assert_eq!(m.chapter_records, 1);
        let ids: Vec<&str> = m.comparisons.iter().map(|c| c.bench_id.as_str()).collect();
        assert_eq!(ids, ["a/decode"]);
    }

    /// A CPU with 10 GB/s and 100 GFLOP/s: small enough that the arithmetic is by hand.
    fn cpu() -> Hardware {
        Hardware {
            id: "this-machine".into(),
            name: "test cpu".into(),
            memory_bytes: 16e9,
            bandwidth_bytes_per_s: 10e9,
            peak_flops: BTreeMap::from([("fp32".to_string(), 100e9)]),
            spec_source: "test".into(),
            usd_per_hour: None,
            price_as_of: None,
            price_source: None,
        }
    }

    #[test]
    fn compares_a_decode_record_with_the_roofline() {
        // 2 layers, d_model 64, 4 heads, vocab 100, d_ff 128, 10 tokens of context.
        let params = serde_json::json!({"layers": 2, "d_model": 64, "heads": 4, "vocab": 100,
            "d_ff": 128, "context": 10, "cache": "paged", "kv_bytes": 10240.0});
        let records = vec![
            record("04/decode/paged", CHAPTERS[0], params.clone(), 1000.0),
            record(
                "04/decode/no-cache",
                CHAPTERS[0],
                serde_json::json!({"cache": "none"}),
                5.0,
            ),
            record("machine/x", "machine", params, 1.0),
        ];
        let m = compare(&records, &cpu(), "dir");
        assert_eq!(m.chapter_records, 2);
        assert_eq!(m.comparisons.len(), 1);
        let c = &m.comparisons[0];
        // Bytes per step in f32: blocks 2 × (4·64² + 3·64·128 + 2·64) + final norm 64 + LM head
        // 100·64 (untied; the embedding table is not streamed) + KV 2·2·64·10.
        let params_streamed = 2.0 * (4.0 * 4096.0 + 3.0 * 64.0 * 128.0 + 128.0) + 64.0 + 6400.0;
        let bytes = params_streamed * 4.0 + 2.0 * 2.0 * 64.0 * 10.0 * 4.0;
        let predicted = 10e9 / bytes;
        assert!((c.predicted_tokens_per_s - predicted).abs() / predicted < 1e-12);
        assert!((c.implied_efficiency - 1000.0 / predicted).abs() < 1e-12);
        assert_eq!(c.predicted_kv_bytes, 10240.0);
        assert_eq!(c.measured_kv_bytes, Some(10240.0));
        assert_eq!(m.median_efficiency, Some(c.implied_efficiency));
        assert!(m.missing.is_none());
    }

    /// Chapter 09's batch records: the small batches are memory-bound and set the bandwidth
    /// efficiency (batch 1's), the large ones compute-bound and set the compute efficiency.
    #[test]
    fn batch_records_calibrate_both_roofs() {
        let shape = |batch: u64| {
            serde_json::json!({"layers": 2, "d_model": 64, "heads": 4, "vocab": 100,
                "d_ff": 128, "context": 10, "cache": "paged", "batch": batch})
        };
        let hw = cpu();
        let full = Efficiency {
            compute: 1.0,
            bandwidth: 1.0,
        };
        // Measured: half the bandwidth roof at batch 1, 30% at batches 2 and 4 (the median of
        // all memory-bound records would be 0.3), a fifth of the compute roof at 4096.
        let records: Vec<Record> = [(1, 0.5), (2, 0.3), (4, 0.3), (4096, 0.2)]
            .into_iter()
            .map(|(b, share)| {
                let r = record(
                    &format!("serving/decode/batch-{b}"),
                    CHAPTERS[1],
                    shape(b),
                    1.0,
                );
                let predicted = predict(&r, &hw, full).unwrap().tokens_per_s;
                record(&r.bench_id, CHAPTERS[1], shape(b), predicted * share)
            })
            .collect();
        let m = compare(&records, &hw, "dir");
        let bounds: Vec<&str> = m.comparisons.iter().map(|c| c.bound).collect();
        assert_eq!(bounds, ["memory", "memory", "memory", "compute"]);
        assert!((m.median_efficiency.unwrap() - 0.5).abs() < 1e-9);
        assert!((m.median_compute_efficiency.unwrap() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn says_what_is_missing() {
        let m = compare(&[], &cpu(), "dir");
        assert!(
            m.missing
                .unwrap()
                .contains("no chapter 04-kv-cache or 09-serving records")
        );
        let r = record(
            "04/decode/x",
            CHAPTERS[0],
            serde_json::json!({"layers": 2}),
            10.0,
        );
        let m = compare(&[r], &cpu(), "dir");
        assert!(m.missing.unwrap().contains("none a cached decode"));
    }
}
