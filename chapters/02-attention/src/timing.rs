//! How the chapters time their code: one warm-up run (first-touch allocations, thread-pool
//! start-up, caches), then repeated runs, and the **median**, which a single slow run caused by
//! the OS or another process cannot move the way it moves a mean.

use std::time::{Duration, Instant};

/// Runs `run` once to warm up, then at least `min_runs` times and for at least `min_time`;
/// returns every run's wall time and output, fastest first.
fn sorted_runs<K>(
    mut run: impl FnMut() -> K,
    min_runs: usize,
    min_time: Duration,
) -> Vec<(Duration, K)> {
    std::hint::black_box(run());
    let start = Instant::now();
    let mut runs = Vec::new();
    while runs.len() < min_runs.max(1) || start.elapsed() < min_time {
        let t = Instant::now();
        let out = std::hint::black_box(run());
        runs.push((t.elapsed(), out));
    }
    runs.sort_by_key(|(time, _)| *time);
    runs
}

/// [`sorted_runs`]' median run: its wall time and its output (keep the output small: every
/// run's is held until the median is known).
pub fn median_run<K>(run: impl FnMut() -> K, min_runs: usize, min_time: Duration) -> (Duration, K) {
    let mut runs = sorted_runs(run, min_runs, min_time);
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

/// The median of repeated runs and the spread around it: the first and third quartile of the
/// run times (a slower run than usual moves `p75`, not the median).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub median: Duration,
    pub p25: Duration,
    pub p75: Duration,
    pub runs: usize,
}

/// Times `f` as [`median_time`] does, keeping the quartiles.
pub fn timing<R>(mut f: impl FnMut() -> R, min_runs: usize, min_time: Duration) -> Timing {
    let times: Vec<Duration> = sorted_runs(
        || {
            std::hint::black_box(f());
        },
        min_runs,
        min_time,
    )
    .into_iter()
    .map(|(t, ())| t)
    .collect();
    let (p25, median, p75) = quartile_indices(times.len());
    Timing {
        median: times[median],
        p25: times[p25],
        p75: times[p75],
        runs: times.len(),
    }
}

/// Indices of the first quartile, the median and the third quartile in `n ≥ 1` sorted values.
pub fn quartile_indices(n: usize) -> (usize, usize, usize) {
    (n / 4, n / 2, (3 * n / 4).min(n.saturating_sub(1)))
}

/// Median wall time of `f` ([`median_run`]); each run's output is dropped as soon as it ends.
pub fn median_time<R>(f: impl FnMut() -> R, min_runs: usize, min_time: Duration) -> Duration {
    timing(f, min_runs, min_time).median
}
