//! A serving simulation: requests of different lengths arrive, decode one token per step and
//! finish, on a KV pool of fixed size. Two ways to hand out the pool:
//!
//! * **pre-allocated**: each running sequence reserves the model's maximum length up front (it
//!   cannot know how long it will get), so `pool_tokens / max_len` sequences fit, whatever
//!   their real lengths;
//! * **paged**: each sequence holds `ceil(len / block_size)` blocks, taking one more when its
//!   last block fills; when none is free the newest running sequence is pre-empted (its blocks
//!   freed, the request re-queued to recompute later), as vLLM does.
//!
//! Only the block accounting is simulated (no model runs): the numbers are how many sequences
//! run at once and how much of the pool holds real tokens.
//!
//! A configuration is checked before anything runs ([`ServingConfig::validate`]): every range
//! must be non-empty, and the longest possible request must fit both policies, since a request
//! that can never be admitted would keep the simulation waiting for ever. A run that passes
//! the check always finishes (the oldest running sequence is never pre-empted, so it gains a
//! token every step); a step limit stays as a guard, and tripping it is an error
//! ([`ServingError::Unfinished`]), never a result.

use serde::Serialize;
use std::collections::VecDeque;

/// Why a serving simulation cannot run, or did not finish. Each message names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServingError {
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
    #[error("{field} is ({lo}, {hi}): its minimum is above its maximum")]
    ReversedRange {
        field: &'static str,
        lo: usize,
        hi: usize,
    },
    #[error(
        "the longest request (prompt_tokens max + output_tokens max = {longest} tokens) exceeds max_len = {max_len}: the pre-allocated policy could never admit it"
    )]
    LongerThanMaxLen { longest: usize, max_len: usize },
    #[error(
        "max_len = {max_len} exceeds pool_tokens = {pool_tokens}: the pre-allocated policy could not run a single sequence"
    )]
    MaxLenAbovePool { max_len: usize, pool_tokens: usize },
    #[error(
        "the longest request ({longest} tokens) needs {needed} blocks of {block_size}, the pool (pool_tokens = {pool_tokens}) has {pool_blocks}: the paged policy could never finish it"
    )]
    PoolTooSmall {
        longest: usize,
        needed: usize,
        block_size: usize,
        pool_tokens: usize,
        pool_blocks: usize,
    },
    #[error(
        "the {policy} simulation hit its step limit ({steps} steps) with {unfinished} of {requests} requests unfinished"
    )]
    Unfinished {
        policy: &'static str,
        steps: usize,
        unfinished: usize,
        requests: usize,
    },
}

/// What the paged policy does with the sequence it pre-empts when the pool runs out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preemption {
    /// Free its blocks and start it again when it is re-admitted: the tokens it had generated
    /// are generated again. Costs compute.
    #[default]
    Recompute,
    /// Copy its blocks out (to host memory) and back in when it is re-admitted: nothing is
    /// redone, but every cached token crosses the host link twice. Costs bandwidth.
    Swap,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingConfig {
    /// KV pool size in token slots (per layer; the same for every layer).
    pub pool_tokens: usize,
    pub block_size: usize,
    /// Context the pre-allocated policy reserves per sequence.
    pub max_len: usize,
    pub requests: usize,
    /// New requests per step.
    pub arrivals_per_step: usize,
    pub prompt_tokens: (usize, usize),
    pub output_tokens: (usize, usize),
    pub seed: u64,
    pub preemption: Preemption,
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            pool_tokens: 16_384,
            block_size: 16,
            max_len: 2048,
            requests: 200,
            arrivals_per_step: 2,
            prompt_tokens: (16, 512),
            output_tokens: (16, 512),
            seed: 42,
            preemption: Preemption::Recompute,
        }
    }
}

