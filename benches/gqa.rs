//! Chapter 05 measured: one model shape at kv_heads = heads (MHA), heads/4 (GQA) and 1 (MQA).
//! For each: KV-cache bytes measured by the counting allocator against the formula, decode
//! time per token at several context lengths (the K/V read per step shrinks with kv_heads),
//! prefill time, and how many sequences fit a fixed paged pool. Then chapter 05's attention
//! forms beside chapter 03's production path on one input: the broadcast form (K/V expanded to
//! every head) and the per-head loop against the folded `grouped_attention`, time and bytes.

use burn::tensor::{Distribution, Tensor};
use ch03_transformer_block::attention::grouped_attention as folded;
use ch03_transformer_block::{LlamaConfig, LlamaModel};
use ch04_kv_cache::decode::forward_cached;
use ch04_kv_cache::{BlockPool, Overflow, PreallocCache, kv_bytes_formula};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use llm_workbench::alloc::CountingAlloc;
use llm_workbench::bench::{bytes_of, timing};
use llm_workbench::records::{Record, Spread, Throughput};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const LAYERS: usize = 4;
const HEADS: usize = 8;
const HEAD_DIM: usize = 64;
const VOCAB: usize = 2048;
const CONTEXTS: [usize; 3] = [256, 1024, 4096];
const DECODE_STEPS: usize = 16;
/// The paged pool every variant gets: the same bytes, so fewer KV heads fit more sequences.
const POOL_BYTES: usize = 64 << 20;

fn model(kv_heads: usize) -> LlamaModel {
    let device = llm_workbench::device::bench_device();
    device.seed(5);
    let config = LlamaConfig {
        num_key_value_heads: Some(kv_heads),
        max_position_embeddings: 8192,
        ..LlamaConfig::new(HEADS * HEAD_DIM, 1376, LAYERS, HEADS, VOCAB)
    };
    LlamaModel::new(&config, &device).expect("a valid config")
}

fn variant(kv: usize) -> String {
    match kv {
        HEADS => format!("MHA kv={kv}"),
        1 => format!("MQA kv={kv}"),
        _ => format!("GQA kv={kv}"),
    }
}

/// A cache holding `context` prompt positions, with room for `extra` more.
fn prefilled(model: &LlamaModel, kv: usize, context: usize, extra: usize) -> PreallocCache {
    let device = llm_workbench::device::bench_device();
    let mut cache = PreallocCache::new(
        LAYERS,
        1,
        kv,
        HEAD_DIM,
        context + extra,
        Overflow::Error,
        &device,
    )
    .unwrap();
    let prompt: Vec<u32> = (0..context).map(|i| (i * 31 % VOCAB) as u32).collect();
    for chunk in prompt.chunks(512) {
        forward_cached(model, &mut cache, chunk).unwrap();
    }
    cache
}

/// Seconds per decode step at `context`, over `steps` steps after a prefill.
fn decode_seconds(model: &LlamaModel, kv: usize, context: usize, steps: usize) -> f64 {
    let mut cache = prefilled(model, kv, context, steps);
    let t = Instant::now();
    for i in 0..steps {
        forward_cached(model, &mut cache, &[(i % VOCAB) as u32]).unwrap();
    }
    t.elapsed().as_secs_f64() / steps as f64
}

