//! Where a model's parameters and FLOPs live, computed from the config alone.
//!
//! Per block, with hidden `H`, heads `n`, KV heads `n_kv`, head width `d`, FFN width `I`:
//!
//! ```text
//! q_proj H·n·d   k_proj, v_proj H·n_kv·d each   o_proj n·d·H   (attention)
//! gate, up, down  3·H·I                                         (SwiGLU FFN)
//! two RMSNorm gains  2·H
//! ```
//!
//! plus the embedding `V·H`, the final norm `H`, and the LM head `H·V` unless tied.
//!
//! FLOPs: a matmul with a `k × n` weight costs `2·k·n` FLOPs per token (a multiply and an add
//! per weight), so a forward pass costs about `2 × (parameters used as matmul weights)` per
//! token — the embedding is a lookup, not a matmul, and the norms are negligible. Attention
//! adds `QKᵀ` and `weights·V`: `4·n·d` per token per key it attends to, `s_k` keys each — the
//! only term that grows with the context.

use crate::config::LlamaConfig;
use serde::Serialize;

/// Parameter counts by component (whole model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    pub embedding: usize,
    /// q, k, v, o of all layers.
    pub attention: usize,
    /// gate, up, down of all layers.
    pub ffn: usize,
    /// The two RMSNorm gains of each layer and the final norm.
    pub norms: usize,
    /// 0 when tied to the embedding.
    pub lm_head: usize,
}

impl ParamCounts {
    pub fn total(&self) -> usize {
        self.embedding + self.attention + self.ffn + self.norms + self.lm_head
    }

    /// Parameters used as matmul weights in a forward pass (what FLOPs/token count): all but
    /// the embedding lookup and the norms, plus the embedding again when it is the tied head.
    pub fn matmul_weights(&self, config: &LlamaConfig) -> usize {
        let head = if config.tie_word_embeddings {
            self.embedding
        } else {
            self.lm_head
        };
        self.attention + self.ffn + head
    }
}

/// Parameter counts of [`crate::LlamaModel`] built from `config`, by formula.
pub fn param_counts(config: &LlamaConfig) -> ParamCounts {
    let (h, d, i, v, l) = (
        config.hidden_size,
        config.head_dim(),
        config.intermediate_size,
        config.vocab_size,
        config.num_hidden_layers,
    );
    let (n, n_kv) = (config.num_attention_heads, config.kv_heads());
    ParamCounts {
        embedding: v * h,
        attention: l * (h * n * d + 2 * h * n_kv * d + n * d * h),
        ffn: l * 3 * h * i,
        norms: l * 2 * h + h,
        lm_head: if config.tie_word_embeddings { 0 } else { h * v },
    }
}

/// Forward FLOPs per token by component, for a token that attends to `context_tokens` keys.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlopsPerToken {
    /// Projections q, k, v, o: `2 ×` their weights.
    pub attention_projections: f64,
    /// `QKᵀ` and `weights·V`: `4 · layers · heads · head_dim · context_tokens`.
    pub attention_scores: f64,
    pub ffn: f64,
    pub lm_head: f64,
}

impl FlopsPerToken {
    pub fn total(&self) -> f64 {
        self.attention_projections + self.attention_scores + self.ffn + self.lm_head
    }
}

pub fn flops_per_token(config: &LlamaConfig, context_tokens: f64) -> FlopsPerToken {
    let p = param_counts(config);
    let head = if config.tie_word_embeddings {
        p.embedding
    } else {
        p.lm_head
    };
    FlopsPerToken {
        attention_projections: 2.0 * p.attention as f64,
        attention_scores: 4.0
            * (config.num_hidden_layers * config.num_attention_heads * config.head_dim()) as f64
            * context_tokens,
        ffn: 2.0 * p.ffn as f64,
        lm_head: 2.0 * head as f64,
    }
}

/// Forward FLOPs of a causal prefill of `tokens` tokens: token `t` attends to `t + 1` keys, so
/// the mean context is `(tokens + 1) / 2` (our attention computes the full `s × s` matrix and
/// masks it, so it performs about twice the attention-score FLOPs counted here).
pub fn prefill_flops(config: &LlamaConfig, tokens: usize) -> f64 {
    tokens as f64 * flops_per_token(config, (tokens as f64 + 1.0) / 2.0).total()
}
