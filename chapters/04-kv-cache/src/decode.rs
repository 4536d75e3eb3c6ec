//! Greedy generation: the no-cache baseline, the same loop over any [`KvCache`], and a batch
//! of sequences on one paged pool.
//!
//! Without a cache, step `t` runs the model over all `prompt + t` tokens to get the logits of
//! the last one: every key and value of the prefix is recomputed, so a decode of `n` tokens
//! does `O(n²)` token-passes of work. With a cache the prompt is run once (prefill) and each
//! later step runs one token.

use crate::cache::KvCache;
use crate::error::CacheError;
use crate::paged::{PagedCache, SharedPool};
use burn::tensor::Tensor;
pub use ch03_transformer_block::train::{argmax, last_logits};
use ch03_transformer_block::train::{greedy_recomputing, ids_tensor};
use ch03_transformer_block::{CausalLm, LlamaModel};
use serde::Serialize;

/// New tokens and, per step, the logits that chose them (the last position's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub step_logits: Vec<Vec<f32>>,
    /// Bytes of K and V the cache held at the end (0 without a cache).
    pub kv_bytes: usize,
}

impl Generation {
    /// From `(token, logits)` steps of a recomputing (no-cache) loop.
    pub fn from_steps(steps: Vec<(u32, Vec<f32>)>) -> Self {
        let (tokens, step_logits) = steps.into_iter().unzip();
        Generation {
            tokens,
            step_logits,
            kv_bytes: 0,
        }
    }
}

/// Checks a request against the model before any work: non-empty prompt, at least one new
/// token, and prompt + new tokens within the model's context.
pub fn check_request(model: &dyn CausalLm, prompt: usize, new: usize) -> Result<(), CacheError> {
    check_request_within(model.max_positions(), prompt, new)
}

/// [`check_request`] against a context of `context` positions.
pub fn check_request_within(context: usize, prompt: usize, new: usize) -> Result<(), CacheError> {
    if prompt == 0 {
        return Err(CacheError::EmptyPrompt);
    }
    if new == 0 {
        return Err(CacheError::NoNewTokens);
    }
    if prompt + new > context {
        return Err(CacheError::TooLong {
            prompt,
            new,
            total: prompt + new,
            context,
        });
    }
    Ok(())
}

/// The baseline: every step runs the whole sequence so far (chapter 03's greedy loop).
pub fn generate_no_cache(
    model: &LlamaModel,
    prompt: &[u32],
    max_new_tokens: usize,
) -> Result<Generation, CacheError> {
    check_request(model, prompt.len(), max_new_tokens)?;
    let steps = greedy_recomputing(model, prompt, max_new_tokens, |ids| {
        Ok::<_, CacheError>(model.forward(ids)?)
    })?;
    Ok(Generation::from_steps(steps))
}

/// One forward step of a model (chapter 03's, or any [`CausalLm`]) through `cache`: `ids` sit
/// at positions `cache.tokens()..`, and the model's per-layer hook hands each new K/V to the cache.
pub fn forward_cached(
    model: &dyn CausalLm,
    cache: &mut dyn KvCache,
    ids: &[u32],
) -> Result<Tensor<3>, CacheError> {
    let start = cache.tokens();
    cache.reserve(ids.len())?;
    let input = ids_tensor(ids, 1, &model.device());
    let logits = model.forward_kv(input, start, &mut |layer, k, v| cache.update(layer, k, v))?;
    cache.commit(ids.len());
    Ok(logits)
}

