//! The engine: a scheduler that decides, every step, which sequences run and how many of their
//! tokens, and a batched step that runs them all through the model at once.
//!
//! **Continuous batching** (Orca, [Yu et al., 2022](https://www.usenix.org/conference/osdi22/presentation/yu)):
//! the batch is re-formed at every step. A request that finishes leaves at once and frees its
//! blocks; a waiting request joins at the next step. **Static batching** forms a batch, runs it
//! until its *last* request finishes, and only then forms the next: requests that finish early
//! leave idle slots, and newcomers wait for the whole batch. Both run here on the same step
//! code, so the difference measured is the policy's alone.
//!
//! One step, in the order vLLM's scheduler uses (running first, then waiting):
//!
//! ```text
//! budget = max_step_tokens
//! for each running sequence, oldest first:        a decode takes 1 row, a prefill the rest of
//!     take = min(rows it still needs, budget)      its prompt up to the budget (chunked prefill)
//!     reserve blocks for them; if the pool is out: pre-empt the newest running sequence
//! continuous: admit waiting requests (arrival order) while slots, budget and blocks last
//! run all taken rows as one batch; each sequence whose rows reached its end picks a token
//! ```
//!
//! **Chunked prefill** (Sarathi-Serve, [Agrawal et al., 2024](https://arxiv.org/abs/2403.02310))
//! caps a step's rows, so a long prompt is fed over several steps alongside the running
//! decodes instead of stalling them for one long step.
//!
//! **Pre-emption by recompute** (vLLM's default): when a sequence needs a block and none is
//! free, the most recently admitted running sequence is evicted — it has the least work to
//! lose — its blocks return to the pool, and it goes back to the *front* of the queue keeping
//! the tokens it generated. When re-admitted it prefills prompt + generated tokens again
//! (recomputing its KV) and continues. Greedy decoding makes that invisible in its tokens.
//!
//! Time is the sum of the measured step times; when nothing runs, the clock jumps to the next
//! arrival (the same latencies as waiting in real time, without the wait).

use crate::metrics::RequestMetrics;
use crate::workload::{Request, TraceRequest};
use burn::tensor::{Int, Tensor, TensorData};
use ch03_transformer_block::train::{argmax, ids_tensor};
use ch03_transformer_block::{CausalLm, LlamaModel, ModelError, Qkv};
use ch04_kv_cache::{BlockPool, CacheError, KvCache, PagedCache, PagedSeq, SharedPool};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Instant;

/// How batches are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Batching {
    /// Sequences join and leave at every step.
    Continuous,
    /// A batch runs until all its sequences finish; then the next is formed.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EngineConfig {
    /// Most sequences in one step (vLLM's `max_num_seqs`).
    pub max_batch: usize,
    /// Most rows in one step (vLLM's `max_num_batched_tokens`): each decode takes one, and
    /// prompts are fed in chunks that fill the rest.
    pub max_step_tokens: usize,
    /// Blocks in the KV pool.
    pub pool_blocks: usize,
    /// Tokens per block.
    pub block_size: usize,
    pub batching: Batching,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{field} is 0: it must be at least 1")]
    Zero { field: &'static str },
    #[error(
        "request {id}: prompt_tokens ({prompt}) + output_tokens ({output}) = {total} exceeds the model context of {context} tokens"
    )]
    TooLong {
        id: usize,
        prompt: usize,
        output: usize,
        total: usize,
        context: usize,
    },
    #[error("request {id}: {field} is 0: it must be at least 1")]
    EmptyRequest { id: usize, field: &'static str },
    #[error(
        "the KV pool is too small: request {id} ({tokens} tokens) needs {needed} blocks of {block_size} tokens and the pool has {pool_blocks}; the minimum is {needed} blocks"
    )]
    PoolTooSmall {
        id: usize,
        tokens: usize,
        needed: usize,
        block_size: usize,
        pool_blocks: usize,
    },
    #[error("the device failed: {0}")]
    Device(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepLog {
    /// Clock at the start of the step, seconds.
    pub start_s: f64,
    pub seconds: f64,
    /// Sequences in the step.
    pub sequences: usize,
    /// Rows that were prompt (or recomputed) tokens.
    pub prefill_tokens: usize,
    /// Rows that were one sequence's next token.
    pub decode_tokens: usize,
    /// Pool blocks held during the step.
    pub blocks_used: usize,
}

/// What a run produced: every request's tokens and times, and every step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Served {
    pub config: EngineConfig,
    /// In request id order.
    pub requests: Vec<RequestMetrics>,
    pub steps: Vec<StepLog>,
    pub preemptions: usize,
}

