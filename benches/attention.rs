//! Chapter 02 measured: forward time, GFLOP/s, % of this machine's matmul rate and peak bytes
//! of every attention variant, side by side on the same inputs — step by step (materialises
//! the s×s scores), tiled with an online softmax, burn's fused `attention`, and the ndarray f64
//! reference. Causal, batch 1, 8 heads, head_dim 64 (a GPT-2-small-like head).

use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Distribution, Tensor};
use ch02_attention::reference::{attention_f64, to_array};
use ch02_attention::{AttentionDims, attention, attention_flops, tiled_attention};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::alloc::CountingAlloc;
use llm_workbench::bench::{bytes_of, timing};
use llm_workbench::records::{Record, Throughput as Rate};
use std::time::Duration;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const HEADS: usize = 8;
const HEAD_DIM: usize = 64;
const TILE: usize = 128;

type Variant = (&'static str, fn(&[Tensor<4>; 3]) -> Tensor<4>);

fn variants() -> Vec<Variant> {
    vec![
        ("steps", |[q, k, v]| {
            attention(q.clone(), k.clone(), v.clone(), true, None).unwrap()
        }),
        ("tiled", |[q, k, v]| {
            tiled_attention(q.clone(), k.clone(), v.clone(), true, None, TILE).unwrap()
        }),
        ("burn_fused", |[q, k, v]| {
            let options = AttentionModuleOptions {
                is_causal: true,
                ..Default::default()
            };
            burn_attention(q.clone(), k.clone(), v.clone(), None, None, options)
        }),
    ]
}

fn bench_attention(c: &mut Criterion) {
    let device = llm_workbench::device::bench_device();
    let mut group = c.benchmark_group("attention");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for seq in [128usize, 512, 2048, 8192] {
        let n = Distribution::Normal(0.0, 1.0);
        let qkv = [0, 1, 2].map(|_| Tensor::<4>::random([1, HEADS, seq, HEAD_DIM], n, &device));
        let dims = AttentionDims {
            batch: 1,
            heads: HEADS,
            seq_q: seq,
            seq_k: seq,
            head_dim: HEAD_DIM,
            value_dim: HEAD_DIM,
        };
        for (name, run) in variants() {
            // Count the FLOPs each variant performs: only the tiled form (and the ndarray loop,
            // which never multiplies a masked score) skips the masked half.
            let flops = attention_flops(dims, true, name == "tiled");
            group.throughput(Throughput::Elements(flops as u64));
            // The s×s score matrix of the step-by-step form is 2 GiB at 8192: skip it there.
            if name == "steps" && seq > 2048 {
                continue;
            }
            group.bench_with_input(BenchmarkId::new(name, seq), &qkv, |b, qkv| {
                b.iter(|| run(qkv))
            });
            record(name, seq, flops, || run(&qkv));
        }
        if seq <= 512 {
            let [q, k, v] = qkv.each_ref().map(to_array);
            let reference = || attention_f64(q.view(), k.view(), v.view(), true, None);
            let flops = attention_flops(dims, true, true);
            group.throughput(Throughput::Elements(flops as u64));
            group.bench_function(BenchmarkId::new("ndarray_f64", seq), |b| b.iter(reference));
            record("ndarray_f64", seq, flops, reference);
        }
    }
    group.finish();
}

fn record<R>(variant: &str, seq: usize, flops: f64, mut run: impl FnMut() -> R) {
    let timed = timing(&mut run, 5, Duration::from_millis(500));
    let time = timed.median.as_secs_f64();
    let bytes = bytes_of(run);
    let params = serde_json::json!({
        "variant": variant, "seq": seq, "batch": 1, "heads": HEADS, "head_dim": HEAD_DIM,
        "causal": true, "tile": TILE, "dtype": "f32", "flops": flops,
    });
    let rec = Record::new(
        &format!("attention/{variant}/{seq}"),
        "02-attention",
        params,
        Rate {
            value: flops / time / 1e9,
            unit: "GFLOP/s".into(),
        },
        time,
    )
    .with_spread(&timed)
    .with_bytes(bytes);
    rec.write().expect("records directory is writable");
}

criterion_group!(benches, bench_attention);
criterion_main!(benches);
