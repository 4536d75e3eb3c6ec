//! The serving-budget formulas: pure functions over typed inputs, one formula each, with the
//! formula in the doc comment. Units are in the names: `_bytes`, `_tokens`, `_flops`,
//! `_seconds`, `usd_per_`. Byte counts are `f64` because quantized weights take fractional bytes.

use super::arch::{Architecture, AttentionBias, MlpKind, NormKind};
use serde::{Deserialize, Serialize};

/// Storage type of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    F32,
    Bf16,
    Fp8,
    /// 4-bit integers with one fp16 scale and one 4-bit zero point per group (AWQ/GPTQ style).
    Int4,
    /// OCP MXFP4: 4-bit floats with one 8-bit (E8M0) scale per 32 values (gpt-oss experts).
    Mxfp4,
    /// IEEE half precision (GGUF F16; the same bytes as bf16).
    F16,
    /// GGUF Q8_0: 32 signed bytes and one f16 scale per block of 32 (8.5 bits per weight).
    #[serde(rename = "q8_0")]
    Q8_0,
    /// GGUF Q4_1: 32 four-bit values, an f16 scale and an f16 minimum per block (5 bits).
    #[serde(rename = "q4_1")]
    Q4_1,
}

/// Which weights a quantized dtype applies to; the rest stay bf16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantScope {
    /// Every weight, embeddings included.
    All,
    /// Every linear layer inside the blocks; embeddings, LM head, norms and routers stay bf16.
    Blocks,
    /// Only the routed experts (gpt-oss ships MXFP4 experts and bf16 everything else).
    Experts,
}

/// A weight storage scheme: a dtype, where it applies, and the int4 group size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightScheme {
    pub dtype: WeightDtype,
    pub scope: QuantScope,
    /// Values per int4 scale group (128 is the AWQ/GPTQ default).
    pub group_size: u32,
}

impl WeightScheme {
    pub fn plain(dtype: WeightDtype) -> Self {
        // GGUF's block formats apply to every matrix, the embedding too (chapter 08's loader
        // converts them all).
        let scope = match dtype {
            WeightDtype::F32
            | WeightDtype::Bf16
            | WeightDtype::F16
            | WeightDtype::Q8_0
            | WeightDtype::Q4_1 => QuantScope::All,
            _ => QuantScope::Blocks,
        };
        WeightScheme {
            dtype,
            scope,
            group_size: 128,
        }
    }

    /// Short label: `bf16`, `fp8`, `int4-g128`, `mxfp4 (experts)`.
    pub fn label(&self) -> String {
        let d = match self.dtype {
            WeightDtype::F32 => "f32".to_string(),
            WeightDtype::Bf16 => "bf16".to_string(),
            WeightDtype::Fp8 => "fp8".to_string(),
            WeightDtype::Int4 => format!("int4-g{}", self.group_size),
            WeightDtype::Mxfp4 => "mxfp4".to_string(),
            WeightDtype::F16 => "f16".to_string(),
            WeightDtype::Q8_0 => "q8_0".to_string(),
            WeightDtype::Q4_1 => "q4_1".to_string(),
        };
        match self.scope {
            QuantScope::Experts => format!("{d} (experts)"),
            _ => d,
        }
    }
}

/// Bits stored per weight, scales included.
///
/// f32 = 32; bf16 = 16; fp8 = 8 (per-tensor or 128×128-block scales are negligible);
/// int4 = 4 + (16 + 4) / group (an fp16 scale and a 4-bit zero point per group: 4.156 at 128);
/// mxfp4 = 4 + 8 / 32 = 4.25.
pub fn bits_per_weight(dtype: WeightDtype, group_size: u32) -> f64 {
    match dtype {
        WeightDtype::F32 => 32.0,
        WeightDtype::Bf16 => 16.0,
        WeightDtype::Fp8 => 8.0,
        WeightDtype::Int4 => 4.0 + 20.0 / f64::from(group_size.max(1)),
        WeightDtype::Mxfp4 => 4.0 + 8.0 / 32.0,
        WeightDtype::F16 => 16.0,
        WeightDtype::Q8_0 => 8.0 + 16.0 / 32.0,
        // Two f16 per 32 values: the scale and the minimum.
        WeightDtype::Q4_1 => 5.0,
    }
}

