//! Paged KV cache in the style of vLLM's PagedAttention.
//!
//! A [`BlockPool`] owns, per layer, one K and one V tensor of `num_blocks` fixed-size blocks
//! (default 16 tokens a block), laid out `[1, kv_heads, num_blocks · block_size, head_dim]`:
//! block `b` is the rows `b·block_size ..` of every head. A sequence
//! owns no storage of its own, only a *block table*: the pool block holding its positions
//! `0..16`, then `16..32`, … Blocks are taken from the pool's free list as the sequence grows
//! (one at a time, when the last one is full) and returned when it finishes (on drop).
//!
//! Why: a cache per sequence must be sized for the longest the sequence *might* get, so a pool
//! of fixed per-sequence buffers holds mostly unused slots. With paging a sequence holds only
//! `ceil(tokens / block_size)` blocks; the waste is at most `block_size − 1` slots, in its
//! last block (internal fragmentation), and any free block can serve any sequence (no external
//! fragmentation). [`crate::serving`] measures what that buys.
//!
//! Attention needs a sequence's keys as one `[1, kv_heads, tokens, head_dim]` tensor. Blocks
//! with consecutive ids are consecutive rows of every head, so a *run* of them is a view of the
//! pool (`narrow`, no copy), strided between heads exactly like the pre-allocated cache's
//! buffer. A sequence whose table is one run — a lone sequence on its pool, or any sequence
//! whose blocks happened to be free in order — is read in place; a table of several runs is
//! read with one concatenation of the runs (a copy of its KV, as `cat` makes).
//!
//! [`BlockPool::attend_batch`] is the serving path (chapter 09): one step of many sequences,
//! each with its own block table, that never copies a sequence's K/V. Each run of blocks is
//! read in place; what is joined across runs is the *scores* (one number per key and query
//! row, `head_dim` times fewer than the keys), then the softmax, then each run's share of the
//! values is summed — the same sum as over gathered keys, in another order. vLLM's fused
//! PagedAttention kernel reads scattered blocks in place the same way.

use crate::cache::{KvCache, tensor_bytes};
use crate::error::CacheError;
use burn::tensor::{Device, Tensor};
use ch02_attention::causal_mask;
use ch02_attention::steps::{masked_softmax, scores};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;

/// Default tokens per block (vLLM's default).
pub const DEFAULT_BLOCK_SIZE: usize = 16;

/// The pool shared by the sequences of one batch.
pub type SharedPool = Rc<RefCell<BlockPool>>;

/// Fixed-size blocks of K and V for every layer, and the list of free ones.
#[derive(Debug)]
pub struct BlockPool {
    k: Vec<Option<Tensor<4>>>,
    v: Vec<Option<Tensor<4>>>,
    free: Vec<usize>,
    block_size: usize,
    num_blocks: usize,
    tokens_stored: usize,
    sequences: usize,
}

/// What the pool holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolStats {
    pub block_size: usize,
    pub blocks_total: usize,
    pub blocks_used: usize,
    /// Sequences holding blocks.
    pub sequences: usize,
    pub tokens_stored: usize,
    /// Allocated but unused token slots: the unfilled tail of each sequence's last block.
    pub internal_fragmentation_slots: usize,
}

impl BlockPool {
    pub fn new(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        num_blocks: usize,
        block_size: usize,
        device: &Device,
    ) -> Result<Self, CacheError> {
        if num_blocks == 0 {
            return Err(CacheError::Zero {
                field: "num_blocks",
            });
        }
        if block_size == 0 {
            return Err(CacheError::Zero {
                field: "block_size",
            });
        }
        let (k, v) = crate::cache::zeroed_layers(
            layers,
            [1, kv_heads, num_blocks * block_size, head_dim],
            device,
        );
        Ok(BlockPool {
            k,
            v,
            // Pop from the end: block 0 is handed out first.
            free: (0..num_blocks).rev().collect(),
            block_size,
            num_blocks,
            tokens_stored: 0,
            sequences: 0,
        })
    }

