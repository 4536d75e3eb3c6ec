//! Small helpers the criterion benches share for the records they write: criterion prints its
//! own statistics, and each bench also times its cases here once more (median of repeated runs)
//! and measures their bytes with the counting allocator, so the numbers land in a record.

use crate::alloc::{AllocStats, measure};
use std::time::{Duration, Instant};

/// Median wall time of `f`, run until both `min_runs` runs and `min_time` have passed
/// (after one warm-up run).
pub fn median_time<R>(mut f: impl FnMut() -> R, min_runs: usize, min_time: Duration) -> Duration {
    std::hint::black_box(f());
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < min_runs.max(1) || start.elapsed() < min_time {
        let t = Instant::now();
        std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// Bytes allocated by one run of `f` (peak held at once, and total).
pub fn bytes_of<R>(f: impl FnOnce() -> R) -> Option<AllocStats> {
    let (out, stats) = measure(f);
    drop(out);
    stats
}
