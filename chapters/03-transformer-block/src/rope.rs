//! Rotary position embedding (RoPE; Su et al., 2021, "RoFormer").
//!
//! Attention by itself sees a *set*: permute the tokens and the outputs permute with them. RoPE
//! tells it about order by rotating each query and key before the dot product. The `head_dim`
//! channels form `head_dim/2` pairs; pair `i` of the vector at position `m` is rotated by the
//! angle `m·θ_i`, with `θ_i = base^(−2i/head_dim)` (`base` = `rope_theta`, 10 000 in Llama 2):
//!
//! ```text
//! (x₁, x₂) ↦ (x₁ cos mθ − x₂ sin mθ,  x₁ sin mθ + x₂ cos mθ)
//! ```
//!
//! Why relative position falls out: a rotation by `mθ` followed by a dot product with a vector
//! rotated by `nθ` is the same as rotating only by `(n − m)θ`, since `R(a)ᵀR(b) = R(b − a)`. So
//! `q_m · k_n` depends on the content and on `n − m` only, never on `m` or `n` alone: shifting a
//! whole sequence leaves every attention score unchanged (tested). Pairs with small `i` turn
//! fast (short-range position), pairs with large `i` turn slowly (long-range).
//!
//! Two conventions pick *which* channels form a pair:
//! - [`RopeStyle::Interleaved`]: pairs `(0,1), (2,3), …` — the paper, Meta's original Llama
//!   code, and burn-nn's `RotaryEncoding`.
//! - [`RopeStyle::SplitHalves`]: pairs `(i, i + d/2)` — Hugging Face's `rotate_half`, and so
//!   every HF Llama-family checkpoint.
//!
//! They compute the same attention once the channels are permuted: [`interleaved_to_halves`]
//! moves channel `2i` to `i` and `2i+1` to `i + d/2`. HF's conversion script applies exactly
//! this permutation to the rows of `W_q` and `W_k` of each head when it converts Meta's weights;
//! a checkpoint must be run with the convention its weights were permuted for.

use burn::tensor::{Device, Tensor, TensorData};

/// Which channels form the rotated pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// `(2i, 2i+1)`: the paper, Meta's Llama, burn-nn.
    Interleaved,
    /// `(i, i + d/2)`: Hugging Face checkpoints.
    SplitHalves,
}

/// `cos(mθ_i)` and `sin(mθ_i)` for positions `m = start..start+len`, each `[len, head_dim/2]`.
/// Angles are computed in f64 on the host, so large positions keep their precision.
pub fn rope_tables(
    start: usize,
    len: usize,
    head_dim: usize,
    theta: f64,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let half = head_dim / 2;
    let inv_freq: Vec<f64> = (0..half)
        .map(|i| theta.powf(-((2 * i) as f64) / head_dim as f64))
        .collect();
    let (mut cos, mut sin) = (
        Vec::with_capacity(len * half),
        Vec::with_capacity(len * half),
    );
    for m in start..start + len {
        for f in &inv_freq {
            let angle = m as f64 * f;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let table = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [len, half]), device);
    (table(cos), table(sin))
}

/// Rotates `x: [b, h, s, head_dim]` whose rows sit at positions `start..start+s`.
pub fn apply_rope(x: Tensor<4>, start: usize, theta: f64, style: RopeStyle) -> Tensor<4> {
    let [b, h, s, d] = x.dims();
    let half = d / 2;
    let (cos, sin) = rope_tables(start, s, d, theta, &x.device());
    let cos: Tensor<4> = cos.unsqueeze(); // [1, 1, s, d/2]
    let sin: Tensor<4> = sin.unsqueeze();
    match style {
        RopeStyle::SplitHalves => {
            let x1 = x.clone().narrow(3, 0, half);
            let x2 = x.narrow(3, half, half);
            let r1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
            let r2 = x2 * cos + x1 * sin;
            Tensor::cat(vec![r1, r2], 3)
        }
        RopeStyle::Interleaved => {
            let pairs: Tensor<5> = x.reshape([b, h, s, half, 2]);
            let x1: Tensor<4> = pairs.clone().narrow(4, 0, 1).reshape([b, h, s, half]);
            let x2: Tensor<4> = pairs.narrow(4, 1, 1).reshape([b, h, s, half]);
            let r1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
            let r2 = x2 * cos + x1 * sin;
            Tensor::stack::<5>(vec![r1, r2], 4).reshape([b, h, s, d])
        }
    }
}

/// Permutes the last axis from the interleaved layout to split halves: channel `2i` → `i`,
/// `2i+1` → `i + d/2`. Then `apply_rope(P x, SplitHalves) = P apply_rope(x, Interleaved)`.
pub fn interleaved_to_halves<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let d = dims[D - 1];
    let rows: usize = dims[..D - 1].iter().product();
    x.reshape([rows, d / 2, 2]).swap_dims(1, 2).reshape(dims)
}
