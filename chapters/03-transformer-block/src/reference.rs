//! Independent references: the same layers as plain loops over ndarray arrays in f64, written
//! from the formulas (and, for RoPE, the rotation written per pair), sharing no code with the
//! burn modules beyond reading their weights. The tests compare the modules against these (up
//! to the whole model, tied and untied head) and against burn-nn's own `RmsNorm`, `LayerNorm`,
//! `RotaryEncoding` and `SwiGlu`.

use crate::{DecoderBlock, LlamaConfig, LlamaModel};
use burn::tensor::Tensor;
use ch02_attention::reference::values;
use ndarray::{Array2, Array3, Array4, ArrayView2, Axis};

/// A burn tensor's values as f64, with its shape (chapter 02's [`values`]).
pub fn to_f64<const D: usize>(t: &Tensor<D>) -> (Vec<f64>, [usize; D]) {
    let (data, dims) = values(t);
    (data.into_iter().map(f64::from).collect(), dims)
}

pub fn array2(t: &Tensor<2>) -> Array2<f64> {
    let (v, [a, b]) = to_f64(t);
    Array2::from_shape_vec((a, b), v).expect("shape")
}

pub fn array3(t: &Tensor<3>) -> Array3<f64> {
    let (v, [a, b, c]) = to_f64(t);
    Array3::from_shape_vec((a, b, c), v).expect("shape")
}

pub fn array4(t: &Tensor<4>) -> Array4<f64> {
    let (v, [a, b, c, d]) = to_f64(t);
    Array4::from_shape_vec((a, b, c, d), v).expect("shape")
}

pub fn vec1(t: &Tensor<1>) -> Vec<f64> {
    to_f64(t).0
}

/// Largest absolute difference between two arrays of the same shape.
pub fn max_abs_diff<D: ndarray::Dimension>(
    a: &ndarray::Array<f64, D>,
    b: &ndarray::Array<f64, D>,
) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// RMSNorm of each row of `x: [rows, width]`.
pub fn rms_norm(x: ArrayView2<f64>, gain: &[f64], eps: f64) -> Array2<f64> {
    let mut out = x.to_owned();
    for mut row in out.rows_mut() {
        let mean_square = row.iter().map(|v| v * v).sum::<f64>() / row.len() as f64;
        let scale = 1.0 / (mean_square + eps).sqrt();
        for (v, g) in row.iter_mut().zip(gain) {
            *v *= scale * g;
        }
    }
    out
}

/// LayerNorm of each row of `x: [rows, width]` (biased variance).
pub fn layer_norm(x: ArrayView2<f64>, gain: &[f64], bias: &[f64], eps: f64) -> Array2<f64> {
    let mut out = x.to_owned();
    for mut row in out.rows_mut() {
        let n = row.len() as f64;
        let mean = row.sum() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        for ((v, g), b) in row.iter_mut().zip(gain).zip(bias) {
            *v = (*v - mean) / (var + eps).sqrt() * g + b;
        }
    }
    out
}

/// RoPE on `x: [b, h, s, d]` at positions `start..`, pairs `(i, i + d/2)` (split halves) or
/// `(2i, 2i + 1)` (interleaved), each pair rotated by `pos · base^(−2i/d)`.
pub fn rope(x: &Array4<f64>, start: usize, base: f64, interleaved: bool) -> Array4<f64> {
    let (b, h, s, d) = x.dim();
    let mut out = x.clone();
    for bi in 0..b {
        for hi in 0..h {
            for t in 0..s {
                for i in 0..d / 2 {
                    let angle = (start + t) as f64 / base.powf(2.0 * i as f64 / d as f64);
                    let (a, c) = if interleaved {
                        (2 * i, 2 * i + 1)
                    } else {
                        (i, i + d / 2)
                    };
                    let (x1, x2) = (x[[bi, hi, t, a]], x[[bi, hi, t, c]]);
                    out[[bi, hi, t, a]] = x1 * angle.cos() - x2 * angle.sin();
                    out[[bi, hi, t, c]] = x1 * angle.sin() + x2 * angle.cos();
                }
            }
        }
    }
    out
}

/// SiLU(x·W_gate) ⊙ (x·W_up) · W_down for `x: [rows, hidden]`; weights `[in, out]`.
pub fn swiglu(
    x: ArrayView2<f64>,
    gate: &Array2<f64>,
    up: &Array2<f64>,
    down: &Array2<f64>,
) -> Array2<f64> {
    let g = x.dot(gate);
    let u = x.dot(up);
    let hidden = Array2::from_shape_fn(g.dim(), |(r, c)| {
        let z = g[[r, c]];
        z / (1.0 + (-z).exp()) * u[[r, c]]
    });
    hidden.dot(down)
}

