//! What expanding K/V to every query head costs in memory, measured with a counting allocator
//! (this test binary's own: one test, so nothing else allocates alongside it). `expand` alone
//! is a view, but `expand_kv` must merge the new axis into the heads, and that reshape lays
//! the repeated heads out in memory: the expanded K/V is a real copy, `group` times the bytes.
//! That copy is why chapter 03's `grouped_attention` folds query heads instead.

use burn::tensor::{Device, Distribution, Tensor};
use ch05_gqa::expand_kv;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Relaxed);
        // SAFETY: the caller's contract for `layout` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn expanding_kv_materialises_group_copies() {
    let device = Device::flex();
    let (kv_heads, seq, head_dim, group) = (2, 512, 64, 4);
    let k = Tensor::<4>::random(
        [1, kv_heads, seq, head_dim],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let k_bytes = kv_heads * seq * head_dim * 4;

    let before = ALLOCATED.load(Relaxed);
    let expanded = expand_kv(k.clone(), group);
    let allocated = ALLOCATED.load(Relaxed) - before;
    assert_eq!(expanded.dims(), [1, kv_heads * group, seq, head_dim]);
    assert!(
        allocated >= group * k_bytes,
        "expand_kv allocated {allocated} bytes; a {group}× copy of K is {}",
        group * k_bytes
    );

    // Group 1 (MHA) returns its input: nothing is copied.
    let before = ALLOCATED.load(Relaxed);
    let same = expand_kv(k, 1);
    assert!(ALLOCATED.load(Relaxed) - before < k_bytes / 8);
    drop(same);
}
