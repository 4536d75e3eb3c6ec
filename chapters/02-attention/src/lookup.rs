//! Attention as a soft dictionary lookup, on real tokens.
//!
//! Give each token id a fixed random vector (the same id always gets the same vector) and use
//! it as query, key and value at once. A query then matches its own key with a score of about
//! `|e|²/√d = √d` and unrelated keys with scores of about ±1, so each row of the weights puts
//! its mass on the earlier occurrences of the same token — the lookup that trained projections
//! learn to make selective. The heatmap of these weights for a sentence is the lesson's
//! picture of what a causal attention row can see.

use crate::check::AttentionError;
use crate::steps::attention_weights;
use burn::tensor::{Device, Tensor, TensorData};

/// A deterministic unit-variance vector for a token id (splitmix64 + Box–Muller), so the
/// picture is the same on every run and machine.
pub fn token_vector(id: u32, dim: usize) -> Vec<f32> {
    let mut state = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..dim)
        .map(|_| {
            let (u1, u2) = (next().max(f64::MIN_POSITIVE), next());
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Causal attention weights `[s, s]` of the token sequence with Q = K = the token vectors.
pub fn lookup_weights(
    ids: &[u32],
    dim: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>, AttentionError> {
    let s = ids.len();
    let data: Vec<f32> = ids.iter().flat_map(|&id| token_vector(id, dim)).collect();
    let x =
        Tensor::<1>::from_data(TensorData::new(data, [s * dim]), device).reshape([1, 1, s, dim]);
    let w = attention_weights(x.clone(), x, true, None)?; // [1, 1, s, s]
    let flat = w.into_data().try_to_vec::<f32>().expect("an f32 tensor");
    Ok(flat.chunks(s.max(1)).map(<[f32]>::to_vec).collect())
}
