//! What is cached, and two straightforward ways to hold it.
//!
//! At decode step `t` the model needs, in every layer, the keys and values of *all* positions
//! `0..=t` (the new query attends over them) but the query of position `t` only. Keys and values
//! of earlier positions never change — they depend only on their own token and position (K is
//! stored after RoPE) — so computing them once and keeping them turns each step from a pass over
//! the whole prefix into a pass over one token. Queries are not kept: an old query is never used
//! again, because no later token changes what an earlier position attends to (causal masking).
//!
//! The cache sits inside chapter 03's `LlamaModel::forward_with`: each layer hands it this
//! step's keys and values `[b, kv_heads, s, head_dim]`, and it hands back all keys and values so
//! far. Only `kv_heads` heads are stored; grouped-query attention repeats them afterwards.
//!
//! Size: `2 (K and V) × layers × kv_heads × head_dim × bytes per number × tokens`.

use crate::error::CacheError;
use burn::tensor::{Device, Tensor};

/// KV bytes of `tokens` positions by formula: `2 × layers × kv_heads × head_dim × bytes × tokens`.
/// Saturates at `u64::MAX` instead of overflowing: the serving budget feeds it sizes read from
/// a user's config file.
pub fn kv_bytes_formula(
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
    bytes_per_number: usize,
    tokens: usize,
) -> u64 {
    [layers, kv_heads, head_dim, bytes_per_number, tokens]
        .into_iter()
        .fold(2u64, |product, n| product.saturating_mul(n as u64))
}

/// Per-layer K and V buffers of `shape`, zeroed: the storage the pre-allocated, sliding-window
/// and paged caches all start from. (`Option` so a step can take a buffer out, write it in
/// place, and put it back.)
pub(crate) type LayerBuffers = Vec<Option<Tensor<4>>>;

pub(crate) fn zeroed_layers(
    layers: usize,
    shape: [usize; 4],
    device: &Device,
) -> (LayerBuffers, LayerBuffers) {
    let zeros = || {
        (0..layers)
            .map(|_| Some(Tensor::zeros(shape, device)))
            .collect()
    };
    (zeros(), zeros())
}

/// Bytes held by one tensor.
pub(crate) fn tensor_bytes<const D: usize>(t: &Tensor<D>) -> usize {
    t.dims().iter().product::<usize>() * t.dtype().size()
}

/// A per-layer store of keys and values for one decode (one sequence, or a batch decoded in
/// lockstep).
///
/// A forward step calls [`reserve`](KvCache::reserve) once (the only call that may fail, so a
/// step never fails half-way through the layers), then [`update`](KvCache::update) once per
/// layer, then [`commit`](KvCache::commit).
pub trait KvCache {
    fn name(&self) -> &'static str;
    /// Positions stored so far; the next step's tokens sit at positions `tokens()..`.
    fn tokens(&self) -> usize;
    /// Makes room for `new_tokens` more positions, or says why there is none.
    fn reserve(&mut self, new_tokens: usize) -> Result<(), CacheError>;
    /// Stores this step's `k`, `v` (`[b, kv_heads, s, d]`, post-RoPE) for `layer` and returns
    /// the keys and values of all positions `0..tokens()+s` to attend over.
    fn update(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>);
    /// Marks the step's `new_tokens` as stored in every layer.
    fn commit(&mut self, new_tokens: usize);
    /// Bytes of K and V storage this cache holds now (allocated, used or not).
    fn kv_bytes(&self) -> usize;
    /// Most tokens one step may add (the prompt is fed in chunks of this size).
    fn max_tokens_per_step(&self) -> usize {
        usize::MAX
    }
}

/// The simplest cache: append each step's K and V with `cat`.
///
/// `cat` allocates a new tensor and copies everything so far, so step `t` copies `t` positions:
/// `O(n²)` copying over a decode of `n` tokens, and the memory is exactly what is used.
#[derive(Debug, Default)]
pub struct ConcatCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    tokens: usize,
}

impl ConcatCache {
    pub fn new(layers: usize) -> Self {
        ConcatCache {
            layers: (0..layers).map(|_| None).collect(),
            tokens: 0,
        }
    }
}

