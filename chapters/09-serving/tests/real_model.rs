//! The same proof on the real model: SmolLM2-135M (chapter 07, f32 weights) served five
//! requests at once with chunked prefill and a pool small enough to pre-empt, each request's
//! tokens against its greedy decode alone through chapter 04's concatenating cache.
//! About 10 s on 2 cores (most of it the batch-1 reference and loading the weights).

use burn::tensor::Device;
use ch04_kv_cache::{ConcatCache, generate_cached};
use ch07_real_model::fetch::{SMOLLM2, ensure};
use ch07_real_model::{Gguf, GgufTokenizer, load_model};
use ch09_serving::{Batching, Engine, EngineConfig, Request, prompt_from};

#[test]
fn smollm2_served_in_a_batch_gives_each_request_its_batch_one_tokens() {
    let fetched = ensure(&SMOLLM2).unwrap_or_else(|e| panic!("{e}"));
    let gguf = Gguf::open(fetched.path()).unwrap();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let model = load_model(&gguf, &Device::flex()).unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/corpora/english.txt"
    ))
    .unwrap();
    let source = tokenizer.encode_raw(&text);
    let requests: Vec<Request> = [(7, 8), (20, 5), (33, 10), (12, 3), (50, 6)]
        .into_iter()
        .enumerate()
        .map(|(id, (prompt, output))| Request {
            id,
            arrival_s: 0.0,
            prompt: prompt_from(&source, id, prompt),
            output_tokens: output,
        })
        .collect();
    // 6 blocks of 16 positions: the longest request (55 positions) fits alone, not beside
    // two others, so the newest running request is pre-empted and recomputed.
    let config = EngineConfig {
        max_batch: 3,
        max_step_tokens: 24,
        pool_blocks: 6,
        block_size: 16,
        batching: Batching::Continuous,
    };
    let served = Engine::new(&model, config)
        .unwrap()
        .serve(&requests)
        .unwrap();
    assert!(served.preemptions > 0, "the pool should run out");
    assert!(served.steps.iter().any(|s| s.sequences == 3));
    for (r, m) in requests.iter().zip(&served.requests) {
        let mut cache = ConcatCache::new(model.layers.len());
        let alone = generate_cached(&model, &mut cache, &r.prompt, r.output_tokens).unwrap();
        assert_eq!(m.tokens, alone.tokens, "request {}", r.id);
    }
}
