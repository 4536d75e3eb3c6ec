//! A sliding-window cache: keep only the last `W` positions (Mistral-style local attention).
//!
//! With a window, position `i` attends to positions `i−W+1 ..= i` only, so older keys and values
//! are never read again and the cache can be a rotating buffer of `W` slots: position `p` goes
//! to slot `p mod W`, overwriting position `p − W`. Memory stays at `W` positions however long
//! the sequence gets.
//!
//! The buffer is handed to attention in slot order, not time order. With one query per step
//! that is fine: softmax over a set of scores does not depend on their order, and RoPE has
//! already written each key's position into the key itself. So steps are one token each (the
//! prompt too); [`forward_sliding_window`] is the no-cache reference with an explicit mask.

use crate::cache::{KvCache, tensor_bytes};
use crate::decode::{Generation, check_request};
use crate::error::CacheError;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use ch02_attention::attention;
use ch03_transformer_block::train::greedy_recomputing;
use ch03_transformer_block::{LlamaModel, Qkv};

#[derive(Debug)]
pub struct SlidingWindowCache {
    k: Vec<Option<Tensor<4>>>,
    v: Vec<Option<Tensor<4>>>,
    window: usize,
    tokens: usize,
}

impl SlidingWindowCache {
    pub fn new(
        layers: usize,
        batch: usize,
        kv_heads: usize,
        head_dim: usize,
        window: usize,
        device: &Device,
    ) -> Result<Self, CacheError> {
        if window == 0 {
            return Err(CacheError::Zero { field: "window" });
        }
        let (k, v) =
            crate::cache::zeroed_layers(layers, [batch, kv_heads, window, head_dim], device);
        Ok(SlidingWindowCache {
            k,
            v,
            window,
            tokens: 0,
        })
    }
}

impl KvCache for SlidingWindowCache {
    fn name(&self) -> &'static str {
        "sliding-window"
    }
    fn tokens(&self) -> usize {
        self.tokens
    }
    /// Steps must be one token each (see the module docs).
    fn reserve(&mut self, new_tokens: usize) -> Result<(), CacheError> {
        if new_tokens != 1 {
            return Err(CacheError::OneTokenSteps { got: new_tokens });
        }
        Ok(())
    }
    fn update(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let slot = self.tokens % self.window;
        let filled = (self.tokens + 1).min(self.window);
        let write = |buf: &mut Option<Tensor<4>>, new: Tensor<4>| {
            let [b, h, _, d] = new.dims();
            let t = buf
                .take()
                .expect("present")
                .slice_assign([0..b, 0..h, slot..slot + 1, 0..d], new);
            *buf = Some(t.clone());
            t.narrow(2, 0, filled)
        };
        let k_all = write(&mut self.k[layer], k);
        let v_all = write(&mut self.v[layer], v);
        (k_all, v_all)
    }
    fn max_tokens_per_step(&self) -> usize {
        1
    }
    fn commit(&mut self, new_tokens: usize) {
        self.tokens += new_tokens;
    }
    fn kv_bytes(&self) -> usize {
        self.k
            .iter()
            .chain(self.v.iter())
            .flatten()
            .map(tensor_bytes)
            .sum()
    }
}

/// `true` = masked: query `i` sees keys `j` with `i − W < j ≤ i`. `[1, 1, s, s]`.
pub fn sliding_window_mask(seq: usize, window: usize, device: &Device) -> Tensor<4, Bool> {
    let data: Vec<bool> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| j > i || i - j >= window))
        .collect();
    Tensor::from_data(TensorData::new(data, [1, 1, seq, seq]), device)
}

/// Chapter 03's model without a cache, every layer's attention restricted to a window of `W`
/// positions by an explicit mask: the model's own pass (`forward_with_attention`), with chapter
/// 02's masked `attention` in place of the causal one.
pub fn forward_sliding_window(
    model: &LlamaModel,
    ids: Tensor<2, Int>,
    window: usize,
) -> Result<Tensor<3>, CacheError> {
    let [_, s] = ids.dims();
    let mask = sliding_window_mask(s, window, &ids.device()); // [1, 1, s, s]
    let logits = model.forward_with_attention(ids, 0, |_, attn, Qkv { q, k, v }| {
        let (k, v) = (attn.repeat_kv(k), attn.repeat_kv(v));
        Ok(attn.output(attention(q, k, v, false, Some(mask.clone()))?))
    })?;
    Ok(logits)
}

/// Greedy generation with the masked reference, recomputing the whole sequence each step.
pub fn generate_sliding_reference(
    model: &LlamaModel,
    prompt: &[u32],
    max_new_tokens: usize,
    window: usize,
) -> Result<Generation, CacheError> {
    check_request(model, prompt.len(), max_new_tokens)?;
    let steps = greedy_recomputing(model, prompt, max_new_tokens, |ids| {
        forward_sliding_window(model, ids, window)
    })?;
    Ok(Generation::from_steps(steps))
}
