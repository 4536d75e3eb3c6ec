//! Cached decoding stays exact with shared K/V heads, and the cache holds exactly
//! `heads / kv_heads` times fewer bytes: chapter 03's model and chapter 04's caches with the
//! `num_key_value_heads` setting at MHA, GQA and MQA.

use burn::tensor::Device;
use ch03_transformer_block::{LlamaConfig, LlamaModel};
use ch04_kv_cache::{
    BlockPool, ConcatCache, KvCache, Overflow, PagedCache, PreallocCache, generate_cached,
    generate_no_cache, kv_bytes_formula,
};

const HEADS: usize = 8;
const HEAD_DIM: usize = 8;
const LAYERS: usize = 2;

fn model(kv_heads: usize) -> LlamaModel {
    let device = Device::flex();
    device.seed(11);
    let config = LlamaConfig {
        num_key_value_heads: Some(kv_heads),
        max_position_embeddings: 64,
        ..LlamaConfig::new(HEADS * HEAD_DIM, 96, LAYERS, HEADS, 101)
    };
    LlamaModel::new(&config, &device).unwrap()
}

#[test]
fn cached_decoding_is_exact_for_mha_gqa_mqa() {
    let prompt: Vec<u32> = (0..9).map(|i| (i * 17 + 5) % 101).collect();
    let new = 12;
    let tokens = prompt.len() + new - 1; // the last generated token is never fed back
    let mut bytes = Vec::new();
    for kv in [8, 2, 1] {
        let m = model(kv);
        let device = Device::flex();
        let reference = generate_no_cache(&m, &prompt, new).unwrap();
        let caches: Vec<Box<dyn KvCache>> = vec![
            Box::new(ConcatCache::new(LAYERS)),
            Box::new(
                PreallocCache::new(LAYERS, 1, kv, HEAD_DIM, tokens, Overflow::Error, &device)
                    .unwrap(),
            ),
            Box::new(PagedCache::new(
                BlockPool::new(LAYERS, kv, HEAD_DIM, 4, 16, &device)
                    .unwrap()
                    .shared(),
            )),
        ];
        for mut cache in caches {
            let got = generate_cached(&m, cache.as_mut(), &prompt, new).unwrap();
            assert_eq!(got.tokens, reference.tokens, "kv={kv}, {}", cache.name());
            for (a, b) in got.step_logits.iter().zip(&reference.step_logits) {
                let d = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(d < 1e-4, "kv={kv}, {}: logits differ by {d}", cache.name());
            }
            if cache.name() == "concat" {
                assert_eq!(
                    got.kv_bytes as u64,
                    kv_bytes_formula(LAYERS, kv, HEAD_DIM, 4, tokens)
                );
                bytes.push(got.kv_bytes);
            }
        }
    }
    // MHA : GQA-2 : MQA = 8 : 2 : 1 — the saving is exactly the group size.
    assert_eq!(bytes[0], 4 * bytes[1]);
    assert_eq!(bytes[1], 2 * bytes[2]);
}
