//! The context sweep: KV bytes per request and maximum concurrency for several models as the
//! context grows. It shows what GQA, sliding windows, MoE and MLA each save.

use super::arch::{self, Architecture};
use super::calc::{kv_bytes_per_request, max_concurrency};
use super::hardware::{self, Hardware};
use super::{
    Settings, kv_dtype_for, kv_label, kv_step, plan, throughput_step, weight_scheme, weights_step,
};
use crate::bail_input;
use serde::Serialize;

/// A token count: digits with an optional `k` (×1024) or `m` (×1024²) suffix: 512, 8k, 128k.
pub fn parse_tokens(s: &str) -> Result<u64, String> {
    let t = s.trim().to_lowercase().replace('_', "");
    let (digits, mult) = match t.strip_suffix('k') {
        Some(d) => (d.to_string(), 1024),
        None => match t.strip_suffix('m') {
            Some(d) => (d.to_string(), 1024 * 1024),
            None => (t.clone(), 1),
        },
    };
    match digits.parse::<u64>().ok().and_then(|v| v.checked_mul(mult)) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a positive size (e.g. 4096, 8k, 128k)"
        )),
    }
}

/// One model's curve in a sweep.
#[derive(Debug, Serialize)]
pub struct SweepSeries {
    pub model: String,
    /// Legend text: id, attention kind, and the sliding window if any.
    pub label: String,
    pub attention: String,
    /// One value per context; `None` beyond the model's maximum context.
    pub kv_bytes_per_request: Vec<Option<f64>>,
    /// `None` where the weights do not fit the hardware.
    pub max_concurrency: Option<Vec<Option<f64>>>,
    pub note: Option<String>,
}

/// A context sweep: contexts, one series per model.
#[derive(Debug, Serialize)]
pub struct Sweep {
    pub hardware: String,
    pub gpus: u64,
    pub kv_cache_dtype: String,
    pub contexts: Vec<u64>,
    pub series: Vec<SweepSeries>,
}

/// What a `--sweep` varies, with the values: doubling steps from the start to the end.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepSpec {
    /// `context=1k..128k`: KV bytes and max concurrency for several models.
    Context(Vec<u64>),
    /// `batch=1..1k`: a decode step under the memory and compute roofs.
    Batch(Vec<u64>),
}

impl SweepSpec {
    /// The values swept, whichever the axis.
    pub fn into_points(self) -> Vec<u64> {
        match self {
            SweepSpec::Context(points) | SweepSpec::Batch(points) => points,
        }
    }
}

/// Parses `context=START..END` or `batch=START..END` (sizes as [`parse_tokens`] reads them)
/// into doubling steps from the start to the end, both included.
pub fn parse_sweep(spec: &str) -> anyhow::Result<SweepSpec> {
    let usage = "expected context=START..END or batch=START..END, e.g. context=1k..128k";
    let Some((axis, range)) = spec.split_once('=') else {
        bail_input!("--sweep {spec}: {usage}");
    };
    let Some((a, b)) = range.split_once("..") else {
        bail_input!("--sweep {spec}: {usage}");
    };
    let (a, b) = (
        parse_tokens(a).map_err(|e| crate::error::bad_input("--sweep", e))?,
        parse_tokens(b).map_err(|e| crate::error::bad_input("--sweep", e))?,
    );
    if a > b {
        bail_input!("--sweep {spec}: start is past the end");
    }
    let mut steps = Vec::new();
    let mut c = a;
    while c < b {
        steps.push(c);
        c = c.saturating_mul(2);
    }
    steps.push(b);
    Ok(match axis {
        "context" => SweepSpec::Context(steps),
        "batch" => SweepSpec::Batch(steps),
        _ => bail_input!("--sweep {spec}: {usage}"),
    })
}