/// Storage type of the KV cache (vLLM `--kv-cache-dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvDtype {
    F32,
    Bf16,
    Fp8,
}

impl KvDtype {
    pub fn bytes(self) -> f64 {
        match self {
            KvDtype::F32 => 4.0,
            KvDtype::Bf16 => 2.0,
            KvDtype::Fp8 => 1.0,
        }
    }
}

/// Parameters by role. Counts, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ParamCounts {
    pub embedding: f64,
    /// Untied output projection (0 when tied to the embedding).
    pub lm_head: f64,
    /// Learned position embeddings (GPT-2).
    pub positions: f64,
    /// All attention projections, biases and q/k norms, all layers.
    pub attention: f64,
    /// Dense MLPs (every layer of a dense model; the leading dense layers of an MoE).
    pub dense_mlp: f64,
    /// Every routed expert of every MoE layer.
    pub routed_experts: f64,
    /// The routed experts one token uses (active_experts of them per MoE layer).
    pub active_routed_experts: f64,
    pub shared_experts: f64,
    pub router: f64,
    pub norms: f64,
}

impl ParamCounts {
    /// Every stored parameter.
    pub fn total(&self) -> f64 {
        self.embedding
            + self.lm_head
            + self.positions
            + self.attention
            + self.dense_mlp
            + self.routed_experts
            + self.shared_experts
            + self.router
            + self.norms
    }

    /// Parameters one token touches: total − routed experts + the active ones.
    pub fn active(&self) -> f64 {
        self.total() - self.routed_experts + self.active_routed_experts
    }

    /// Active parameters without the input embedding and positions (lookups, not matmuls):
    /// gpt-oss's convention for "active".
    pub fn active_without_input_embedding(&self) -> f64 {
        self.active() - self.embedding - self.positions
    }
}

/// Parameters of one attention layer.
///
/// Standard: q = hidden·heads·head_dim, k = v = hidden·kv_heads·head_dim, o = heads·head_dim·hidden,
/// plus biases (qkv: q+k+v widths; all: + hidden) and q/k norms (2·head_dim).
///
/// MLA: q = hidden·q_lora + q_lora + q_lora·heads·(nope+rope) (or hidden·heads·(nope+rope)
/// without q_lora); kv_a = hidden·(kv_lora+rope) + kv_lora; kv_b = kv_lora·heads·(nope+v);
/// o = heads·v·hidden.
pub fn attention_params_per_layer(a: &Architecture) -> f64 {
    let (h, n, kv, d) = (
        a.hidden as f64,
        a.heads as f64,
        a.kv_heads as f64,
        a.head_dim as f64,
    );
    if let Some(m) = &a.mla {
        let qk = (m.qk_nope_head_dim + m.qk_rope_head_dim) as f64;
        let q = match m.q_lora_rank {
            Some(r) => h * r as f64 + r as f64 + r as f64 * n * qk,
            None => h * n * qk,
        };
        let kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim) as f64 + m.kv_lora_rank as f64;
        let kv_b = m.kv_lora_rank as f64 * n * (m.qk_nope_head_dim + m.v_head_dim) as f64;
        let o = n * m.v_head_dim as f64 * h;
        return q + kv_a + kv_b + o;
    }
    let weights = h * n * d + 2.0 * h * kv * d + n * d * h;
    let bias = match a.attention_bias {
        AttentionBias::None => 0.0,
        AttentionBias::Qkv => n * d + 2.0 * kv * d,
        AttentionBias::All => n * d + 2.0 * kv * d + h,
    };
    let qk_norm = if a.qk_norm { 2.0 * d } else { 0.0 };
    weights + bias + qk_norm
}

/// Parameters of one feed-forward block of width `width`: gated = 3·hidden·width (+ biases
/// 2·width + hidden); plain = 2·hidden·width (+ biases width + hidden).
pub fn mlp_params(a: &Architecture, width: u64) -> f64 {
    let (h, w) = (a.hidden as f64, width as f64);
    let (mats, bias) = match a.mlp {
        MlpKind::Gated => (3.0 * h * w, 2.0 * w + h),
        MlpKind::Plain => (2.0 * h * w, w + h),
    };
    mats + if a.mlp_bias { bias } else { 0.0 }
}

