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

/// SplitMix64: a tiny, seedable, well-mixed stream of random numbers, the same on every run
/// and machine. Chapter 03's training demo draws its windows from it too.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A deterministic unit-variance vector for a token id (SplitMix64 + Box–Muller), so the
/// picture is the same on every run and machine.
pub fn token_vector(id: u32, dim: usize) -> Vec<f32> {
    let mut rng =
        SplitMix64((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    (0..dim)
        .map(|_| {
            let (u1, u2) = (rng.next_f64().max(f64::MIN_POSITIVE), rng.next_f64());
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