/// Greedy generation through a cache: prefill the prompt (in chunks the cache accepts), then
/// one token per step.
pub fn generate_cached(
    model: &dyn CausalLm,
    cache: &mut dyn KvCache,
    prompt: &[u32],
    max_new_tokens: usize,
) -> Result<Generation, CacheError> {
    check_request(model, prompt.len(), max_new_tokens)?;
    let mut out = Generation::default();
    let mut logits = None;
    for chunk in prompt.chunks(cache.max_tokens_per_step().min(prompt.len())) {
        logits = Some(forward_cached(model, cache, chunk)?);
    }
    let mut last = last_logits(logits.expect("prompt is not empty"));
    for step in 0..max_new_tokens {
        let next = argmax(&last);
        out.tokens.push(next);
        out.step_logits.push(std::mem::take(&mut last));
        if step + 1 < max_new_tokens {
            last = last_logits(forward_cached(model, cache, &[next])?);
        }
    }
    out.kv_bytes = cache.kv_bytes();
    Ok(out)
}

/// How one sequence of a paged batch ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SeqOutcome {
    /// All requested tokens generated.
    Finished { tokens: Vec<u32> },
    /// Evicted when the pool ran out: its blocks were freed for the others; the tokens it had
    /// generated are kept (a server would re-queue it and recompute its cache later).
    Preempted { tokens: Vec<u32> },
}

impl SeqOutcome {
    pub fn tokens(&self) -> &[u32] {
        match self {
            SeqOutcome::Finished { tokens } | SeqOutcome::Preempted { tokens } => tokens,
        }
    }
}

/// A paged batch's results, in the order of the prompts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchOutcome {
    pub sequences: Vec<SeqOutcome>,
    /// Most blocks in use at once.
    pub peak_blocks_used: usize,
}

/// Decodes several sequences of different lengths on one shared block pool, step by step in
/// turn (each sequence's step runs with its own block table, batch 1).
///
/// When the pool cannot give a sequence its next block, the most recently admitted live
/// sequence is pre-empted (vLLM's policy: the newest request loses least work): its cache is
/// dropped, which returns its blocks, and the step is retried. No other sequence's blocks are
/// touched, so the survivors' tokens are exactly what they would be alone.
pub fn generate_paged_batch(
    model: &LlamaModel,
    pool: &SharedPool,
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
) -> Result<BatchOutcome, CacheError> {
    for p in prompts {
        check_request(model, p.len(), max_new_tokens)?;
        pool.borrow().check_fits(p.len() + max_new_tokens)?;
    }
    struct Live {
        cache: Option<PagedCache>,
        next_input: Vec<u32>,
        tokens: Vec<u32>,
        preempted: bool,
    }
    let mut seqs: Vec<Live> = prompts
        .iter()
        .map(|p| Live {
            cache: Some(PagedCache::new(pool.clone())),
            next_input: p.clone(),
            tokens: Vec::new(),
            preempted: false,
        })
        .collect();
    let mut peak = 0;
    loop {
        let mut progressed = false;
        for i in 0..seqs.len() {
            if seqs[i].cache.is_none() || seqs[i].tokens.len() == max_new_tokens {
                continue;
            }
            let result = loop {
                let s = &mut seqs[i];
                let cache = s.cache.as_mut().expect("live");
                match forward_cached(model, cache, &s.next_input) {
                    Err(CacheError::PoolExhausted { .. }) => {
                        let victim = (0..seqs.len())
                            .rev()
                            .find(|&j| seqs[j].cache.is_some())
                            .expect("sequence i is live");
                        seqs[victim].cache = None; // drop: blocks back to the pool
                        seqs[victim].preempted = true;
                        if victim == i {
                            break None;
                        }
                    }
                    other => break Some(other?),
                }
            };
            peak = peak.max(pool.borrow().stats().blocks_used);
            let Some(logits) = result else { continue };
            let s = &mut seqs[i];
            let next = argmax(&last_logits(logits));
            s.tokens.push(next);
            s.next_input = vec![next];
            if s.tokens.len() == max_new_tokens {
                s.cache = None; // finished: free its blocks for the others
            }
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    Ok(BatchOutcome {
        sequences: seqs
            .into_iter()
            .map(|s| {
                if s.preempted {
                    SeqOutcome::Preempted { tokens: s.tokens }
                } else {
                    SeqOutcome::Finished { tokens: s.tokens }
                }
            })
            .collect(),
        peak_blocks_used: peak,
    })
}
