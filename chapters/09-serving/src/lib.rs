//! Chapter 09 — serving many requests at once: continuous batching over chapter 04's paged
//! KV cache, on chapter 07's model.
//!
//! Decoding one token reads every weight once (chapter 07 measured it bandwidth-bound), so
//! serving `B` requests *together* — one matrix product per weight for all of their new rows —
//! costs little more than serving one, until the growing product turns compute-bound or the
//! requests' KV reads catch up with the weights. This chapter builds the engine that exploits
//! it and measures where the budget's roofline holds.
//!
//! Read in this order:
//! 1. [`workload`]: requests — arrival time, prompt, output length — from a trace file or a
//!    synthetic Poisson stream, checked before any work.
//! 2. [`engine`]: the scheduler (continuous or static batching, chunked prefill, pre-emption
//!    by recompute) and the batched step: every scheduled sequence's rows through the model
//!    at once, attention reading each sequence's blocks in place
//!    (`BlockPool::attend_batch`, chapter 04).
//! 3. [`metrics`]: throughput, time to first token, time per output token, pool utilisation.

pub mod engine;
pub mod metrics;
pub mod workload;

pub use engine::{
    Batching, Engine, EngineConfig, ServeError, Served, StepLog, check_trace, forward_batch,
};
pub use metrics::{RequestMetrics, Summary, decode_tokens_per_s, percentile};
pub use workload::{
    Request, TraceRequest, WorkloadError, from_trace, parse_trace, prompt_from, synthetic,
};
