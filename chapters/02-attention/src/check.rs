//! Shape checks at the boundary: a wrong shape is an error naming both shapes, not a panic
//! deep inside a matmul.

use burn::tensor::{Bool, Tensor};

/// The sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionDims {
    pub batch: usize,
    pub heads: usize,
    pub seq_q: usize,
    pub seq_k: usize,
    pub head_dim: usize,
    /// Width of V's rows (usually `head_dim`).
    pub value_dim: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttentionError {
    #[error("head_dim must be at least 1 (q has shape {q:?})")]
    ZeroHeadDim { q: [usize; 4] },
    #[error("{what} has shape {got:?} but must be {expected}")]
    Shape {
        what: &'static str,
        got: [usize; 4],
        expected: String,
    },
    #[error("tile size must be at least 1")]
    ZeroTile,
    /// A padding mask's `key_lengths[index]` is longer than the keys it masks. (The batch is
    /// `key_lengths.len()` by definition; lengths for the wrong batch size are caught where the
    /// mask meets `q`, as a [`AttentionError::Shape`] error on `mask`.)
    #[error(
        "key_lengths[{index}] = {length} exceeds seq_k = {seq_k}: a sequence cannot have more real keys than there are key positions"
    )]
    KeyLengths {
        index: usize,
        length: usize,
        seq_k: usize,
    },
    #[error("d_model {d_model} is not divisible by n_heads {n_heads}")]
    HeadsDivide { d_model: usize, n_heads: usize },
    #[error("input has d_model {got}, the module expects {expected}")]
    ModelDim { got: usize, expected: usize },
}

/// Checks `q: [b, h, s_q, d]`, `k: [b, h, s_k, d]`, `v: [b, h, s_k, d_v]` and a mask that
/// broadcasts to `[b, h, s_q, s_k]` (its batch, head and query dims may be 1).
pub fn check_inputs(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
) -> Result<AttentionDims, AttentionError> {
    let [batch, heads, seq_q, head_dim] = q.dims();
    if head_dim == 0 {
        return Err(AttentionError::ZeroHeadDim { q: q.dims() });
    }
    let [kb, kh, seq_k, kd] = k.dims();
    if [kb, kh, kd] != [batch, heads, head_dim] {
        return Err(AttentionError::Shape {
            what: "k",
            got: k.dims(),
            expected: format!(
                "[{batch}, {heads}, s_k, {head_dim}] to match q {:?}",
                q.dims()
            ),
        });
    }
    let [vb, vh, vs, value_dim] = v.dims();
    if [vb, vh, vs] != [batch, heads, seq_k] || value_dim == 0 {
        return Err(AttentionError::Shape {
            what: "v",
            got: v.dims(),
            expected: format!(
                "[{batch}, {heads}, {seq_k}, d_v ≥ 1] to match k {:?}",
                k.dims()
            ),
        });
    }
    if let Some(mask) = mask {
        let [mb, mh, mq, mk] = mask.dims();
        let fits = |m: usize, n: usize| m == n || m == 1;
        if !(fits(mb, batch) && fits(mh, heads) && fits(mq, seq_q) && mk == seq_k) {
            return Err(AttentionError::Shape {
                what: "mask",
                got: mask.dims(),
                expected: format!("[{batch} or 1, {heads} or 1, {seq_q} or 1, {seq_k}]"),
            });
        }
    }
    Ok(AttentionDims {
        batch,
        heads,
        seq_q,
        seq_k,
        head_dim,
        value_dim,
    })
}
