//! The executable specification: every cache gives exactly the tokens of decoding without a
//! cache, and logits within `TOL` at every step.

use burn::tensor::Device;
use ch03_transformer_block::{LlamaConfig, LlamaModel};
use ch04_kv_cache::decode::forward_cached;
use ch04_kv_cache::paged::BlockPool;
use ch04_kv_cache::*;

/// Cached and uncached runs do the same arithmetic in different shapes (one row vs the whole
/// prefix), so float sums round differently; the largest difference seen is 1.5e-7.
const TOL: f32 = 1e-4;

fn config() -> LlamaConfig {
    // Grouped-query: 4 query heads share 2 KV heads, so caches must store only 2.
    LlamaConfig {
        num_key_value_heads: Some(2),
        max_position_embeddings: 64,
        ..LlamaConfig::new(64, 176, 2, 4, 97)
    }
}

fn model() -> (LlamaModel, Device) {
    let device = Device::flex();
    device.seed(7);
    (LlamaModel::new(&config(), &device).unwrap(), device)
}

fn prompts() -> Vec<Vec<u32>> {
    vec![
        vec![5],
        vec![1, 2, 3, 4, 5, 6, 7],
        (0..20).map(|i| (i * 13 + 3) % 97).collect(),
    ]
}

/// Asserts equal tokens and logits within `TOL`; returns the largest logit difference.
fn assert_same(reference: &Generation, got: &Generation, what: &str) -> f32 {
    assert_eq!(reference.tokens, got.tokens, "{what}: tokens differ");
    assert_eq!(reference.step_logits.len(), got.step_logits.len());
    let mut worst = 0.0f32;
    for (step, (a, b)) in reference
        .step_logits
        .iter()
        .zip(&got.step_logits)
        .enumerate()
    {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < TOL, "{what}: step {step} logits differ by {diff}");
        worst = worst.max(diff);
    }
    worst
}

fn caches(device: &Device) -> Vec<Box<dyn KvCache>> {
    let c = config();
    let pool = BlockPool::new(2, 2, 16, 16, 4, device).unwrap().shared();
    vec![
        Box::new(ConcatCache::new(2)),
        Box::new(PreallocCache::new(2, 1, 2, 16, 64, Overflow::Error, device).unwrap()),
        Box::new(PagedCache::new(pool)),
        // A window as long as the context never drops anything: the plain causal model.
        Box::new(SlidingWindowCache::new(2, 1, c.kv_heads(), c.head_dim(), 64, device).unwrap()),
    ]
}

#[test]
fn every_cache_matches_no_cache() {
    let (model, device) = model();
    for prompt in prompts() {
        let reference = generate_no_cache(&model, &prompt, 12).unwrap();
        assert_eq!(reference.step_logits.len(), 12);
        for mut cache in caches(&device) {
            let got = generate_cached(&model, cache.as_mut(), &prompt, 12).unwrap();
            let worst = assert_same(&reference, &got, cache.name());
            println!(
                "{} prompt {}: max |Δlogit| {worst:.1e}",
                cache.name(),
                prompt.len()
            );
            assert_eq!(cache.tokens(), prompt.len() + 11);
        }
    }
}

#[test]
fn prealloc_grows_past_capacity_or_refuses() {
    let (model, device) = model();
    let prompt = [3, 1, 4];
    let reference = generate_no_cache(&model, &prompt, 25).unwrap();
    let mut grow = PreallocCache::new(2, 1, 2, 16, 8, Overflow::Grow, &device).unwrap();
    let got = generate_cached(&model, &mut grow, &prompt, 25).unwrap();
    assert_same(&reference, &got, "prealloc (grow)");
    assert_eq!(grow.grows, 2, "8 → 16 → 32 positions");
    assert_eq!(grow.capacity(), 32);

    let mut strict = PreallocCache::new(2, 1, 2, 16, 8, Overflow::Error, &device).unwrap();
    let err = generate_cached(&model, &mut strict, &prompt, 25).unwrap_err();
    assert_eq!(
        err,
        CacheError::CapacityExceeded {
            capacity: 8,
            requested: 9
        }
    );
    assert_eq!(strict.tokens(), 8, "the refused step stored nothing");
}