impl ServingConfig {
    /// Checks that the simulation can run and finish: sizes of at least 1, non-empty length
    /// ranges (`(lo, hi)` with `1 ≤ lo ≤ hi`), and a longest request (`prompt_tokens.1 +
    /// output_tokens.1`) that fits `max_len`, with `max_len` within the pool, and whose blocks
    /// fit the pool.
    pub fn validate(&self) -> Result<(), ServingError> {
        for (field, n) in [
            ("pool_tokens", self.pool_tokens),
            ("block_size", self.block_size),
            ("max_len", self.max_len),
            ("arrivals_per_step", self.arrivals_per_step),
        ] {
            if n == 0 {
                return Err(ServingError::Zero { field });
            }
        }
        for (field, minimum, (lo, hi)) in [
            (
                "prompt_tokens",
                "the minimum of prompt_tokens",
                self.prompt_tokens,
            ),
            (
                "output_tokens",
                "the minimum of output_tokens",
                self.output_tokens,
            ),
        ] {
            if lo > hi {
                return Err(ServingError::ReversedRange { field, lo, hi });
            }
            if lo == 0 {
                return Err(ServingError::Zero { field: minimum });
            }
        }
        let longest = self.prompt_tokens.1.saturating_add(self.output_tokens.1);
        if longest > self.max_len {
            return Err(ServingError::LongerThanMaxLen {
                longest,
                max_len: self.max_len,
            });
        }
        if self.max_len > self.pool_tokens {
            return Err(ServingError::MaxLenAbovePool {
                max_len: self.max_len,
                pool_tokens: self.pool_tokens,
            });
        }
        let (needed, pool_blocks) = (
            longest.div_ceil(self.block_size),
            self.pool_tokens / self.block_size,
        );
        if needed > pool_blocks {
            return Err(ServingError::PoolTooSmall {
                longest,
                needed,
                block_size: self.block_size,
                pool_tokens: self.pool_tokens,
                pool_blocks,
            });
        }
        Ok(())
    }
}

/// One policy's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingResult {
    pub policy: &'static str,
    /// Steps until every request finished.
    pub steps: usize,
    pub mean_running: f64,
    pub peak_running: usize,
    /// Mean share of the pool holding real tokens, over the steps.
    pub mean_pool_utilization: f64,
    pub preemptions: usize,
    pub tokens_generated: usize,
    /// Tokens generated by requests that were later pre-empted (redone when re-admitted).
    pub tokens_lost_to_preemption: usize,
    /// Cached token positions copied out of the pool and back in ([`Preemption::Swap`]),
    /// both directions counted; times the KV bytes per token, the bytes over the host link.
    pub tokens_swapped: usize,
    /// Running sequences at each step.
    pub running_per_step: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    prompt: usize,
    output: usize,
}

