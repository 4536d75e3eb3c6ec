//! `llm-workbench budget …`: argument parsing and printing around the serving budget library.

use crate::bail_input;
use crate::budget::arch::{self, Architecture};
use crate::budget::calc::*;
use crate::budget::hardware::{self, Hardware};
use crate::budget::sweep::{
    BATCH_SWEEP_MODELS, BatchSweep, SWEEP_MODELS, Sweep, SweepSpec, batch_sweep, parse_sweep,
    parse_tokens, sweep,
};
use crate::budget::tour::BudgetTour;
use crate::budget::{Budget, DEFAULT_EFFICIENCY, Settings, measured, plan};
use crate::output::{JsonFlag, emit};
use crate::table::{Table, bytes, thousands};
use clap::Args;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Args)]
pub struct BudgetArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// Model: a catalog id (see --list), a Hugging Face config.json, or a .gguf file.
    #[arg(long)]
    pub model: Option<String>,
    /// Hardware id (see --list), or `this-machine` (from `llm-workbench machine` records).
    #[arg(long, default_value = "h100-sxm")]
    pub hardware: String,
    /// Longest request in tokens (vLLM --max-model-len), e.g. 8192 or 8k [default: 4k, or the
    /// longest of --contexts / --context-percentiles].
    #[arg(long, value_parser = parse_tokens, allow_hyphen_values = true)]
    pub context: Option<u64>,
    /// Weight storage: native (the checkpoint's), f32, bf16, f16, fp8, int4, int4-g64, mxfp4,
    /// or GGUF's q8_0 and q4_1 (chapter 08).
    #[arg(long, default_value = "native")]
    pub weights: String,
    /// KV cache dtype: auto (bf16; f32 on this-machine), bf16, fp8, f32.
    #[arg(long, default_value = "auto")]
    pub kv_dtype: String,
    /// Fraction of GPU memory vLLM may use, in (0, 1].
    #[arg(long, default_value_t = 0.9, allow_hyphen_values = true)]
    pub gpu_memory_utilization: f64,
    /// KV block size in tokens.
    #[arg(long, default_value = "16", value_parser = parse_tokens, allow_hyphen_values = true)]
    pub block_size: u64,
    /// Tensor-parallel degree (GPUs per replica).
    #[arg(long, default_value = "1", value_parser = parse_tokens, allow_hyphen_values = true)]
    pub tp: u64,
    /// Split the MoE experts across the GPUs whole (vLLM --enable-expert-parallel).
    #[arg(long)]
    pub expert_parallel: bool,
    /// A context-length distribution as a list of request lengths, e.g. 1k,2k,2k,8k,32k.
    #[arg(long, value_delimiter = ',', value_parser = parse_tokens, allow_hyphen_values = true)]
    pub contexts: Vec<u64>,
    /// A context-length distribution as percentiles, e.g. p50=2k,p90=8k,p99=32k.
    #[arg(long)]
    pub context_percentiles: Option<String>,
    /// A tenant NAME:CONTEXT_CAP:SHARE, e.g. chat:8k:0.6 (repeat for more tenants).
    #[arg(long = "tenant")]
    pub tenants: Vec<String>,
    /// Decode batch, at most the maximum concurrency (a larger one is refused) [default: the
    /// maximum concurrency, at most 256].
    #[arg(long, value_parser = parse_tokens, allow_hyphen_values = true)]
    pub batch: Option<u64>,
    /// Prompt length for prefill time and the input price.
    #[arg(long, default_value = "1000", value_parser = parse_tokens, allow_hyphen_values = true)]
    pub prompt_tokens: u64,
    /// Fraction of peak FLOP/s reached in prefill, in (0, 1].
    #[arg(long, default_value_t = DEFAULT_EFFICIENCY.compute, allow_hyphen_values = true)]
    pub compute_efficiency: f64,
    /// Fraction of bandwidth reached in decode, in (0, 1].
    #[arg(long, default_value_t = DEFAULT_EFFICIENCY.bandwidth, allow_hyphen_values = true)]
    pub bandwidth_efficiency: f64,
    /// Replace the stated activation/overhead allowance, GiB per GPU.
    #[arg(long, allow_hyphen_values = true)]
    pub overhead_gib: Option<f64>,
    /// Replace the catalog's $/hour for one GPU.
    #[arg(long, allow_hyphen_values = true)]
    pub usd_per_hour: Option<f64>,
    /// Sweep the context, e.g. context=1k..128k: KV bytes and max concurrency for several
    /// models, printed and plotted.
    #[arg(long)]
    pub sweep: Option<String>,
    /// Models for --sweep (comma-separated ids) [default: a GQA, MHA, sliding-window, MoE and
    /// MLA selection].
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// On this-machine: set the bandwidth (and, with chapter 09's large-batch records, the
    /// compute) efficiency to what chapter 04's and 09's decode records measured.
    #[arg(long)]
    pub calibrate: bool,
    /// List the catalogs.
    #[arg(long)]
    pub list: bool,
}