    /// The pool behind an `Rc<RefCell<…>>`, to hand to several [`PagedCache`]s.
    pub fn shared(self) -> SharedPool {
        Rc::new(RefCell::new(self))
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }
    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }
    pub fn free_blocks(&self) -> usize {
        self.free.len()
    }
    /// Ids of the free blocks (the next one handed out is the last). With every live
    /// sequence's [`PagedCache::block_table`] they account for each block exactly once.
    pub fn free_block_ids(&self) -> &[usize] {
        &self.free
    }
    /// Blocks a sequence of `tokens` positions occupies.
    pub fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size)
    }

    pub fn stats(&self) -> PoolStats {
        let used = self.num_blocks - self.free.len();
        PoolStats {
            block_size: self.block_size,
            blocks_total: self.num_blocks,
            blocks_used: used,
            sequences: self.sequences,
            tokens_stored: self.tokens_stored,
            internal_fragmentation_slots: used * self.block_size - self.tokens_stored,
        }
    }

    /// Bytes of the whole pool's K and V storage.
    pub fn kv_bytes(&self) -> usize {
        self.k
            .iter()
            .chain(self.v.iter())
            .flatten()
            .map(tensor_bytes)
            .sum()
    }

    fn block_bytes(&self) -> usize {
        self.kv_bytes() / self.num_blocks
    }

    /// Checks that one sequence of `tokens` positions could fit in the pool at all.
    pub fn check_fits(&self, tokens: usize) -> Result<(), CacheError> {
        let needed = self.blocks_for(tokens);
        if needed > self.num_blocks {
            return Err(CacheError::PoolTooSmall {
                tokens,
                needed,
                block_size: self.block_size,
                pool_blocks: self.num_blocks,
            });
        }
        Ok(())
    }

    /// One layer of a batched step: `q: [1, heads, T, d]`, `k, v: [1, kv_heads, T, d]` hold
    /// the step's rows of every sequence in `seqs`, end to end, in that order. Writes each
    /// sequence's new keys and values into its blocks, then attends each sequence's queries
    /// (causally: they are its last `new` positions) over all its positions, reading its blocks
    /// where they lie. Returns the attention output `[1, heads, T, d]`, rows as in `q`.
    ///
    /// Every table must already hold blocks for `cached + new` positions
    /// ([`KvCache::reserve`] on each sequence's [`PagedCache`]).
    pub fn attend_batch(
        &mut self,
        layer: usize,
        seqs: &[PagedSeq],
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
    ) -> Tensor<4> {
        let bs = self.block_size;
        let (mut ks, mut vs) = (
            self.k[layer].take().expect("present"),
            self.v[layer].take().expect("present"),
        );
        let mut row = 0;
        for s in seqs {
            ks = scatter(ks, k.clone().narrow(2, row, s.new), s.table, s.cached, bs);
            vs = scatter(vs, v.clone().narrow(2, row, s.new), s.table, s.cached, bs);
            row += s.new;
        }
        let mut row = 0;
        let outputs: Vec<Tensor<4>> = seqs
            .iter()
            .map(|s| {
                let q_s = q.clone().narrow(2, row, s.new);
                row += s.new;
                let spans = spans(s.table, bs, s.cached + s.new);
                attend_spans(q_s, &ks, &vs, &spans)
            })
            .collect();
        self.k[layer] = Some(ks);
        self.v[layer] = Some(vs);
        Tensor::cat(outputs, 2) // [1, heads, T, d]
    }
}

/// One sequence's rows in a batched step over a [`BlockPool`] ([`BlockPool::attend_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct PagedSeq<'a> {
    /// Its block table ([`PagedCache::block_table`]), with blocks for `cached + new` positions.
    pub table: &'a [usize],
    /// Positions already stored: this step's rows sit at positions `cached..cached + new`.
    pub cached: usize,
    /// How many of the step's rows are this sequence's.
    pub new: usize,
}

/// The pool rows holding positions `0..tokens` of a sequence with block `table`: one
/// `(first row, rows)` span per run of consecutive blocks, the last cut at `tokens`.
fn spans(table: &[usize], bs: usize, tokens: usize) -> Vec<(usize, usize)> {
    let mut left = tokens;
    let mut out = Vec::new();
    for (first, blocks) in runs(table) {
        let len = (blocks * bs).min(left);
        if len == 0 {
            break;
        }
        out.push((first * bs, len));
        left -= len;
    }
    out
}

