//! A Llama-style decoder: token embedding → N pre-norm blocks → final RMSNorm → LM head.
//!
//! ```text
//! ids [b, s] ─ embed_tokens ─▶ [b, s, hidden] ─ layers[0..N] ─▶ norm ─ lm_head ─▶ logits [b, s, vocab]
//! ```
//!
//! With `tie_word_embeddings` the LM head is the embedding matrix transposed: the same
//! `vocab × hidden` numbers map ids to vectors and vectors back to scores over ids. For small
//! models that matrix is a large share of all parameters (21% of SmolLM2-135M), so sharing it
//! saves that much memory.

use crate::attention::{Qkv, SelfAttention, SelfAttentionConfig};
use crate::block::DecoderBlock;
use crate::config::LlamaConfig;
use crate::error::{ConfigError, ModelError};
use crate::linear::{linear, matmul_rows_transposed};
use crate::norm::{RmsNorm, RmsNormConfig};
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use ch02_attention::AttentionError;

/// Standard deviation of the initial weights (HF's `initializer_range` default).
pub const INIT_STD: f64 = 0.02;

/// What generation needs from a decoder-only language model: logits for token ids at
/// positions `start..`, with each layer's new keys and values handed to `kv` (a KV cache, or
/// the identity). [`LlamaModel`] implements it, and so does chapter 08's model on quantized
/// weights, so chapter 04's caches and chapter 07's sampling loop run either one.
pub trait CausalLm {
    /// Logits `[b, s, vocab]` for `ids: [b, s]` at positions `start..start+s`; `kv` is called
    /// once per layer as in [`LlamaModel::forward_with`].
    fn forward_kv(
        &self,
        ids: Tensor<2, Int>,
        start: usize,
        kv: &mut dyn FnMut(usize, Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, ModelError>;
    /// The context length: positions beyond it are refused.
    fn max_positions(&self) -> usize;
    /// Where the model's tensors live.
    fn device(&self) -> Device;
}

/// A reference to a model is a model: `forward_cached(&model, …)` works whether `model` is a
/// model or already a reference to one.
impl<T: CausalLm + ?Sized> CausalLm for &T {
    fn forward_kv(
        &self,
        ids: Tensor<2, Int>,
        start: usize,
        kv: &mut dyn FnMut(usize, Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, ModelError> {
        (**self).forward_kv(ids, start, kv)
    }

    fn max_positions(&self) -> usize {
        (**self).max_positions()
    }

    fn device(&self) -> Device {
        (**self).device()
    }
}

impl CausalLm for LlamaModel {
    fn forward_kv(
        &self,
        ids: Tensor<2, Int>,
        start: usize,
        kv: &mut dyn FnMut(usize, Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, ModelError> {
        self.forward_with(ids, start, kv)
    }

    fn max_positions(&self) -> usize {
        self.max_positions
    }

    fn device(&self) -> Device {
        self.embed_tokens.weight.device()
    }
}

#[derive(Module, Debug)]
pub struct LlamaModel {
    pub embed_tokens: Embedding,
    pub layers: Vec<DecoderBlock>,
    pub norm: RmsNorm,
    /// `None` when the embeddings are tied.
    pub lm_head: Option<Linear>,
    pub max_positions: usize,
}

impl LlamaModel {
    /// Builds the model with freshly initialised weights (seed the device for reproducibility).
    pub fn new(config: &LlamaConfig, device: &Device) -> Result<Self, ConfigError> {
        config.validate()?;
        let normal = Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        };
        let attention = SelfAttentionConfig::new(
            config.hidden_size,
            config.num_attention_heads,
            config.kv_heads(),
            config.head_dim(),
        )
        .with_rope_theta(config.rope_theta)
        .with_rope_scaling(config.rope_scaling)
        .with_init_std(INIT_STD);
        Ok(LlamaModel {
            embed_tokens: EmbeddingConfig::new(config.vocab_size, config.hidden_size)
                .with_initializer(normal.clone())
                .init(device),
            layers: (0..config.num_hidden_layers)
                .map(|_| {
                    DecoderBlock::new(
                        &attention,
                        config.intermediate_size,
                        config.rms_norm_eps,
                        device,
                    )
                })
                .collect(),
            norm: RmsNormConfig::new(config.hidden_size)
                .with_eps(config.rms_norm_eps)
                .init(device),
            lm_head: (!config.tie_word_embeddings).then(|| {
                LinearConfig::new(config.hidden_size, config.vocab_size)
                    .with_bias(false)
                    .with_initializer(normal)
                    .init(device)
            }),
            max_positions: config.max_position_embeddings,
        })
    }

    /// Logits `[b, s, vocab]` for token ids `[b, s]` at positions `start..start+s`. `kv` is
    /// called once per layer (with the layer index) as in [`DecoderBlock::forward_with`].
    pub fn forward_with(
        &self,
        ids: Tensor<2, Int>,
        start: usize,
        mut kv: impl FnMut(usize, Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, ModelError> {
        self.forward_with_attention(ids, start, |i, attn, Qkv { q, k, v }| {
            let (k, v) = kv(i, k, v);
            attn.attend(q, k, v)
        })
    }

    /// As [`LlamaModel::forward_with`], with each layer's attention step supplied (called with
    /// the layer index, as in [`DecoderBlock::forward_with_attention`]).
    pub fn forward_with_attention(
        &self,
        ids: Tensor<2, Int>,
        start: usize,
        mut attend: impl FnMut(usize, &SelfAttention, Qkv) -> Result<Tensor<3>, AttentionError>,
    ) -> Result<Tensor<3>, ModelError> {
        let s = ids.dims()[1];
        if s == 0 {
            return Err(ModelError::Empty);
        }
        if start + s > self.max_positions {
            return Err(ModelError::PositionsTooLong {
                start,
                end: start + s,
                max: self.max_positions,
            });
        }
        let mut x = self.embed_tokens.forward(ids); // [b, s, hidden]
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward_with_attention(x, start, |attn, qkv| attend(i, attn, qkv))?;
        }
        Ok(self.head(self.norm.forward(x))) // [b, s, vocab]
    }

    /// Logits for a whole sequence starting at position 0, no cache.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Result<Tensor<3>, ModelError> {
        self.forward_with(ids, 0, |_, k, v| (k, v))
    }

    /// `[b, s, hidden]` → `[b, s, vocab]`, through the LM head or the tied embedding.
    ///
    /// Tied: logits are `x · Eᵀ` with `E: [vocab, hidden]`. Written that way the backend
    /// materialises `Eᵀ` on every call (154 MB for a GPT-2 vocabulary, more than the rest of a
    /// decode step), so we compute `(E · xᵀ)ᵀ`: `E` is read as stored and only the small `x`
    /// and the logits are transposed.
    pub fn head(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => linear(head, x),
            None => {
                let [b, s, hidden] = x.dims();
                let e = self.embed_tokens.weight.val(); // [vocab, hidden]
                let vocab = e.dims()[0];
                matmul_rows_transposed(x.reshape([b * s, hidden]), e).reshape([b, s, vocab])
            }
        }
    }
}