fn parse_weights(s: &str) -> anyhow::Result<Option<WeightScheme>> {
    let dtype = match s {
        "native" => return Ok(None),
        "f32" | "fp32" => WeightDtype::F32,
        "bf16" | "fp16" => WeightDtype::Bf16,
        "fp8" => WeightDtype::Fp8,
        "mxfp4" => WeightDtype::Mxfp4,
        "f16" => WeightDtype::F16,
        "q8_0" => WeightDtype::Q8_0,
        "q4_1" => WeightDtype::Q4_1,
        _ if s.starts_with("int4") => {
            let group = match s.strip_prefix("int4-g") {
                Some(g) => match g.parse::<u32>() {
                    Ok(g) if g > 0 => g,
                    _ => bail_input!("--weights {s}: group size must be a positive integer"),
                },
                None if s == "int4" => 128,
                None => bail_input!("--weights {s}: write int4 or int4-g<group>"),
            };
            return Ok(Some(WeightScheme {
                group_size: group,
                ..WeightScheme::plain(WeightDtype::Int4)
            }));
        }
        _ => bail_input!(
            "--weights {s}: expected native, f32, bf16, f16, fp8, int4, int4-g<group>, mxfp4, q8_0 or q4_1"
        ),
    };
    Ok(Some(WeightScheme::plain(dtype)))
}

fn parse_kv(s: &str) -> anyhow::Result<Option<KvDtype>> {
    Ok(match s {
        "auto" => None,
        "bf16" | "fp16" => Some(KvDtype::Bf16),
        "fp8" | "fp8_e4m3" | "fp8_e5m2" => Some(KvDtype::Fp8),
        "f32" | "fp32" => Some(KvDtype::F32),
        _ => bail_input!("--kv-dtype {s}: expected auto, bf16, fp8 or f32"),
    })
}

fn parse_percentiles(s: &str) -> anyhow::Result<Vec<(f64, u64)>> {
    s.split(',')
        .map(|part| {
            let (p, v) = part.trim().split_once('=').unwrap_or(("", ""));
            let pct: f64 = p.trim_start_matches(['p', 'P']).parse().unwrap_or(f64::NAN);
            if !(pct > 0.0 && pct <= 100.0) {
                bail_input!("--context-percentiles: `{part}` is not pNN=TOKENS with 0 < NN <= 100");
            }
            let tokens =
                parse_tokens(v).map_err(|e| crate::error::bad_input("--context-percentiles", e))?;
            Ok((pct, tokens))
        })
        .collect()
}

fn parse_tenant(s: &str) -> anyhow::Result<Tenant> {
    let parts: Vec<&str> = s.split(':').collect();
    let [name, cap, share] = parts[..] else {
        bail_input!("--tenant {s}: expected NAME:CONTEXT_CAP:SHARE, e.g. chat:8k:0.5");
    };
    let cap = parse_tokens(cap).map_err(|e| crate::error::bad_input(format!("--tenant {s}"), e))?;
    let share: f64 = match share.strip_suffix('%') {
        Some(p) => p.parse::<f64>().map(|v| v / 100.0).unwrap_or(f64::NAN),
        None => share.parse().unwrap_or(f64::NAN),
    };
    if !(share > 0.0 && share <= 1.0) {
        bail_input!("--tenant {s}: share must be in (0, 1] (or a percentage)");
    }
    Ok(Tenant {
        name: name.to_string(),
        context_cap_tokens: cap,
        share,
    })
}