/// Causal attention of one sequence's `q: [1, heads, n, d]` (its last `n` positions) over the
/// keys and values in `spans` of the pool's rows, each span read in place (a `narrow` view).
///
/// ```text
/// scores_r = q · K_rᵀ / √d       per span r            [1, kv, group·n, len_r]
/// p        = softmax(scores_1 ‖ scores_2 ‖ …)          only the scores are joined
/// out      = Σ_r p[:, :, :, span r] · V_r              [1, kv, group·n, d] → [1, heads, n, d]
/// ```
/// Query heads sharing a KV head are folded into its rows, as chapter 03's `grouped_attention`
/// does, so each KV head is read once for its group.
fn attend_spans(
    q: Tensor<4>,
    k_store: &Tensor<4>,
    v_store: &Tensor<4>,
    spans: &[(usize, usize)],
) -> Tensor<4> {
    let [_, heads, n, d] = q.dims();
    let kv_heads = k_store.dims()[1];
    let group = heads / kv_heads;
    let tokens: usize = spans.iter().map(|&(_, len)| len).sum();
    let q = q.reshape([1, kv_heads, group * n, d]); // head h = j·group + i → rows i·n.. of head j
    let per_span: Vec<Tensor<4>> = spans
        .iter()
        .map(|&(row, len)| scores(q.clone(), k_store.clone().narrow(2, row, len)))
        .collect();
    let joined = if per_span.len() == 1 {
        per_span.into_iter().next().expect("one span")
    } else {
        Tensor::cat(per_span, 3)
    }; // [1, kv, group·n, tokens]
    let scaled = joined / (d as f64).sqrt();
    let masked = if n > 1 {
        let mask = causal_mask(n, tokens, &q.device()); // [1, 1, n, tokens]
        scaled.mask_fill(Tensor::cat(vec![mask; group], 2), f32::NEG_INFINITY)
    } else {
        scaled // one query, the newest position: it sees every key
    };
    let p = masked_softmax(masked);
    let mut at = 0;
    let mut out: Option<Tensor<4>> = None;
    for &(row, len) in spans {
        let part = p
            .clone()
            .narrow(3, at, len)
            .matmul(v_store.clone().narrow(2, row, len));
        out = Some(match out {
            Some(sum) => sum + part,
            None => part,
        });
        at += len;
    }
    out.expect("at least one position")
        .reshape([1, heads, n, d])
}

/// One sequence's view of a [`BlockPool`]: its block table and its length. Batch size 1 (a
/// batch is several `PagedCache`s on one pool). Dropping it returns its blocks to the pool.
#[derive(Debug)]
pub struct PagedCache {
    pool: SharedPool,
    table: Vec<usize>,
    tokens: usize,
}

impl PagedCache {
    pub fn new(pool: SharedPool) -> Self {
        pool.borrow_mut().sequences += 1;
        PagedCache {
            pool,
            table: Vec::new(),
            tokens: 0,
        }
    }

    /// Pool block ids holding positions `0..16`, `16..32`, … of this sequence.
    pub fn block_table(&self) -> &[usize] {
        &self.table
    }

    /// The keys and values this sequence has stored in `layer`, read back from the pool through
    /// its block table: `([1, kv_heads, tokens, head_dim], [1, kv_heads, tokens, head_dim])`.
    /// This is what its next attention step would see (before the new token).
    pub fn read(&self, layer: usize) -> (Tensor<4>, Tensor<4>) {
        let pool = self.pool.borrow();
        let (k, v) = (
            pool.k[layer].as_ref().expect("present"),
            pool.v[layer].as_ref().expect("present"),
        );
        let (runs, bs) = (runs(&self.table), pool.block_size);
        (
            Self::gather(k, &runs, bs, self.tokens),
            Self::gather(v, &runs, bs, self.tokens),
        )
    }

    /// Unused slots in this sequence's last block.
    pub fn internal_fragmentation_slots(&self) -> usize {
        self.table.len() * self.pool.borrow().block_size - self.tokens
    }

