//! Sharing K/V heads across a group of query heads: the two foils of chapter 03's folded
//! `grouped_attention` (the production path), kept here because they are what the lesson
//! compares it with.
//!
//! Query head `h` reads K/V head `h / group`, where `group = heads / kv_heads`: heads
//! `0..group` share K/V head 0, the next `group` share head 1, and so on. To run an ordinary
//! attention we *expand* K and V from `kv_heads` to `heads` in that order — each K/V head
//! repeated `group` times in place (`repeat_interleave`), **not** the whole set tiled `group`
//! times, which would pair query head 1 with K/V head 1 instead of 0. Checkpoints (Llama, Qwen,
//! Mistral) are trained with the interleaved order, so the tiled one gives wrong outputs on
//! real weights while looking plausible on random ones.

use burn::tensor::Tensor;
use ch02_attention::{AttentionError, attention};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GqaError {
    #[error("n_kv_heads must be at least 1 (n_heads = {heads})")]
    ZeroKvHeads { heads: usize },
    #[error("n_kv_heads = {kv_heads} does not divide n_heads = {heads}")]
    NotDivisible { heads: usize, kv_heads: usize },
    #[error(
        "converting to GQA needs an MHA source, but it has n_kv_heads = {kv_heads} < n_heads = {heads}"
    )]
    NotMha { heads: usize, kv_heads: usize },
    #[error(transparent)]
    Attention(#[from] AttentionError),
}

/// Query heads per K/V head, checking that `kv_heads` divides `heads`.
pub fn group_of(heads: usize, kv_heads: usize) -> Result<usize, GqaError> {
    if kv_heads == 0 {
        return Err(GqaError::ZeroKvHeads { heads });
    }
    if !heads.is_multiple_of(kv_heads) {
        return Err(GqaError::NotDivisible { heads, kv_heads });
    }
    Ok(heads / kv_heads)
}

/// `[b, kv_heads, s, d]` → `[b, kv_heads·group, s, d]`, each K/V head repeated `group` times in
/// place: chapter 03's `repeat_kv`, the one implementation, under the name this lesson uses.
pub use ch03_transformer_block::attention::repeat_kv as expand_kv;

/// Grouped attention by broadcasting: expand K/V, then chapter 02's attention.
/// `q: [b, heads, s_q, d]`, `k, v: [b, kv_heads, s_k, d]`.
pub fn grouped_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    causal: bool,
) -> Result<Tensor<4>, GqaError> {
    let group = group_of(q.dims()[1], k.dims()[1])?;
    Ok(attention(
        q,
        expand_kv(k, group),
        expand_kv(v, group),
        causal,
        None,
    )?)
}

/// The definition, spelled out: each query head attends, alone, to its group's K/V head.
/// Slow and obvious — the reference the broadcast form is checked against.
pub fn per_head_loop(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    causal: bool,
) -> Result<Tensor<4>, GqaError> {
    let heads = q.dims()[1];
    let group = group_of(heads, k.dims()[1])?;
    let outs = (0..heads)
        .map(|h| {
            let kv = h / group;
            attention(
                q.clone().narrow(1, h, 1),
                k.clone().narrow(1, kv, 1),
                v.clone().narrow(1, kv, 1),
                causal,
                None,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::cat(outs, 1))
}
