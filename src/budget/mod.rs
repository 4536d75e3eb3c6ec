//! The serving budget: capacity planning from an architecture, a GPU and a workload.
//!
//! Given a model shape ([`arch`]), an accelerator ([`hardware`]) and the serving settings, it
//! answers the questions an operator asks before renting GPUs: how many bytes the weights take,
//! how many bytes of KV cache a token and a request take, how many tokens the KV pool holds,
//! how many requests run at once (vLLM's "maximum concurrency"), how fast prefill and decode go
//! at the roofline, what a million tokens cost, and which vLLM flags say all that.
//!
//! Every formula is a pure function in [`calc`] with the formula in its doc comment; [`plan`]
//! strings them together, one named step at a time; [`sweep`] runs it across contexts and
//! models; [`measured`] compares predictions with chapter 04's decode records on this machine.
//! Nothing here prints: `llm-workbench budget` (`commands::budget`) parses and prints.

pub mod arch;
pub mod calc;
pub mod gguf;
pub mod hardware;
pub mod measured;
pub mod sweep;
pub mod tour;

use crate::bail_input;
use arch::Architecture;
use calc::*;
use hardware::Hardware;
use serde::Serialize;

/// Serving settings: everything besides the model and the hardware.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Weight storage; `None` = the checkpoint's native scheme (bf16 unless the catalog says).
    pub weights: Option<WeightScheme>,
    /// KV cache dtype; `None` = bf16 on GPUs, f32 on this machine (the chapters' CPU dtype).
    pub kv_dtype: Option<KvDtype>,
    pub gpu_memory_utilization: f64,
    pub block_tokens: u64,
    /// Tensor-parallel degree = GPUs per replica.
    pub tp: u64,
    pub expert_parallel: bool,
    /// Longest request, tokens (vLLM `--max-model-len`).
    pub context_tokens: u64,
    pub distribution: Option<ContextDistribution>,
    pub tenants: Vec<Tenant>,
    /// Decode batch; `None` = the maximum concurrency, capped at vLLM's 256.
    pub batch: Option<u64>,
    /// Prompt length for the prefill time and the input price.
    pub prompt_tokens: u64,
    pub efficiency: Efficiency,
    /// Replace the stated activation/overhead allowance ([`calc::overhead_bytes`]).
    pub overhead_bytes: Option<f64>,
    /// vLLM's `--max-num-batched-tokens`, which sizes the activation peak.
    pub max_num_batched_tokens: u64,
    /// Replace the catalog's $/hour for one GPU.
    pub usd_per_hour: Option<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            weights: None,
            kv_dtype: None,
            gpu_memory_utilization: 0.9,
            block_tokens: 16,
            tp: 1,
            expert_parallel: false,
            context_tokens: 4096,
            distribution: None,
            tenants: Vec::new(),
            batch: None,
            prompt_tokens: 1000,
            efficiency: DEFAULT_EFFICIENCY,
            overhead_bytes: None,
            max_num_batched_tokens: 8192,
            usd_per_hour: None,
        }
    }
}

/// Default efficiency factors: prefill reaches ~50% of dense peak (a typical large-GEMM
/// utilisation in serving), decode streams at ~80% of datasheet bandwidth.
pub const DEFAULT_EFFICIENCY: Efficiency = Efficiency {
    compute: 0.5,
    bandwidth: 0.8,
};

/// The budget for a context distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistributionBudget {
    pub points: Vec<(f64, u64)>,
    pub mean_kv_bytes_per_request: f64,
    /// pool / mean KV bytes per request: requests in flight on average.
    pub max_concurrency_mean: f64,
    /// pool / KV bytes of the longest request: the worst case.
    pub max_concurrency_at_longest: f64,
}