/// Causal softmax attention of one sequence: `q: [h, s, d]`, `k, v: [kv, s, d]`, query head
/// `j` reading KV head `j / (h / kv)`. Returns `[s, h·d]` (heads side by side).
pub fn causal_attention(q: &Array3<f64>, k: &Array3<f64>, v: &Array3<f64>) -> Array2<f64> {
    let (h, s, d) = q.dim();
    let group = h / k.dim().0;
    let mut out = Array2::zeros((s, h * d));
    for hi in 0..h {
        let (kh, vh) = (
            k.index_axis(Axis(0), hi / group),
            v.index_axis(Axis(0), hi / group),
        );
        for i in 0..s {
            let scores: Vec<f64> = (0..=i)
                .map(|j| {
                    (0..d).map(|x| q[[hi, i, x]] * kh[[j, x]]).sum::<f64>() / (d as f64).sqrt()
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            for (j, sc) in scores.iter().enumerate() {
                let w = (sc - max).exp() / total;
                for x in 0..d {
                    out[[i, hi * d + x]] += w * vh[[j, x]];
                }
            }
        }
    }
    out
}

/// The weights of one decoder block as f64 arrays (`[in, out]` matrices).
pub struct BlockWeights {
    pub attn_norm: Vec<f64>,
    pub wq: Array2<f64>,
    pub wk: Array2<f64>,
    pub wv: Array2<f64>,
    pub wo: Array2<f64>,
    pub ffn_norm: Vec<f64>,
    pub gate: Array2<f64>,
    pub up: Array2<f64>,
    pub down: Array2<f64>,
    pub heads: usize,
    pub kv_heads: usize,
    pub eps: f64,
    pub rope_theta: f64,
}

/// Reads a burn block's weights into f64 arrays (burn's `Linear` stores `[in, out]` too).
pub fn block_weights(
    block: &DecoderBlock,
    heads: usize,
    kv_heads: usize,
    eps: f64,
    rope_theta: f64,
) -> BlockWeights {
    let w = |l: &burn::nn::Linear| array2(&l.weight.val());
    BlockWeights {
        attn_norm: vec1(&block.input_layernorm.weight.val()),
        wq: w(&block.self_attn.q_proj),
        wk: w(&block.self_attn.k_proj),
        wv: w(&block.self_attn.v_proj),
        wo: w(&block.self_attn.o_proj),
        ffn_norm: vec1(&block.post_attention_layernorm.weight.val()),
        gate: w(&block.mlp.gate_proj),
        up: w(&block.mlp.up_proj),
        down: w(&block.mlp.down_proj),
        heads,
        kv_heads,
        eps,
        rope_theta,
    }
}

/// A pre-norm block on one sequence `x: [s, hidden]` at positions `0..s`:
/// `h = x + Wo·attn(RoPE(Wq·n), RoPE(Wk·n), Wv·n)` with `n = RMSNorm(x)`, then
/// `h + FFN(RMSNorm(h))`.
pub fn decoder_block(x: ArrayView2<f64>, w: &BlockWeights) -> Array2<f64> {
    let s = x.dim().0;
    let n = rms_norm(x, &w.attn_norm, w.eps);
    let heads_of = |m: Array2<f64>, heads: usize| -> Array4<f64> {
        let d = m.dim().1 / heads;
        Array4::from_shape_fn((1, heads, s, d), |(_, h, t, c)| m[[t, h * d + c]])
    };
    let q = rope(&heads_of(n.dot(&w.wq), w.heads), 0, w.rope_theta, false);
    let k = rope(&heads_of(n.dot(&w.wk), w.kv_heads), 0, w.rope_theta, false);
    let v = heads_of(n.dot(&w.wv), w.kv_heads);
    let first = |a: Array4<f64>| a.index_axis_move(Axis(0), 0);
    let context = causal_attention(&first(q), &first(k), &first(v));
    let h = &x + &context.dot(&w.wo);
    let m = rms_norm(h.view(), &w.ffn_norm, w.eps);
    &h + &swiglu(m.view(), &w.gate, &w.up, &w.down)
}

/// The weights of a whole model as f64 arrays.
pub struct ModelWeights {
    /// `E: [vocab, hidden]`, one row per token id.
    pub embedding: Array2<f64>,
    pub blocks: Vec<BlockWeights>,
    pub final_norm: Vec<f64>,
    /// The untied LM head `[hidden, vocab]`; `None` when the head is the embedding.
    pub lm_head: Option<Array2<f64>>,
    pub eps: f64,
}

/// Reads a burn model's weights into f64 arrays.
pub fn model_weights(model: &LlamaModel, config: &LlamaConfig) -> ModelWeights {
    let (heads, kv_heads) = (config.num_attention_heads, config.kv_heads());
    let (eps, theta) = (config.rms_norm_eps, config.rope_theta);
    ModelWeights {
        embedding: array2(&model.embed_tokens.weight.val()),
        blocks: model
            .layers
            .iter()
            .map(|b| block_weights(b, heads, kv_heads, eps, theta))
            .collect(),
        final_norm: vec1(&model.norm.weight.val()),
        lm_head: model.lm_head.as_ref().map(|h| array2(&h.weight.val())),
        eps,
    }
}

/// Logits `[s, vocab]` of one sequence of token ids at positions `0..s`: look up the rows of
/// `E`, run every block, RMSNorm, then `n · W_head`, or `n · Eᵀ` when the head is tied.
pub fn model_logits(ids: &[usize], w: &ModelWeights) -> Array2<f64> {
    let hidden = w.embedding.dim().1;
    let mut x = Array2::from_shape_fn((ids.len(), hidden), |(t, c)| w.embedding[[ids[t], c]]);
    for block in &w.blocks {
        x = decoder_block(x.view(), block);
    }
    let n = rms_norm(x.view(), &w.final_norm, w.eps);
    match &w.lm_head {
        Some(head) => n.dot(head),
        None => n.dot(&w.embedding.t()),
    }
}
