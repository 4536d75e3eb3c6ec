//! The context sweep: KV bytes per request and maximum concurrency for several models as the
//! context grows. It shows what GQA, sliding windows, MoE and MLA each save.

use super::arch::{self, Architecture};
use super::calc::{KvDtype, kv_bytes_per_request, max_concurrency};
use super::hardware::{self, Hardware};
use super::{Settings, plan};
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

/// Parses `context=1k..128k` into doubling steps from the start to the end (inclusive).
pub fn parse_sweep(spec: &str) -> anyhow::Result<Vec<u64>> {
    let Some(range) = spec.strip_prefix("context=") else {
        bail_input!("--sweep {spec}: expected context=START..END, e.g. context=1k..128k");
    };
    let Some((a, b)) = range.split_once("..") else {
        bail_input!("--sweep {spec}: expected context=START..END, e.g. context=1k..128k");
    };
    let (a, b) = (
        parse_tokens(a).map_err(|e| crate::error::bad_input("--sweep", e))?,
        parse_tokens(b).map_err(|e| crate::error::bad_input("--sweep", e))?,
    );
    if a > b {
        bail_input!("--sweep {spec}: start is past the end");
    }
    let mut out = Vec::new();
    let mut c = a;
    while c < b {
        out.push(c);
        c = c.saturating_mul(2);
    }
    out.push(b);
    Ok(out)
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
        let a = if id == "llama-3.1-8b-as-mha" {
            llama_8b_as_mha()?
        } else {
            arch::resolve(id)?
        };
        let mut s = settings_for(&a)?;
        s.distribution = None;
        s.tenants.clear();
        gpus = s.tp;
        let kv = s.kv_dtype.unwrap_or(if hw.id == hardware::THIS_MACHINE {
            KvDtype::F32
        } else {
            KvDtype::Bf16
        });
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
