//! Chapter 02 — scaled dot-product attention, built up in steps with burn tensors.
//!
//! ```text
//! Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + mask) V        Q, K, V: [batch, heads, seq, head_dim]
//! ```
//!
//! Read in this order:
//! 1. [`steps`]: the formula one operation at a time — scores, scaling, masks, softmax, the
//!    weighted sum of V. It materialises the whole `seq × seq` score matrix.
//! 2. [`saturation`]: why the `1/√d_k`: without it the softmax saturates as `d_k` grows.
//! 3. [`tiled`]: the same result over tiles of K/V with an online softmax (running max and
//!    running sum), never holding more than `tile × tile` scores — the idea behind
//!    FlashAttention.
//! 4. [`mha`]: multi-head self-attention as a burn `Module`.
//! 5. [`lookup`]: attention as a soft dictionary lookup on real tokens, for the heatmap.
//! 6. [`timing`]: how every chapter times its code (warm-up, then the median of repeated runs).
//! 7. [`reference`]: an independent ndarray implementation (plain loops, f64 accumulation)
//!    that the tests compare everything against, together with burn's own fused `attention`.
//!
//! Every entry point checks shapes at the boundary and returns an [`AttentionError`] instead of
//! panicking deep inside burn.

pub mod check;
pub mod lookup;
pub mod mha;
pub mod reference;
pub mod saturation;
pub mod steps;
pub mod tiled;
pub mod timing;

pub use check::{AttentionDims, AttentionError, check_inputs};
pub use mha::{MultiHeadSelfAttention, MultiHeadSelfAttentionConfig, merge_heads, split_heads};
pub use steps::{attention, attention_weights, causal_mask, padding_mask};
pub use tiled::tiled_attention;

/// FLOPs one attention forward performs: `QKᵀ` and `weights·V` are each `2·b·h·s_q·s_k·d`
/// (a multiply and an add per term), so `4·b·h·s_q·s_k·d`. A causal mask hides about half of
/// the terms, but only an implementation that skips the masked work does half of it:
/// [`tiled_attention`] skips every key tile above the diagonal (`skips_masked = true`), while
/// the step-by-step [`attention`] computes every score and masks it afterwards (`false`).
pub fn attention_flops(dims: AttentionDims, causal: bool, skips_masked: bool) -> f64 {
    let full = 4.0
        * dims.batch as f64
        * dims.heads as f64
        * dims.seq_q as f64
        * dims.seq_k as f64
        * dims.head_dim as f64;
    if causal && skips_masked {
        full / 2.0
    } else {
        full
    }
}