/// Parameter counts by role (see [`ParamCounts`]); embedding = vocab·hidden, untied LM head
/// another vocab·hidden, norms = (layers·norms_per_layer + 1)·hidden (×2 for LayerNorm).
pub fn param_counts(a: &Architecture) -> ParamCounts {
    let (h, l) = (a.hidden as f64, a.layers as f64);
    let embedding = a.vocab as f64 * h;
    let norm_width = if a.norm == NormKind::Layer { 2.0 } else { 1.0 };
    let mut p = ParamCounts {
        embedding,
        lm_head: if a.tied_embeddings { 0.0 } else { embedding },
        positions: if a.learned_positions {
            a.max_context as f64 * h
        } else {
            0.0
        },
        attention: l * attention_params_per_layer(a),
        norms: (l * a.norms_per_layer as f64 + 1.0) * h * norm_width,
        ..ParamCounts::default()
    };
    match &a.moe {
        None => p.dense_mlp = l * mlp_params(a, a.intermediate),
        Some(m) => {
            let moe_layers = (a.layers - m.dense_layers) as f64;
            let expert = mlp_params(a, m.expert_intermediate);
            p.dense_mlp = m.dense_layers as f64 * mlp_params(a, a.intermediate);
            p.routed_experts = moe_layers * m.experts as f64 * expert;
            p.active_routed_experts = moe_layers * m.active_experts as f64 * expert;
            p.shared_experts =
                moe_layers * m.shared_experts as f64 * mlp_params(a, m.shared_intermediate);
            let router_bias = if a.mlp_bias { m.experts as f64 } else { 0.0 };
            p.router = moe_layers * (m.experts as f64 * h + router_bias);
        }
    }
    p
}

/// Bytes of the weights by role under a storage scheme.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct WeightBytes {
    /// Embedding, LM head, positions, norms, router: bf16 unless the scope is `All`.
    pub embeddings_and_small_bytes: f64,
    /// Attention, dense MLPs and shared experts.
    pub blocks_bytes: f64,
    pub routed_experts_bytes: f64,
    /// The LM-head matrix (the embedding when tied): read once per decode step.
    pub lm_head_matrix_bytes: f64,
}

impl WeightBytes {
    pub fn total(&self) -> f64 {
        self.embeddings_and_small_bytes + self.blocks_bytes + self.routed_experts_bytes
    }
}

/// Weight bytes = Σ over roles of params × bits_per_weight(role's dtype) / 8; the scheme's
/// dtype applies to its scope, every other weight is bf16 (f32 when the scheme is f32).
pub fn weight_bytes(p: &ParamCounts, s: WeightScheme) -> WeightBytes {
    let q = bits_per_weight(s.dtype, s.group_size) / 8.0;
    let rest = if s.dtype == WeightDtype::F32 {
        4.0
    } else {
        2.0
    };
    let (small, blocks, experts) = match s.scope {
        QuantScope::All => (q, q, q),
        QuantScope::Blocks => (rest, q, q),
        QuantScope::Experts => (rest, rest, q),
    };
    let small_params = p.embedding + p.lm_head + p.positions + p.norms + p.router;
    WeightBytes {
        embeddings_and_small_bytes: small_params * small,
        blocks_bytes: (p.attention + p.dense_mlp + p.shared_experts) * blocks,
        routed_experts_bytes: p.routed_experts * experts,
        lm_head_matrix_bytes: p.embedding * small,
    }
}

/// KV heads each tensor-parallel rank holds: kv_heads / tp when tp divides them, else 1 — a
/// KV head is replicated on every rank that needs it when kv_heads < tp (vLLM's rule).
pub fn kv_heads_per_rank(kv_heads: u64, tp: u64) -> u64 {
    if kv_heads >= tp { kv_heads / tp } else { 1 }
}

/// KV bytes one token adds to one layer on one rank.
///
/// GQA/MQA/MHA: 2 (K and V) × kv_heads_per_rank × head_dim × bytes.
/// MLA: (kv_lora_rank + qk_rope_head_dim) × bytes — one latent shared by K and V, so no
/// factor 2, and not split across tensor-parallel ranks (each rank keeps the whole latent).
pub fn kv_bytes_per_token_per_layer(a: &Architecture, kv: KvDtype, tp: u64) -> f64 {
    match &a.mla {
        Some(m) => (m.kv_lora_rank + m.qk_rope_head_dim) as f64 * kv.bytes(),
        // Chapter 04's formula for one layer and one token.
        None => ch04_kv_cache::kv_bytes_formula(
            1,
            kv_heads_per_rank(a.kv_heads, tp) as usize,
            a.head_dim as usize,
            kv.bytes() as usize,
            1,
        ) as f64,
    }
}

