//! Multi-head self-attention as a burn `Module`.
//!
//! One attention over `d_model`-wide vectors can only compute one pattern of weights per
//! position. Splitting `d_model` into `n_heads` heads of `head_dim = d_model / n_heads` lets
//! each head learn its own pattern at the same cost:
//!
//! ```text
//! x [b, s, d_model] ─ Wq, Wk, Wv ─▶ [b, s, d_model] ─ split ─▶ [b, h, s, head_dim]
//!   ─ attention ─▶ [b, h, s, head_dim] ─ merge ─▶ [b, s, d_model] ─ Wo ─▶ [b, s, d_model]
//! ```

use crate::check::AttentionError;
use crate::steps::attention;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};

#[derive(Config, Debug)]
pub struct MultiHeadSelfAttentionConfig {
    pub d_model: usize,
    pub n_heads: usize,
    /// Biases on the four projections (GPT-2 has them, Llama does not).
    #[config(default = true)]
    pub bias: bool,
}

impl MultiHeadSelfAttentionConfig {
    pub fn init(&self, device: &Device) -> Result<MultiHeadSelfAttention, AttentionError> {
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return Err(AttentionError::HeadsDivide {
                d_model: self.d_model,
                n_heads: self.n_heads,
            });
        }
        let linear = || {
            LinearConfig::new(self.d_model, self.d_model)
                .with_bias(self.bias)
                .init(device)
        };
        Ok(MultiHeadSelfAttention {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            n_heads: self.n_heads,
            head_dim: self.d_model / self.n_heads,
        })
    }
}

#[derive(Module, Debug)]
pub struct MultiHeadSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub n_heads: usize,
    pub head_dim: usize,
}

/// `[b, s, heads·head_dim]` → `[b, heads, s, head_dim]`: each head's slice of the projection
/// becomes its own sequence of vectors.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, s, width] = x.dims();
    x.reshape([b, s, heads, width / heads]).swap_dims(1, 2)
}

/// `[b, heads, s, head_dim]` → `[b, s, heads·head_dim]`: the heads side by side again, ready
/// for the output projection.
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, s, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, s, h * d])
}

impl MultiHeadSelfAttention {
    /// Self-attention over `x: [b, s, d_model]`; `mask` (`true` = masked) broadcastable to
    /// `[b, h, s, s]`. Returns `[b, s, d_model]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        causal: bool,
        mask: Option<Tensor<4, Bool>>,
    ) -> Result<Tensor<3>, AttentionError> {
        let d_model = self.n_heads * self.head_dim;
        let got = x.dims()[2];
        if got != d_model {
            return Err(AttentionError::ModelDim {
                got,
                expected: d_model,
            });
        }
        let q = split_heads(self.query.forward(x.clone()), self.n_heads);
        let k = split_heads(self.key.forward(x.clone()), self.n_heads);
        let v = split_heads(self.value.forward(x), self.n_heads);
        let context = attention(q, k, v, causal, mask)?; // [b, h, s, head_dim]
        Ok(self.output.forward(merge_heads(context)))
    }
}