/// Builds settings from the arguments (the model is needed for the default context).
pub fn settings(args: &BudgetArgs, a: &Architecture) -> anyhow::Result<Settings> {
    let distribution = match (&args.context_percentiles, args.contexts.is_empty()) {
        (Some(_), false) => {
            bail_input!("give either --contexts or --context-percentiles, not both")
        }
        (Some(p), true) => {
            let points = parse_percentiles(p)?;
            let max = args
                .context
                .unwrap_or_else(|| points.iter().map(|p| p.1).max().unwrap_or(4096));
            Some(ContextDistribution::from_percentiles(&points, max))
        }
        (None, false) => Some(ContextDistribution::from_list(&args.contexts)),
        (None, true) => None,
    };
    let context = args.context.unwrap_or_else(|| {
        distribution
            .as_ref()
            .map_or(4096.min(a.max_context), ContextDistribution::max_tokens)
    });
    if let Some(o) = args.overhead_gib
        && (o < 0.0 || o.is_nan())
    {
        bail_input!("--overhead-gib {o}: must be zero or positive");
    }
    if let Some(p) = args.usd_per_hour
        && (p < 0.0 || p.is_nan())
    {
        bail_input!("--usd-per-hour {p}: must be zero or positive");
    }
    Ok(Settings {
        weights: parse_weights(&args.weights)?,
        kv_dtype: parse_kv(&args.kv_dtype)?,
        gpu_memory_utilization: args.gpu_memory_utilization,
        block_tokens: args.block_size,
        tp: args.tp,
        expert_parallel: args.expert_parallel,
        context_tokens: context,
        distribution,
        tenants: args
            .tenants
            .iter()
            .map(|t| parse_tenant(t))
            .collect::<anyhow::Result<_>>()?,
        batch: args.batch,
        prompt_tokens: args.prompt_tokens,
        efficiency: Efficiency {
            compute: args.compute_efficiency,
            bandwidth: args.bandwidth_efficiency,
        },
        overhead_bytes: args.overhead_gib.map(|g| g * 1024.0 * 1024.0 * 1024.0),
        max_num_batched_tokens: 8192,
        usd_per_hour: args.usd_per_hour,
    })
}

/// The output of `budget`: the budget, and on this machine the predicted-vs-measured check.
#[derive(Debug, Serialize)]
pub struct BudgetReport {
    #[serde(flatten)]
    pub budget: Budget,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<measured::MeasuredReport>,
    /// The bandwidth efficiency `--calibrate` applied (the measured median).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrated_bandwidth_efficiency: Option<f64>,
    /// The compute efficiency `--calibrate` applied (the compute-bound records' median), when
    /// chapter 09's large batches reached the compute roof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrated_compute_efficiency: Option<f64>,
}

pub fn run(args: &BudgetArgs) -> anyhow::Result<()> {
    if args.list {
        return emit(&Catalogs::load(), args.out);
    }
    if let Some(spec) = &args.sweep {
        return match parse_sweep(spec)? {
            SweepSpec::Context(contexts) => emit(&sweep_report(args, contexts)?, args.out),
            SweepSpec::Batch(batches) => emit(&batch_sweep_report(args, batches)?, args.out),
        };
    }
    let Some(model) = &args.model else {
        bail_input!(
            "--model is required (a catalog id, a config.json or a .gguf file; --list shows the ids)"
        );
    };
    let a = arch::resolve(model)?;
    let dir = crate::records::records_dir();
    let hw = hardware::resolve(&args.hardware, &dir)?;
    let mut s = settings(args, &a)?;
    let on_machine = hw.id == hardware::THIS_MACHINE;
    let measured = if on_machine {
        let set = crate::records::read_dir_if_present(&dir)?;
        for s in &set.skipped {
            eprintln!("warning: skipped {s}");
        }
        Some(measured::compare(
            &set.records,
            &hw,
            &dir.display().to_string(),
        ))
    } else {
        if args.calibrate {
            bail_input!(
                "--calibrate needs --hardware this-machine (the records are measured here)"
            );
        }
        None
    };
    let (mut calibrated, mut calibrated_compute) = (None, None);
    if args.calibrate {
        let m = measured.as_ref();
        calibrated = m
            .and_then(|m| m.median_efficiency)
            .map(|e| e.clamp(1e-6, 1.0));
        calibrated_compute = m
            .and_then(|m| m.median_compute_efficiency)
            .map(|e| e.clamp(1e-6, 1.0));
        if calibrated.is_none() && calibrated_compute.is_none() {
            bail_input!(
                "--calibrate: {}",
                m.and_then(|m| m.missing.clone())
                    .unwrap_or_else(|| "no usable chapter 04/09 decode records".into())
            );
        }
        s.efficiency.bandwidth = calibrated.unwrap_or(s.efficiency.bandwidth);
        s.efficiency.compute = calibrated_compute.unwrap_or(s.efficiency.compute);
    }
    let budget = plan(&a, &hw, &s)?;
    emit(
        &BudgetReport {
            budget,
            measured,
            calibrated_bandwidth_efficiency: calibrated,
            calibrated_compute_efficiency: calibrated_compute,
        },
        args.out,
    )
}