impl KvCache for ConcatCache {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn tokens(&self) -> usize {
        self.tokens
    }
    fn reserve(&mut self, _new_tokens: usize) -> Result<(), CacheError> {
        Ok(())
    }
    fn update(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.layers[layer].take() {
            Some((k0, v0)) => (Tensor::cat(vec![k0, k], 2), Tensor::cat(vec![v0, v], 2)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }
    fn commit(&mut self, new_tokens: usize) {
        self.tokens += new_tokens;
    }
    fn kv_bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|(k, v)| tensor_bytes(k) + tensor_bytes(v))
            .sum()
    }
}

/// What a [`PreallocCache`] does when a step needs more positions than its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse the step with [`CacheError::CapacityExceeded`]; the cache is left unchanged.
    Error,
    /// Reallocate at twice the capacity (or the need, if larger) and copy what is stored:
    /// amortised `O(1)` copying per token, like `Vec`.
    Grow,
}

/// Fixed-capacity buffers `[b, kv_heads, capacity, head_dim]` per layer, allocated up front and
/// written in place (`slice_assign`) at a position counter.
///
/// No copying of the past on each step (unlike [`ConcatCache`]); the price is memory reserved
/// for the whole capacity from the first token, used or not.
#[derive(Debug)]
pub struct PreallocCache {
    k: Vec<Option<Tensor<4>>>,
    v: Vec<Option<Tensor<4>>>,
    capacity: usize,
    tokens: usize,
    overflow: Overflow,
    /// How many times the buffers were reallocated ([`Overflow::Grow`]).
    pub grows: usize,
}

impl PreallocCache {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layers: usize,
        batch: usize,
        kv_heads: usize,
        head_dim: usize,
        capacity: usize,
        overflow: Overflow,
        device: &Device,
    ) -> Result<Self, CacheError> {
        if capacity == 0 {
            return Err(CacheError::Zero { field: "capacity" });
        }
        let (k, v) = zeroed_layers(layers, [batch, kv_heads, capacity, head_dim], device);
        Ok(PreallocCache {
            k,
            v,
            capacity,
            tokens: 0,
            overflow,
            grows: 0,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Writes `new` at positions `at..at+s` of `buf` in place (the buffer is moved in, so no
    /// other handle forces a copy) and returns the buffer and its first `at+s` positions.
    fn write(buf: Tensor<4>, new: Tensor<4>, at: usize) -> (Tensor<4>, Tensor<4>) {
        let [b, h, s, d] = new.dims();
        let buf = buf.slice_assign([0..b, 0..h, at..at + s, 0..d], new);
        let used = buf.clone().narrow(2, 0, at + s);
        (buf, used)
    }
}

impl KvCache for PreallocCache {
    fn name(&self) -> &'static str {
        "prealloc"
    }
    fn tokens(&self) -> usize {
        self.tokens
    }
    fn reserve(&mut self, new_tokens: usize) -> Result<(), CacheError> {
        let needed = self.tokens + new_tokens;
        if needed <= self.capacity {
            return Ok(());
        }
        if self.overflow == Overflow::Error {
            return Err(CacheError::CapacityExceeded {
                capacity: self.capacity,
                requested: needed,
            });
        }
        let capacity = needed.max(2 * self.capacity);
        for buf in self.k.iter_mut().chain(self.v.iter_mut()) {
            let old = buf.take().expect("buffers are present between steps");
            let [b, h, _, d] = old.dims();
            let grown = Tensor::zeros([b, h, capacity, d], &old.device());
            *buf = Some(grown.slice_assign([0..b, 0..h, 0..self.capacity, 0..d], old));
        }
        self.capacity = capacity;
        self.grows += 1;
        Ok(())
    }
    fn update(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (kb, k_all) = Self::write(self.k[layer].take().expect("present"), k, self.tokens);
        let (vb, v_all) = Self::write(self.v[layer].take().expect("present"), v, self.tokens);
        self.k[layer] = Some(kb);
        self.v[layer] = Some(vb);
        (k_all, v_all)
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