/// Everything the budget computes, with units in the field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub model: String,
    pub model_name: String,
    pub model_source: String,
    pub attention: String,
    pub hardware: String,
    pub hardware_name: String,
    pub gpus: u64,
    pub weights_dtype: String,
    pub kv_cache_dtype: String,
    pub params_total: f64,
    pub params_active: f64,
    pub params_active_without_input_embedding: f64,
    pub weight_bytes: f64,
    pub weight_bytes_per_gpu: f64,
    /// Whole model, one token, every layer, unsharded (the textbook figure).
    pub kv_bytes_per_token: f64,
    /// The same on one tensor-parallel rank (KV heads split, or replicated when kv_heads < tp).
    pub kv_bytes_per_token_per_gpu: f64,
    pub context_tokens: u64,
    pub block_tokens: u64,
    /// KV bytes of one request at `context_tokens`, rounded to blocks, sliding layers capped.
    pub kv_bytes_per_request_per_gpu: f64,
    pub memory_bytes_per_gpu: f64,
    pub gpu_memory_utilization: f64,
    pub overhead_bytes_per_gpu: f64,
    pub kv_pool_bytes_per_gpu: f64,
    pub pool_tokens: u64,
    pub max_concurrency: f64,
    pub distribution: Option<DistributionBudget>,
    pub tenants: Vec<TenantBudget>,
    pub batch: u64,
    pub prompt_tokens: u64,
    pub prefill_seconds: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_step_seconds: f64,
    pub decode_tokens_per_s_per_request: f64,
    pub decode_tokens_per_s_aggregate: f64,
    /// `memory` or `compute`: which roof the decode step sits under.
    pub decode_bound: String,
    pub compute_dtype: String,
    pub efficiency: Efficiency,
    pub usd_per_hour_total: Option<f64>,
    pub usd_per_mtok_input: Option<f64>,
    pub usd_per_mtok_output: Option<f64>,
    pub vllm: VllmFlags,
    pub vllm_command: String,
    pub warnings: Vec<String>,
    pub assumptions: Vec<String>,
}

/// The weight scheme a setting resolves to for a model.
pub fn weight_scheme(a: &Architecture, s: &Settings, on_cpu: bool) -> WeightScheme {
    match (s.weights, &a.native_weights) {
        (Some(w), _) => w,
        (None, Some(n)) => WeightScheme {
            dtype: n.dtype,
            scope: n.scope,
            group_size: 128,
        },
        (None, None) if on_cpu => WeightScheme::plain(WeightDtype::F32),
        (None, None) => WeightScheme::plain(WeightDtype::Bf16),
    }
}

fn kv_label(kv: KvDtype) -> &'static str {
    match kv {
        KvDtype::F32 => "f32",
        KvDtype::Bf16 => "bf16",
        KvDtype::Fp8 => "fp8",
    }
}

/// Checks that vLLM can shard the model `tp` ways: heads divisible by tp, and kv_heads either
/// divisible by tp or dividing it (then replicated).
pub fn check_tp(a: &Architecture, tp: u64) -> anyhow::Result<()> {
    if tp == 0 {
        bail_input!("--tp must be at least 1");
    }
    if !a.heads.is_multiple_of(tp) {
        bail_input!(
            "--tp {tp}: {} has {} attention heads, not divisible by {tp}",
            a.id,
            a.heads
        );
    }
    if a.mla.is_none() && !a.kv_heads.is_multiple_of(tp) && !tp.is_multiple_of(a.kv_heads) {
        bail_input!(
            "--tp {tp}: {} has {} KV heads; tp must divide them or be a multiple of them",
            a.id,
            a.kv_heads
        );
    }
    Ok(())
}

/// Bytes available for weights + overhead on one GPU, and what one GPU needs.
fn fit_numbers(
    a: &Architecture,
    hw: &Hardware,
    s: &Settings,
    scheme: WeightScheme,
    tp: u64,
) -> (f64, f64, f64) {
    let p = param_counts(a);
    let w = weight_bytes(&p, scheme);
    let per_gpu = weight_bytes_per_gpu(&w, a, tp, s.expert_parallel);
    let overhead = s.overhead_bytes.unwrap_or_else(|| {
        overhead_bytes(a, s.max_num_batched_tokens, VLLM_DEFAULT_MAX_NUM_SEQS, tp)
    });
    (
        hw.memory_bytes * s.gpu_memory_utilization,
        per_gpu,
        overhead,
    )
}

