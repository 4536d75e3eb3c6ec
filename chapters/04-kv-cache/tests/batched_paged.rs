//! Batched attention over paged blocks against burn's fused attention on gathered keys.
//!
//! Three sequences share a pool of 4-token blocks and grow in turn, so each one's block table
//! is broken into several runs. Each step writes a mix of prefill chunks and one-token decodes
//! through [`BlockPool::attend_batch`]; the reference keeps every sequence's keys and values in
//! a plain tensor of its own and runs `burn::tensor::module::attention` (the backend's fused
//! op, with the bottom-right causal mask) over them, the shared K/V heads repeated for their
//! query heads. Tolerance: 2e-5 absolute on outputs of magnitude ≤ ~1 (f32 sums in another
//! order: scores are joined across runs, values summed run by run).

use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use ch02_attention::causal_mask;
use ch03_transformer_block::attention::repeat_kv;
use ch04_kv_cache::{BlockPool, KvCache, PagedCache, PagedSeq};

const HEADS: usize = 6;
const KV_HEADS: usize = 2;
const D: usize = 8;
const BLOCK: usize = 4;

fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn batched_paged_attention_equals_fused_attention_on_gathered_keys() {
    let device = Device::flex();
    device.seed(11);
    let normal = Distribution::Normal(0.0, 1.0);
    let pool = BlockPool::new(2, KV_HEADS, D, 24, BLOCK, &device)
        .unwrap()
        .shared();
    let mut caches: Vec<PagedCache> = (0..3).map(|_| PagedCache::new(pool.clone())).collect();
    // The reference's copy of each sequence's keys and values: `mirror[layer][sequence]`.
    let mut mirror: Vec<Vec<Option<(Tensor<4>, Tensor<4>)>>> = vec![vec![None, None, None]; 2];
    // Rows per sequence per step: prefill chunks of different lengths, then decodes mixed with
    // a second chunk. Growing in turn interleaves the sequences' blocks in the pool.
    let steps: [[usize; 3]; 5] = [[5, 3, 7], [1, 6, 1], [1, 1, 1], [9, 1, 2], [1, 1, 1]];
    for news in steps {
        for (cache, &n) in caches.iter_mut().zip(&news) {
            cache.reserve(n).unwrap();
        }
        let total: usize = news.iter().sum();
        for (layer, kept) in mirror.iter_mut().enumerate() {
            let q = Tensor::<4>::random([1, HEADS, total, D], normal, &device);
            let k = Tensor::<4>::random([1, KV_HEADS, total, D], normal, &device);
            let v = Tensor::<4>::random([1, KV_HEADS, total, D], normal, &device);
            let seqs: Vec<PagedSeq> = caches
                .iter()
                .zip(&news)
                .map(|(c, &new)| PagedSeq {
                    table: c.block_table(),
                    cached: c.tokens(),
                    new,
                })
                .collect();
            let ours =
                pool.borrow_mut()
                    .attend_batch(layer, &seqs, q.clone(), k.clone(), v.clone());
            let mut row = 0;
            for (i, &n) in news.iter().enumerate() {
                let (k_i, v_i) = (k.clone().narrow(2, row, n), v.clone().narrow(2, row, n));
                let (k_all, v_all) = match kept[i].take() {
                    Some((k0, v0)) => {
                        (Tensor::cat(vec![k0, k_i], 2), Tensor::cat(vec![v0, v_i], 2))
                    }
                    None => (k_i, v_i),
                };
                let s_k = k_all.dims()[2];
                let group = HEADS / KV_HEADS;
                let mask = causal_mask(n, s_k, &device).expand([1, HEADS, n, s_k]);
                let theirs = burn_attention(
                    q.clone().narrow(2, row, n),
                    repeat_kv(k_all.clone(), group),
                    repeat_kv(v_all.clone(), group),
                    Some(mask),
                    None,
                    AttentionModuleOptions::default(),
                );
                let diff = max_diff(ours.clone().narrow(2, row, n), theirs);
                assert!(diff < 2e-5, "sequence {i}, layer {layer}: max |Δ| {diff}");
                kept[i] = Some((k_all, v_all));
                row += n;
            }
        }
        for (cache, &n) in caches.iter_mut().zip(&news) {
            cache.commit(n);
        }
    }
    // The blocks really were scattered: every table has more than one run.
    for c in &caches {
        let t = c.block_table();
        assert!(t.windows(2).any(|w| w[1] != w[0] + 1), "table {t:?}");
    }
}