/// KV bytes per token for the whole model on one rank: layers × per-layer bytes. This is the
/// figure when every layer keeps every token (no sliding window cap): Llama-3.1-8B in bf16 =
/// 2 × 32 × 8 × 128 × 2 = 131,072 bytes = 128 KiB.
pub fn kv_bytes_per_token(a: &Architecture, kv: KvDtype, tp: u64) -> f64 {
    a.layers as f64 * kv_bytes_per_token_per_layer(a, kv, tp)
}

/// KV bytes for `tokens` tokens, without block rounding: Σ_layers per-layer bytes ×
/// min(tokens, window of that layer). Sliding-window layers never hold more than their window.
pub fn kv_bytes_for_tokens(a: &Architecture, kv: KvDtype, tp: u64, tokens: u64) -> f64 {
    let per_layer = kv_bytes_per_token_per_layer(a, kv, tp);
    (0..a.layers)
        .map(|i| per_layer * a.window_of_layer(i).map_or(tokens, |w| tokens.min(w)) as f64)
        .sum()
}

/// `tokens` rounded up to whole blocks: ⌈tokens / block⌉ × block (vLLM pages KV in blocks).
pub fn round_up_to_block(tokens: u64, block_tokens: u64) -> u64 {
    tokens.div_ceil(block_tokens.max(1)) * block_tokens.max(1)
}

/// KV bytes one request of `context` tokens holds, as a paged cache allocates it:
/// Σ_layers per-layer bytes × round_up_to_block(min(context, window of that layer)).
/// (vLLM may keep one more block per sliding layer while the window slides.)
pub fn kv_bytes_per_request(
    a: &Architecture,
    kv: KvDtype,
    tp: u64,
    context: u64,
    block_tokens: u64,
) -> f64 {
    let per_layer = kv_bytes_per_token_per_layer(a, kv, tp);
    (0..a.layers)
        .map(|i| {
            let held = a.window_of_layer(i).map_or(context, |w| context.min(w));
            per_layer * round_up_to_block(held, block_tokens) as f64
        })
        .sum()
}

/// Memory left for the KV cache on one GPU:
/// memory × gpu_memory_utilization − weights − activation/overhead allowance.
/// Negative when the weights do not fit.
pub fn kv_pool_bytes(
    memory_bytes: f64,
    gpu_memory_utilization: f64,
    weight_bytes: f64,
    overhead_bytes: f64,
) -> f64 {
    memory_bytes * gpu_memory_utilization - weight_bytes - overhead_bytes
}

/// The activation/overhead allowance (stated, not measured): the peak activations of one
/// forward pass over `max_num_batched_tokens` tokens,
/// tokens × (4·hidden + 2·ffn_width / tp) × 2 bytes (bf16 residual, qkv, attention output and
/// the MLP's gate/up halves), plus fp32 logits for `max_num_seqs` sequences,
/// max_num_seqs × vocab / tp × 4 bytes, plus a fixed 1 GiB for CUDA graphs, NCCL buffers and
/// allocator slack. ffn_width is the widest MLP a token goes through (active experts × expert
/// width for an MoE).
pub fn overhead_bytes(
    a: &Architecture,
    max_num_batched_tokens: u64,
    max_num_seqs: u64,
    tp: u64,
) -> f64 {
    let ffn_width = match &a.moe {
        Some(m) => (m.active_experts * m.expert_intermediate
            + m.shared_experts * m.shared_intermediate)
            .max(if m.dense_layers > 0 {
                a.intermediate
            } else {
                0
            }),
        None => a.intermediate,
    } as f64;
    let tp = tp.max(1) as f64;
    let activations =
        max_num_batched_tokens as f64 * (4.0 * a.hidden as f64 + 2.0 * ffn_width / tp) * 2.0;
    let logits = max_num_seqs as f64 * a.vocab as f64 / tp * 4.0;
    activations + logits + FIXED_OVERHEAD_BYTES
}