fn gb(b: f64) -> String {
    format!("{} ({:.2} GB)", bytes(b), b / 1e9)
}

fn billions(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} B", v / 1e9)
    } else {
        format!("{:.1} M", v / 1e6)
    }
}

impl fmt::Display for BudgetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.budget;
        writeln!(
            f,
            "Serving budget: {} on {} × {}  ({})",
            b.model_name, b.gpus, b.hardware_name, b.attention
        )?;
        writeln!(f, "source: {}\n", b.model_source)?;
        let mut t = Table::new(["quantity", "value"]);
        let usd = |v: Option<f64>| v.map_or("n/a (no $/hour)".into(), |v| format!("${v:.4}"));
        t.row(["params total", &billions(b.params_total)])
            .row(["params active per token", &billions(b.params_active)])
            .row([format!("weights ({})", b.weights_dtype), gb(b.weight_bytes)])
            .row(["weights per GPU".into(), gb(b.weight_bytes_per_gpu)])
            .row([
                format!("KV per token ({}, all layers)", b.kv_cache_dtype),
                bytes(b.kv_bytes_per_token),
            ])
            .row([
                "KV per token per GPU".into(),
                bytes(b.kv_bytes_per_token_per_gpu),
            ])
            .row([
                format!(
                    "KV per {}-token request (blocks of {})",
                    thousands(b.context_tokens as f64, 0),
                    b.block_tokens
                ),
                gb(b.kv_bytes_per_request_per_gpu),
            ])
            .row([
                format!("GPU memory × {}", b.gpu_memory_utilization),
                gb(b.memory_bytes_per_gpu * b.gpu_memory_utilization),
            ])
            .row([
                "activation/overhead allowance".into(),
                gb(b.overhead_bytes_per_gpu),
            ])
            .row(["KV pool per GPU".into(), gb(b.kv_pool_bytes_per_gpu)])
            .row(["KV pool tokens".into(), thousands(b.pool_tokens as f64, 0)])
            .row([
                format!(
                    "max concurrency at {} tokens",
                    thousands(b.context_tokens as f64, 0)
                ),
                format!("{:.2}x", b.max_concurrency),
            ])
            .row([
                format!("prefill of {} tokens", thousands(b.prompt_tokens as f64, 0)),
                format!(
                    "{:.1} ms ({} tokens/s)",
                    b.prefill_seconds * 1e3,
                    thousands(b.prefill_tokens_per_s, 0)
                ),
            ])
            .row([
                format!(
                    "decode per request at batch {} ({}-bound)",
                    b.batch, b.decode_bound
                ),
                format!(
                    "{} tokens/s",
                    thousands(b.decode_tokens_per_s_per_request, 1)
                ),
            ])
            .row([
                "decode aggregate".into(),
                format!("{} tokens/s", thousands(b.decode_tokens_per_s_aggregate, 0)),
            ])
            .row(["$/hour (all GPUs)".into(), usd(b.usd_per_hour_total)])
            .row(["$ per 1M input tokens".into(), usd(b.usd_per_mtok_input)])
            .row(["$ per 1M output tokens".into(), usd(b.usd_per_mtok_output)]);
        writeln!(f, "{t}")?;
        if let Some(d) = &b.distribution {
            writeln!(
                f,
                "Context distribution: mean KV per request {}; max concurrency {:.2}x on average, {:.2}x if every request is the longest\n",
                gb(d.mean_kv_bytes_per_request),
                d.max_concurrency_mean,
                d.max_concurrency_at_longest
            )?;
        }
        if !b.tenants.is_empty() {
            let mut t = Table::new([
                "tenant",
                "context cap",
                "share",
                "KV budget",
                "max concurrent",
                "problem",
            ]);
            for x in &b.tenants {
                t.row([
                    x.name.clone(),
                    thousands(x.context_cap_tokens as f64, 0),
                    format!("{:.0}%", x.share * 100.0),
                    gb(x.pool_bytes),
                    x.max_concurrency.to_string(),
                    x.problem.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            writeln!(f, "{t}")?;
        }
        writeln!(f, "vLLM: {}\n", b.vllm_command)?;
        for w in &b.warnings {
            writeln!(f, "warning: {w}")?;
        }
        writeln!(f, "Assumptions:")?;
        for a in &b.assumptions {
            writeln!(f, "  - {a}")?;
        }
        if let Some(m) = &self.measured {
            writeln!(
                f,
                "\nPredicted vs measured (chapter 04 and 09 decode records, roofline at 100%):"
            )?;
            match &m.missing {
                Some(why) => writeln!(f, "  {why}")?,
                None => {
                    let mut t = Table::new([
                        "record",
                        "context",
                        "batch",
                        "measured tok/s",
                        "predicted tok/s",
                        "efficiency",
                        "bound",
                        "KV measured",
                        "KV predicted",
                    ]);
                    for c in &m.comparisons {
                        t.row([
                            c.bench_id.clone(),
                            c.context_tokens.to_string(),
                            c.batch.to_string(),
                            thousands(c.measured_tokens_per_s, 1),
                            thousands(c.predicted_tokens_per_s, 1),
                            format!("{:.2}", c.implied_efficiency),
                            c.bound.to_string(),
                            c.measured_kv_bytes.map_or("-".into(), bytes),
                            bytes(c.predicted_kv_bytes),
                        ]);
                    }
                    write!(f, "{t}")?;
                }
            }
            let applied: Vec<String> = [
                ("bandwidth", self.calibrated_bandwidth_efficiency),
                ("compute", self.calibrated_compute_efficiency),
            ]
            .into_iter()
            .filter_map(|(roof, e)| e.map(|e| format!("{roof} efficiency {e:.2}")))
            .collect();
            if !applied.is_empty() {
                writeln!(
                    f,
                    "calibrated: decode uses the measured {}",
                    applied.join(" and ")
                )?;
            }
        }
        Ok(())
    }
}

/// The catalogs, for `--list`.
#[derive(Debug, Serialize)]
pub struct Catalogs {
    pub architectures: Vec<Architecture>,
    pub hardware: Vec<Hardware>,
}

impl Catalogs {
    pub fn load() -> Self {
        Catalogs {
            architectures: arch::catalog(),
            hardware: hardware::catalog(),
        }
    }
}

impl fmt::Display for Catalogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = Table::new([
            "model",
            "attention",
            "layers",
            "kv_heads",
            "head_dim",
            "params",
            "date",
            "source",
        ]);
        for a in &self.architectures {
            let p = param_counts(a);
            t.row([
                a.id.clone(),
                a.attention_kind().to_string(),
                a.layers.to_string(),
                a.kv_heads.to_string(),
                a.head_dim.to_string(),
                billions(p.total()),
                a.date.clone(),
                a.source.clone(),
            ]);
        }
        writeln!(f, "{t}")?;
        let mut t = Table::new([
            "hardware",
            "memory",
            "bandwidth",
            "bf16 dense",
            "$/hour",
            "as of",
        ]);
        for h in &self.hardware {
            t.row([
                h.id.clone(),
                bytes(h.memory_bytes),
                format!("{:.0} GB/s", h.bandwidth_bytes_per_s / 1e9),
                format!("{:.0} TFLOP/s", h.peak_flops_for("bf16").0 / 1e12),
                h.usd_per_hour.map_or("-".into(), |p| format!("${p:.2}")),
                h.price_as_of.clone().unwrap_or_default(),
            ]);
        }
        write!(
            f,
            "{t}\n(this-machine is measured: run `llm-workbench machine`)\n"
        )
    }
}

