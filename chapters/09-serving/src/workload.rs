//! What a server is asked to do: requests that arrive over time, each with a prompt and a
//! number of tokens to generate.
//!
//! Two sources. A **trace** is a YAML list, one entry per request, the way production traces
//! are replayed (`data/serving/README.md` documents the format):
//!
//! ```yaml
//! - arrival_s: 0.0        # seconds after the start
//!   prompt_tokens: 120
//!   output_tokens: 32
//! ```
//!
//! A **synthetic** stream draws arrivals from a Poisson process at `rate` requests per second
//! (gaps between arrivals are exponential with mean `1/rate`; no rate: everything arrives at
//! once, an offline batch) and lengths uniformly within ±50% of the means, from a seed.
//!
//! Requests generate exactly `output_tokens` tokens (end-of-sequence is not a stop), as
//! serving benchmarks do, so a workload's work is fixed by its numbers alone.

use serde::{Deserialize, Serialize};

/// One request as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: usize,
    /// Seconds after the start of the run.
    pub arrival_s: f64,
    pub prompt: Vec<u32>,
    pub output_tokens: usize,
}

/// One entry of a trace file. Lengths are read as signed numbers so that a negative one is
/// named in the error rather than lost in a type mismatch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    pub arrival_s: f64,
    pub prompt_tokens: i64,
    pub output_tokens: i64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    #[error("not a trace (a YAML list of arrival_s, prompt_tokens, output_tokens): {0}")]
    Yaml(String),
    #[error("the trace has no requests")]
    Empty,
    #[error("request {index}: {field} is {value}; {rule}")]
    Field {
        index: usize,
        field: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("requests is 0: ask for at least one request")]
    NoRequests,
    #[error("rate is {0}: requests per second must be a number above 0")]
    Rate(f64),
    #[error("{field} is 0: ask for at least one token")]
    ZeroLength { field: &'static str },
    #[error(
        "rate is {rate}: {requests} requests would arrive over {last:.3e} s, more than the 1000000 s a run covers"
    )]
    Span {
        requests: usize,
        rate: f64,
        last: f64,
    },
}

/// The latest arrival a run accepts, seconds (about 11.6 days): beyond it a step's time is
/// lost in the clock's rounding.
pub const MAX_ARRIVAL_S: f64 = 1e6;

/// Reads and checks a trace: every arrival a finite number of seconds ≥ 0, every length ≥ 1.
/// Requests are numbered from 0 in file order (the engine serves them by arrival time).
pub fn parse_trace(text: &str) -> Result<Vec<TraceRequest>, WorkloadError> {
    let entries: Vec<TraceRequest> =
        serde_yaml_ng::from_str(text).map_err(|e| WorkloadError::Yaml(e.to_string()))?;
    if entries.is_empty() {
        return Err(WorkloadError::Empty);
    }
    for (index, e) in entries.iter().enumerate() {
        if !(0.0..=MAX_ARRIVAL_S).contains(&e.arrival_s) {
            return Err(WorkloadError::Field {
                index,
                field: "arrival_s",
                value: e.arrival_s.to_string(),
                rule: "arrival times are seconds after the start, from 0 to 1000000",
            });
        }
        for (field, value) in [
            ("prompt_tokens", e.prompt_tokens),
            ("output_tokens", e.output_tokens),
        ] {
            if value < 1 {
                return Err(WorkloadError::Field {
                    index,
                    field,
                    value: value.to_string(),
                    rule: "a length is a whole number of tokens, at least 1",
                });
            }
        }
    }
    Ok(entries)
}

/// Requests for trace entries, prompts cut from `source` (see [`prompt_from`]).
pub fn from_trace(entries: &[TraceRequest], source: &[u32]) -> Vec<Request> {
    entries
        .iter()
        .enumerate()
        .map(|(id, e)| Request {
            id,
            arrival_s: e.arrival_s,
            prompt: prompt_from(source, id, e.prompt_tokens as usize),
            output_tokens: e.output_tokens as usize,
        })
        .collect()
}

/// `len` tokens of `source` for request `id`: each request starts at its own offset (so no two
/// prompts share a prefix), wrapping around the source as often as needed.
pub fn prompt_from(source: &[u32], id: usize, len: usize) -> Vec<u32> {
    assert!(!source.is_empty(), "prompts need source tokens");
    let start = id * 131 % source.len();
    source
        .iter()
        .cycle()
        .skip(start)
        .take(len)
        .copied()
        .collect()
}