/// CUDA graphs, NCCL and allocator slack assumed by [`overhead_bytes`].
pub const FIXED_OVERHEAD_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// Tokens the pool holds in whole blocks, counting a token as one slot in every layer:
/// ⌊pool / (block × kv_bytes_per_token)⌋ × block (vLLM's "GPU KV cache size: N tokens").
pub fn pool_tokens(pool_bytes: f64, kv_bytes_per_token: f64, block_tokens: u64) -> u64 {
    if pool_bytes <= 0.0 || kv_bytes_per_token <= 0.0 {
        return 0;
    }
    let blocks = (pool_bytes / (block_tokens as f64 * kv_bytes_per_token)).floor() as u64;
    blocks * block_tokens
}

/// Maximum concurrency at a fixed context (vLLM's "Maximum concurrency for N tokens per
/// request: X×"): pool bytes / KV bytes per request. Without sliding layers this is exactly
/// pool tokens / per-request tokens rounded to blocks.
pub fn max_concurrency(pool_bytes: f64, kv_bytes_per_request: f64) -> f64 {
    if kv_bytes_per_request <= 0.0 {
        return 0.0;
    }
    (pool_bytes / kv_bytes_per_request).max(0.0)
}

/// A context-length distribution as weighted points (weights sum to 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextDistribution {
    pub points: Vec<(f64, u64)>,
}

impl ContextDistribution {
    /// Every listed context equally likely.
    pub fn from_list(contexts: &[u64]) -> Self {
        let w = 1.0 / contexts.len().max(1) as f64;
        ContextDistribution {
            points: contexts.iter().map(|&c| (w, c)).collect(),
        }
    }

    /// From percentiles `(p, tokens)` with p in (0, 100]: the requests between two percentiles
    /// are counted at the upper one (conservative), and those above the last at `max_tokens`.
    pub fn from_percentiles(percentiles: &[(f64, u64)], max_tokens: u64) -> Self {
        let mut sorted = percentiles.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut points = Vec::new();
        let mut below = 0.0;
        for (p, tokens) in sorted {
            let w = (p / 100.0 - below).max(0.0);
            if w > 0.0 {
                points.push((w, tokens));
            }
            below = below.max(p / 100.0);
        }
        if below < 1.0 {
            points.push((1.0 - below, max_tokens));
        }
        ContextDistribution { points }
    }

    pub fn max_tokens(&self) -> u64 {
        self.points.iter().map(|p| p.1).max().unwrap_or(0)
    }
}

/// Mean KV bytes per request over a distribution: Σ weight × kv_bytes_per_request(context).
pub fn mean_kv_bytes_per_request(
    dist: &ContextDistribution,
    per_request: impl Fn(u64) -> f64,
) -> f64 {
    dist.points.iter().map(|&(w, c)| w * per_request(c)).sum()
}

/// A tenant: a context cap and a share of the KV pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    pub name: String,
    pub context_cap_tokens: u64,
    pub share: f64,
}

/// What a tenant gets: share × pool bytes, and how many requests at its cap fit there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantBudget {
    pub name: String,
    pub context_cap_tokens: u64,
    pub share: f64,
    pub pool_bytes: f64,
    pub kv_bytes_per_request: f64,
    pub max_concurrency: u64,
    /// Why this tenant's budget does not hold, if it does not.
    pub problem: Option<String>,
}

/// Carves the pool into tenant budgets: bytes = share × pool; concurrency =
/// ⌊bytes / kv_bytes_per_request(cap)⌋. Flags a cap above the model's context, a share that
/// holds no request, and shares that add up to more than the pool.
pub fn tenant_budgets(
    pool_bytes: f64,
    tenants: &[Tenant],
    max_context_tokens: u64,
    per_request: impl Fn(u64) -> f64,
) -> Vec<TenantBudget> {
    let share_sum: f64 = tenants.iter().map(|t| t.share).sum();
    tenants
        .iter()
        .map(|t| {
            let bytes = t.share * pool_bytes.max(0.0);
            let req = per_request(t.context_cap_tokens);
            let n = if req > 0.0 {
                (bytes / req).floor() as u64
            } else {
                0
            };
            let problem = if t.context_cap_tokens > max_context_tokens {
                Some(format!(
                    "context cap {} exceeds the model's {} tokens",
                    t.context_cap_tokens, max_context_tokens
                ))
            } else if share_sum > 1.0 + 1e-9 {
                Some(format!(
                    "shares add up to {share_sum:.2}: the pool is oversubscribed"
                ))
            } else if n == 0 {
                Some("its share holds no request at its context cap".to_string())
            } else {
                None
            };
            TenantBudget {
                name: t.name.clone(),
                context_cap_tokens: t.context_cap_tokens,
                share: t.share,
                pool_bytes: bytes,
                kv_bytes_per_request: req,
                max_concurrency: n,
                problem,
            }
        })
        .collect()
}

