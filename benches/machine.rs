//! The machine's limits under criterion: the same probes as `llm-workbench machine`
//! (burn flex f32 matmul at 1024² and 2048², read bandwidth over a 1 GiB buffer), 1 thread and
//! all threads. Writes the same records, so `report` shows bench and CLI side by side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::machine::{
    BANDWIDTH_ID, MATMUL_ID, bandwidth_buffer, read_bandwidth_gb_s, sum_f32, thread_pool,
    with_threads,
};
use llm_workbench::records::{Record, Throughput as RecThroughput};
use std::time::Duration;

fn bench_machine(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let device = llm_workbench::device::cpu();
    let mut group = c.benchmark_group("machine/matmul_f32");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for n in [1024usize, 2048] {
        let a =
            burn::tensor::Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, &device);
        let b =
            burn::tensor::Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, &device);
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        for threads in [1, cores] {
            let pool = thread_pool(threads);
            group.bench_function(format!("n{n}_t{threads}"), |bench| {
                bench.iter(|| pool.install(|| a.clone().matmul(b.clone())))
            });
        }
    }
    group.finish();

    let buffer = bandwidth_buffer(1 << 30);
    let mut group = c.benchmark_group("machine/read_bandwidth");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Bytes(
        std::mem::size_of_val(buffer.as_slice()) as u64
    ));
    for threads in [1, cores] {
        let pool = thread_pool(threads);
        group.bench_function(format!("t{threads}"), |bench| {
            bench.iter(|| {
                use rayon::prelude::*;
                let chunk = buffer.len().div_ceil(threads * 4);
                pool.install(|| buffer.par_chunks(chunk).map(sum_f32).sum::<f32>())
            })
        });
    }
    group.finish();

    // The records the CLI writes, so the denominators exist after `cargo bench` alone.
    let matmul = with_threads(cores, || llm_workbench::machine::matmul_gflops(2048, 5));
    let bw = with_threads(cores, || read_bandwidth_gb_s(&buffer, 5));
    for (id, params, value, unit, time_s) in [
        (
            MATMUL_ID,
            serde_json::json!({"n": 2048, "threads": cores, "dtype": "f32", "backend": "flex", "source": "bench"}),
            matmul.gflops,
            "GFLOP/s",
            matmul.time_s,
        ),
        (
            BANDWIDTH_ID,
            serde_json::json!({"bytes": 1u64 << 30, "threads": cores, "source": "bench"}),
            bw,
            "GB/s",
            (1u64 << 30) as f64 / (bw * 1e9),
        ),
    ] {
        let mut r = Record::new(
            id,
            "machine",
            params,
            RecThroughput {
                value,
                unit: unit.into(),
            },
            time_s,
        );
        r.limits = Some(llm_workbench::records::MachineLimits {
            matmul_gflops: matmul.gflops,
            bandwidth_gb_s: bw,
        });
        r.write().expect("records directory is writable");
    }
}

criterion_group!(benches, bench_machine);
criterion_main!(benches);
