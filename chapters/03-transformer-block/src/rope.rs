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
use serde::{Deserialize, Serialize};

/// Which channels form the rotated pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// `(2i, 2i+1)`: the paper, Meta's Llama, burn-nn.
    Interleaved,
    /// `(i, i + d/2)`: Hugging Face checkpoints.
    SplitHalves,
}

/// Llama 3.1's long-context RoPE (`rope_scaling` with `rope_type: "llama3"`; Meta's
/// [`apply_scaling`](https://github.com/meta-llama/llama-models/blob/main/models/llama3/reference_impl/model.py)).
///
/// A model trained on `original_max_position_embeddings` tokens has seen every angle of its
/// fast pairs but only part of a turn of its slow ones: at 8× the context, slow pairs would
/// reach angles never seen in training. So pairs whose wavelength `2π/θ_i` exceeds
/// `original / low_freq_factor` turn `factor` times slower (position interpolation, for them
/// alone), pairs shorter than `original / high_freq_factor` are left as they are, and pairs in
/// between blend the two linearly in `original / wavelength`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Llama3RopeScaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

impl Llama3RopeScaling {
    /// The rescaled frequency of a pair that turns at `inv_freq` radians per position.
    pub fn scale(&self, inv_freq: f64) -> f64 {
        let original = self.original_max_position_embeddings as f64;
        let wavelength = 2.0 * std::f64::consts::PI / inv_freq;
        if wavelength < original / self.high_freq_factor {
            inv_freq
        } else if wavelength > original / self.low_freq_factor {
            inv_freq / self.factor
        } else {
            let smooth = (original / wavelength - self.low_freq_factor)
                / (self.high_freq_factor - self.low_freq_factor);
            (1.0 - smooth) * inv_freq / self.factor + smooth * inv_freq
        }
    }
}

/// The angles a model rotates its pairs by: `θ_i = base^(−2i/head_dim)`, optionally rescaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    /// `rope_theta`, the base.
    pub theta: f64,
    pub llama3: Option<Llama3RopeScaling>,
}

impl Rope {
    pub fn plain(theta: f64) -> Self {
        Rope {
            theta,
            llama3: None,
        }
    }

    /// `θ_i` for the `head_dim / 2` pairs, radians per position.
    pub fn inv_freq(&self, head_dim: usize) -> Vec<f64> {
        (0..head_dim / 2)
            .map(|i| self.theta.powf(-((2 * i) as f64) / head_dim as f64))
            .map(|f| self.llama3.map_or(f, |s| s.scale(f)))
            .collect()
    }

    /// `cos(mθ_i)` and `sin(mθ_i)` for positions `m = start..start+len`, each
    /// `[len, head_dim/2]`. Angles are computed in f64 on the host, so large positions keep
    /// their precision.
    pub fn tables(
        &self,
        start: usize,
        len: usize,
        head_dim: usize,
        device: &Device,
    ) -> (Tensor<2>, Tensor<2>) {
        self.tables_at(start..start + len, head_dim, device)
    }

    /// [`Rope::tables`] for any positions, one row each: a batch of sequences laid end to end
    /// (chapter 09) has rows at unrelated positions.
    pub fn tables_at(
        &self,
        positions: impl ExactSizeIterator<Item = usize>,
        head_dim: usize,
        device: &Device,
    ) -> (Tensor<2>, Tensor<2>) {
        let inv_freq = self.inv_freq(head_dim);
        let (len, half) = (positions.len(), inv_freq.len());
        let (mut cos, mut sin) = (
            Vec::with_capacity(len * half),
            Vec::with_capacity(len * half),
        );
        for m in positions {
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
    pub fn apply(&self, x: Tensor<4>, start: usize, style: RopeStyle) -> Tensor<4> {
        let s = x.dims()[2];
        self.apply_at(x, start..start + s, style)
    }

    /// Rotates `x: [b, h, s, head_dim]` whose row `i` sits at the `i`-th of `positions`.
    pub fn apply_at(
        &self,
        x: Tensor<4>,
        positions: impl ExactSizeIterator<Item = usize>,
        style: RopeStyle,
    ) -> Tensor<4> {
        let [b, h, s, d] = x.dims();
        assert_eq!(positions.len(), s, "one position per row");
        let half = d / 2;
        let (cos, sin) = self.tables_at(positions, d, &x.device());
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
}

/// Plain RoPE's tables ([`Rope::tables`] with base `theta`).
pub fn rope_tables(
    start: usize,
    len: usize,
    head_dim: usize,
    theta: f64,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    Rope::plain(theta).tables(start, len, head_dim, device)
}

/// Plain RoPE with base `theta` ([`Rope::apply`]).
pub fn apply_rope(x: Tensor<4>, start: usize, theta: f64, style: RopeStyle) -> Tensor<4> {
    Rope::plain(theta).apply(x, start, style)
}

/// Permutes the last axis from the interleaved layout to split halves: channel `2i` → `i`,
/// `2i+1` → `i + d/2`. Then `apply_rope(P x, SplitHalves) = P apply_rope(x, Interleaved)`.
pub fn interleaved_to_halves<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let d = dims[D - 1];
    let rows: usize = dims[..D - 1].iter().product();
    x.reshape([rows, d / 2, 2]).swap_dims(1, 2).reshape(dims)
}
