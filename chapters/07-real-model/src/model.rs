//! The model: chapter 03's `LlamaModel`, its shape read from the GGUF metadata and its weights
//! loaded by name. Nothing here is new architecture — SmolLM2 *is* chapter 03's decoder, with
//! chapter 05's shared KV heads (9 query heads read 3 KV heads) and a tied LM head.
//!
//! ```text
//! GGUF name                 chapter 03 field                      stored ne   → burn shape
//! token_embd.weight         embed_tokens.weight                   [576, V]    → [V, 576]
//! blk.N.attn_norm.weight    layers[N].input_layernorm.weight      [576]
//! blk.N.attn_q.weight       layers[N].self_attn.q_proj.weight     [576, 576]  → [in, out]
//! blk.N.attn_k.weight, attn_v.weight, attn_output.weight          (k, v: [576, 192])
//! blk.N.ffn_norm.weight     layers[N].post_attention_layernorm.weight
//! blk.N.ffn_gate.weight, ffn_up.weight, ffn_down.weight           mlp.{gate,up,down}_proj
//! output_norm.weight        norm.weight
//! output.weight             lm_head.weight (absent: tied to token_embd)
//! ```
//!
//! A matrix with `ne = [in, out]` is stored as `out` rows of `in` values, so it is transposed
//! into burn's `[in, out]`. One more step for Q and K: llama.cpp's converter reorders the rows
//! of each head of `W_q` and `W_k` from Hugging Face's split-halves RoPE layout (pairs
//! `(i, i + d/2)`) to the interleaved one (pairs `(2i, 2i + 1)`) its RoPE kernel rotates. Chapter
//! 03's attention rotates split halves, so [`unpermute_rope_rows`] puts the rows back: row
//! `2i` of a head → `i`, row `2i + 1` → `i + d/2` — chapter 03's `interleaved_to_halves`,
//! applied to weight rows instead of activations.

use crate::gguf::{Gguf, GgufError};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use ch03_transformer_block::{LlamaConfig, LlamaModel};

/// The GGUF architectures this loader builds.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

/// Chapter 03's config from a GGUF file's `llama.*` metadata.
pub fn config_from_gguf(gguf: &Gguf) -> Result<LlamaConfig, GgufError> {
    let arch = gguf.require_str("general.architecture")?;
    if !SUPPORTED_ARCHITECTURES.contains(&arch) {
        return Err(GgufError {
            path: gguf.path.clone(),
            message: format!(
                "architecture `{arch}` is not supported (supported: {})",
                SUPPORTED_ARCHITECTURES.join(", ")
            ),
        });
    }
    let int = |key: &str| {
        gguf.require_u64(&format!("llama.{key}"))
            .map(|v| v as usize)
    };
    let float = |key: &str, default: f64| {
        gguf.get(&format!("llama.{key}"))
            .and_then(|v| v.as_f64())
            .unwrap_or(default)
    };
    let hidden = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let vocab = match gguf.get("llama.vocab_size").and_then(|v| v.as_u64()) {
        Some(v) => v as usize,
        None => gguf.require_strings("tokenizer.ggml.tokens")?.len(),
    };
    // llama.cpp stores Llama 3.1's rescaling as a `rope_freqs` tensor; plain RoPE only here.
    match gguf.get("llama.rope.scaling.type").and_then(|v| v.as_str()) {
        None | Some("none") => {}
        Some(other) => {
            return Err(GgufError {
                path: gguf.path.clone(),
                message: format!("rope scaling `{other}` is not supported"),
            });
        }
    }
    let config = LlamaConfig {
        num_key_value_heads: Some(
            gguf.get("llama.attention.head_count_kv")
                .and_then(|v| v.as_u64())
                .map_or(heads, |v| v as usize),
        ),
        head_dim: Some(
            gguf.get("llama.rope.dimension_count")
                .and_then(|v| v.as_u64())
                .map_or(hidden / heads.max(1), |v| v as usize),
        ),
        rope_theta: float("rope.freq_base", 10_000.0),
        rms_norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
        tie_word_embeddings: gguf.tensor("output.weight").is_err(),
        max_position_embeddings: int("context_length")?,
        ..LlamaConfig::new(
            hidden,
            int("feed_forward_length")?,
            int("block_count")?,
            heads,
            vocab,
        )
    };
    config.validate().map_err(|e| GgufError {
        path: gguf.path.clone(),
        message: e.to_string(),
    })?;
    Ok(config)
}

