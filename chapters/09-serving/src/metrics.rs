//! What a user of a server feels, and what its operator pays for.
//!
//! - **Time to first token** (TTFT): arrival → first token. Queueing plus prefill; what makes a
//!   chat feel responsive.
//! - **Time per output token** (TPOT): the mean gap between a request's later tokens,
//!   `(finish − first token) / (output tokens − 1)`. Its inverse is the reading speed a user
//!   sees; every other sequence in the batch makes each step longer.
//! - **Throughput**: output tokens per second over the whole run, what the hardware earns.
//! - **Pool utilisation**: blocks held ÷ blocks in the pool, averaged over time; memory that a
//!   larger batch could use.
//!
//! Percentiles are over requests, by linear interpolation between the closest ranks (NumPy's
//! default), so a p95 of 20 requests lies between the 19th and 20th.

use crate::engine::{Served, StepLog};
use serde::Serialize;

/// One request's times (seconds on the run's clock) and tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestMetrics {
    pub id: usize,
    pub arrival_s: f64,
    pub first_token_s: f64,
    pub finish_s: f64,
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    /// Times it was evicted and recomputed.
    pub preemptions: usize,
    /// The generated tokens.
    #[serde(skip)]
    pub tokens: Vec<u32>,
}

impl RequestMetrics {
    pub fn ttft_s(&self) -> f64 {
        self.first_token_s - self.arrival_s
    }

    /// `None` for a one-token request (there is no gap).
    pub fn tpot_s(&self) -> Option<f64> {
        (self.output_tokens > 1)
            .then(|| (self.finish_s - self.first_token_s) / (self.output_tokens - 1) as f64)
    }
}

/// The `p`-th percentile (0–100) of `values`, interpolated linearly; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 100.0) / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// A run in a few numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub requests: usize,
    pub output_tokens: usize,
    /// First arrival to last finish.
    pub makespan_s: f64,
    pub output_tokens_per_s: f64,
    pub ttft_p50_s: f64,
    pub ttft_p95_s: f64,
    pub tpot_p50_s: Option<f64>,
    pub tpot_p95_s: Option<f64>,
    pub steps: usize,
    /// Sequences per step, averaged over steps.
    pub mean_batch: f64,
    /// Blocks held ÷ pool blocks, averaged over the time steps ran.
    pub pool_utilisation_mean: f64,
    pub pool_utilisation_peak: f64,
    pub preemptions: usize,
}

impl Summary {
    pub fn of(served: &Served) -> Summary {
        let r = &served.requests;
        let first_arrival = r.iter().map(|m| m.arrival_s).fold(f64::INFINITY, f64::min);
        let last_finish = r.iter().map(|m| m.finish_s).fold(0.0, f64::max);
        let makespan_s = (last_finish - first_arrival).max(0.0);
        let output_tokens = r.iter().map(|m| m.output_tokens).sum();
        let ttft: Vec<f64> = r.iter().map(RequestMetrics::ttft_s).collect();
        let tpot: Vec<f64> = r.iter().filter_map(RequestMetrics::tpot_s).collect();
        let pool = served.config.pool_blocks as f64;
        let busy: f64 = served.steps.iter().map(|s| s.seconds).sum();
        let steps = served.steps.len();
        Summary {
            requests: r.len(),
            output_tokens,
            makespan_s,
            output_tokens_per_s: output_tokens as f64 / makespan_s,
            ttft_p50_s: percentile(&ttft, 50.0).unwrap_or(0.0),
            ttft_p95_s: percentile(&ttft, 95.0).unwrap_or(0.0),
            tpot_p50_s: percentile(&tpot, 50.0),
            tpot_p95_s: percentile(&tpot, 95.0),
            steps,
            mean_batch: served.steps.iter().map(|s| s.sequences as f64).sum::<f64>()
                / steps.max(1) as f64,
            pool_utilisation_mean: served
                .steps
                .iter()
                .map(|s| s.blocks_used as f64 / pool * s.seconds)
                .sum::<f64>()
                / busy.max(f64::MIN_POSITIVE),
            pool_utilisation_peak: served
                .steps
                .iter()
                .map(|s| s.blocks_used as f64 / pool)
                .fold(0.0, f64::max),
            preemptions: served.preemptions,
        }
    }
}

/// Decode tokens per second over the steps that decoded exactly `batch` sequences and fed no
/// prompt rows: the steady state a batch-size curve plots. `None` when no step qualifies.
pub fn decode_tokens_per_s(steps: &[StepLog], batch: usize) -> Option<f64> {
    let pure: Vec<&StepLog> = steps
        .iter()
        .filter(|s| s.prefill_tokens == 0 && s.decode_tokens == batch)
        .collect();
    let seconds: f64 = pure.iter().map(|s| s.seconds).sum();
    (!pure.is_empty() && seconds > 0.0).then(|| (pure.len() * batch) as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [50, 95]) = [2.5, 3.85]
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert!((percentile(&v, 95.0).unwrap() - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
