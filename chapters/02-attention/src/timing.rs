//! How the chapters time their code: one warm-up run (first-touch allocations, thread-pool
//! start-up, caches), then repeated runs, and the **median**, which a single slow run caused by
//! the OS or another process cannot move the way it moves a mean.

use std::time::{Duration, Instant};

/// Runs `run` once to warm up, then at least `min_runs` times and for at least `min_time`;
/// returns the median run's wall time and its output (keep the output small: every run's is
/// held until the median is known).
pub fn median_run<K>(
    mut run: impl FnMut() -> K,
    min_runs: usize,
    min_time: Duration,
) -> (Duration, K) {
    std::hint::black_box(run());
    let start = Instant::now();
    let mut runs = Vec::new();
    while runs.len() < min_runs.max(1) || start.elapsed() < min_time {
        let t = Instant::now();
        let out = std::hint::black_box(run());
        runs.push((t.elapsed(), out));
    }
    runs.sort_by_key(|(time, _)| *time);
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

/// Median wall time of `f` ([`median_run`]); each run's output is dropped as soon as it ends.
pub fn median_time<R>(mut f: impl FnMut() -> R, min_runs: usize, min_time: Duration) -> Duration {
    median_run(
        || {
            std::hint::black_box(f());
        },
        min_runs,
        min_time,
    )
    .0
}