/// What would make a model fit: a larger TP degree at the same dtype, or a smaller dtype at
/// the same TP. Empty when nothing up to 8 GPUs in int4 fits.
pub fn fit_advice(
    a: &Architecture,
    hw: &Hardware,
    s: &Settings,
    scheme: WeightScheme,
) -> Vec<String> {
    let mut out = Vec::new();
    let fits = |scheme: WeightScheme, tp: u64| {
        let (avail, w, o) = fit_numbers(a, hw, s, scheme, tp);
        check_tp(a, tp).is_ok() && avail - w - o > 0.0
    };
    if let Some(tp) = [2u64, 4, 8, 16]
        .into_iter()
        .filter(|&t| t > s.tp)
        .find(|&t| fits(scheme, t))
    {
        out.push(format!("--tp {tp}"));
    }
    for (dtype, flag) in [(WeightDtype::Fp8, "fp8"), (WeightDtype::Int4, "int4")] {
        let q = WeightScheme::plain(dtype);
        if bits_per_weight(dtype, 128) < bits_per_weight(scheme.dtype, scheme.group_size)
            && fits(q, s.tp)
        {
            out.push(format!("--weights {flag}"));
            break;
        }
    }
    out
}

/// Computes the whole budget, one named step after another: [`weights_step`],
/// [`kv_step`], [`pool_step`], [`concurrency_step`], [`throughput_step`], [`price_step`].
/// Bad settings (utilization outside (0, 1], a context beyond the model's, weights that do
/// not fit) are bad input with one line that says what would fit.
pub fn plan(a: &Architecture, hw: &Hardware, s: &Settings) -> anyhow::Result<Budget> {
    check_settings(a, s)?;
    let on_cpu = hw.id == hardware::THIS_MACHINE;
    let scheme = weight_scheme(a, s, on_cpu);
    let kv_dtype = kv_dtype_for(s, on_cpu);
    let weights = weights_step(a, hw, s, scheme);
    let kv = kv_step(a, s, kv_dtype);
    let pool = pool_step(a, hw, s, &weights)?;
    let conc = concurrency_step(a, s, kv_dtype, &kv, pool)?;
    if let Some(batch) = s.batch {
        // A decode batch holds every sequence's KV at once: more sequences than the pool holds
        // at this context is a deployment vLLM would pre-empt or refuse, not a throughput.
        let max = conc.max_concurrency.floor().max(0.0) as u64;
        if batch > max {
            bail_input!(
                "--batch {batch} exceeds the maximum concurrency {max}: the KV pool holds {max} requests of {} tokens (lower --batch or --context)",
                s.context_tokens
            );
        }
    }
    let speed = throughput_step(a, hw, s, &weights, &kv, conc.max_concurrency);
    let price = price_step(hw, s, &speed);
    let vllm = VllmFlags {
        max_model_len: s.context_tokens,
        gpu_memory_utilization: s.gpu_memory_utilization,
        max_num_seqs: max_num_seqs(conc.max_concurrency),
        tensor_parallel_size: s.tp,
        kv_cache_dtype: match kv_dtype {
            KvDtype::Fp8 => "fp8".into(),
            _ => "auto".into(),
        },
        block_size: s.block_tokens,
        enable_expert_parallel: s.expert_parallel,
        quantization: match (s.weights, scheme.dtype) {
            (Some(_), WeightDtype::Fp8) if a.native_weights.is_none() => Some("fp8".into()),
            _ => None,
        },
    };
    let assumptions = assumptions(a, s, &weights, &speed);
    Ok(Budget {
        model: a.id.clone(),
        model_name: a.name.clone(),
        model_source: a.source.clone(),
        attention: a.attention_kind().into(),
        hardware: hw.id.clone(),
        hardware_name: hw.name.clone(),
        gpus: s.tp,
        weights_dtype: scheme.label(),
        kv_cache_dtype: kv_label(kv_dtype).into(),
        params_total: weights.params.total(),
        params_active: weights.params.active(),
        params_active_without_input_embedding: weights.params.active_without_input_embedding(),
        weight_bytes: weights.bytes.total(),
        weight_bytes_per_gpu: weights.per_gpu,
        kv_bytes_per_token: kv_bytes_per_token(a, kv_dtype, 1),
        kv_bytes_per_token_per_gpu: kv.per_token_per_gpu,
        context_tokens: s.context_tokens,
        block_tokens: s.block_tokens,
        kv_bytes_per_request_per_gpu: kv.per_request,
        memory_bytes_per_gpu: hw.memory_bytes,
        gpu_memory_utilization: s.gpu_memory_utilization,
        overhead_bytes_per_gpu: weights.overhead_per_gpu,
        kv_pool_bytes_per_gpu: pool,
        pool_tokens: pool_tokens(pool, kv.per_token_per_gpu, s.block_tokens),
        max_concurrency: conc.max_concurrency,
        distribution: conc.distribution,
        tenants: conc.tenants,
        batch: speed.batch,
        prompt_tokens: s.prompt_tokens,
        prefill_seconds: speed.prefill_seconds,
        prefill_tokens_per_s: s.prompt_tokens as f64 / speed.prefill_seconds,
        decode_step_seconds: speed.step_seconds,
        decode_tokens_per_s_per_request: 1.0 / speed.step_seconds,
        decode_tokens_per_s_aggregate: speed.aggregate_tokens_per_s,
        decode_bound: speed.bound.into(),
        compute_dtype: speed.compute_dtype,
        efficiency: s.efficiency,
        usd_per_hour_total: price.usd_per_hour,
        usd_per_mtok_input: price.input,
        usd_per_mtok_output: price.output,
        vllm_command: vllm.command_line(a.hf_repo.as_deref().unwrap_or(&a.id)),
        vllm,
        warnings: conc.warnings,
        assumptions,
    })
}