/// `--sweep context=A..B`: the sweep and the charts drawn from it.
#[derive(Debug, Serialize)]
pub struct SweepReport {
    #[serde(flatten)]
    pub sweep: Sweep,
    pub charts: Vec<String>,
}

/// The models a sweep draws: `--models`, else the sweep's defaults; `--model` goes first.
fn sweep_models(args: &BudgetArgs, defaults: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = if args.models.is_empty() {
        defaults.iter().map(|s| s.to_string()).collect()
    } else {
        args.models.clone()
    };
    if let Some(m) = &args.model
        && !ids.contains(m)
    {
        ids.insert(0, m.clone());
    }
    ids
}

fn sweep_report(args: &BudgetArgs, contexts: Vec<u64>) -> anyhow::Result<SweepReport> {
    let hw = hardware::resolve(&args.hardware, &crate::records::records_dir())?;
    let ids = sweep_models(args, &SWEEP_MODELS);
    let sweep = sweep(&ids, &hw, contexts, |a| settings(args, a))?;
    let charts = sweep_charts(&sweep, args.block_size)?;
    Ok(SweepReport {
        sweep,
        charts: charts.iter().map(|p| p.display().to_string()).collect(),
    })
}

/// Draws [`sweep_chart_list`] into the report folder.
fn sweep_charts(sweep: &Sweep, block_tokens: u64) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let dir = crate::plot::report_dir();
    let mut files = Vec::new();
    for chart in sweep_chart_list(sweep, block_tokens) {
        files.extend(chart.write(&dir)?);
    }
    Ok(files)
}

