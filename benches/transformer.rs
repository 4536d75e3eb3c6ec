//! Chapter 03 measured: forward (prefill) throughput in tokens/s and peak bytes of the
//! Llama-style decoder at two model sizes and 128 / 512 / 2048 tokens, with the achieved
//! GFLOP/s (FLOPs/token ≈ 2 × matmul parameters + the attention term, `prefill_flops`) as a
//! fraction of this machine's measured matmul rate.

use burn::tensor::{Device, Int, Tensor, TensorData};
use ch03_transformer_block::{LlamaConfig, LlamaModel, param_counts, prefill_flops, presets};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::alloc::CountingAlloc;
use llm_workbench::bench::{bytes_of, timing};
use llm_workbench::records::{Record, Throughput as Rate};
use std::time::Duration;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const VOCAB: usize = 8192;

fn sizes() -> Vec<(&'static str, LlamaConfig)> {
    vec![
        ("d256-L4", presets::small(VOCAB)),
        (
            "d512-L8",
            LlamaConfig {
                max_position_embeddings: 4096,
                ..LlamaConfig::new(512, 1376, 8, 8, VOCAB)
            },
        ),
    ]
}

fn tokens(seq: usize, device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = (0..seq as i64).map(|i| (i * 7919) % VOCAB as i64).collect();
    Tensor::from_data(TensorData::new(ids, [1, seq]), device)
}

fn bench_prefill(c: &mut Criterion) {
    let device = llm_workbench::device::bench_device();
    device.seed(0);
    let mut group = c.benchmark_group("transformer_prefill");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, config) in sizes() {
        let model = LlamaModel::new(&config, &device).expect("valid preset");
        for seq in [128usize, 512, 2048] {
            let ids = tokens(seq, &device);
            let run = || {
                let logits = model.forward(ids.clone()).expect("fits");
                // Wait for the result: read one value back.
                logits.narrow(1, seq - 1, 1).sum().into_scalar::<f32>()
            };
            group.throughput(Throughput::Elements(seq as u64));
            group.bench_function(BenchmarkId::new(name, seq), |b| b.iter(run));
            record(name, &config, seq, run);
        }
    }
    group.finish();
}

fn record<R>(variant: &str, config: &LlamaConfig, seq: usize, mut run: impl FnMut() -> R) {
    let timed = timing(&mut run, 3, Duration::from_millis(500));
    let time = timed.median.as_secs_f64();
    let bytes = bytes_of(run);
    let flops = prefill_flops(config, seq);
    let params = serde_json::json!({
        "variant": variant, "seq": seq, "batch": 1, "dtype": "f32",
        "params": param_counts(config).total(), "layers": config.num_hidden_layers,
        "hidden": config.hidden_size, "vocab": config.vocab_size,
        "flops": flops, "gflops_per_s": flops / time / 1e9,
    });
    Record::new(
        &format!("transformer/prefill/{variant}/{seq}"),
        "03-transformer-block",
        params.clone(),
        Rate {
            value: seq as f64 / time,
            unit: "tokens/s".into(),
        },
        time,
    )
    .with_spread(&timed)
    .with_bytes(bytes)
    .write()
    .expect("records directory is writable");
    // The same case as a GFLOP/s record, so the report shows it as a % of matmul. Its size is
    // under `model`, not `variant`, so the report's curves draw each case once.
    let mut params = params;
    if let Some(map) = params.as_object_mut() {
        map.remove("variant");
        map.insert("model".into(), variant.into());
    }
    Record::new(
        &format!("transformer/prefill_gflops/{variant}/{seq}"),
        "03-transformer-block",
        params,
        Rate {
            value: flops / time / 1e9,
            unit: "GFLOP/s".into(),
        },
        time,
    )
    .with_spread(&timed)
    .with_bytes(bytes)
    .write()
    .expect("records directory is writable");
}

criterion_group!(benches, bench_prefill);
criterion_main!(benches);