/// The KV dtype a setting resolves to: as given, else bf16 on GPUs and f32 on this machine
/// (the chapters' CPU dtype).
pub fn kv_dtype_for(s: &Settings, on_cpu: bool) -> KvDtype {
    s.kv_dtype
        .unwrap_or(if on_cpu { KvDtype::F32 } else { KvDtype::Bf16 })
}

/// Settings the budget cannot work with, refused before any arithmetic.
fn check_settings(a: &Architecture, s: &Settings) -> anyhow::Result<()> {
    let u = s.gpu_memory_utilization;
    if !(u > 0.0 && u <= 1.0) {
        bail_input!("--gpu-memory-utilization {u}: must be in (0, 1]");
    }
    if s.block_tokens == 0 {
        bail_input!("--block-size must be positive");
    }
    if s.context_tokens == 0 || s.prompt_tokens == 0 {
        bail_input!("--context and --prompt-tokens must be positive");
    }
    let in_unit = |v: f64| v > 0.0 && v <= 1.0;
    if !in_unit(s.efficiency.compute) || !in_unit(s.efficiency.bandwidth) {
        bail_input!("efficiency factors must be in (0, 1]");
    }
    if s.context_tokens > a.max_context {
        bail_input!(
            "--context {}: {} supports at most {} tokens",
            s.context_tokens,
            a.id,
            a.max_context
        );
    }
    check_tp(a, s.tp)
}

/// Step 1, weights: parameter counts, bytes in the chosen scheme, bytes per GPU, and the
/// activation/overhead allowance each GPU keeps besides them.
pub struct WeightsStep {
    pub scheme: WeightScheme,
    pub params: ParamCounts,
    pub bytes: WeightBytes,
    pub per_gpu: f64,
    pub overhead_per_gpu: f64,
    /// `memory × gpu_memory_utilization`: what vLLM may use on one GPU.
    pub usable_per_gpu: f64,
}

pub fn weights_step(
    a: &Architecture,
    hw: &Hardware,
    s: &Settings,
    scheme: WeightScheme,
) -> WeightsStep {
    let params = param_counts(a);
    let bytes = weight_bytes(&params, scheme);
    let (usable_per_gpu, per_gpu, overhead_per_gpu) = fit_numbers(a, hw, s, scheme, s.tp);
    WeightsStep {
        scheme,
        params,
        bytes,
        per_gpu,
        overhead_per_gpu,
        usable_per_gpu,
    }
}

