//! Attention over tiles with an online softmax: the same numbers as [`crate::steps`], but
//! never more than `tile × tile` scores at a time.
//!
//! Softmax needs the maximum and the sum of a whole row, yet a row can be processed a tile of
//! keys at a time if we keep, for each query, a running maximum `m`, a running sum `l` of
//! `exp(score − m)`, and a running output `acc = Σ exp(score − m)·v`. When a new tile raises
//! the maximum from `m` to `m'`, everything accumulated so far was scaled by `e^{−m}` and must
//! now be scaled by `e^{−m'}`: multiply `l` and `acc` by `e^{m − m'}`. After the last tile,
//! `out = acc / l`. This is the idea of FlashAttention (Dao et al., 2022); on a GPU the tiles
//! live in on-chip memory, here it shows as memory that grows with `s·tile` instead of `s²`.
//!
//! Queries are tiled too, so a causal mask can skip every key tile that lies wholly in the
//! future of a query tile: half the FLOPs of the full matrix.

use crate::check::{AttentionError, check_inputs};
use burn::tensor::{Bool, Tensor};

/// Scaled dot-product attention over `tile × tile` blocks; arguments and result as
/// [`crate::steps::attention`].
pub fn tiled_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    causal: bool,
    mask: Option<Tensor<4, Bool>>,
    tile: usize,
) -> Result<Tensor<4>, AttentionError> {
    let dims = check_inputs(&q, &k, &v, mask.as_ref())?;
    if tile == 0 {
        return Err(AttentionError::ZeroTile);
    }
    let [b, h, sq, sk, dv] = [
        dims.batch,
        dims.heads,
        dims.seq_q,
        dims.seq_k,
        dims.value_dim,
    ];
    let device = q.device();
    let q = q * (1.0 / (dims.head_dim as f64).sqrt()); // scale once, not every tile
    let mask = mask.map(|m| m.expand([b, h, sq, sk]));
    // Query i is position i + offset among the keys (decoding: the last s_q of s_k).
    let offset = sk as i64 - sq as i64;

    let mut out_tiles = Vec::with_capacity(sq.div_ceil(tile));
    for qs in (0..sq).step_by(tile) {
        let tq = tile.min(sq - qs);
        let q_tile = q.clone().narrow(2, qs, tq); // [b, h, tq, d]
        // Keys the last query of this tile may see; later key tiles are skipped entirely.
        let k_end = if causal {
            (qs as i64 + tq as i64 + offset).clamp(0, sk as i64) as usize
        } else {
            sk
        };

        let mut m = Tensor::<4>::full([b, h, tq, 1], f32::NEG_INFINITY, &device); // running max
        let mut l = Tensor::<4>::zeros([b, h, tq, 1], &device); // running Σ exp(s − m)
        let mut acc = Tensor::<4>::zeros([b, h, tq, dv], &device); // running Σ exp(s − m)·v
        for ks in (0..k_end).step_by(tile) {
            let tk = tile.min(k_end - ks);
            let mut s = q_tile
                .clone()
                .matmul(k.clone().narrow(2, ks, tk).swap_dims(2, 3)); // [b, h, tq, tk]
            // Key ks + c is in the future of query qs + r when c > r + (qs + offset − ks).
            let diag = qs as i64 + offset - ks as i64;
            if causal && (tk as i64 - 1) > diag {
                let future = Tensor::<2, Bool>::tril_mask([tq, tk], diag, &device).unsqueeze::<4>();
                s = s.mask_fill(future.expand([b, h, tq, tk]), f32::NEG_INFINITY);
            }
            if let Some(mask) = &mask {
                s = s.mask_fill(
                    mask.clone().slice([0..b, 0..h, qs..qs + tq, ks..ks + tk]),
                    f32::NEG_INFINITY,
                );
            }
            let m_new = m.clone().max_pair(s.clone().max_dim(3));
            // A row with nothing visible yet keeps m = −∞; shift by 0 so exp gives 0, not NaN.
            let shift = m_new
                .clone()
                .mask_fill(m_new.clone().lower_elem(f32::MIN), 0.0);
            let p = (s - shift.clone()).exp(); // [b, h, tq, tk]
            let rescale = (m - shift).exp(); // e^{m − m'}: old terms to the new maximum
            l = l * rescale.clone() + p.clone().sum_dim(3);
            acc = acc * rescale + p.matmul(v.clone().narrow(2, ks, tk));
            m = m_new;
        }
        // Rows that saw no key at all have l = 0 and acc = 0: their output is 0.
        out_tiles.push(acc / l.clamp_min(f32::MIN_POSITIVE));
    }
    Ok(Tensor::cat(out_tiles, 2)) // [b, h, s_q, d_v]
}
