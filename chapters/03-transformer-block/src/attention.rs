//! Causal self-attention with RoPE and (optionally) grouped KV heads, on chapter 02's
//! `attention`.
//!
//! The layer is split so a KV cache (chapter 04) can sit in the middle:
//!
//! ```text
//! x [b, s, hidden] ─ project ─▶ q [b, h, s, d], k, v [b, kv, s, d]   RoPE at positions start..start+s
//!            (a cache appends k, v here and hands back all positions so far)
//! ─ attend(q, k_all, v_all) ─▶ [b, s, hidden]                          causal, bottom-right aligned
//! ```
//!
//! K is stored *after* RoPE: a key's rotation depends only on its own position, which never
//! changes, so a cached key never needs rotating again.
//!
//! With `kv_heads < heads` (grouped-query attention, chapter 05's subject) each KV head is
//! repeated for the `heads / kv_heads` query heads that share it, *after* the cache, so the
//! cache holds only `kv_heads` heads.

use crate::linear::linear;
use crate::rope::{Llama3RopeScaling, Rope, RopeStyle};
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use ch02_attention::{AttentionError, attention, causal_mask, merge_heads, split_heads};

#[derive(Config, Debug)]
pub struct SelfAttentionConfig {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// Llama 3.1's long-context rescaling of the RoPE frequencies, if the model uses it.
    #[config(default = "None")]
    pub rope_scaling: Option<Llama3RopeScaling>,
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl SelfAttentionConfig {
    /// The config must have passed [`crate::LlamaConfig::validate`] (or equivalent checks).
    pub fn init(&self, device: &Device) -> SelfAttention {
        let linear = |i, o| {
            LinearConfig::new(i, o)
                .with_bias(false)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.init_std,
                })
                .init(device)
        };
        SelfAttention {
            q_proj: linear(self.hidden, self.heads * self.head_dim),
            k_proj: linear(self.hidden, self.kv_heads * self.head_dim),
            v_proj: linear(self.hidden, self.kv_heads * self.head_dim),
            o_proj: linear(self.heads * self.head_dim, self.hidden),
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            rope: Rope {
                theta: self.rope_theta,
                llama3: self.rope_scaling,
            },
        }
    }
}

/// `[b, kv_heads, s, d]` → `[b, kv_heads·group, s, d]`: KV head `j` serves query heads
/// `j·group .. (j+1)·group` (HF's `repeat_kv`): each head repeated `group` times in place,
/// **not** the whole set tiled `group` times, which would pair query head 1 with K/V head 1.
/// `expand` alone is a view, but the reshape that merges the new axis into the heads needs
/// the repeated heads laid out in memory, so the result is materialised: `group` times the
/// K/V bytes (chapter 05 measures it). [`grouped_attention`] avoids that copy.
pub fn repeat_kv(x: Tensor<4>, group: usize) -> Tensor<4> {
    if group == 1 {
        return x;
    }
    let [b, kv, s, d] = x.dims();
    let x: Tensor<5> = x.unsqueeze_dim(2); // [b, kv, 1, s, d]
    x.expand([b, kv, group, s, d])
        .reshape([b, kv * group, s, d])
}

/// Causal attention of `q: [b, heads, s_q, d]` over `k, v: [b, kv_heads, s_k, d]` with
/// `group = heads / kv_heads` query heads per K/V head, without copying K/V per head: the
/// query heads of a group are folded into one head of `group · s_q` rows, so each K/V head is
/// read once for its whole group. The causal mask is the same for every head of the group, so
/// it is stacked `group` times along the rows. Equal to attention over [`repeat_kv`]'s
/// expanded K/V (tested), which materialises `heads` copies and so reads more bytes than MHA
/// instead of fewer.
pub fn grouped_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
) -> Result<Tensor<4>, AttentionError> {
    let [b, h, s_q, d] = q.dims();
    let [_, kv_heads, s_k, _] = k.dims();
    if kv_heads == 0 || !h.is_multiple_of(kv_heads) {
        // Not a grouping: chapter 02's checks name the mismatch.
        return attention(q, k, v, true, None);
    }
    let group = h / kv_heads;
    if group == 1 {
        return attention(q, k, v, true, None);
    }
    let mask = causal_mask(s_q, s_k, &q.device()); // [1, 1, s_q, s_k]
    let mask = Tensor::cat(vec![mask; group], 2); // [1, 1, group·s_q, s_k]
    let q = q.reshape([b, kv_heads, group * s_q, d]); // heads h = j·group + i
    Ok(attention(q, k, v, false, Some(mask))?.reshape([b, h, s_q, d]))
}

/// HF names: `self_attn.{q,k,v,o}_proj`. RoPE in the split-halves layout of HF checkpoints.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    #[module(skip)]
    pub rope: Rope,
}

/// One step's queries and its new keys and values, RoPE already applied to q and k.
#[derive(Debug, Clone)]
pub struct Qkv {
    /// `[b, heads, s, head_dim]`
    pub q: Tensor<4>,
    /// `[b, kv_heads, s, head_dim]`
    pub k: Tensor<4>,
    /// `[b, kv_heads, s, head_dim]`
    pub v: Tensor<4>,
}

impl SelfAttention {
    /// Projects `x: [b, s, hidden]` at positions `start..start+s` and rotates q and k.
    pub fn project(&self, x: Tensor<3>, start: usize) -> Qkv {
        let s = x.dims()[1];
        self.project_at(x, &(start..start + s).collect::<Vec<_>>())
    }

    /// Projects `x: [b, s, hidden]` whose row `i` sits at `positions[i]` and rotates q and k.
    pub fn project_at(&self, x: Tensor<3>, positions: &[usize]) -> Qkv {
        let q = split_heads(linear(&self.q_proj, x.clone()), self.heads);
        let k = split_heads(linear(&self.k_proj, x.clone()), self.kv_heads);
        let v = split_heads(linear(&self.v_proj, x), self.kv_heads);
        let rotate = |t| {
            self.rope
                .apply_at(t, positions.iter().copied(), RopeStyle::SplitHalves)
        };
        Qkv {
            q: rotate(q),
            k: rotate(k),
            v,
        }
    }

    /// `[b, kv_heads, s, d]` → `[b, heads, s, d]`: [`repeat_kv`] with this layer's group.
    pub fn repeat_kv(&self, x: Tensor<4>) -> Tensor<4> {
        repeat_kv(x, self.heads / self.kv_heads)
    }

    /// Causal attention with this layer's K/V sharing: [`grouped_attention`].
    pub fn grouped_attention(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
    ) -> Result<Tensor<4>, AttentionError> {
        grouped_attention(q, k, v)
    }

    /// Causal attention of `q` (the last `s_q` positions) over all `s_k ≥ s_q` keys and values
    /// (`[b, kv_heads, s_k, d]`), then the output projection. Returns `[b, s_q, hidden]`.
    pub fn attend(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
    ) -> Result<Tensor<3>, AttentionError> {
        let context = self.grouped_attention(q, k, v)?; // [b, h, s_q, d]
        Ok(self.output(context))
    }

    /// The heads' results `[b, heads, s, d]` side by side and through `o_proj`: `[b, s, hidden]`.
    pub fn output(&self, context: Tensor<4>) -> Tensor<3> {
        linear(&self.o_proj, merge_heads(context))
    }

    /// Self-attention over `x: [b, s, hidden]` at positions `start..start+s`, no cache.
    pub fn forward(&self, x: Tensor<3>, start: usize) -> Result<Tensor<3>, AttentionError> {
        let Qkv { q, k, v } = self.project(x, start);
        self.attend(q, k, v)
    }
}