/// Deterministic request lengths (a 64-bit LCG; uniform in each range). The ranges must be
/// valid ([`ServingConfig::validate`]): `hi - lo + 1` underflows for a reversed one.
fn requests(c: &ServingConfig) -> Vec<Request> {
    let mut state = c
        .seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = |(lo, hi): (usize, usize)| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + ((state >> 33) as usize) % (hi - lo + 1)
    };
    (0..c.requests)
        .map(|_| Request {
            prompt: uniform(c.prompt_tokens),
            output: uniform(c.output_tokens),
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Running {
    req: Request,
    len: usize,
    generated: usize,
    /// Its blocks are out of the pool (swapped) and come back in on admission.
    swapped_out: bool,
}

impl Running {
    fn new(req: Request) -> Running {
        Running {
            req,
            len: req.prompt,
            generated: 0,
            swapped_out: false,
        }
    }
}

/// Runs both policies on the same requests: `[pre-allocated, paged]`, or says why the
/// configuration cannot run ([`ServingConfig::validate`]) or did not finish.
pub fn try_simulate(c: &ServingConfig) -> Result<[ServingResult; 2], ServingError> {
    c.validate()?;
    let reqs = requests(c);
    // Every step of a valid run gives the oldest running sequence one more token, and it is
    // never pre-empted, so all requests are done within the sum of their output lengths.
    let max_steps = reqs
        .iter()
        .fold(0usize, |sum, r| sum.saturating_add(r.output));
    Ok([
        run(c, &reqs, false, max_steps)?,
        run(c, &reqs, true, max_steps)?,
    ])
}

/// [`try_simulate`] for a configuration known to be good (such as the default).
///
/// # Panics
///
/// With the [`ServingError`] message when the configuration is invalid or the run does not
/// finish; use [`try_simulate`] for a configuration that comes from outside the program.
pub fn simulate(c: &ServingConfig) -> [ServingResult; 2] {
    try_simulate(c).unwrap_or_else(|e| panic!("serving simulation: {e}"))
}

fn run(
    c: &ServingConfig,
    reqs: &[Request],
    paged: bool,
    max_steps: usize,
) -> Result<ServingResult, ServingError> {
    let policy = if paged { "paged" } else { "pre-allocated" };
    let bs = c.block_size;
    let total_blocks = c.pool_tokens / bs;
    let slots = c.pool_tokens / c.max_len;
    let blocks = |tokens: usize| tokens.div_ceil(bs);
    let mut queue: VecDeque<Running> = VecDeque::new();
    let mut running: Vec<Running> = Vec::new();
    let mut arrived = 0;
    let (mut steps, mut preemptions, mut generated, mut lost, mut swapped) = (0, 0, 0, 0, 0);
    let mut per_step = Vec::new();
    let mut utilization_sum = 0.0;
    while arrived < reqs.len() || !queue.is_empty() || !running.is_empty() {
        if steps >= max_steps {
            return Err(ServingError::Unfinished {
                policy,
                steps,
                unfinished: reqs.len() - arrived + queue.len() + running.len(),
                requests: reqs.len(),
            });
        }
        let n = c.arrivals_per_step.min(reqs.len() - arrived);
        queue.extend(reqs[arrived..arrived + n].iter().map(|&r| Running::new(r)));
        arrived += n;
        // Admit in arrival order while the head of the queue fits.
        while let Some(&next) = queue.front() {
            let fits = if paged {
                let used: usize = running.iter().map(|r| blocks(r.len)).sum();
                used + blocks(next.len + 1) <= total_blocks
            } else {
                running.len() < slots && next.req.prompt + next.req.output <= c.max_len
            };
            if !fits {
                break;
            }
            queue.pop_front();
            if next.swapped_out {
                swapped += next.len;
            }
            running.push(Running {
                swapped_out: false,
                ..next
            });
        }
        // One decode step: every running sequence writes one more position.
        if paged {
            loop {
                let need: usize = running.iter().map(|r| blocks(r.len + 1)).sum();
                if need <= total_blocks || running.is_empty() {
                    break;
                }
                let victim = running.pop().expect("not empty");
                preemptions += 1;
                match c.preemption {
                    Preemption::Recompute => {
                        lost += victim.generated;
                        queue.push_front(Running::new(victim.req));
                    }
                    Preemption::Swap => {
                        swapped += victim.len;
                        queue.push_front(Running {
                            swapped_out: true,
                            ..victim
                        });
                    }
                }
            }
        }
        for r in &mut running {
            r.len += 1;
            r.generated += 1;
            generated += 1;
        }
        let stored: usize = running.iter().map(|r| r.len).sum();
        utilization_sum += stored as f64 / c.pool_tokens as f64;
        per_step.push(running.len());
        running.retain(|r| r.generated < r.req.output);
        steps += 1;
    }
    Ok(ServingResult {
        policy,
        steps,
        mean_running: per_step.iter().sum::<usize>() as f64 / steps.max(1) as f64,
        peak_running: per_step.iter().copied().max().unwrap_or(0),
        mean_pool_utilization: utilization_sum / steps.max(1) as f64,
        preemptions,
        tokens_generated: generated,
        tokens_lost_to_preemption: lost,
        tokens_swapped: swapped,
        running_per_step: per_step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard itself: a run stopped by its step limit is an error that says how many
    /// requests were left, not a result that looks finished.
    #[test]
    fn a_run_stopped_by_the_step_limit_is_an_error() {
        let c = ServingConfig {
            requests: 10,
            ..ServingConfig::default()
        };
        let reqs = requests(&c);
        for paged in [false, true] {
            let err = run(&c, &reqs, paged, 3).unwrap_err();
            let ServingError::Unfinished {
                steps,
                unfinished,
                requests,
                ..
            } = err
            else {
                panic!("expected Unfinished, got {err:?}");
            };
            assert_eq!((steps, requests), (3, 10));
            assert!(unfinished > 0 && unfinished <= 10, "{unfinished}");
            assert!(err.to_string().contains("step limit"), "{err}");
        }
    }
}
