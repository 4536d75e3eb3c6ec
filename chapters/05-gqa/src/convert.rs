//! From an MHA checkpoint to GQA: mean-pool the K/V heads of each group.
//!
//! The GQA paper initialises a grouped model from a multi-head one by averaging, within each
//! group, the key (and value) projection heads, then briefly "uptraining". Averaging is exact
//! when the heads of a group were already equal, and a reasonable start otherwise: the tests
//! check both the shapes and that exactness.

use crate::module::GqaSelfAttention;
use crate::share::{GqaError, group_of};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;

/// Averages groups of `group` consecutive heads of width `head_dim` in the output dimension of
/// a `[d_in, heads·head_dim]` weight (and its bias). Returns `[d_in, heads/group·head_dim]`.
fn pool_heads(linear: &Linear, heads: usize, head_dim: usize, group: usize) -> Linear {
    let weight = linear.weight.val(); // [d_in, heads·d]
    let [d_in, _] = weight.dims();
    let kv = heads / group;
    let pooled = weight
        .reshape([d_in, kv, group, head_dim])
        .mean_dim(2)
        .reshape([d_in, kv * head_dim]);
    let bias = linear.bias.as_ref().map(|b| {
        let pooled: Tensor<1> = b
            .val()
            .reshape([kv, group, head_dim])
            .mean_dim(1)
            .reshape([kv * head_dim]);
        Param::from_tensor(pooled)
    });
    Linear {
        weight: Param::from_tensor(pooled),
        bias,
    }
}

/// A copy of `mha` (which must have `n_kv_heads = n_heads`) with `n_kv_heads` K/V heads, each
/// the mean of its group's heads. Query and output projections are kept as they are.
pub fn mean_pool_to_gqa(
    mha: &GqaSelfAttention,
    n_kv_heads: usize,
) -> Result<GqaSelfAttention, GqaError> {
    if mha.n_kv_heads != mha.n_heads {
        return Err(GqaError::NotMha {
            heads: mha.n_heads,
            kv_heads: mha.n_kv_heads,
        });
    }
    let group = group_of(mha.n_heads, n_kv_heads)?;
    Ok(GqaSelfAttention {
        query: mha.query.clone(),
        key: pool_heads(&mha.key, mha.n_heads, mha.head_dim, group),
        value: pool_heads(&mha.value, mha.n_heads, mha.head_dim, group),
        output: mha.output.clone(),
        n_heads: mha.n_heads,
        n_kv_heads,
        head_dim: mha.head_dim,
    })
}
