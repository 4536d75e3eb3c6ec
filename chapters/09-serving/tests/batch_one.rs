//! The engine's proof: every request's tokens equal its greedy decode alone (batch 1, chapter
//! 04's concatenating cache, chapter 03's attention) — whatever joins or leaves the batch
//! around it, however its prompt is chunked, and whether it was pre-empted and recomputed.
//!
//! A seeded random model with shared KV heads (8 query heads, 2 KV heads) and requests of
//! mixed prompt and output lengths arriving at different times.

use burn::module::Param;
use burn::tensor::Device;
use ch03_transformer_block::{LlamaConfig, LlamaModel};
use ch04_kv_cache::{ConcatCache, generate_cached};
use ch09_serving::{Batching, Engine, EngineConfig, Request, ServeError, Served};

fn model() -> LlamaModel {
    let device = Device::flex();
    device.seed(9);
    let config = LlamaConfig {
        num_key_value_heads: Some(2),
        ..LlamaConfig::new(64, 176, 2, 8, 256)
    };
    let mut model = LlamaModel::new(&config, &device).unwrap();
    // At the initial scale (σ = 0.02) attention is nearly uniform and the logits barely depend
    // on it: a wrong position or a wrong block would go unnoticed. Sharpen the queries and keys
    // so that which keys a query sees, and where, decides the tokens.
    for layer in &mut model.layers {
        let attn = &mut layer.self_attn;
        for proj in [&mut attn.q_proj, &mut attn.k_proj] {
            proj.weight = Param::from_tensor(proj.weight.val() * 12.0);
        }
    }
    model
}

/// Prompts of 1 to 40 tokens, outputs of 1 to 12, arrivals spread over the first steps.
fn requests(arrivals: &[f64]) -> Vec<Request> {
    let lengths = [
        (3, 5),
        (17, 12),
        (40, 3),
        (1, 8),
        (9, 10),
        (25, 1),
        (6, 7),
        (12, 9),
    ];
    lengths
        .iter()
        .zip(arrivals)
        .enumerate()
        .map(|(id, (&(prompt, output), &arrival_s))| Request {
            id,
            arrival_s,
            prompt: (0..prompt as u32)
                .map(|i| (i * 37 + id as u32 * 101 + 5) % 256)
                .collect(),
            output_tokens: output,
        })
        .collect()
}

fn config(batching: Batching, pool_blocks: usize) -> EngineConfig {
    EngineConfig {
        max_batch: 4,
        max_step_tokens: 16,
        pool_blocks,
        block_size: 4,
        batching,
    }
}

fn serve(model: &LlamaModel, config: EngineConfig, reqs: &[Request]) -> Result<Served, ServeError> {
    Engine::new(model, config)?.serve(reqs)
}

fn assert_batch_one(model: &LlamaModel, reqs: &[Request], served: &Served) {
    assert_eq!(served.requests.len(), reqs.len());
    for (r, m) in reqs.iter().zip(&served.requests) {
        let mut cache = ConcatCache::new(model.layers.len());
        let alone = generate_cached(model, &mut cache, &r.prompt, r.output_tokens).unwrap();
        assert_eq!(m.id, r.id);
        assert_eq!(
            m.tokens,
            alone.tokens,
            "request {} (prompt {})",
            r.id,
            r.prompt.len()
        );
        assert!(m.arrival_s <= m.first_token_s && m.first_token_s <= m.finish_s);
    }
}

#[test]
fn continuous_batching_with_chunked_prefill_gives_each_request_its_batch_one_tokens() {
    let model = model();
    let reqs = requests(&[0.0, 0.0, 0.0, 0.001, 0.002, 0.004, 0.008, 0.5]);
    let served = serve(&model, config(Batching::Continuous, 64), &reqs).unwrap();
    assert_batch_one(&model, &reqs, &served);
    assert_eq!(served.preemptions, 0);
    // It did batch: several sequences per step, and prompt chunks beside decodes.
    assert!(served.steps.iter().any(|s| s.sequences >= 3));
    assert!(
        served
            .steps
            .iter()
            .any(|s| s.prefill_tokens > 0 && s.decode_tokens > 0)
    );
    // No step went over 16 rows, so the 40-token prompt was fed in chunks; without
    // pre-emption every prompt row was fed exactly once.
    assert!(
        served
            .steps
            .iter()
            .all(|s| s.prefill_tokens + s.decode_tokens <= 16)
    );
    let prompts: usize = reqs.iter().map(|r| r.prompt.len()).sum();
    let fed: usize = served.steps.iter().map(|s| s.prefill_tokens).sum();
    assert_eq!(fed, prompts);
}

#[test]
fn preempted_requests_recompute_to_the_same_tokens() {
    let model = model();
    let reqs = requests(&[0.0; 8]);
    // 12 blocks of 4 tokens: the longest request (40 + 3) fits alone, four together do not.
    for batching in [Batching::Continuous, Batching::Static] {
        let served = serve(&model, config(batching, 12), &reqs).unwrap();
        assert_batch_one(&model, &reqs, &served);
        assert!(
            served.preemptions > 0,
            "{batching:?}: the pool should run out"
        );
        // Recomputing means feeding more prompt rows than the prompts hold.
        let prompts: usize = reqs.iter().map(|r| r.prompt.len()).sum();
        let fed: usize = served.steps.iter().map(|s| s.prefill_tokens).sum();
        assert!(
            fed > prompts,
            "{batching:?}: {fed} prefill rows for {prompts}"
        );
    }
}

#[test]
fn static_batching_waits_for_the_whole_batch() {
    let model = model();
    let reqs = requests(&[0.0; 8]);
    let served = serve(&model, config(Batching::Static, 64), &reqs).unwrap();
    assert_batch_one(&model, &reqs, &served);
    // Requests 4..8 start only after all of 0..4 have finished.
    let first_batch_done = served.requests[..4]
        .iter()
        .map(|m| m.finish_s)
        .fold(0.0, f64::max);
    assert!(
        served.requests[4..]
            .iter()
            .all(|m| m.first_token_s > first_batch_done)
    );
}

#[test]
fn a_pool_too_small_for_one_request_is_refused_with_the_minimum() {
    let model = model();
    let reqs = requests(&[0.0; 8]);
    let err = serve(&model, config(Batching::Continuous, 8), &reqs).unwrap_err();
    // Request 2 holds 40 + 3 − 1 = 42 positions: 11 blocks of 4.
    assert!(
        matches!(
            err,
            ServeError::PoolTooSmall {
                id: 2,
                needed: 11,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("the minimum is 11 blocks"),
        "{err}"
    );
    let zero = Engine::new(&model, config(Batching::Continuous, 0))
        .err()
        .unwrap();
    assert_eq!(zero.to_string(), "pool_blocks is 0: it must be at least 1");
    let long = vec![Request {
        id: 0,
        arrival_s: 0.0,
        prompt: vec![1; 2040],
        output_tokens: 20,
    }];
    let err = serve(&model, config(Batching::Continuous, 512), &long).unwrap_err();
    assert!(
        err.to_string()
            .contains("exceeds the model context of 2048"),
        "{err}"
    );
}