/// Step 2, KV: bytes per token on one GPU, and one request at the context, rounded to blocks.
pub struct KvStep {
    pub per_token_per_gpu: f64,
    pub per_request: f64,
}

pub fn kv_step(a: &Architecture, s: &Settings, kv: KvDtype) -> KvStep {
    KvStep {
        per_token_per_gpu: kv_bytes_per_token(a, kv, s.tp),
        per_request: kv_bytes_per_request(a, kv, s.tp, s.context_tokens, s.block_tokens),
    }
}

/// Step 3, the KV pool: what is left of the usable memory after weights and overhead. A model
/// that leaves nothing is bad input, with the TP degree or dtype that would make it fit.
pub fn pool_step(
    a: &Architecture,
    hw: &Hardware,
    s: &Settings,
    w: &WeightsStep,
) -> anyhow::Result<f64> {
    let u = s.gpu_memory_utilization;
    let pool = kv_pool_bytes(hw.memory_bytes, u, w.per_gpu, w.overhead_per_gpu);
    if pool <= 0.0 {
        let advice = fit_advice(a, hw, s, w.scheme);
        let gb = |b: f64| format!("{:.1} GB", b / 1e9);
        bail_input!(
            "{} does not fit on {} × {}: {} weights ({} per GPU) + {} overhead exceed {} × {} = {} by {}; {}",
            a.id,
            s.tp,
            hw.id,
            w.scheme.label(),
            gb(w.per_gpu),
            gb(w.overhead_per_gpu),
            u,
            gb(hw.memory_bytes),
            gb(w.usable_per_gpu),
            gb(-pool),
            if advice.is_empty() {
                "it does not fit on 16 GPUs in int4 either".to_string()
            } else {
                format!("it fits with {}", advice.join(" or "))
            }
        );
    }
    Ok(pool)
}

/// Step 4, concurrency: requests the pool holds at the context (vLLM's "maximum
/// concurrency"), over a context distribution, and per tenant.
pub struct ConcurrencyStep {
    pub max_concurrency: f64,
    pub distribution: Option<DistributionBudget>,
    pub tenants: Vec<TenantBudget>,
    pub warnings: Vec<String>,
}

pub fn concurrency_step(
    a: &Architecture,
    s: &Settings,
    kv_dtype: KvDtype,
    kv: &KvStep,
    pool: f64,
) -> anyhow::Result<ConcurrencyStep> {
    let per_request = |c: u64| kv_bytes_per_request(a, kv_dtype, s.tp, c, s.block_tokens);
    let concurrency = max_concurrency(pool, kv.per_request);
    let mut warnings = Vec::new();
    if concurrency < 1.0 {
        let fits = (1..=a.max_context.min(s.context_tokens))
            .rev()
            .step_by(s.block_tokens as usize)
            .find(|&c| per_request(c) <= pool);
        warnings.push(format!(
            "vLLM would refuse to start: one {}-token request needs {:.2} GB of KV but the pool holds {:.2} GB{}",
            s.context_tokens,
            kv.per_request / 1e9,
            pool / 1e9,
            fits.map(|c| format!("; --max-model-len {c} fits")).unwrap_or_default()
        ));
    }
    let distribution = match &s.distribution {
        Some(d) => {
            if d.max_tokens() > s.context_tokens {
                bail_input!(
                    "context distribution reaches {} tokens, beyond --context {}",
                    d.max_tokens(),
                    s.context_tokens
                );
            }
            let mean = mean_kv_bytes_per_request(d, per_request);
            Some(DistributionBudget {
                points: d.points.clone(),
                mean_kv_bytes_per_request: mean,
                max_concurrency_mean: max_concurrency(pool, mean),
                max_concurrency_at_longest: max_concurrency(pool, per_request(d.max_tokens())),
            })
        }
        None => None,
    };
    Ok(ConcurrencyStep {
        max_concurrency: concurrency,
        distribution,
        tenants: tenant_budgets(pool, &s.tenants, a.max_context, per_request),
        warnings,
    })
}