/// A request while it is being served.
struct Seq {
    id: usize,
    arrival_s: f64,
    /// Prompt, then every token generated so far.
    tokens: Vec<u32>,
    prompt_tokens: usize,
    output_tokens: usize,
    /// `Some` while the sequence holds blocks (running).
    cache: Option<PagedCache>,
    first_token_s: Option<f64>,
    preemptions: usize,
}

impl Seq {
    /// Positions whose K/V are in the pool.
    fn computed(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.tokens())
    }
}

/// The engine over one model and one pool of KV blocks on the model's device.
pub struct Engine<'m> {
    model: &'m LlamaModel,
    config: EngineConfig,
    pool: SharedPool,
}

impl EngineConfig {
    /// Every size at least 1 (what [`Engine::new`] requires; the CLI asks before loading a
    /// model).
    pub fn check(&self) -> Result<(), ServeError> {
        for (field, v) in [
            ("max_batch", self.max_batch),
            ("max_step_tokens", self.max_step_tokens),
            ("pool_blocks", self.pool_blocks),
            ("block_size", self.block_size),
        ] {
            if v == 0 {
                return Err(ServeError::Zero { field });
            }
        }
        Ok(())
    }
}

impl<'m> Engine<'m> {
    pub fn new(model: &'m LlamaModel, config: EngineConfig) -> Result<Self, ServeError> {
        config.check()?;
        let attn = &model.layers[0].self_attn;
        let pool = BlockPool::new(
            model.layers.len(),
            attn.kv_heads,
            attn.head_dim,
            config.pool_blocks,
            config.block_size,
            &model.device(),
        )?;
        Ok(Engine {
            model,
            config,
            pool: pool.shared(),
        })
    }

    /// Refuses a workload the engine could never finish: a request longer than the model's
    /// context, or one the whole pool cannot hold (vLLM likewise refuses to start when one
    /// sequence of the longest length does not fit its KV cache).
    pub fn check(&self, requests: &[Request]) -> Result<(), ServeError> {
        let lengths = requests
            .iter()
            .map(|r| (r.id, r.prompt.len(), r.output_tokens));
        check_lengths(
            lengths,
            self.model.max_positions(),
            self.config.block_size,
            self.config.pool_blocks,
        )
    }