/// Bytes of weights on one GPU. Tensor parallel splits every matrix across `tp` ranks
/// (total / tp); with expert parallel the routed experts go whole to ranks instead, so a rank
/// holds ⌈experts / tp⌉ of them.
pub fn weight_bytes_per_gpu(
    w: &WeightBytes,
    a: &Architecture,
    tp: u64,
    expert_parallel: bool,
) -> f64 {
    let tp_f = tp.max(1) as f64;
    let experts = match (&a.moe, expert_parallel) {
        (Some(m), true) => {
            w.routed_experts_bytes * m.experts.div_ceil(tp.max(1)) as f64 / m.experts as f64
        }
        _ => w.routed_experts_bytes / tp_f,
    };
    (w.embeddings_and_small_bytes + w.blocks_bytes) / tp_f + experts
}

/// Efficiency factors: achieved / peak, for compute-bound and bandwidth-bound phases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Efficiency {
    pub compute: f64,
    pub bandwidth: f64,
}

/// Σ_{t=1..n} min(t, span): query-key pairs of causal attention over n tokens, each query
/// looking back at most `span` tokens.
pub fn causal_pairs(n: u64, span: u64) -> f64 {
    let (n, w) = (n as f64, span.min(n) as f64);
    w * (w + 1.0) / 2.0 + (n - w) * w
}

/// Per-head widths that attention multiplies by: (q·k width, value width). MLA prefill works
/// on the decompressed heads (nope + rope, v); MLA decode absorbs the up-projections and
/// attends over the latent (kv_lora + rope, kv_lora), as vLLM does.
fn attention_widths(a: &Architecture, decode: bool) -> (f64, f64) {
    match (&a.mla, decode) {
        (Some(m), true) => (
            (m.kv_lora_rank + m.qk_rope_head_dim) as f64,
            m.kv_lora_rank as f64,
        ),
        (Some(m), false) => (
            (m.qk_nope_head_dim + m.qk_rope_head_dim) as f64,
            m.v_head_dim as f64,
        ),
        (None, _) => (a.head_dim as f64, a.head_dim as f64),
    }
}

/// Matmul parameters one token goes through in the blocks (no embedding, no LM head).
fn block_matmul_params(p: &ParamCounts) -> f64 {
    p.attention + p.dense_mlp + p.active_routed_experts + p.shared_experts + p.router
}

/// Prefill FLOPs for one prompt of `prompt_tokens`:
/// 2 × block_params_active × P + 2 × vocab × hidden (logits for the last token only) +
/// Σ_layers 2 × heads × (qk_width + v_width) × causal_pairs(P, window).
pub fn prefill_flops(a: &Architecture, p: &ParamCounts, prompt_tokens: u64) -> f64 {
    let (dqk, dv) = attention_widths(a, false);
    let attention: f64 = (0..a.layers)
        .map(|i| {
            let span = a.window_of_layer(i).unwrap_or(prompt_tokens);
            2.0 * a.heads as f64 * (dqk + dv) * causal_pairs(prompt_tokens, span)
        })
        .sum();
    2.0 * block_matmul_params(p) * prompt_tokens as f64
        + 2.0 * a.vocab as f64 * a.hidden as f64
        + attention
}

/// Compute-bound time: flops / (peak_flops_per_gpu × gpus × compute efficiency).
pub fn compute_seconds(flops: f64, peak_flops_per_gpu: f64, gpus: u64, eff: Efficiency) -> f64 {
    flops / (peak_flops_per_gpu * gpus.max(1) as f64 * eff.compute)
}

/// Expected fraction of an MoE layer's experts that a batch touches, with uniform independent
/// routing: 1 − (1 − k/E)^batch (1 for a dense model). At batch 1 a decode step reads only k of E.
pub fn experts_touched_fraction(a: &Architecture, batch: u64) -> f64 {
    match &a.moe {
        Some(m) => 1.0 - (1.0 - m.active_experts as f64 / m.experts as f64).powf(batch as f64),
        None => 1.0,
    }
}

