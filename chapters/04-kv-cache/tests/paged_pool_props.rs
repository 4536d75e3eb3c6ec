//! Property test of the paged block pool: random arrivals, growth, finishes, pre-emptions and
//! re-admissions never give one block to two live sequences, never lose or corrupt a live
//! sequence's tokens, and leave every block free at the end.
//!
//! The test keeps a plain mirror: each live sequence's token ids in a `Vec`. Every token's K and
//! V values encode its id, layer, head and dimension, so reading a sequence back through its
//! block table ([`PagedCache::read`]) and comparing with the values its mirror implies catches
//! a block that another sequence overwrote, as well as a lost or reordered block.

use burn::tensor::{Device, Tensor, TensorData};
use ch04_kv_cache::{BlockPool, CacheError, KvCache, PagedCache, SharedPool};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::VecDeque;

const LAYERS: usize = 2;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    /// A new sequence with this many prompt tokens (refused if the pool has no room).
    Arrive { prompt: usize },
    /// A live sequence appends tokens (a decode step, or a chunk of prefill).
    Grow { which: Index, tokens: usize },
    /// A live sequence finishes: its blocks go back.
    Finish { which: Index },
    /// The newest live sequence is evicted (recompute pre-emption): its blocks go back and it
    /// waits to be re-admitted.
    Preempt,
    /// The longest-waiting pre-empted sequence is re-admitted by recomputing all its tokens.
    Resume,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..=12usize).prop_map(|prompt| Op::Arrive { prompt }),
        5 => (any::<Index>(), 1..=6usize).prop_map(|(which, tokens)| Op::Grow { which, tokens }),
        2 => any::<Index>().prop_map(|which| Op::Finish { which }),
        1 => Just(Op::Preempt),
        1 => Just(Op::Resume),
    ]
}

/// The value stored for token `id` at `layer`, `head`, `dim`: K positive, V negative, all
/// distinct and exact in f32.
fn value(id: u32, layer: usize, head: usize, dim: usize, is_v: bool) -> f32 {
    let code = (id as usize * LAYERS + layer) * KV_HEADS * HEAD_DIM + head * HEAD_DIM + dim;
    if is_v {
        -(code as f32) - 1.0
    } else {
        code as f32
    }
}

/// `[1, kv_heads, ids.len(), head_dim]` values of these tokens, flattened.
fn values(ids: &[u32], layer: usize, is_v: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(KV_HEADS * ids.len() * HEAD_DIM);
    for h in 0..KV_HEADS {
        for &id in ids {
            for d in 0..HEAD_DIM {
                out.push(value(id, layer, h, d, is_v));
            }
        }
    }
    out
}

fn tensor(ids: &[u32], layer: usize, is_v: bool, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(values(ids, layer, is_v), [1, KV_HEADS, ids.len(), HEAD_DIM]),
        device,
    )
}

fn flat(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("an f32 tensor")
}

struct Live {
    cache: PagedCache,
    /// The mirror: the ids of the tokens this sequence holds, in order.
    tokens: Vec<u32>,
}

/// One step of the cache protocol (reserve, update every layer, commit) writing `new` after
/// `held`. On `PoolExhausted` nothing must have changed.
fn write(
    pool: &SharedPool,
    cache: &mut PagedCache,
    held: &[u32],
    new: &[u32],
    device: &Device,
) -> Result<bool, TestCaseError> {
    let (tokens, table, free) = (
        cache.tokens(),
        cache.block_table().to_vec(),
        pool.borrow().free_blocks(),
    );
    match cache.reserve(new.len()) {
        Err(CacheError::PoolExhausted { .. }) => {
            prop_assert_eq!(cache.tokens(), tokens);
            prop_assert_eq!(cache.block_table(), &table[..]);
            prop_assert_eq!(
                pool.borrow().free_blocks(),
                free,
                "a refused reserve took blocks"
            );
            return Ok(false);
        }
        Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
        Ok(()) => {}
    }
    let all: Vec<u32> = held.iter().chain(new).copied().collect();
    for layer in 0..LAYERS {
        let (k, v) = cache.update(
            layer,
            tensor(new, layer, false, device),
            tensor(new, layer, true, device),
        );
        // What attention gets this step: every token so far.
        prop_assert_eq!(flat(k), values(&all, layer, false));
        prop_assert_eq!(flat(v), values(&all, layer, true));
    }
    cache.commit(new.len());
    Ok(true)
}

