//! An independent reference: attention written with plain loops over ndarray arrays,
//! accumulating in f64. It shares no code with the burn versions, so agreement is evidence,
//! not a tautology.

use burn::tensor::{Bool, Tensor};
use ndarray::{Array4, ArrayView4};

/// A float tensor's values (converted to f32 whatever the backend stores) and its shape: the
/// one place the chapters' references read a burn tensor.
pub fn values<const D: usize>(t: &Tensor<D>) -> (Vec<f32>, [usize; D]) {
    let data = t
        .to_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor");
    (data, t.dims())
}

/// A burn tensor as an ndarray array (copies the data).
pub fn to_array(t: &Tensor<4>) -> Array4<f32> {
    let (data, dims) = values(t);
    Array4::from_shape_vec(dims, data).expect("shape matches data")
}

/// A burn bool mask as an ndarray array at its own (possibly broadcast) shape.
pub fn mask_to_array(t: &Tensor<4, Bool>) -> Array4<bool> {
    let dims = t.dims();
    let data = t.to_data().try_to_vec::<bool>().expect("a bool tensor");
    Array4::from_shape_vec(dims, data).expect("shape matches data")
}

/// `softmax(q·kᵀ/√d + mask) v` for `q: [b, h, s_q, d]`, `k: [b, h, s_k, d]`,
/// `v: [b, h, s_k, d_v]`; `mask[b', h', i', j] = true` masks (its batch, head and query dims
/// may be 1).
/// Causal: query `i` sees keys `j ≤ i + s_k − s_q`. All-masked rows give zeros.
pub fn attention_f64(
    q: ArrayView4<f32>,
    k: ArrayView4<f32>,
    v: ArrayView4<f32>,
    causal: bool,
    mask: Option<ArrayView4<bool>>,
) -> Array4<f64> {
    let (b, h, sq, d) = q.dim();
    let sk = k.dim().2;
    let dv = v.dim().3;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = Array4::<f64>::zeros((b, h, sq, dv));
    let mut row = vec![0f64; sk];
    for bi in 0..b {
        for hi in 0..h {
            for i in 0..sq {
                let mut max = f64::NEG_INFINITY;
                for (j, r) in row.iter_mut().enumerate() {
                    let future = causal && (j as i64) > i as i64 + sk as i64 - sq as i64;
                    let masked = mask.is_some_and(|m| {
                        let (mb, mh, mq, _) = m.dim();
                        m[[bi.min(mb - 1), hi.min(mh - 1), i.min(mq - 1), j]]
                    });
                    *r = if future || masked {
                        f64::NEG_INFINITY
                    } else {
                        (0..d)
                            .map(|x| q[[bi, hi, i, x]] as f64 * k[[bi, hi, j, x]] as f64)
                            .sum::<f64>()
                            * scale
                    };
                    max = max.max(*r);
                }
                if max == f64::NEG_INFINITY {
                    continue; // nothing visible: the row stays zero
                }
                let total: f64 = row.iter().map(|s| (s - max).exp()).sum();
                for (j, s) in row.iter().enumerate() {
                    let w = (s - max).exp() / total;
                    if w != 0.0 {
                        for x in 0..dv {
                            out[[bi, hi, i, x]] += w * v[[bi, hi, j, x]] as f64;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Largest absolute difference between a burn result and an f64 reference.
pub fn max_abs_diff(ours: &Tensor<4>, reference: &Array4<f64>) -> f64 {
    let ours = to_array(ours);
    assert_eq!(ours.dim(), reference.dim(), "shapes differ");
    ours.iter()
        .zip(reference.iter())
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max)
}