    /// Serves `requests` to the end.
    pub fn serve(&self, requests: &[Request]) -> Result<Served, ServeError> {
        self.check(requests)?;
        let mut arrivals: Vec<&Request> = requests.iter().collect();
        arrivals.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s)); // stable: ties keep order
        let mut pending: VecDeque<Seq> = arrivals
            .into_iter()
            .map(|r| Seq {
                id: r.id,
                arrival_s: r.arrival_s,
                tokens: r.prompt.clone(),
                prompt_tokens: r.prompt.len(),
                output_tokens: r.output_tokens,
                cache: None,
                first_token_s: None,
                preemptions: 0,
            })
            .collect();
        let (mut waiting, mut running) = (VecDeque::new(), Vec::new());
        let (mut done, mut steps, mut preemptions) = (Vec::new(), Vec::new(), 0);
        let mut now = 0.0;
        loop {
            while pending.front().is_some_and(|s| s.arrival_s <= now) {
                waiting.push_back(pending.pop_front().expect("front exists"));
            }
            if running.is_empty() && waiting.is_empty() {
                match pending.front() {
                    Some(next) => {
                        now = next.arrival_s; // idle: jump to the next arrival
                        continue;
                    }
                    None => break,
                }
            }
            let plan = self.schedule(&mut running, &mut waiting, &mut preemptions)?;
            if plan.is_empty() {
                continue; // everything running was pre-empted: re-admit next step
            }
            let blocks_used = self.pool.borrow().stats().blocks_used;
            // A decode row: one token after a generated one, its K/V not yet computed.
            let decode: Vec<bool> = plan
                .iter()
                .map(|&(i, take)| {
                    let s = &running[i];
                    take == 1
                        && s.tokens.len() > s.prompt_tokens
                        && s.computed() + 1 == s.tokens.len()
                })
                .collect();
            let started = Instant::now();
            let picked = self.step(&mut running, &plan)?;
            let seconds = started.elapsed().as_secs_f64();
            let mut log = StepLog {
                start_s: now,
                seconds,
                sequences: plan.len(),
                prefill_tokens: 0,
                decode_tokens: 0,
                blocks_used,
            };
            now += seconds;
            for ((&(i, take), next), decode) in plan.iter().zip(picked).zip(decode) {
                if decode {
                    log.decode_tokens += 1;
                } else {
                    log.prefill_tokens += take;
                }
                if let Some(token) = next {
                    let s = &mut running[i];
                    s.tokens.push(token);
                    s.first_token_s.get_or_insert(now);
                }
            }
            steps.push(log);
            // Finished sequences leave now; dropping the cache frees their blocks.
            let (finished, still): (Vec<Seq>, Vec<Seq>) = running
                .into_iter()
                .partition(|s| s.tokens.len() == s.prompt_tokens + s.output_tokens);
            running = still;
            done.extend(finished.into_iter().map(|s| RequestMetrics {
                id: s.id,
                arrival_s: s.arrival_s,
                first_token_s: s.first_token_s.expect("finished sequences have a token"),
                finish_s: now,
                prompt_tokens: s.prompt_tokens,
                output_tokens: s.output_tokens,
                preemptions: s.preemptions,
                tokens: s.tokens[s.prompt_tokens..].to_vec(),
            }));
        }
        done.sort_by_key(|m| m.id);
        Ok(Served {
            config: self.config,
            requests: done,
            steps,
            preemptions,
        })
    }

    /// Chooses this step's `(index in running, rows)` and reserves their blocks, pre-empting
    /// and admitting as the module documentation describes.
    fn schedule(
        &self,
        running: &mut Vec<Seq>,
        waiting: &mut VecDeque<Seq>,
        preemptions: &mut usize,
    ) -> Result<Vec<(usize, usize)>, ServeError> {
        let c = &self.config;
        if c.batching == Batching::Static && running.is_empty() {
            while running.len() < c.max_batch
                && let Some(mut s) = waiting.pop_front()
            {
                s.cache = Some(PagedCache::new(self.pool.clone()));
                running.push(s);
            }
        }
        let mut budget = c.max_step_tokens;
        let mut plan = Vec::new();
        let mut preempted = false;
        let mut i = 0;
        while i < running.len() && budget > 0 {
            let take = (running[i].tokens.len() - running[i].computed()).min(budget);
            let cache = running[i]
                .cache
                .as_mut()
                .expect("running sequences hold a cache");
            match cache.reserve(take) {
                Ok(()) => {
                    plan.push((i, take));
                    budget -= take;
                    i += 1;
                }
                Err(CacheError::PoolExhausted { .. }) => {
                    // The newest running sequence (never one already planned: those come first).
                    let mut victim = running.pop().expect("sequence i is running");
                    victim.cache = None; // its blocks go back to the pool
                    victim.preemptions += 1;
                    *preemptions += 1;
                    waiting.push_front(victim);
                    preempted = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if c.batching == Batching::Continuous && !preempted {
            while running.len() < c.max_batch && budget > 0 {
                let Some(front) = waiting.front() else { break };
                let take = front.tokens.len().min(budget);
                let mut cache = PagedCache::new(self.pool.clone());
                if cache.reserve(take).is_err() {
                    break; // no room now: it waits (the cache is dropped, nothing was taken)
                }
                let mut s = waiting.pop_front().expect("front exists");
                s.cache = Some(cache);
                running.push(s);
                plan.push((running.len() - 1, take));
                budget -= take;
            }
        }
        Ok(plan)
    }

    /// Runs the planned rows as one batch and commits them; returns, per planned sequence, the
    /// token it picked if its rows reached the end of what it has (else `None`: a prefill
    /// chunk with more to come).
    fn step(
        &self,
        running: &mut [Seq],
        plan: &[(usize, usize)],
    ) -> Result<Vec<Option<u32>>, ServeError> {
        let (mut ids, mut positions, mut logit_rows) = (Vec::new(), Vec::new(), Vec::new());
        for &(i, take) in plan {
            let s = &running[i];
            let from = s.computed();
            ids.extend_from_slice(&s.tokens[from..from + take]);
            positions.extend(from..from + take);
            if from + take == s.tokens.len() {
                logit_rows.push(ids.len() - 1);
            }
        }
        let logits = {
            let seqs: Vec<PagedSeq> = plan
                .iter()
                .map(|&(i, take)| {
                    let cache = running[i].cache.as_ref().expect("running");
                    PagedSeq {
                        table: cache.block_table(),
                        cached: cache.tokens(),
                        new: take,
                    }
                })
                .collect();
            let mut pool = self.pool.borrow_mut();
            forward_batch(self.model, &mut pool, &seqs, &ids, &positions, &logit_rows)?
        };
        let picked: Vec<u32> = match logits {
            None => {
                // Nothing is read back: wait for the device, or a GPU's step is timed as queued.
                let device = self.model.device();
                device
                    .sync()
                    .map_err(|e| ServeError::Device(format!("{e:?}")))?;
                Vec::new()
            }
            Some(logits) => {
                let vocab = logits.dims()[1];
                let values: Vec<f32> = logits
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("float logits");
                values.chunks(vocab).map(argmax).collect()
            }
        };
        let mut picked = picked.into_iter();
        Ok(plan
            .iter()
            .map(|&(i, take)| {
                let s = &mut running[i];
                let cache = s.cache.as_mut().expect("running");
                let reaches_end = cache.tokens() + take == s.tokens.len();
                cache.commit(take);
                reaches_end.then(|| picked.next().expect("one row per sequence at its end"))
            })
            .collect())
    }
}

/// [`Engine::check`] on a trace's lengths, without an engine and before any prompt is built:
/// what the CLI checks before loading a model (a prompt of a billion tokens is refused, not
/// allocated).
pub fn check_trace(
    entries: &[TraceRequest],
    context: usize,
    block_size: usize,
    pool_blocks: usize,
) -> Result<(), ServeError> {
    let lengths = entries.iter().enumerate().map(|(id, e)| {
        (
            id,
            e.prompt_tokens.max(0) as usize,
            e.output_tokens.max(0) as usize,
        )
    });
    check_lengths(lengths, context, block_size, pool_blocks)
}

/// `(id, prompt tokens, output tokens)` of each request against the context and the pool.
fn check_lengths(
    lengths: impl Iterator<Item = (usize, usize, usize)>,
    context: usize,
    block_size: usize,
    pool_blocks: usize,
) -> Result<(), ServeError> {
    for (id, prompt, output) in lengths {
        for (field, v) in [("prompt_tokens", prompt), ("output_tokens", output)] {
            if v == 0 {
                return Err(ServeError::EmptyRequest { id, field });
            }
        }
        let total = prompt.saturating_add(output);
        if total > context {
            return Err(ServeError::TooLong {
                id,
                prompt,
                output,
                total,
                context,
            });
        }
        // The last token generated is never fed back, so a request holds total − 1 positions.
        let needed = (total - 1).div_ceil(block_size.max(1));
        if needed > pool_blocks {
            return Err(ServeError::PoolTooSmall {
                id,
                tokens: total - 1,
                needed,
                block_size,
                pool_blocks,
            });
        }
    }
    Ok(())
}

/// One batched step through chapter 03's model: `ids` are the rows of every sequence in
/// `seqs`, end to end, row `r` at position `positions[r]`. Each weight multiplies all rows in
/// one product; attention is per sequence, over its own blocks ([`BlockPool::attend_batch`]).
/// Returns the logits `[logit_rows.len(), vocab]` of the rows in `logit_rows` only (`None` when
/// there are none): the LM head, the largest matrix of a small model, is applied only to the
/// rows that pick a token.
pub fn forward_batch(
    model: &LlamaModel,
    pool: &mut BlockPool,
    seqs: &[PagedSeq],
    ids: &[u32],
    positions: &[usize],
    logit_rows: &[usize],
) -> Result<Option<Tensor<2>>, ModelError> {
    let device = model.device();
    let mut x = model.embed_tokens.forward(ids_tensor(ids, 1, &device)); // [1, T, hidden]
    for (layer, block) in model.layers.iter().enumerate() {
        x = block.forward_at(x, positions, |attn, Qkv { q, k, v }| {
            let context = pool.attend_batch(layer, seqs, q, k, v); // [1, heads, T, d]
            Ok(attn.output(context)) // [1, T, hidden]
        })?;
    }
    if logit_rows.is_empty() {
        return Ok(None); // every sequence fed a prompt chunk with more to come
    }
    let rows: Vec<i64> = logit_rows.iter().map(|&r| r as i64).collect();
    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [logit_rows.len()]), &device);
    let picked = x.select(1, rows); // [1, n, hidden]
    let logits = model.head(model.norm.forward(picked)); // [1, n, vocab]
    let [_, n, vocab] = logits.dims();
    Ok(Some(logits.reshape([n, vocab])))
}