/// The default sweep: GQA (Llama-3.1-8B), the same shape with MHA (a labelled what-if), a
/// sliding window on every layer (Mistral 7B), 5 local : 1 global (Gemma 3 27B), MoE with
/// alternating 128-token windows (gpt-oss-20b) and MLA (DeepSeek-V3).
pub const SWEEP_MODELS: [&str; 6] = [
    "llama-3.1-8b",
    "llama-3.1-8b-as-mha",
    "mistral-7b",
    "gemma-3-27b",
    "gpt-oss-20b",
    "deepseek-v3",
];

/// Llama-3.1-8B with kv_heads = heads: what the KV would cost without GQA. Not a real model.
pub fn llama_8b_as_mha() -> anyhow::Result<Architecture> {
    let mut a = arch::resolve("llama-3.1-8b")?;
    a.id = "llama-3.1-8b-as-mha".into();
    a.name = "Llama-3.1-8B shape with MHA (what-if)".into();
    a.kv_heads = a.heads;
    a.published = None;
    Ok(a)
}

/// A catalog id, or `llama-3.1-8b-as-mha` for the what-if of [`llama_8b_as_mha`].
fn resolve_sweep_model(id: &str) -> anyhow::Result<Architecture> {
    if id == "llama-3.1-8b-as-mha" {
        llama_8b_as_mha()
    } else {
        arch::resolve(id)
    }
}

/// KV bytes per request and max concurrency at each context, for each model id
/// (`llama-3.1-8b-as-mha` names the what-if of [`llama_8b_as_mha`]). `settings_for` gives each
/// model's settings (the distribution and tenants are ignored: one request length at a time).
pub fn sweep(
    ids: &[String],
    hw: &Hardware,
    contexts: Vec<u64>,
    settings_for: impl Fn(&Architecture) -> anyhow::Result<Settings>,
) -> anyhow::Result<Sweep> {
    let mut series = Vec::new();
    let mut kv_label_used = String::new();
    let mut gpus = 1;
    for id in ids {
        let a = resolve_sweep_model(id)?;
        let mut s = settings_for(&a)?;
        s.distribution = None;
        s.tenants.clear();
        gpus = s.tp;
        let kv = kv_dtype_for(&s, hw.id == hardware::THIS_MACHINE);
        kv_label_used = super::kv_label(kv).to_string();
        // Contexts beyond the model's maximum have no value (a request that long is refused).
        let kv_bytes: Vec<Option<f64>> = contexts
            .iter()
            .map(|&c| {
                (c <= a.max_context).then(|| kv_bytes_per_request(&a, kv, s.tp, c, s.block_tokens))
            })
            .collect();
        s.context_tokens = contexts[0].min(a.max_context);
        let (concurrency, note) = match plan(&a, hw, &s) {
            Ok(b) => (
                Some(
                    kv_bytes
                        .iter()
                        .map(|k| k.map(|k| max_concurrency(b.kv_pool_bytes_per_gpu, k)))
                        .collect(),
                ),
                contexts
                    .iter()
                    .any(|&c| c > a.max_context)
                    .then(|| format!("stops at its maximum context of {} tokens", a.max_context)),
            ),
            Err(e) => (None, Some(e.to_string())),
        };
        let label = match &a.sliding_window {
            Some(w) => format!(
                "{} ({}, {} of {} layers windowed at {})",
                a.id,
                a.attention_kind(),
                a.sliding_layers(),
                a.layers,
                w.tokens
            ),
            None => format!("{} ({})", a.id, a.attention_kind()),
        };
        series.push(SweepSeries {
            label,
            model: a.id.clone(),
            attention: a.attention_kind().into(),
            kv_bytes_per_request: kv_bytes,
            max_concurrency: concurrency,
            note,
        });
    }
    Ok(Sweep {
        hardware: hw.id.clone(),
        gpus,
        kv_cache_dtype: kv_label_used,
        contexts,
        series,
    })
}