/// KV bytes per request and max concurrency against the context, one line per model.
pub fn sweep_chart_list(sweep: &Sweep, block_tokens: u64) -> Vec<crate::plot::Chart> {
    use crate::plot::{Chart, Series};
    let x: Vec<f64> = sweep.contexts.iter().map(|&c| c as f64).collect();
    let kv_series: Vec<Series> = sweep
        .series
        .iter()
        .map(|s| Series {
            name: s.label.clone(),
            points: x
                .iter()
                .zip(&s.kv_bytes_per_request)
                .filter_map(|(x, b)| Some((*x, (*b)?)))
                .collect(),
        })
        .collect();
    let mut charts = vec![Chart::line(
        "budget_kv_bytes_vs_context",
        &format!(
            "KV cache per request ({}, blocks of {block_tokens})",
            sweep.kv_cache_dtype
        ),
        "context (tokens)",
        "KV per request (bytes)",
        (true, true),
        kv_series,
    )];
    let conc_series: Vec<Series> = sweep
        .series
        .iter()
        .filter_map(|s| {
            Some(Series {
                name: s.label.clone(),
                points: x
                    .iter()
                    .zip(s.max_concurrency.as_ref()?)
                    .filter_map(|(x, c)| Some((*x, (*c)?)))
                    .collect(),
            })
        })
        .collect();
    if !conc_series.is_empty() {
        charts.push(Chart::line(
            "budget_concurrency_vs_context",
            &format!(
                "Max concurrency on {} × {} (vLLM: pool / per-request KV)",
                sweep.gpus, sweep.hardware
            ),
            "context (tokens)",
            "max concurrent requests",
            (true, true),
            conc_series,
        ));
    }
    charts
}

/// The context sweep the HTML report shows: `budget --sweep context=1k..128k` on one H100
/// SXM with the default settings and models.
pub fn tour_sweep_charts() -> anyhow::Result<Vec<crate::plot::Chart>> {
    let hw = hardware::resolve("h100-sxm", &crate::records::records_dir())?;
    let SweepSpec::Context(contexts) = parse_sweep("context=1k..128k")? else {
        unreachable!("a context sweep parses as one");
    };
    let ids: Vec<String> = SWEEP_MODELS.iter().map(|s| s.to_string()).collect();
    let settings = Settings::default();
    let block = settings.block_tokens;
    let sweep = sweep(&ids, &hw, contexts, |_| Ok(settings.clone()))?;
    Ok(sweep_chart_list(&sweep, block))
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "KV cache per request ({}) and max concurrency on {} × {}, by context:\n",
            self.sweep.kv_cache_dtype, self.sweep.gpus, self.sweep.hardware
        )?;
        let mut header = vec!["model".to_string(), "attention".into(), "quantity".into()];
        header.extend(self.sweep.contexts.iter().map(|c| {
            if c % 1024 == 0 {
                format!("{}k", c / 1024)
            } else {
                c.to_string()
            }
        }));
        let mut t = Table::new(header);
        for s in &self.sweep.series {
            let mut row = vec![s.model.clone(), s.attention.clone(), "KV/request".into()];
            row.extend(
                s.kv_bytes_per_request
                    .iter()
                    .map(|b| b.map_or("-".into(), bytes)),
            );
            t.row(row);
            let mut row = vec![String::new(), String::new(), "max concurrency".into()];
            match &s.max_concurrency {
                Some(c) => row.extend(
                    c.iter()
                        .map(|v| v.map_or("-".into(), |v| format!("{v:.1}"))),
                ),
                None => row.push("does not fit".into()),
            }
            t.row(row);
        }
        writeln!(f, "{t}")?;
        for s in &self.sweep.series {
            if let Some(n) = &s.note {
                writeln!(f, "{}: {n}", s.model)?;
            }
        }
        writeln!(f, "\ncharts: {}", self.charts.join(", "))
    }
}

