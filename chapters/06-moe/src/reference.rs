//! An independent reference: the whole layer as plain per-token loops over ndarray matrices in
//! f64 — route each token on its own, run each of its experts on that one row, add. No
//! grouping, no gather or scatter, no capacity: what the grouped dispatch must equal.

use crate::routing::Scoring;
use burn::tensor::Tensor;
use ch03_transformer_block::reference::{array2, swiglu};
use ndarray::{Array1, Array2, ArrayView1, Axis};

/// Chapter 03's [`array2`], taking the tensor by value (handy after a `reshape`).
pub fn to_array2(t: Tensor<2>) -> Array2<f64> {
    array2(&t)
}

/// One SwiGLU's weights, `[in, out]` as burn's `Linear` stores them.
pub struct SwiGluWeights {
    pub gate: Array2<f64>,
    pub up: Array2<f64>,
    pub down: Array2<f64>,
}

impl SwiGluWeights {
    pub fn of(ffn: &ch03_transformer_block::SwiGluFfn) -> Self {
        SwiGluWeights {
            gate: to_array2(ffn.gate_proj.weight.val()),
            up: to_array2(ffn.up_proj.weight.val()),
            down: to_array2(ffn.down_proj.weight.val()),
        }
    }

    /// Chapter 03's reference [`swiglu`] on one token's row.
    fn apply(&self, x: ArrayView1<f64>) -> Array1<f64> {
        swiglu(x.insert_axis(Axis(0)), &self.gate, &self.up, &self.down).index_axis_move(Axis(0), 0)
    }
}

pub struct MoeWeights {
    /// `[hidden, experts]`
    pub router: Array2<f64>,
    pub experts: Vec<SwiGluWeights>,
    pub shared: Option<SwiGluWeights>,
}

impl MoeWeights {
    pub fn of(layer: &crate::MoeLayer) -> Self {
        MoeWeights {
            router: to_array2(layer.router.weight.val()),
            experts: layer.experts.iter().map(SwiGluWeights::of).collect(),
            shared: layer.shared.as_ref().map(SwiGluWeights::of),
        }
    }
}

/// `x`: `[tokens, hidden]` → `[tokens, hidden]`, token by token. Ties in the top-k go to the
/// lower expert index.
pub fn moe_per_token(
    x: &Array2<f64>,
    w: &MoeWeights,
    top_k: usize,
    scoring: Scoring,
) -> Array2<f64> {
    let mut out = Array2::zeros(x.raw_dim());
    for (t, row) in x.rows().into_iter().enumerate() {
        let logits = row.dot(&w.router);
        let max = logits.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let exp = logits.mapv(|v| (v - max).exp());
        let probs = &exp / exp.sum();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        let chosen = &order[..top_k];
        let weights: Vec<f64> = match scoring {
            Scoring::SoftmaxThenTopK { renormalize: false } => {
                chosen.iter().map(|&e| probs[e]).collect()
            }
            _ => {
                // Softmax over the chosen logits = chosen probabilities / their sum.
                let sum: f64 = chosen.iter().map(|&e| exp[e]).sum();
                chosen.iter().map(|&e| exp[e] / sum).collect()
            }
        };
        let mut y = match &w.shared {
            Some(s) => s.apply(row),
            None => Array1::zeros(row.len()),
        };
        for (&e, &g) in chosen.iter().zip(&weights) {
            y = y + w.experts[e].apply(row) * g;
        }
        out.row_mut(t).assign(&y);
    }
    out
}