/// The default batch sweep: a GQA model, the same shape with MHA (a what-if whose KV reads
/// keep it memory-bound) and an MoE (whose batch reads more experts as it grows).
pub const BATCH_SWEEP_MODELS: [&str; 3] = ["llama-3.1-8b", "llama-3.1-8b-as-mha", "gpt-oss-20b"];

/// Largest batch searched for the compute-bound crossover.
pub const CROSSOVER_SEARCH_LIMIT: u64 = 1 << 20;

/// One decode step at one batch size, under each roof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchPoint {
    pub batch: u64,
    pub step_bytes_per_gpu: f64,
    pub step_flops: f64,
    /// FLOPs per byte streamed on one GPU: the step's arithmetic intensity.
    pub flop_per_byte: f64,
    pub memory_seconds: f64,
    pub compute_seconds: f64,
    pub step_seconds: f64,
    pub decode_tokens_per_s_aggregate: f64,
    pub decode_tokens_per_s_per_request: f64,
    /// `memory` or `compute`.
    pub bound: String,
    /// Whether `batch` requests of the context fit in the KV pool; beyond it vLLM would
    /// pre-empt requests, so the point is a what-if of the roofline alone.
    pub fits_kv_pool: bool,
}

/// One model's batch sweep at one context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSeries {
    pub model: String,
    pub attention: String,
    pub weights_dtype: String,
    pub compute_dtype: String,
    pub peak_flops_per_gpu: f64,
    /// Peak FLOP/s ÷ bandwidth: the intensity above which a step is compute-bound at
    /// datasheet rates (the roofline's ridge).
    pub ridge_flop_per_byte: f64,
    /// The same with the efficiency factors: where this budget's two roofs meet.
    pub effective_ridge_flop_per_byte: f64,
    pub max_concurrency: f64,
    /// FLOPs per byte of what each added sequence brings (its FLOPs over its KV bytes): the
    /// intensity a growing batch tends to once the weights are a small part of the bytes.
    pub per_sequence_flop_per_byte: f64,
    /// The smallest batch whose step is compute-bound; `None` when the KV reads grow as fast
    /// as the FLOPs and the step stays memory-bound at any batch.
    pub compute_bound_from_batch: Option<u64>,
    pub points: Vec<BatchPoint>,
}

/// A batch sweep: the batches, one series per model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSweep {
    pub hardware: String,
    pub gpus: u64,
    pub context_tokens: u64,
    pub kv_cache_dtype: String,
    pub bandwidth_bytes_per_s: f64,
    pub compute_efficiency: f64,
    pub bandwidth_efficiency: f64,
    pub batches: Vec<u64>,
    pub series: Vec<BatchSeries>,
}