/// `--sweep batch=A..B`: the batch sweep and its charts.
#[derive(Debug, Serialize)]
pub struct BatchSweepReport {
    #[serde(flatten)]
    pub sweep: BatchSweep,
    pub charts: Vec<String>,
}

fn batch_sweep_report(args: &BudgetArgs, batches: Vec<u64>) -> anyhow::Result<BatchSweepReport> {
    if args.batch.is_some() {
        bail_input!("--batch and --sweep batch=… together: the sweep sets the batch");
    }
    let hw = hardware::resolve(&args.hardware, &crate::records::records_dir())?;
    let ids = sweep_models(args, &BATCH_SWEEP_MODELS);
    let sweep = batch_sweep(&ids, &hw, batches, |a| settings(args, a))?;
    let charts = batch_sweep_charts(&sweep)?;
    Ok(BatchSweepReport {
        sweep,
        charts: charts.iter().map(|p| p.display().to_string()).collect(),
    })
}

/// Draws decode tokens/s and FLOPs per byte against the batch, one line per model, with the
/// ridge where the two roofs meet.
fn batch_sweep_charts(sweep: &BatchSweep) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use crate::budget::sweep::BatchPoint;
    use crate::plot::{Axes, Series, line_chart, report_dir};
    let dir = report_dir();
    let series = |f: fn(&BatchPoint) -> f64| -> Vec<Series> {
        sweep
            .series
            .iter()
            .map(|s| Series {
                name: format!("{} ({})", s.model, s.attention),
                points: s.points.iter().map(|p| (p.batch as f64, f(p))).collect(),
            })
            .collect()
    };
    let where_ = format!(
        "{} × {}, {}-token context",
        sweep.gpus, sweep.hardware, sweep.context_tokens
    );
    let mut charts = line_chart(
        &dir.join("budget_decode_tokens_per_s_vs_batch"),
        Axes {
            title: &format!("Decode tokens/s, all sequences ({where_})"),
            x: "batch (sequences per step)",
            y: "tokens/s",
            log_x: true,
            log_y: true,
        },
        &series(|p| p.decode_tokens_per_s_aggregate),
    )?;
    let mut intensity = series(|p| p.flop_per_byte);
    // One ridge per peak rate: models computing in different dtypes meet the roof elsewhere.
    let mut ridges: Vec<(f64, Vec<&str>)> = Vec::new();
    for s in &sweep.series {
        match ridges
            .iter_mut()
            .find(|(r, _)| *r == s.effective_ridge_flop_per_byte)
        {
            Some((_, models)) => models.push(&s.model),
            None => ridges.push((s.effective_ridge_flop_per_byte, vec![&s.model])),
        }
    }
    if let (Some(first), Some(last)) = (sweep.batches.first(), sweep.batches.last()) {
        for (ridge, models) in &ridges {
            let whose = if ridges.len() > 1 {
                format!(" ({})", models.join(", "))
            } else {
                String::new()
            };
            intensity.push(Series {
                name: format!(
                    "ridge{whose}: {ridge:.0} FLOP/byte at {:.0}% compute, {:.0}% bandwidth",
                    sweep.compute_efficiency * 100.0,
                    sweep.bandwidth_efficiency * 100.0
                ),
                points: vec![(*first as f64, *ridge), (*last as f64, *ridge)],
            });
        }
    }
    charts.extend(line_chart(
        &dir.join("budget_flop_per_byte_vs_batch"),
        Axes {
            title: &format!("Decode step: FLOPs per byte read ({where_})"),
            x: "batch (sequences per step)",
            y: "FLOP per byte",
            log_x: true,
            log_y: true,
        },
        &intensity,
    )?);
    Ok(charts)
}

