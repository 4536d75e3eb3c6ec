//! Why divide by `√d_k`.
//!
//! With query and key entries of unit variance, `q·k` is a sum of `d_k` products of unit
//! variance, so its standard deviation is `√d_k`. Without scaling, the scores spread wider as
//! heads grow, the softmax turns into an arg-max (one weight near 1, the rest near 0), and its
//! gradient vanishes. Dividing by `√d_k` brings the scores back to unit variance at every
//! `d_k`. We measure it: the mean largest weight of a row and the mean entropy of the rows, as
//! a fraction of the uniform distribution's `ln(s_k)`.

use crate::steps::{masked_softmax, scores};
use burn::tensor::{Device, Distribution, Tensor};

/// How peaked the attention rows are at one `d_k`, with and without scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Saturation {
    pub head_dim: usize,
    pub max_weight_unscaled: f64,
    pub max_weight_scaled: f64,
    /// Mean row entropy / ln(s_k): 1 is uniform, 0 is one-hot.
    pub entropy_unscaled: f64,
    pub entropy_scaled: f64,
}

fn row_stats(weights: Tensor<4>, seq_k: usize) -> (f64, f64) {
    let rows = weights.dims()[2] as f64;
    let max = weights.clone().max_dim(3).sum().into_scalar::<f32>() as f64 / rows;
    // −Σ w ln w, with 0·ln 0 = 0 (clamp keeps ln finite; the product is then ~0).
    let entropy = -(weights.clone() * weights.clamp_min(1e-30).log())
        .sum()
        .into_scalar::<f32>() as f64;
    (max, entropy / rows / (seq_k as f64).ln())
}

/// Measures saturation for random unit-variance Q and K of `seq` positions at `head_dim`.
pub fn measure(head_dim: usize, seq: usize, device: &Device) -> Saturation {
    let q = Tensor::<4>::random(
        [1, 1, seq, head_dim],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let k = Tensor::<4>::random(
        [1, 1, seq, head_dim],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let s = scores(q, k);
    let (max_weight_unscaled, entropy_unscaled) = row_stats(masked_softmax(s.clone()), seq);
    let (max_weight_scaled, entropy_scaled) =
        row_stats(masked_softmax(s / (head_dim as f64).sqrt()), seq);
    Saturation {
        head_dim,
        max_weight_unscaled,
        max_weight_scaled,
        entropy_unscaled,
        entropy_scaled,
    }
}