/// Bytes one decode step streams on one GPU at `batch` sequences of `context` tokens:
/// (block weights + LM-head matrix + routed experts × touched fraction) / gpus
/// + batch × kv_bytes_per_request(context) on that rank. Embedding rows read are negligible.
pub fn decode_step_bytes_per_gpu(
    a: &Architecture,
    w: &WeightBytes,
    kv_bytes_per_request_per_gpu: f64,
    batch: u64,
    gpus: u64,
) -> f64 {
    let small_without_embedding = w.embeddings_and_small_bytes
        - w.lm_head_matrix_bytes * if a.tied_embeddings { 0.0 } else { 1.0 };
    let weights = w.blocks_bytes
        + small_without_embedding
        + w.routed_experts_bytes * experts_touched_fraction(a, batch);
    weights / gpus.max(1) as f64 + batch as f64 * kv_bytes_per_request_per_gpu
}

/// FLOPs of one decode step (all GPUs): batch × [2 × (block_params_active + vocab·hidden) +
/// Σ_layers 2 × heads × (qk_width + v_width) × min(context, window)].
pub fn decode_step_flops(a: &Architecture, p: &ParamCounts, batch: u64, context: u64) -> f64 {
    let (dqk, dv) = attention_widths(a, true);
    let attention: f64 = (0..a.layers)
        .map(|i| {
            let span = a.window_of_layer(i).map_or(context, |w| context.min(w));
            2.0 * a.heads as f64 * (dqk + dv) * span as f64
        })
        .sum();
    batch as f64 * (2.0 * (block_matmul_params(p) + a.vocab as f64 * a.hidden as f64) + attention)
}

/// Roofline time of one decode step: the slower of streaming the bytes and doing the FLOPs,
/// max(bytes_per_gpu / (bandwidth × eff_bw), flops / (peak × gpus × eff_compute)).
pub fn decode_step_seconds(
    bytes_per_gpu: f64,
    bandwidth_bytes_per_s: f64,
    flops: f64,
    peak_flops_per_gpu: f64,
    gpus: u64,
    eff: Efficiency,
) -> f64 {
    let memory = bytes_per_gpu / (bandwidth_bytes_per_s * eff.bandwidth);
    memory.max(compute_seconds(flops, peak_flops_per_gpu, gpus, eff))
}

/// USD per million tokens at a rental price: usd_per_hour / 3600 / tokens_per_s × 10⁶.
pub fn usd_per_mtok(usd_per_hour: f64, tokens_per_s: f64) -> f64 {
    usd_per_hour / 3600.0 / tokens_per_s * 1e6
}

/// vLLM serving flags matching a budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VllmFlags {
    pub max_model_len: u64,
    pub gpu_memory_utilization: f64,
    pub max_num_seqs: u64,
    pub tensor_parallel_size: u64,
    pub kv_cache_dtype: String,
    pub block_size: u64,
    pub enable_expert_parallel: bool,
    /// `--quantization` when the weights are quantized on load rather than by the checkpoint.
    pub quantization: Option<String>,
}

impl VllmFlags {
    /// `vllm serve <repo> --max-model-len … ` as one line.
    pub fn command_line(&self, repo: &str) -> String {
        let mut s = format!(
            "vllm serve {repo} --max-model-len {} --gpu-memory-utilization {} --max-num-seqs {} --tensor-parallel-size {} --kv-cache-dtype {} --block-size {}",
            self.max_model_len,
            self.gpu_memory_utilization,
            self.max_num_seqs,
            self.tensor_parallel_size,
            self.kv_cache_dtype,
            self.block_size
        );
        if self.enable_expert_parallel {
            s.push_str(" --enable-expert-parallel");
        }
        if let Some(q) = &self.quantization {
            s.push_str(&format!(" --quantization {q}"));
        }
        s
    }
}

/// vLLM's default cap on concurrently running sequences.
pub const VLLM_DEFAULT_MAX_NUM_SEQS: u64 = 256;

/// `--max-num-seqs`: the concurrency the KV pool holds at max_model_len, at least 1 and at
/// most vLLM's default 256 (more sequences than the pool holds would only be preempted).
pub fn max_num_seqs(max_concurrency: f64) -> u64 {
    (max_concurrency.floor() as u64).clamp(1, VLLM_DEFAULT_MAX_NUM_SEQS)
}