impl fmt::Display for BatchSweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sw = &self.sweep;
        writeln!(
            f,
            "A decode step by batch on {} × {}, every sequence at {} tokens of {} KV ({:.0}% of peak compute, {:.0}% of bandwidth):",
            sw.gpus,
            sw.hardware,
            thousands(sw.context_tokens as f64, 0),
            sw.kv_cache_dtype,
            sw.compute_efficiency * 100.0,
            sw.bandwidth_efficiency * 100.0
        )?;
        for s in &sw.series {
            writeln!(
                f,
                "\n{} ({}, {} weights, {} compute):",
                s.model, s.attention, s.weights_dtype, s.compute_dtype
            )?;
            let mut t = Table::new([
                "batch",
                "bytes/step",
                "FLOP/byte",
                "memory ms",
                "compute ms",
                "step ms",
                "tok/s (all)",
                "tok/s (each)",
                "bound",
                "fits KV pool",
            ]);
            for p in &s.points {
                t.row([
                    thousands(p.batch as f64, 0),
                    bytes(p.step_bytes_per_gpu),
                    thousands(p.flop_per_byte, 1),
                    format!("{:.2}", p.memory_seconds * 1e3),
                    format!("{:.2}", p.compute_seconds * 1e3),
                    format!("{:.2}", p.step_seconds * 1e3),
                    thousands(p.decode_tokens_per_s_aggregate, 0),
                    format!("{:.1}", p.decode_tokens_per_s_per_request),
                    p.bound.clone(),
                    if p.fits_kv_pool { "yes" } else { "no" }.into(),
                ]);
            }
            write!(f, "{t}")?;
            writeln!(
                f,
                "ridge {:.0} FLOP/byte ({:.1} TFLOP/s ÷ {:.2} TB/s), {:.0} with the efficiency factors; each added sequence brings {:.1} FLOP per byte of its KV; {}; the KV pool holds {} requests",
                s.ridge_flop_per_byte,
                s.peak_flops_per_gpu / 1e12,
                sw.bandwidth_bytes_per_s / 1e12,
                s.effective_ridge_flop_per_byte,
                s.per_sequence_flop_per_byte,
                match s.compute_bound_from_batch {
                    Some(b) => format!("compute-bound from batch {}", thousands(b as f64, 0)),
                    None if s.per_sequence_flop_per_byte < s.effective_ridge_flop_per_byte =>
                        "memory-bound at any batch (the batch's intensity tends to its sequences', below the ridge)".to_string(),
                    None => format!(
                        "memory-bound up to batch {} at least (the search's limit)",
                        thousands(crate::budget::sweep::CROSSOVER_SEARCH_LIMIT as f64, 0)
                    ),
                },
                thousands(s.max_concurrency, 1)
            )?;
        }
        writeln!(f, "\ncharts: {}", self.charts.join(", "))
    }
}

/// The serving budget's part of `tour`.
impl fmt::Display for BudgetTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = Table::new([
            "model",
            "hardware",
            "context",
            "weights",
            "KV/token",
            "max concurrent",
            "decode tok/s",
            "$/1M out",
        ]);
        for l in &self.lines {
            t.row([
                l.model.clone(),
                l.hardware.clone(),
                thousands(l.context_tokens as f64, 0),
                format!("{} {}", bytes(l.weight_bytes), l.weights_dtype),
                bytes(l.kv_bytes_per_token),
                format!("{:.1}", l.max_concurrency),
                thousands(l.decode_tokens_per_s_aggregate, 0),
                l.usd_per_mtok_output
                    .map_or("-".into(), |v| format!("${v:.3}")),
            ]);
        }
        write!(f, "{t}")?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        writeln!(
            f,
            "(`llm-workbench budget --model ID --hardware ID --context N` for the full budget and vLLM flags; docs/serving-budget.md walks one by hand)"
        )
    }
}
