//! What quantization costs, measured: perplexity of a text under a model's logits.
//!
//! Perplexity is `exp` of the mean negative log-likelihood of each next token,
//! `PPL = exp(−(1/N) Σᵢ ln p(tᵢ₊₁ | t₀…tᵢ))`: the number of equally likely choices the model is
//! as unsure as. A uniform guess over V tokens scores V; rounding weights or activations that
//! lose information shows up as a higher perplexity on the same text.

/// Perplexity of `ids` from the logits `[ids.len(), vocab]` of every position (row i predicts
/// token i + 1; the last row predicts nothing). Log-sum-exp in f64, so no logit overflows.
pub fn perplexity(logits: &[f32], ids: &[u32]) -> Option<f64> {
    let n = ids.len();
    if n < 2 || logits.is_empty() || !logits.len().is_multiple_of(n) {
        return None;
    }
    let vocab = logits.len() / n;
    let nll: f64 = logits
        .chunks_exact(vocab)
        .zip(&ids[1..])
        .map(|(row, &next)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let log_sum = row
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln()
                + max;
            log_sum - f64::from(row[next as usize])
        })
        .sum();
    Some((nll / (n - 1) as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::perplexity;

    #[test]
    fn a_uniform_guess_scores_the_vocabulary_size() {
        let ppl = perplexity(&[0.5; 4 * 50], &[1, 2, 3, 4]).unwrap();
        assert!((ppl - 50.0).abs() < 1e-9, "{ppl}");
    }

    #[test]
    fn it_is_the_exponent_of_the_mean_surprise() {
        // Two predictions over three tokens: p = e²/(e²+2) for the chosen one, then 1/3.
        let logits = [0.0, 2.0, 0.0, 1.0, 1.0, 1.0, 9.0, 9.0, 9.0];
        let p1 = 2f64.exp() / (2f64.exp() + 2.0);
        let expected = (-(p1.ln() + (1.0f64 / 3.0).ln()) / 2.0).exp();
        let ppl = perplexity(&logits, &[0, 1, 2]).unwrap();
        assert!((ppl - expected).abs() < 1e-12, "{ppl} vs {expected}");
        assert_eq!(perplexity(&logits, &[0]), None);
    }
}