/// Step 5, throughput at the roofline: prefill is compute-bound; a decode step reads the
/// weights and every sequence's KV once, and is bound by whichever roof is lower.
pub struct ThroughputStep {
    pub batch: u64,
    pub compute_dtype: String,
    pub prefill_seconds: f64,
    /// What one decode step streams on one GPU and computes on all of them.
    pub step_bytes_per_gpu: f64,
    pub step_flops: f64,
    /// The step under each roof alone; `step_seconds` is the larger.
    pub memory_seconds: f64,
    pub compute_seconds: f64,
    /// The peak FLOP/s of `compute_dtype` on one GPU.
    pub peak_flops_per_gpu: f64,
    pub step_seconds: f64,
    pub aggregate_tokens_per_s: f64,
    /// `memory` or `compute`.
    pub bound: &'static str,
}

pub fn throughput_step(
    a: &Architecture,
    hw: &Hardware,
    s: &Settings,
    w: &WeightsStep,
    kv: &KvStep,
    concurrency: f64,
) -> ThroughputStep {
    let batch = s.batch.unwrap_or_else(|| max_num_seqs(concurrency)).max(1);
    let compute_dtype = match w.scheme.dtype {
        WeightDtype::F32 => "fp32",
        WeightDtype::Fp8 => "fp8",
        _ => "bf16",
    };
    let (peak, compute_dtype) = hw.peak_flops_for(compute_dtype);
    let gpus = s.tp;
    let prefill_seconds = compute_seconds(
        prefill_flops(a, &w.params, s.prompt_tokens),
        peak,
        gpus,
        s.efficiency,
    );
    let step_bytes = decode_step_bytes_per_gpu(a, &w.bytes, kv.per_request, batch, gpus);
    let step_flops = decode_step_flops(a, &w.params, batch, s.context_tokens);
    let step_seconds = decode_step_seconds(
        step_bytes,
        hw.bandwidth_bytes_per_s,
        step_flops,
        peak,
        gpus,
        s.efficiency,
    );
    let memory_seconds = step_bytes / (hw.bandwidth_bytes_per_s * s.efficiency.bandwidth);
    ThroughputStep {
        batch,
        compute_dtype,
        prefill_seconds,
        step_bytes_per_gpu: step_bytes,
        step_flops,
        memory_seconds,
        compute_seconds: compute_seconds(step_flops, peak, gpus, s.efficiency),
        peak_flops_per_gpu: peak,
        step_seconds,
        aggregate_tokens_per_s: batch as f64 / step_seconds,
        bound: if memory_seconds >= step_seconds {
            "memory"
        } else {
            "compute"
        },
    }
}

/// Step 6, price: the rented GPUs' $/hour over the throughput, per 1M input and output tokens.
pub struct PriceStep {
    pub usd_per_hour: Option<f64>,
    pub input: Option<f64>,
    pub output: Option<f64>,
}

pub fn price_step(hw: &Hardware, s: &Settings, speed: &ThroughputStep) -> PriceStep {
    let usd_per_hour = s.usd_per_hour.or(hw.usd_per_hour).map(|p| p * s.tp as f64);
    let prefill_tokens_per_s = s.prompt_tokens as f64 / speed.prefill_seconds;
    PriceStep {
        usd_per_hour,
        input: usd_per_hour.map(|h| usd_per_mtok(h, prefill_tokens_per_s)),
        output: usd_per_hour.map(|h| usd_per_mtok(h, speed.aggregate_tokens_per_s)),
    }
}