/// Where each row of a Q or K weight comes from when llama.cpp's interleaved RoPE order is put
/// back to split halves: within each head of `d` rows, row `i + j·d/2` is stored row `2i + j`.
pub fn rope_row_order(heads: usize, d: usize) -> Vec<usize> {
    let half = d / 2;
    let mut order = vec![0; heads * d];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                order[h * d + i + j * half] = h * d + 2 * i + j;
            }
        }
    }
    order
}

/// Rows `[heads·d, cols]` of a Q or K weight from llama.cpp's interleaved RoPE order back to
/// the split-halves order ([`rope_row_order`]).
pub fn unpermute_rope_rows(rows: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let d = rows.len() / cols / heads;
    rope_row_order(heads, d)
        .into_iter()
        .flat_map(|from| rows[from * cols..(from + 1) * cols].iter().copied())
        .collect()
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Loads tensors by GGUF name onto `device`.
struct Loader<'a> {
    gguf: &'a Gguf,
    device: &'a Device,
}

impl Loader<'_> {
    fn values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, GgufError> {
        let info = self.gguf.tensor(name)?;
        let dims: Vec<usize> = info.dims.iter().map(|&d| d as usize).collect();
        if dims != expected {
            return Err(GgufError {
                path: self.gguf.path.clone(),
                message: format!(
                    "tensor `{name}` has ne {dims:?}, the config implies {expected:?}"
                ),
            });
        }
        self.gguf.dequantize(name)
    }

    fn vector(&self, name: &str, width: usize) -> Result<Param<Tensor<1>>, GgufError> {
        let v = self.values(name, &[width])?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(v, [width]),
            self.device,
        )))
    }

    /// A `[in, out]` linear weight from a stored `ne = [in, out]` matrix; `rope_heads` un-permutes Q/K rows.
    fn linear(
        &self,
        name: &str,
        layer: &mut Linear,
        rope_heads: Option<usize>,
    ) -> Result<(), GgufError> {
        let [d_in, d_out] = layer.weight.shape().dims();
        let mut rows = self.values(name, &[d_in, d_out])?; // out rows of in values
        if let Some(heads) = rope_heads {
            rows = unpermute_rope_rows(&rows, heads, d_in);
        }
        let w = transpose(&rows, d_out, d_in); // [in, out]
        layer.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [d_in, d_out]),
            self.device,
        ));
        Ok(())
    }
}

/// Chapter 03's model with the GGUF file's weights.
pub fn load_model(gguf: &Gguf, device: &Device) -> Result<LlamaModel, GgufError> {
    let config = config_from_gguf(gguf)?;
    let mut model = LlamaModel::new(&config, device).map_err(|e| GgufError {
        path: gguf.path.clone(),
        message: e.to_string(),
    })?;
    let load = Loader { gguf, device };
    let (hidden, vocab) = (config.hidden_size, config.vocab_size);
    let embedding = load.values("token_embd.weight", &[hidden, vocab])?; // vocab rows of hidden
    model.embed_tokens.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(embedding, [vocab, hidden]),
        device,
    ));
    for (i, layer) in model.layers.iter_mut().enumerate() {
        let name = |t: &str| format!("blk.{i}.{t}.weight");
        layer.input_layernorm.weight = load.vector(&name("attn_norm"), hidden)?;
        layer.post_attention_layernorm.weight = load.vector(&name("ffn_norm"), hidden)?;
        let attn = &mut layer.self_attn;
        let (heads, kv_heads) = (attn.heads, attn.kv_heads);
        load.linear(&name("attn_q"), &mut attn.q_proj, Some(heads))?;
        load.linear(&name("attn_k"), &mut attn.k_proj, Some(kv_heads))?;
        load.linear(&name("attn_v"), &mut attn.v_proj, None)?;
        load.linear(&name("attn_output"), &mut attn.o_proj, None)?;
        load.linear(&name("ffn_gate"), &mut layer.mlp.gate_proj, None)?;
        load.linear(&name("ffn_up"), &mut layer.mlp.up_proj, None)?;
        load.linear(&name("ffn_down"), &mut layer.mlp.down_proj, None)?;
    }
    model.norm.weight = load.vector("output_norm.weight", hidden)?;
    if let Some(head) = model.lm_head.as_mut() {
        load.linear("output.weight", head, None)?;
    }
    Ok(model)
}
