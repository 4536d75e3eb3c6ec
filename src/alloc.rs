//! A counting global allocator: how many bytes a piece of code allocates in total, and the
//! most it holds at once (peak). Benches use it to report measured memory next to formulas
//! (KV bytes, score matrices) instead of asserting them.
//!
//! The counters are process-wide, so measure one thing at a time (criterion benches run
//! serially). Install it in a binary or bench with
//! `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Forwards to the system allocator and keeps three counters.
pub struct CountingAlloc;

static CURRENT: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static TOTAL: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn on_alloc(size: u64) {
    INSTALLED.store(true, Relaxed);
    let now = CURRENT.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(now, Relaxed);
    TOTAL.fetch_add(size, Relaxed);
    COUNT.fetch_add(1, Relaxed);
}

fn on_dealloc(size: u64) {
    CURRENT.fetch_sub(size, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            on_alloc(layout.size() as u64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            on_alloc(layout.size() as u64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        on_dealloc(layout.size() as u64);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // A realloc is a free of the old block and an allocation of the new one.
            on_dealloc(layout.size() as u64);
            on_alloc(new_size as u64);
        }
        p
    }
}

/// Bytes allocated since the program started (freed or not), for counting what one part of a
/// measured closure allocates without disturbing [`measure`]'s peak. `None` when
/// [`CountingAlloc`] is not the global allocator.
pub fn allocated_so_far() -> Option<u64> {
    INSTALLED.load(Relaxed).then(|| TOTAL.load(Relaxed))
}

/// What a closure allocated: `peak_bytes` is the most it held above what was live when it
/// started; `total_bytes` is everything it asked for, freed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllocStats {
    pub peak_bytes: u64,
    pub total_bytes: u64,
    pub allocations: u64,
}

/// Runs `f` and reports its allocations. Returns `None` for the stats when [`CountingAlloc`]
/// is not the global allocator of this program (nothing was counted), so callers can never
/// mistake "not measured" for "allocated nothing".
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Option<AllocStats>) {
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let total0 = TOTAL.load(Relaxed);
    let count0 = COUNT.load(Relaxed);
    let out = f();
    let stats = AllocStats {
        peak_bytes: PEAK.load(Relaxed).saturating_sub(base),
        total_bytes: TOTAL.load(Relaxed) - total0,
        allocations: COUNT.load(Relaxed) - count0,
    };
    (out, INSTALLED.load(Relaxed).then_some(stats))
}
