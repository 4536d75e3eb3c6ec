//! What quantization costs, measured where there is a baseline.
//!
//! - [`perplexity`]: `exp` of the mean negative log-likelihood of each next token,
//!   `PPL = exp(−(1/N) Σᵢ ln p(tᵢ₊₁ | t₀…tᵢ))`, the number of equally likely choices the model
//!   is as unsure as. A uniform guess over V tokens scores V; rounding that loses information
//!   shows up as a higher perplexity on the same text.
//! - [`round_trip_weights`]: a model whose weights were trained in f32 and never quantized
//!   (chapter 03's), with every matrix rounded through a block format and back — the f32 model
//!   a quantized file of it would hold — and the RMS error that added, so its loss can be
//!   measured again.

use crate::formats::quantize;
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};
use ch03_transformer_block::LlamaModel;
use ch07_real_model::{GgmlType, dequantize};

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

/// How far rounding moved the weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundTrip {
    /// RMS of (rounded − original) over every rounded weight, and RMS of the weights themselves.
    pub rms_error: f64,
    pub rms_weight: f64,
    /// Weights rounded.
    pub values: usize,
    /// Matrices left in f32 because their rows are not whole blocks (of 32 for the 8- and
    /// 4-bit types; llama.cpp's quantizer falls back to another type for those too).
    pub kept_f32: Vec<String>,
}

/// `model` with every weight matrix rounded through `ty` and back (quantize with this chapter's
/// quantizers, dequantize with chapter 07's): the embedding (also the LM head when tied) and
/// every projection. Norm gains stay f32, as GGUF files keep them.
pub fn round_trip_weights(
    mut model: LlamaModel,
    ty: GgmlType,
) -> Result<(LlamaModel, RoundTrip), String> {
    let mut stats = RoundTrip::default();
    let (mut sq_error, mut sq_weight) = (0f64, 0f64);
    // Rounds the rows of `w: [rows, cols]` (blocks run along a row, as in a GGUF tensor).
    let mut rows = |name: &str, w: Tensor<2>| -> Result<Tensor<2>, String> {
        let [r, c] = w.dims();
        if !c.is_multiple_of(ty.block().0 as usize) {
            stats.kept_f32.push(format!("{name} ({c} columns)"));
            return Ok(w);
        }
        let device = w.device();
        let values = w
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let back = dequantize(ty, &quantize(ty, &values)?, values.len() as u64)?;
        for (a, b) in values.iter().zip(&back) {
            sq_error += f64::from(b - a).powi(2);
            sq_weight += f64::from(*a).powi(2);
        }
        stats.values += values.len();
        Ok(Tensor::from_data(TensorData::new(back, [r, c]), &device))
    };
    // burn's `Linear` stores [inputs, outputs]; a GGUF row is one output's inputs.
    let mut linear = |name: String, l: &mut Linear| -> Result<(), String> {
        let rounded = rows(&name, l.weight.val().transpose())?.transpose();
        l.weight = Param::from_tensor(rounded);
        Ok(())
    };
    for (i, block) in model.layers.iter_mut().enumerate() {
        let (attn, mlp) = (&mut block.self_attn, &mut block.mlp);
        for (part, l) in [
            ("q_proj", &mut attn.q_proj),
            ("k_proj", &mut attn.k_proj),
            ("v_proj", &mut attn.v_proj),
            ("o_proj", &mut attn.o_proj),
            ("gate_proj", &mut mlp.gate_proj),
            ("up_proj", &mut mlp.up_proj),
            ("down_proj", &mut mlp.down_proj),
        ] {
            linear(format!("layers.{i}.{part}"), l)?;
        }
    }
    if let Some(head) = model.lm_head.as_mut() {
        linear("lm_head".into(), head)?;
    }
    let embed = rows("embed_tokens", model.embed_tokens.weight.val())?;
    model.embed_tokens.weight = Param::from_tensor(embed);
    stats.rms_error = (sq_error / stats.values.max(1) as f64).sqrt();
    stats.rms_weight = (sq_weight / stats.values.max(1) as f64).sqrt();
    Ok((model, stats))
}

#[cfg(test)]
mod tests {
    use super::{perplexity, round_trip_weights};
    use burn::tensor::{Device, Tensor};
    use ch03_transformer_block::{LlamaConfig, LlamaModel};
    use ch07_real_model::GgmlType;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec().unwrap()
    }

    /// Q8_0 along a GGUF row (one output's inputs): every weight within half a step of its
    /// block's grid (`max|x| / 127 / 2`, and the f16 scale's rounding), with the blocks taken
    /// along burn's input axis. A 176-wide
    /// input (not whole blocks) stays f32 and is named; the norms are untouched.
    #[test]
    fn rounding_follows_gguf_rows_and_keeps_what_has_no_whole_blocks() {
        let device = Device::flex();
        device.seed(7);
        let config = LlamaConfig::new(64, 176, 1, 4, 96);
        let model = LlamaModel::new(&config, &device).unwrap();
        let q_before = values(model.layers[0].self_attn.q_proj.weight.val().transpose());
        let down_before = values(model.layers[0].mlp.down_proj.weight.val());
        let norm_before = model.norm.weight.val().into_data();
        let (rounded, stats) = round_trip_weights(model, GgmlType::Q8_0).unwrap();
        let q_after = values(rounded.layers[0].self_attn.q_proj.weight.val().transpose());
        for (before, after) in q_before.chunks(32).zip(q_after.chunks(32)) {
            // Half a step, plus the scale's own rounding to f16 (relative 2⁻¹¹) times 127 steps.
            let step = before.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            let bound = step / 2.0 + 127.0 * step / 2048.0;
            for (b, a) in before.iter().zip(after) {
                assert!((a - b).abs() <= bound, "{b} → {a}, bound {bound}");
            }
        }
        assert_ne!(q_before, q_after);
        assert_eq!(
            values(rounded.layers[0].mlp.down_proj.weight.val()),
            down_before
        );
        assert_eq!(stats.kept_f32, ["layers.0.down_proj (176 columns)"]);
        assert_eq!(rounded.norm.weight.val().into_data(), norm_before);
        assert!(
            stats.rms_error > 0.0 && stats.rms_error < 0.02 * stats.rms_weight,
            "{stats:?}"
        );
    }

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