#[test]
fn sliding_window_cache_matches_masked_reference() {
    let (model, device) = model();
    // The masked reference path is chapter 03's model when the window covers everything.
    let ids: Vec<u32> = (0..12).collect();
    let plain = generate_no_cache(&model, &ids, 4).unwrap();
    let wide = generate_sliding_reference(&model, &ids, 4, 64).unwrap();
    assert_same(&plain, &wide, "window ≥ sequence");

    let window = 4;
    for prompt in prompts() {
        let reference = generate_sliding_reference(&model, &prompt, 16, window).unwrap();
        let mut cache = SlidingWindowCache::new(2, 1, 2, 16, window, &device).unwrap();
        let got = generate_cached(&model, &mut cache, &prompt, 16).unwrap();
        assert_same(&reference, &got, "sliding window");
        assert_eq!(
            cache.kv_bytes() as u64,
            kv_bytes_formula(2, 2, 16, 4, window)
        );
    }
    // The window changes the result once the sequence outgrows it (the test can fail).
    let prompt = &prompts()[2];
    let full = generate_no_cache(&model, prompt, 2).unwrap();
    let windowed = generate_sliding_reference(&model, prompt, 2, window).unwrap();
    let diff = full.step_logits[0]
        .iter()
        .zip(&windowed.step_logits[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        diff > 1e-3,
        "window of 4 over 20 tokens changed logits by only {diff}"
    );
}

#[test]
fn kv_bytes_match_the_formula() {
    let (model, device) = model();
    let prompt = [1, 2, 3, 4, 5];
    let mut concat = ConcatCache::new(2);
    generate_cached(&model, &mut concat, &prompt, 10).unwrap();
    // 5 prompt + 9 fed-back tokens are stored (the 10th new token is never fed back).
    assert_eq!(concat.kv_bytes() as u64, kv_bytes_formula(2, 2, 16, 4, 14));

    let mut pre = PreallocCache::new(2, 1, 2, 16, 40, Overflow::Error, &device).unwrap();
    generate_cached(&model, &mut pre, &prompt, 10).unwrap();
    assert_eq!(pre.kv_bytes() as u64, kv_bytes_formula(2, 2, 16, 4, 40));

    let pool = BlockPool::new(2, 2, 16, 10, 4, &device).unwrap().shared();
    let mut paged = PagedCache::new(pool.clone());
    generate_cached(&model, &mut paged, &prompt, 10).unwrap();
    assert_eq!(paged.block_table().len(), 4, "14 tokens in blocks of 4");
    assert_eq!(paged.kv_bytes() as u64, kv_bytes_formula(2, 2, 16, 4, 16));
    assert_eq!(paged.internal_fragmentation_slots(), 2);
    let stats = pool.borrow().stats();
    assert_eq!((stats.blocks_used, stats.tokens_stored), (4, 14));
    assert_eq!(stats.internal_fragmentation_slots, 2);
    drop(paged);
    assert_eq!(
        pool.borrow().stats().blocks_used,
        0,
        "a finished sequence frees its blocks"
    );
}

#[test]
fn paged_batch_of_different_lengths_matches_each_alone() {
    let (model, device) = model();
    let prompts: Vec<Vec<u32>> = vec![
        vec![9],
        vec![4, 8, 15, 16, 23],
        (0..17).collect(),
        vec![2; 30],
    ];
    let pool = BlockPool::new(2, 2, 16, 64, 4, &device).unwrap().shared();
    let out = generate_paged_batch(&model, &pool, &prompts, 8).unwrap();
    for (prompt, seq) in prompts.iter().zip(&out.sequences) {
        let alone = generate_no_cache(&model, prompt, 8).unwrap();
        assert_eq!(
            seq,
            &SeqOutcome::Finished {
                tokens: alone.tokens
            }
        );
    }
    // All four live at once (interleaved steps) at 1+6, 5+6, 17+6, 30+6 positions; the last
    // one's 37th position is written after the other three finished and freed their blocks.
    assert_eq!(out.peak_blocks_used, 2 + 3 + 6 + 9);
    assert_eq!(pool.borrow().stats().blocks_used, 0);
}

#[test]
fn pool_running_out_preempts_the_newest_without_corrupting_others() {
    let (model, device) = model();
    let prompts: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![7; 6], vec![5, 6, 7, 8, 9]];
    // 3+7, 6+7 and 5+7 positions need 3 + 4 + 3 blocks of 4; the pool has 7.
    let pool = BlockPool::new(2, 2, 16, 7, 4, &device).unwrap().shared();
    let out = generate_paged_batch(&model, &pool, &prompts, 8).unwrap();
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| generate_no_cache(&model, p, 8).unwrap().tokens)
        .collect();
    assert_eq!(
        out.sequences[0],
        SeqOutcome::Finished {
            tokens: alone[0].clone()
        }
    );
    assert_eq!(
        out.sequences[1],
        SeqOutcome::Finished {
            tokens: alone[1].clone()
        }
    );
    match &out.sequences[2] {
        SeqOutcome::Preempted { tokens } => {
            assert!(tokens.len() < 8);
            assert_eq!(
                tokens[..],
                alone[2][..tokens.len()],
                "its tokens before eviction were right"
            );
        }
        other => panic!("the newest sequence should be pre-empted, got {other:?}"),
    }
    assert_eq!(pool.borrow().stats().blocks_used, 0);
}