/// A decode step at each batch for each model, every sequence holding `settings.context_tokens`
/// of KV: bytes streamed (weights once, KV per sequence), FLOPs (per sequence), the time under
/// each roof, and the batch where the step turns compute-bound. Weights are read once per step
/// whatever the batch, so below that batch another sequence adds tokens almost for free.
pub fn batch_sweep(
    ids: &[String],
    hw: &Hardware,
    batches: Vec<u64>,
    settings_for: impl Fn(&Architecture) -> anyhow::Result<Settings>,
) -> anyhow::Result<BatchSweep> {
    let on_cpu = hw.id == hardware::THIS_MACHINE;
    let mut series = Vec::new();
    let mut first: Option<Settings> = None;
    for id in ids {
        let a = resolve_sweep_model(id)?;
        let s = settings_for(&a)?;
        let budget = plan(&a, hw, &s)?;
        let kv_dtype = kv_dtype_for(&s, on_cpu);
        let weights = weights_step(&a, hw, &s, weight_scheme(&a, &s, on_cpu));
        let kv = kv_step(&a, &s, kv_dtype);
        let at = |batch: u64| {
            let s = Settings {
                batch: Some(batch),
                ..s.clone()
            };
            throughput_step(&a, hw, &s, &weights, &kv, budget.max_concurrency)
        };
        let compute_bound = |batch: u64| {
            let t = at(batch);
            t.compute_seconds > t.memory_seconds
        };
        let peak = at(1).peak_flops_per_gpu;
        let points = batches
            .iter()
            .map(|&batch| {
                let t = at(batch);
                BatchPoint {
                    batch,
                    step_bytes_per_gpu: t.step_bytes_per_gpu,
                    step_flops: t.step_flops,
                    flop_per_byte: t.step_flops / s.tp as f64 / t.step_bytes_per_gpu,
                    memory_seconds: t.memory_seconds,
                    compute_seconds: t.compute_seconds,
                    step_seconds: t.step_seconds,
                    decode_tokens_per_s_aggregate: t.aggregate_tokens_per_s,
                    decode_tokens_per_s_per_request: 1.0 / t.step_seconds,
                    bound: t.bound.into(),
                    fits_kv_pool: batch as f64 <= budget.max_concurrency,
                }
            })
            .collect();
        series.push(BatchSeries {
            model: a.id.clone(),
            attention: a.attention_kind().into(),
            weights_dtype: budget.weights_dtype,
            compute_dtype: budget.compute_dtype,
            peak_flops_per_gpu: peak,
            ridge_flop_per_byte: peak / hw.bandwidth_bytes_per_s,
            effective_ridge_flop_per_byte: peak * s.efficiency.compute
                / (hw.bandwidth_bytes_per_s * s.efficiency.bandwidth),
            max_concurrency: budget.max_concurrency,
            per_sequence_flop_per_byte: at(1).step_flops / s.tp as f64 / kv.per_request,
            compute_bound_from_batch: first_true(compute_bound, CROSSOVER_SEARCH_LIMIT),
            points,
        });
        first.get_or_insert(s);
    }
    let s = first.unwrap_or_default();
    let kv_dtype = kv_dtype_for(&s, on_cpu);
    Ok(BatchSweep {
        hardware: hw.id.clone(),
        gpus: s.tp,
        context_tokens: s.context_tokens,
        kv_cache_dtype: kv_label(kv_dtype).into(),
        bandwidth_bytes_per_s: hw.bandwidth_bytes_per_s,
        compute_efficiency: s.efficiency.compute,
        bandwidth_efficiency: s.efficiency.bandwidth,
        batches,
        series,
    })
}

/// The smallest n in 1..=limit where `pred` holds, for a predicate that stays true once it
/// turns true (doubling, then bisection). Compute grows linearly with the batch while the bytes
/// grow linearly (KV) or slower (MoE experts touched), so compute − memory crosses zero once.
fn first_true(pred: impl Fn(u64) -> bool, limit: u64) -> Option<u64> {
    let mut hi = 1;
    while !pred(hi) {
        if hi >= limit {
            return None;
        }
        hi = (hi * 2).min(limit);
    }
    let mut lo = hi / 2; // pred(lo) is false, or lo = 0
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_true_finds_the_boundary_or_none() {
        for boundary in [1, 2, 3, 184, 185, 1000] {
            assert_eq!(first_true(|n| n >= boundary, 1 << 20), Some(boundary));
        }
        assert_eq!(first_true(|_| false, 1 << 10), None);
    }

    #[test]
    fn sweeps_parse_both_axes_and_refuse_others() {
        assert_eq!(
            parse_sweep("batch=1..10").unwrap(),
            SweepSpec::Batch(vec![1, 2, 4, 8, 10])
        );
        assert_eq!(
            parse_sweep("context=1k..4k").unwrap(),
            SweepSpec::Context(vec![1024, 2048, 4096])
        );
        for bad in [
            "tokens=1..2",
            "batch=0..4",
            "batch=8..4",
            "batch",
            "batch=1-4",
        ] {
            assert!(parse_sweep(bad).is_err(), "{bad}");
        }
    }
}