/// `n` requests arriving as a Poisson process at `rate` per second (`None`: all at time 0),
/// prompt and output lengths uniform within ±50% of `prompt_tokens` and `output_tokens`: a
/// generated trace, checked and turned into requests like a file's ([`from_trace`]).
pub fn synthetic(
    n: usize,
    rate: Option<f64>,
    prompt_tokens: usize,
    output_tokens: usize,
    seed: u64,
) -> Result<Vec<TraceRequest>, WorkloadError> {
    if n == 0 {
        return Err(WorkloadError::NoRequests);
    }
    if let Some(r) = rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(WorkloadError::Rate(r));
    }
    for (field, v) in [
        ("prompt_tokens", prompt_tokens),
        ("output_tokens", output_tokens),
    ] {
        if v == 0 {
            return Err(WorkloadError::ZeroLength { field });
        }
    }
    let mut rng = SplitMix64(seed);
    let mut now = 0.0;
    let trace: Vec<TraceRequest> = (0..n)
        .map(|id| {
            if let (Some(r), true) = (rate, id > 0) {
                now += -(1.0 - rng.unit()).ln() / r; // exponential gap, mean 1/r
            }
            TraceRequest {
                arrival_s: now,
                prompt_tokens: rng.around(prompt_tokens),
                output_tokens: rng.around(output_tokens),
            }
        })
        .collect();
    let last = trace.last().map_or(0.0, |t| t.arrival_s);
    if last.is_nan() || last > MAX_ARRIVAL_S {
        return Err(WorkloadError::Span {
            requests: n,
            rate: rate.unwrap_or(0.0),
            last,
        });
    }
    Ok(trace)
}

/// A small seeded generator (SplitMix64, Steele et al. 2014): enough for arrival gaps and
/// lengths, and the same numbers on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform whole number in `[mean/2, mean·3/2]`, at least 1 (saturating: an absurd mean
    /// gives an absurd length, which the context check then refuses).
    fn around(&mut self, mean: usize) -> i64 {
        let (lo, hi) = (
            (mean / 2).max(1) as u64,
            (mean as u64).saturating_add(mean as u64 / 2),
        );
        let span = (hi - lo).saturating_add(1);
        i64::try_from(lo + self.next() % span).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_errors_name_the_request_and_field() {
        let bad = "- {arrival_s: 0, prompt_tokens: 4, output_tokens: 2}\n- {arrival_s: -1, prompt_tokens: 4, output_tokens: 2}\n";
        let e = parse_trace(bad).unwrap_err().to_string();
        assert!(e.contains("request 1: arrival_s is -1"), "{e}");
        let bad = "- {arrival_s: 0, prompt_tokens: -4, output_tokens: 2}\n";
        let e = parse_trace(bad).unwrap_err().to_string();
        assert!(e.contains("request 0: prompt_tokens is -4"), "{e}");
        let e = parse_trace("- {arrival_s: 1e300, prompt_tokens: 4, output_tokens: 2}");
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("request 0: arrival_s is 1000000000") && e.contains("from 0 to 1000000"),
            "{e}"
        );
        let e = parse_trace("- {arrival_s: 0, prompt: 4}").unwrap_err();
        assert!(matches!(e, WorkloadError::Yaml(_)), "{e}");
        assert_eq!(parse_trace("[]").unwrap_err(), WorkloadError::Empty);
    }

    #[test]
    fn poisson_arrivals_have_the_asked_rate() {
        let source: Vec<u32> = (0..100).collect();
        let trace = synthetic(4000, Some(8.0), 20, 10, 7).unwrap();
        let mean_gap = trace.last().unwrap().arrival_s / (trace.len() - 1) as f64;
        // 3999 exponential gaps of mean 0.125 s: the sample mean's standard error is 1.6%.
        assert!((mean_gap - 0.125).abs() < 0.125 * 0.06, "{mean_gap}");
        assert!(trace.windows(2).all(|w| w[0].arrival_s <= w[1].arrival_s));
        let reqs = from_trace(&trace, &source);
        assert!(reqs.iter().all(|r| (10..=30).contains(&r.prompt.len())));
        assert!(reqs.iter().all(|r| (5..=15).contains(&r.output_tokens)));
        let offline = synthetic(3, None, 20, 10, 7).unwrap();
        assert!(offline.iter().all(|r| r.arrival_s == 0.0));
        assert_eq!(
            synthetic(1, Some(-1.0), 2, 2, 0).unwrap_err(),
            WorkloadError::Rate(-1.0)
        );
        assert_eq!(
            synthetic(0, None, 2, 2, 0).unwrap_err(),
            WorkloadError::NoRequests
        );
        // A rate so low that the arrivals leave the clock's range, and lengths at the edge of
        // the integers: refused or saturated, never a panic.
        assert!(matches!(
            synthetic(3, Some(1e-308), 2, 2, 0).unwrap_err(),
            WorkloadError::Span { .. }
        ));
        let huge = synthetic(2, None, usize::MAX, usize::MAX, 0).unwrap();
        assert!(
            huge.iter()
                .all(|t| t.prompt_tokens > 0 && t.output_tokens > 0)
        );
    }
}
