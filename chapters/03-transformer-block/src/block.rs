//! The pre-norm decoder block.
//!
//! ```text
//! h   = x + Attention(RMSNorm(x))        each sub-layer reads a normalised copy…
//! out = h + FFN(RMSNorm(h))              …and adds its result back onto the residual stream
//! ```
//!
//! The original Transformer normalised *after* adding (post-norm: `x = Norm(x + F(x))`), which
//! puts a normalisation on the main path of every layer: gradients reaching early layers pass
//! through all of them, and deep stacks need a learning-rate warm-up to train at all. Pre-norm
//! keeps an identity path from the embedding to the output — the residual stream — so each
//! layer only *adds* a correction and the gradient flows back undiminished. It trains stably
//! without warm-up tricks; GPT-2 onwards and every Llama-family model use it. The price: the
//! stream's scale grows with depth, which is why a final norm sits before the LM head.

use crate::attention::{Qkv, SelfAttention, SelfAttentionConfig};
use crate::ffn::{SwiGluFfn, SwiGluFfnConfig};
use crate::norm::{RmsNorm, RmsNormConfig};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use ch02_attention::AttentionError;

/// HF names: `input_layernorm`, `self_attn`, `post_attention_layernorm`, `mlp`.
#[derive(Module, Debug)]
pub struct DecoderBlock {
    pub input_layernorm: RmsNorm,
    pub self_attn: SelfAttention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: SwiGluFfn,
}

impl DecoderBlock {
    pub fn new(
        attention: &SelfAttentionConfig,
        intermediate: usize,
        eps: f64,
        device: &Device,
    ) -> Self {
        let norm = || {
            RmsNormConfig::new(attention.hidden)
                .with_eps(eps)
                .init(device)
        };
        DecoderBlock {
            input_layernorm: norm(),
            self_attn: attention.init(device),
            post_attention_layernorm: norm(),
            mlp: SwiGluFfnConfig::new(attention.hidden, intermediate)
                .with_init_std(attention.init_std)
                .init(device),
        }
    }

    /// The block over `x: [b, s, hidden]` at positions `start..start+s`. `kv` receives this
    /// step's post-RoPE keys and values (`[b, kv_heads, s, d]`) and returns the keys and values
    /// to attend over — the same ones without a cache, or all positions so far with one.
    pub fn forward_with(
        &self,
        x: Tensor<3>,
        start: usize,
        kv: impl FnOnce(Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, AttentionError> {
        self.forward_with_attention(x, start, |attn, Qkv { q, k, v }| {
            let (k, v) = kv(k, v);
            attn.attend(q, k, v)
        })
    }

    /// The block with the attention step supplied: `attend` receives this block's attention
    /// layer and the projected, rotated q/k/v, and returns `[b, s, hidden]` (after `o_proj`).
    /// The norms, residuals and feed-forward stay the block's own, so a variant of attention
    /// (chapter 04's sliding window) changes only what it changes.
    pub fn forward_with_attention(
        &self,
        x: Tensor<3>,
        start: usize,
        attend: impl FnOnce(&SelfAttention, Qkv) -> Result<Tensor<3>, AttentionError>,
    ) -> Result<Tensor<3>, AttentionError> {
        let s = x.dims()[1];
        self.forward_at(x, &(start..start + s).collect::<Vec<_>>(), attend)
    }

    /// [`DecoderBlock::forward_with_attention`] with row `i` of `x` at `positions[i]`: the rows
    /// of several sequences laid end to end (chapter 09's batched step), each at its own place.
    pub fn forward_at(
        &self,
        x: Tensor<3>,
        positions: &[usize],
        attend: impl FnOnce(&SelfAttention, Qkv) -> Result<Tensor<3>, AttentionError>,
    ) -> Result<Tensor<3>, AttentionError> {
        let qkv = self
            .self_attn
            .project_at(self.input_layernorm.forward(x.clone()), positions);
        let h = x + attend(&self.self_attn, qkv)?;
        Ok(h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h)))
    }

    /// The block without a cache.
    pub fn forward(&self, x: Tensor<3>, start: usize) -> Result<Tensor<3>, AttentionError> {
        self.forward_with(x, start, |k, v| (k, v))
    }
}
