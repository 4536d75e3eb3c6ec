//! Chapter 05 — MHA, GQA and MQA: one attention with `n_kv_heads`.
//!
//! Multi-head attention gives every query head its own key and value head. During decoding
//! the keys and values of every past token are cached (chapter 04), and reading that cache is
//! what limits decode speed. Grouped-query attention (Ainslie et al., 2023) lets a *group* of
//! `heads / kv_heads` query heads share one K/V head:
//!
//! ```text
//! MHA  kv_heads = heads        every query head has its own K/V      (GPT-2, Llama-1)
//! GQA  1 < kv_heads < heads    a group of query heads shares one K/V  (Llama-3: 32 / 8)
//! MQA  kv_heads = 1            all query heads share one K/V          (PaLM, Falcon-7B)
//! ```
//!
//! The KV cache shrinks by `heads / kv_heads`, and with it the bytes each decode step reads.
//!
//! Read in this order:
//! 1. [`share`]: how K/V heads are shared — broadcast in `repeat_interleave` order, an explicit
//!    per-head loop that must agree with it, and burn's fused op that takes fewer KV heads.
//! 2. [`module`]: chapter 02's multi-head self-attention with an `n_kv_heads` setting.
//! 3. [`convert`]: turning an MHA checkpoint into GQA by mean-pooling each group's K/V heads.

pub mod convert;
pub mod module;
pub mod share;

pub use module::{GqaSelfAttention, GqaSelfAttentionConfig};
pub use share::{GqaError, expand_kv, group_of, per_head_loop};

/// KV-cache bytes per token, chapter 04's formula at one token: `2 (K and V) × layers ×
/// kv_heads × head_dim × bytes per value`. Fewer KV heads shrink it by exactly
/// `heads / kv_heads`.
pub fn kv_bytes_per_token(
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
    dtype_bytes: usize,
) -> usize {
    ch04_kv_cache::kv_bytes_formula(layers, kv_heads, head_dim, dtype_bytes, 1) as usize
}