/// The pool's bookkeeping and every live sequence's data agree with the mirror.
fn check(pool: &SharedPool, live: &[Live]) -> Result<(), TestCaseError> {
    let p = pool.borrow();
    // Each block is either free or in exactly one live sequence's table.
    let mut owners: Vec<usize> = p.free_block_ids().to_vec();
    for s in live {
        owners.extend_from_slice(s.cache.block_table());
    }
    owners.sort_unstable();
    prop_assert_eq!(
        owners,
        (0..p.num_blocks()).collect::<Vec<_>>(),
        "a block is shared, lost or out of range"
    );
    let stats = p.stats();
    prop_assert_eq!(stats.sequences, live.len());
    prop_assert_eq!(
        stats.tokens_stored,
        live.iter().map(|s| s.tokens.len()).sum::<usize>()
    );
    for s in live {
        prop_assert_eq!(s.cache.tokens(), s.tokens.len());
        prop_assert_eq!(s.cache.block_table().len(), p.blocks_for(s.tokens.len()));
    }
    drop(p);
    for (i, s) in live.iter().enumerate() {
        for layer in 0..LAYERS {
            let (k, v) = s.cache.read(layer);
            prop_assert_eq!(
                flat(k),
                values(&s.tokens, layer, false),
                "sequence {} layer {} K",
                i,
                layer
            );
            prop_assert_eq!(
                flat(v),
                values(&s.tokens, layer, true),
                "sequence {} layer {} V",
                i,
                layer
            );
        }
    }
    Ok(())
}

fn run(num_blocks: usize, block_size: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let device = Device::flex();
    let pool = BlockPool::new(LAYERS, KV_HEADS, HEAD_DIM, num_blocks, block_size, &device)
        .expect("valid pool")
        .shared();
    let mut live: Vec<Live> = Vec::new();
    let mut waiting: VecDeque<Vec<u32>> = VecDeque::new();
    let mut next_id = 0u32;
    let mut fresh = |n: usize| {
        let ids: Vec<u32> = (next_id..next_id + n as u32).collect();
        next_id += n as u32;
        ids
    };
    for op in ops {
        match op {
            Op::Arrive { prompt } => {
                let ids = fresh(*prompt);
                let mut cache = PagedCache::new(pool.clone());
                if write(&pool, &mut cache, &[], &ids, &device)? {
                    live.push(Live { cache, tokens: ids });
                } // else refused: dropping the empty cache frees nothing
            }
            Op::Grow { which, tokens } if !live.is_empty() => {
                let ids = fresh(*tokens);
                let i = which.index(live.len());
                let s = &mut live[i];
                if write(&pool, &mut s.cache, &s.tokens, &ids, &device)? {
                    s.tokens.extend(ids);
                }
            }
            Op::Finish { which } if !live.is_empty() => {
                live.remove(which.index(live.len())); // drop: blocks back to the pool
            }
            Op::Preempt => {
                if let Some(victim) = live.pop() {
                    waiting.push_back(victim.tokens); // its cache is dropped here
                }
            }
            Op::Resume => {
                if let Some(tokens) = waiting.pop_front() {
                    let mut cache = PagedCache::new(pool.clone());
                    if write(&pool, &mut cache, &[], &tokens, &device)? {
                        live.push(Live { cache, tokens });
                    } else {
                        waiting.push_front(tokens);
                    }
                }
            }
            _ => {}
        }
        check(&pool, &live)?;
    }
    drop(live);
    let p = pool.borrow();
    prop_assert_eq!(
        p.free_blocks(),
        num_blocks,
        "blocks not returned at the end"
    );
    let mut free = p.free_block_ids().to_vec();
    free.sort_unstable();
    prop_assert_eq!(free, (0..num_blocks).collect::<Vec<_>>());
    let stats = p.stats();
    prop_assert_eq!((stats.sequences, stats.tokens_stored), (0, 0));
    Ok(())
}

proptest! {
    // Each case runs up to 60 operations and reads every live sequence back after each; the
    // 256 cases take well under a second in a dev (test) build.
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn pool_never_shares_loses_or_corrupts_blocks(
        num_blocks in 1..=24usize,
        block_size in 1..=4usize,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run(num_blocks, block_size, &ops)?;
    }
}