    /// The first `tokens` positions of the sequence: `[1, kv, tokens, d]`. One run of blocks is
    /// a view of the pool; several are concatenated (one copy).
    /// `runs` are the table's runs of consecutive blocks ([`runs`]).
    fn gather(store: &Tensor<4>, runs: &[(usize, usize)], bs: usize, tokens: usize) -> Tensor<4> {
        let views: Vec<Tensor<4>> = runs
            .iter()
            .map(|&(first, blocks)| store.clone().narrow(2, first * bs, blocks * bs))
            .collect();
        let all = if views.len() == 1 {
            views.into_iter().next().expect("one run")
        } else {
            Tensor::cat(views, 2)
        };
        all.narrow(2, 0, tokens)
    }
}

/// Writes `new` (`[1, kv, s, d]`) at positions `at..at+s` of the blocks in `table`, in
/// place (`slice_assign` on a buffer nothing else holds).
fn scatter(store: Tensor<4>, new: Tensor<4>, table: &[usize], at: usize, bs: usize) -> Tensor<4> {
    let [_, h, s, d] = new.dims();
    let mut store = store;
    let mut i = 0;
    while i < s {
        let pos = at + i;
        let (block, offset) = (table[pos / bs], pos % bs);
        let len = (bs - offset).min(s - i);
        let row = block * bs + offset;
        store = store.slice_assign(
            [0..1, 0..h, row..row + len, 0..d],
            new.clone().narrow(2, i, len),
        );
        i += len;
    }
    store
}

/// Maximal runs of consecutive ids in `table`, as `(first id, length)`.
fn runs(table: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &block in table {
        match out.last_mut() {
            Some((first, len)) if *first + *len == block => *len += 1,
            _ => out.push((block, 1)),
        }
    }
    out
}

impl KvCache for PagedCache {
    fn name(&self) -> &'static str {
        "paged"
    }
    fn tokens(&self) -> usize {
        self.tokens
    }
    /// Takes the blocks the step needs from the free list, all or none: on
    /// [`CacheError::PoolExhausted`] nothing has changed.
    fn reserve(&mut self, new_tokens: usize) -> Result<(), CacheError> {
        let mut pool = self.pool.borrow_mut();
        let needed = pool
            .blocks_for(self.tokens + new_tokens)
            .saturating_sub(self.table.len());
        if needed > pool.free.len() {
            return Err(CacheError::PoolExhausted {
                needed,
                free: pool.free.len(),
            });
        }
        for _ in 0..needed {
            let block = pool.free.pop().expect("checked above");
            self.table.push(block);
        }
        Ok(())
    }
    fn update(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        assert_eq!(k.dims()[0], 1, "a paged cache holds one sequence");
        let mut pool = self.pool.borrow_mut();
        let bs = pool.block_size;
        let total = self.tokens + k.dims()[2];
        let ks = scatter(
            pool.k[layer].take().expect("present"),
            k,
            &self.table,
            self.tokens,
            bs,
        );
        let vs = scatter(
            pool.v[layer].take().expect("present"),
            v,
            &self.table,
            self.tokens,
            bs,
        );
        let runs = runs(&self.table);
        let out = (
            Self::gather(&ks, &runs, bs, total),
            Self::gather(&vs, &runs, bs, total),
        );
        pool.k[layer] = Some(ks);
        pool.v[layer] = Some(vs);
        out
    }
    fn commit(&mut self, new_tokens: usize) {
        self.tokens += new_tokens;
        self.pool.borrow_mut().tokens_stored += new_tokens;
    }
    /// Bytes of the blocks this sequence holds.
    fn kv_bytes(&self) -> usize {
        self.table.len() * self.pool.borrow().block_bytes()
    }
}

impl Drop for PagedCache {
    /// The sequence is finished (or pre-empted): its blocks go back to the free list.
    fn drop(&mut self) {
        let mut pool = self.pool.borrow_mut();
        pool.free.append(&mut self.table);
        pool.tokens_stored -= self.tokens;
        pool.sequences -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_of_consecutive_blocks() {
        assert_eq!(runs(&[3, 4, 5, 9, 10, 2]), vec![(3, 3), (9, 2), (2, 1)]);
        assert_eq!(runs(&[0, 1, 2, 3]), vec![(0, 4)]);
        assert_eq!(runs(&[]), vec![]);
    }
}
