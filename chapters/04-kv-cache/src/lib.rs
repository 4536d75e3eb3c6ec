//! Chapter 04 — the KV cache: decoding without recomputing the prefix.
//!
//! Read in this order:
//! 1. [`cache`]: the [`KvCache`] trait, the concatenating and the pre-allocated cache, and the
//!    KV size formula.
//! 2. [`paged`]: vLLM-style paging — a shared pool of fixed-size blocks and a block table per
//!    sequence, and attention for a batch of sequences that reads their blocks in place.
//! 3. [`window`]: a sliding-window cache (a rotating buffer of the last `W` positions) and the
//!    masked no-cache reference it is checked against.
//! 4. [`decode`]: greedy generation without a cache (the baseline) and with any cache, and a
//!    batch on one paged pool that pre-empts a sequence when the pool runs out.
//! 5. [`serving`]: a serving simulation — how many sequences fit in a fixed KV pool when paged
//!    versus when each reserves its maximum length.

pub mod cache;
pub mod decode;
pub mod error;
pub mod paged;
pub mod serving;
pub mod window;

pub use cache::{ConcatCache, KvCache, Overflow, PreallocCache, kv_bytes_formula};
pub use decode::{
    BatchOutcome, Generation, SeqOutcome, generate_cached, generate_no_cache, generate_paged_batch,
};
pub use error::CacheError;
pub use paged::{BlockPool, PagedCache, PagedSeq, PoolStats, SharedPool};
pub use serving::{Preemption, ServingConfig, ServingError, ServingResult, simulate, try_simulate};
pub use window::{SlidingWindowCache, forward_sliding_window, generate_sliding_reference};
