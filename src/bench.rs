//! Small helpers the criterion benches share for the records they write: criterion prints its
//! own statistics, and each bench also times its cases here once more (the median of repeated
//! runs and their quartiles, chapter 02's [`timing`]) and measures their bytes with the counting
//! allocator, so the numbers land in a record (`Record::with_spread(&timing)`).

use crate::alloc::{AllocStats, measure};

pub use ch02_attention::timing::{Timing, median_time, timing};

/// Bytes allocated by one run of `f` (peak held at once, and total).
pub fn bytes_of<R>(f: impl FnOnce() -> R) -> Option<AllocStats> {
    let (out, stats) = measure(f);
    drop(out);
    stats
}