/// The assumptions behind the numbers, printed with them.
fn assumptions(
    a: &Architecture,
    s: &Settings,
    w: &WeightsStep,
    speed: &ThroughputStep,
) -> Vec<String> {
    let batch = speed.batch;
    let mut assumptions = vec![
        format!(
            "overhead allowance {:.2} GB per GPU: {}",
            w.overhead_per_gpu / 1e9,
            if s.overhead_bytes.is_some() {
                "given".to_string()
            } else {
                format!(
                    "activations of {} batched tokens + fp32 logits of 256 sequences + 1 GiB fixed",
                    s.max_num_batched_tokens
                )
            }
        ),
        format!(
            "efficiency: {:.0}% of dense {} peak in prefill, {:.0}% of bandwidth in decode; tensor-parallel communication not modelled beyond these factors",
            s.efficiency.compute * 100.0,
            speed.compute_dtype,
            s.efficiency.bandwidth * 100.0
        ),
        format!(
            "decode: {batch} sequences, each holding {} tokens of KV (the worst case)",
            s.context_tokens
        ),
    ];
    if a.moe.is_some() {
        assumptions.push(format!(
            "MoE decode reads {:.0}% of the routed experts per step (uniform routing at batch {batch})",
            experts_touched_fraction(a, batch) * 100.0
        ));
    }
    if a.sliding_window.is_some() {
        assumptions.push(
            "sliding-window layers hold min(context, window) tokens rounded up to blocks".into(),
        );
    }
    assumptions
}

/// Self-hosted price of a catalog model on catalog hardware, for the cost router.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfHostedPrice {
    pub architecture_id: String,
    pub hardware_id: String,
    pub gpus: u32,
    pub usd_per_hour_total: f64,
    /// Prefill cost: $/hour ÷ prefill tokens/s (compute-bound roofline).
    pub input_usd_per_mtok: f64,
    /// Decode cost: $/hour ÷ aggregate decode tokens/s at the batch below.
    pub output_usd_per_mtok: f64,
    pub batch: u64,
    pub context_tokens: u64,
    pub prompt_tokens: u64,
    pub price_as_of: Option<String>,
    pub price_source: Option<String>,
    pub assumptions: Vec<String>,
}

/// Context every self-hosted price assumes (clamped to the model's maximum).
pub const PRICE_CONTEXT_TOKENS: u64 = 4096;

/// USD per million input and output tokens of serving `architecture_id` on `gpus` ×
/// `hardware_id` (tensor parallel), from the shipped catalogs. Assumptions: the checkpoint's
/// native weight dtype, bf16 KV, 4,096-token requests with 1,000-token prompts, the batch =
/// the KV pool's maximum concurrency (at most 256), 50% of peak FLOP/s in prefill and 80% of
/// bandwidth in decode, the GPUs fully busy. The result's `assumptions` spell them out.
pub fn self_hosted_usd_per_mtok(
    architecture_id: &str,
    hardware_id: &str,
    gpus: u32,
) -> anyhow::Result<SelfHostedPrice> {
    let a = arch::resolve(architecture_id)?;
    let hw = hardware::resolve(hardware_id, &crate::records::records_dir())?;
    let Some(usd) = hw.usd_per_hour else {
        bail_input!("hardware {hardware_id} has no $/hour in the catalog");
    };
    let s = Settings {
        tp: u64::from(gpus),
        context_tokens: PRICE_CONTEXT_TOKENS.min(a.max_context),
        ..Settings::default()
    };
    let b = plan(&a, &hw, &s)?;
    // A plan with warnings (vLLM would refuse to start) has no price to route on.
    if let Some(w) = b.warnings.first() {
        bail_input!("{} on {gpus} × {}: {w}", a.id, hw.id);
    }
    let mut assumptions = b.assumptions.clone();
    assumptions.push(format!(
        "{} weights, {} KV, {}-token context, {}-token prompts, GPUs fully busy",
        b.weights_dtype, b.kv_cache_dtype, b.context_tokens, b.prompt_tokens
    ));
    Ok(SelfHostedPrice {
        architecture_id: a.id,
        hardware_id: hw.id,
        gpus,
        usd_per_hour_total: usd * f64::from(gpus),
        input_usd_per_mtok: b.usd_per_mtok_input.unwrap_or(f64::NAN),
        output_usd_per_mtok: b.usd_per_mtok_output.unwrap_or(f64::NAN),
        batch: b.batch,
        context_tokens: b.context_tokens,
        prompt_tokens: b.prompt_tokens,
        price_as_of: hw.price_as_of,
        price_source: hw.price_source,
        assumptions,
    })
}