fn bench_gqa(c: &mut Criterion) {
    let mut group = c.benchmark_group("gqa");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for kv in [HEADS, HEADS / 4, 1] {
        let m = model(kv);
        let name = variant(kv);
        // Criterion: one decode step at a 512-token context (a fresh prefill per sample).
        group.bench_function(BenchmarkId::new(format!("decode/{name}"), 512), |b| {
            b.iter_custom(|iters| {
                let mut cache = prefilled(&m, kv, 512, iters as usize);
                let t = Instant::now();
                for i in 0..iters as usize {
                    forward_cached(&m, &mut cache, &[(i % VOCAB) as u32]).unwrap();
                }
                t.elapsed()
            })
        });
        // Records: decode time per token across contexts (one prefill each, best of 3).
        for context in CONTEXTS {
            let steps: Vec<f64> = (0..3)
                .map(|_| decode_seconds(&m, kv, context, DECODE_STEPS))
                .collect();
            let step_s = steps.iter().copied().fold(f64::INFINITY, f64::min);
            let formula = kv_bytes_formula(LAYERS, kv, HEAD_DIM, 4, context + DECODE_STEPS);
            let measured = bytes_of(|| {
                PreallocCache::new(
                    LAYERS,
                    1,
                    kv,
                    HEAD_DIM,
                    context + DECODE_STEPS,
                    Overflow::Error,
                    &llm_workbench::device::bench_device(),
                )
                .unwrap()
            });
            let params = serde_json::json!({
                "variant": name, "kv_heads": kv, "heads": HEADS, "head_dim": HEAD_DIM, "layers": LAYERS,
                "context_tokens": context, "kv_bytes_formula": formula, "dtype": "f32",
            });
            Record::new(
                &format!("gqa/decode/kv{kv}/{context}"),
                "05-gqa",
                params,
                Throughput {
                    value: 1.0 / step_s,
                    unit: "tokens/s".into(),
                },
                step_s,
            )
            .with_spread(Spread::of_times(&steps).expect("three runs"))
            .with_bytes(measured)
            .write()
            .expect("records directory is writable");
        }
        // Prefill of 1,024 tokens.
        group.bench_function(BenchmarkId::new(format!("prefill/{name}"), 1024), |b| {
            b.iter(|| prefilled(&m, kv, 1024, 0))
        });
        let t = Instant::now();
        drop(prefilled(&m, kv, 1024, 0));
        let prefill_s = t.elapsed().as_secs_f64();
        // The same pool bytes hold `heads / kv` times more blocks.
        let block_bytes = kv_bytes_formula(LAYERS, kv, HEAD_DIM, 4, 16) as usize;
        let pool = BlockPool::new(
            LAYERS,
            kv,
            HEAD_DIM,
            POOL_BYTES / block_bytes,
            16,
            &llm_workbench::device::bench_device(),
        )
        .unwrap();
        let fit_1k = pool.num_blocks() / pool.blocks_for(1024);
        let params = serde_json::json!({
            "kv_heads": kv, "heads": HEADS, "prefill_tokens": 512, "pool_bytes": POOL_BYTES,
            "pool_blocks": pool.num_blocks(), "sequences_of_1024_that_fit": fit_1k,
        });
        Record::new(
            &format!("gqa/prefill/kv{kv}"),
            "05-gqa",
            params,
            Throughput {
                value: 1024.0 / prefill_s,
                unit: "tokens/s".into(),
            },
            prefill_s,
        )
        .write()
        .expect("records directory is writable");
    }
    group.finish();
}

type Form = fn(&[Tensor<4>; 3]) -> Tensor<4>;

/// Chapter 05's two foils and chapter 03's folded form: causal, 8 query heads, 1,024 tokens.
fn attention_forms() -> [(&'static str, Form); 3] {
    [
        ("ch03_folded", |[q, k, v]| {
            folded(q.clone(), k.clone(), v.clone()).unwrap()
        }),
        ("ch05_broadcast", |[q, k, v]| {
            ch05_gqa::share::grouped_attention(q.clone(), k.clone(), v.clone(), true).unwrap()
        }),
        ("ch05_per_head_loop", |[q, k, v]| {
            ch05_gqa::per_head_loop(q.clone(), k.clone(), v.clone(), true).unwrap()
        }),
    ]
}

fn bench_forms(c: &mut Criterion) {
    let mut group = c.benchmark_group("gqa_forms");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let device = llm_workbench::device::bench_device();
    device.seed(9);
    let seq = 1024;
    for kv in [HEADS, HEADS / 4, 1] {
        let n = Distribution::Normal(0.0, 1.0);
        let qkv =
            [HEADS, kv, kv].map(|heads| Tensor::<4>::random([1, heads, seq, HEAD_DIM], n, &device));
        for (form, run) in attention_forms() {
            group.bench_with_input(
                BenchmarkId::new(format!("{form}/kv{kv}"), seq),
                &qkv,
                |b, x| b.iter(|| run(x)),
            );
            let timed = timing(|| run(&qkv), 5, Duration::from_millis(500));
            let time = timed.median.as_secs_f64();
            let params = serde_json::json!({
                "form": form, "kv_heads": kv, "heads": HEADS, "head_dim": HEAD_DIM, "seq": seq,
                "causal": true, "dtype": "f32",
            });
            Record::new(
                &format!("gqa/forms/{form}/kv{kv}/{seq}"),
                "05-gqa",
                params,
                Throughput {
                    value: seq as f64 / time,
                    unit: "query tokens/s".into(),
                },
                time,
            )
            .with_spread(&timed)
            .with_bytes(bytes_of(|| run(&qkv)))
            .write()
            .expect("records directory is writable");
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_gqa, bench_forms
}
criterion_main!(benches);
