//! Chapter 02's multi-head self-attention with one more setting, `n_kv_heads`: the query
//! projection keeps `heads × head_dim` outputs, the key and value projections shrink to
//! `kv_heads × head_dim`. With `n_kv_heads = n_heads` it *is* chapter 02's module, and it
//! splits and merges heads with chapter 02's `split_heads` / `merge_heads`.

use crate::share::{GqaError, expand_kv, group_of};
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use ch02_attention::{attention, merge_heads, split_heads};

#[derive(Config, Debug)]
pub struct GqaSelfAttentionConfig {
    pub d_model: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    #[config(default = true)]
    pub bias: bool,
}

impl GqaSelfAttentionConfig {
    pub fn init(&self, device: &Device) -> Result<GqaSelfAttention, GqaError> {
        group_of(self.n_heads, self.n_kv_heads)?;
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(GqaError::Attention(
                ch02_attention::AttentionError::HeadsDivide {
                    d_model: self.d_model,
                    n_heads: self.n_heads,
                },
            ));
        }
        let head_dim = self.d_model / self.n_heads;
        let linear = |out: usize| {
            LinearConfig::new(self.d_model, out)
                .with_bias(self.bias)
                .init(device)
        };
        Ok(GqaSelfAttention {
            query: linear(self.d_model),
            key: linear(self.n_kv_heads * head_dim),
            value: linear(self.n_kv_heads * head_dim),
            output: LinearConfig::new(self.d_model, self.d_model)
                .with_bias(self.bias)
                .init(device),
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            head_dim,
        })
    }
}

#[derive(Module, Debug)]
pub struct GqaSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl GqaSelfAttention {
    /// The K and V this layer would cache for `x: [b, s, d_model]`: `[b, kv_heads, s, d]` each —
    /// `heads / kv_heads` times smaller than MHA's.
    pub fn keys_values(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        let k = split_heads(self.key.forward(x.clone()), self.n_kv_heads);
        let v = split_heads(self.value.forward(x), self.n_kv_heads);
        (k, v)
    }

    /// Causal (or not) self-attention over `x: [b, s, d_model]` → `[b, s, d_model]`.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Result<Tensor<3>, GqaError> {
        let q = split_heads(self.query.forward(x.clone()), self.n_heads); // [b, h, s, d]
        let (k, v) = self.keys_values(x); // [b, kv, s, d]
        let group = self.n_heads / self.n_kv_heads;
        let context = attention(q, expand_kv(k, group), expand_kv(v, group), causal, None)?;
        Ok(self.output.forward(merge_heads(context)))
    }
}