#[test]
fn bad_input_is_a_clear_error() {
    let (model, device) = model();
    let mut cache = ConcatCache::new(2);
    assert_eq!(
        generate_no_cache(&model, &[], 4),
        Err(CacheError::EmptyPrompt)
    );
    assert_eq!(
        generate_cached(&model, &mut cache, &[], 4),
        Err(CacheError::EmptyPrompt)
    );
    assert_eq!(
        generate_cached(&model, &mut cache, &[1], 0),
        Err(CacheError::NoNewTokens)
    );
    let long: Vec<u32> = vec![1; 65];
    let err = generate_cached(&model, &mut cache, &long, 1).unwrap_err();
    assert!(
        err.to_string().contains("exceeds the model context of 64"),
        "{err}"
    );
    assert_eq!(cache.tokens(), 0);

    let tiny = BlockPool::new(2, 2, 16, 2, 4, &device).unwrap().shared();
    let err = generate_paged_batch(&model, &tiny, &[vec![1; 10]], 4).unwrap_err();
    assert_eq!(
        err,
        CacheError::PoolTooSmall {
            tokens: 14,
            needed: 4,
            block_size: 4,
            pool_blocks: 2
        }
    );
    assert!(BlockPool::new(2, 2, 16, 0, 4, &device).is_err());
    assert!(PreallocCache::new(2, 1, 2, 16, 0, Overflow::Grow, &device).is_err());

    // A pool that runs out for a single sequence refuses the step and keeps what it had.
    let pool = BlockPool::new(2, 2, 16, 2, 4, &device).unwrap().shared();
    let mut paged = PagedCache::new(pool.clone());
    forward_cached(&model, &mut paged, &[1, 2, 3, 4, 5, 6, 7]).unwrap();
    let err = forward_cached(&model, &mut paged, &[8, 9]).unwrap_err();
    assert_eq!(err, CacheError::PoolExhausted { needed: 1, free: 0 });
    assert_eq!((paged.tokens(), paged.block_table().len()), (7, 2));
}

#[test]
fn paging_fits_more_sequences_than_preallocating_max_length() {
    let config = ServingConfig::default();
    let [pre, paged] = simulate(&config);
    for r in [&pre, &paged] {
        println!(
            "{}: steps {}, mean running {:.1}, peak {}, pool used {:.0}%, pre-emptions {}, tokens {}",
            r.policy,
            r.steps,
            r.mean_running,
            r.peak_running,
            100.0 * r.mean_pool_utilization,
            r.preemptions,
            r.tokens_generated
        );
    }
    assert_eq!(pre.peak_running, config.pool_tokens / config.max_len);
    assert!(
        paged.peak_running > 2 * pre.peak_running,
        "{} vs {}",
        paged.peak_running,
        pre.peak_running
    );
    assert!(paged.steps < pre.steps);
    assert_eq!(pre.tokens_lost_to_preemption, 0);
    // Both served the same requests; paging may redo the work of pre-empted ones.
    assert_eq!(
        pre.tokens_generated,
        paged.tokens_generated - paged.tokens_lost_to_preemption
    );
    assert!(paged.mean_pool_utilization > pre.mean_pool_utilization);
}

/// With tied embeddings (the head computed as `(E · xᵀ)ᵀ`, see chapter 03's `LlamaModel::head`)
/// a prefill and single-token steps through a cache give the logits of chapter 03's one pass.
#[test]
fn cached_forward_with_tied_head_matches_chapter_03() {
    let device = Device::flex();
    device.seed(3);
    let config = LlamaConfig {
        tie_word_embeddings: true,
        ..config()
    };
    let model = LlamaModel::new(&config, &device).unwrap();
    assert!(model.lm_head.is_none(), "the head is the embedding");
    let tokens = [3u32, 1, 4, 1, 5, 9];
    let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(tokens.map(i64::from).to_vec(), [1, 6]),
        &device,
    );
    let whole = model.forward(ids).unwrap();
    let mut cache = ConcatCache::new(config.num_hidden_layers);
    let mut steps = vec![forward_cached(&model, &mut cache, &tokens[..3]).unwrap()];
    for &t in &tokens[3..] {
        steps.push(forward_cached(&model, &mut cache, &[t]).unwrap());
    }
    let cached = burn::tensor::Tensor::cat(steps, 1);
    let diff: f32 = (cached - whole).abs().max().into_scalar();
    assert!(diff < TOL, "{diff}");
}
