//! Attention one step at a time.
//!
//! ```text
//! scores  = Q Kᵀ                     [b, h, s_q, s_k]   how well each query matches each key
//! scaled  = scores / √d_k                                keeps the softmax out of saturation
//! masked  = scaled, -∞ where masked                      causal: no peeking at the future
//! weights = softmax(masked, over keys)                   each row sums to 1 (or is all 0)
//! out     = weights V                [b, h, s_q, d_v]   a weighted average of the values
//! ```
//!
//! This form holds the whole `s_q × s_k` matrix: `4·b·h·s²` bytes in f32, which is what makes
//! long contexts expensive and what [`crate::tiled`] avoids.
//!
//! A row whose keys are all masked (a padding query, say) has no distribution to take: we
//! define its weights, and so its output, as all zeros, as burn's own attention does, rather
//! than the NaN of a naive `0/0`.

use crate::check::{AttentionDims, AttentionError, check_inputs};
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// `Q Kᵀ`: the dot product of every query with every key. `[b, h, s_q, s_k]`
pub fn scores(q: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    q.matmul(k.swap_dims(2, 3))
}

/// Causal mask for `s_q` queries that are the *last* `s_q` positions of `s_k` keys (so it also
/// serves decoding, where one new query attends to a longer cache): query `i` may see keys
/// `j ≤ i + (s_k − s_q)`. `true` = masked. `[1, 1, s_q, s_k]`
pub fn causal_mask(seq_q: usize, seq_k: usize, device: &Device) -> Tensor<4, Bool> {
    let offset = seq_k as i64 - seq_q as i64;
    Tensor::<2, Bool>::tril_mask([seq_q, seq_k], offset, device).unsqueeze::<4>()
}

/// Padding mask from the true length of each sequence in the batch: key `j` of sequence `b`
/// is masked when `j ≥ key_lengths[b]`. `true` = masked. `[b, 1, 1, s_k]`, where the batch `b`
/// is `key_lengths.len()`. A length above `seq_k` is an [`AttentionError::KeyLengths`] naming
/// the entry; lengths for the wrong batch are caught when the mask meets `q` in [`attention`].
pub fn padding_mask(
    key_lengths: &[usize],
    seq_k: usize,
    device: &Device,
) -> Result<Tensor<4, Bool>, AttentionError> {
    if let Some((index, &length)) = key_lengths.iter().enumerate().find(|&(_, &n)| n > seq_k) {
        return Err(AttentionError::KeyLengths {
            index,
            length,
            seq_k,
        });
    }
    let data: Vec<bool> = key_lengths
        .iter()
        .flat_map(|&len| (0..seq_k).map(move |j| j >= len))
        .collect();
    Ok(
        Tensor::<1, Bool>::from_data(TensorData::new(data, [key_lengths.len() * seq_k]), device)
            .reshape([key_lengths.len(), 1, 1, seq_k]),
    )
}

/// The one mask to apply: the causal mask and the caller's mask combined, at full shape.
pub(crate) fn combined_mask(
    dims: AttentionDims,
    causal: bool,
    mask: Option<Tensor<4, Bool>>,
    device: &Device,
) -> Option<Tensor<4, Bool>> {
    let full = [dims.batch, dims.heads, dims.seq_q, dims.seq_k];
    let causal = causal.then(|| causal_mask(dims.seq_q, dims.seq_k, device).expand(full));
    let mask = mask.map(|m| m.expand(full));
    match (causal, mask) {
        (Some(c), Some(m)) => Some(c.bool_or(m)),
        (c, m) => c.or(m),
    }
}

/// Softmax over the last axis that treats `-∞` as "absent": an all-`-∞` row gives zeros.
///
/// Subtracting the row maximum before `exp` keeps it from overflowing (the result is the same:
/// the factor `e^{-max}` cancels between numerator and denominator). For an all-masked row the
/// maximum is `-∞`; we subtract 0 instead, every `exp` is 0, and the sum is clamped away from 0.
pub fn masked_softmax(x: Tensor<4>) -> Tensor<4> {
    let max = x.clone().max_dim(3); // [b, h, s_q, 1]
    let max = max.clone().mask_fill(max.lower_elem(f32::MIN), 0.0);
    let e = (x - max).exp();
    let sum = e.clone().sum_dim(3).clamp_min(f32::MIN_POSITIVE);
    e / sum
}

/// The attention weights `softmax(QKᵀ/√d + mask)`. `[b, h, s_q, s_k]`
pub fn attention_weights(
    q: Tensor<4>,
    k: Tensor<4>,
    causal: bool,
    mask: Option<Tensor<4, Bool>>,
) -> Result<Tensor<4>, AttentionError> {
    let v = k.clone(); // shape check only needs a V with K's shape
    let dims = check_inputs(&q, &k, &v, mask.as_ref())?;
    Ok(weights_unchecked(q, k, dims, causal, mask))
}

fn weights_unchecked(
    q: Tensor<4>,
    k: Tensor<4>,
    dims: AttentionDims,
    causal: bool,
    mask: Option<Tensor<4, Bool>>,
) -> Tensor<4> {
    let device = q.device();
    let scaled = scores(q, k) / (dims.head_dim as f64).sqrt();
    let masked = match combined_mask(dims, causal, mask, &device) {
        Some(m) => scaled.mask_fill(m, f32::NEG_INFINITY),
        None => scaled,
    };
    masked_softmax(masked)
}

/// Scaled dot-product attention, step by step. `q: [b, h, s_q, d]`, `k: [b, h, s_k, d]`,
/// `v: [b, h, s_k, d_v]`, `mask` (`true` = masked) broadcastable to `[b, h, s_q, s_k]`.
/// Returns `[b, h, s_q, d_v]`.
pub fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    causal: bool,
    mask: Option<Tensor<4, Bool>>,
) -> Result<Tensor<4>, AttentionError> {
    let dims = check_inputs(&q, &k, &v, mask.as_ref())?;
    Ok(weights_unchecked(q, k, dims, causal, mask).matmul(v))
}
