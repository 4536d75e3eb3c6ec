//! Chapter 06 measured: the MoE layer against two dense SwiGLU baselines — one with the same
//! *active* parameters (`top_k · intermediate` wide) and one with the same *total* parameters
//! (`experts · intermediate` wide) — time per token and peak bytes, for 8 experts top-2 and 64
//! experts top-8 (both 4096 expert columns in total) at hidden 256; and the share of the layer's
//! time spent routing, dispatching and combining rather than in expert matmuls. Also draws the
//! expert-load histograms of a balanced and a skewed router.

use burn::tensor::{Device, Tensor};
use ch06_moe::demo::{demo_inputs, load_demo};
use ch06_moe::{MoeConfig, MoeLayer, PhaseTimes, dense_ffn};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::alloc::CountingAlloc;
use llm_workbench::bench::{bytes_of, timing};
use llm_workbench::commands::moe::load_chart;
use llm_workbench::plot::report_dir;
use llm_workbench::records::{Record, Throughput as Rate};
use llm_workbench::table::{Table, bytes, thousands};
use std::time::Duration;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const HIDDEN: usize = 256;
/// (name, experts, top_k, expert intermediate width)
const SHAPES: [(&str, usize, usize, usize); 2] = [("8e-top2", 8, 2, 512), ("64e-top8", 64, 8, 64)];
const TOKENS: [usize; 3] = [128, 512, 2048];

fn bench_moe(c: &mut Criterion) {
    let device = llm_workbench::device::bench_device();
    device.seed(6);
    let mut group = c.benchmark_group("moe");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let mut table = Table::new([
        "variant",
        "tokens",
        "µs/token",
        "peak bytes",
        "route+dispatch+combine",
    ]);
    for tokens in TOKENS {
        let x = demo_inputs(tokens, HIDDEN, &device);
        group.throughput(Throughput::Elements(tokens as u64));
        let mut dense_widths = vec![("dense-total".to_string(), SHAPES[0].1 * SHAPES[0].3)];
        for (name, experts, top_k, width) in SHAPES {
            let config = MoeConfig::new(HIDDEN, width, experts, top_k);
            let layer = config.init(&device).unwrap();
            let variant = format!("moe-{name}");
            let run = || layer.forward(x.clone()).unwrap().output;
            group.bench_with_input(BenchmarkId::new(&variant, tokens), &x, |b, _| b.iter(run));
            let (time_s, peak) = record(&variant, tokens, &config, run);
            let share = phase_share(&layer, &x);
            table.row([
                variant,
                tokens.to_string(),
                thousands(time_s / tokens as f64 * 1e6, 2),
                bytes(peak as f64),
                format!("{:.1}%", share * 100.0),
            ]);
            dense_widths.push((format!("dense-active-{name}"), top_k * width));
        }
        for (variant, width) in dense_widths {
            let ffn = dense_ffn(HIDDEN, width, &device);
            let run = || ffn.forward(x.clone());
            group.bench_with_input(BenchmarkId::new(&variant, tokens), &x, |b, _| b.iter(run));
            let config = MoeConfig::new(HIDDEN, width, 1, 1);
            let (time_s, peak) = record(&variant, tokens, &config, run);
            table.row([
                variant,
                tokens.to_string(),
                thousands(time_s / tokens as f64 * 1e6, 2),
                bytes(peak as f64),
                "-".to_string(),
            ]);
        }
    }
    group.finish();
    println!("\nMoE vs dense SwiGLU, hidden {HIDDEN} (median of repeated runs)\n{table}");
    load_histograms(&device);
}

/// Median share of routing + dispatch + combine over 15 forwards (per-phase medians).
fn phase_share(layer: &MoeLayer, x: &Tensor<3>) -> f64 {
    let runs: Vec<PhaseTimes> = (0..15)
        .map(|_| layer.forward(x.clone()).unwrap().times)
        .collect();
    let median = |f: fn(&PhaseTimes) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let t = PhaseTimes {
        route_s: median(|t| t.route_s),
        dispatch_s: median(|t| t.dispatch_s),
        experts_s: median(|t| t.experts_s),
        combine_s: median(|t| t.combine_s),
    };
    println!(
        "  {:>5} tokens, {} experts: route {:.3} ms, dispatch {:.3} ms, experts {:.3} ms, combine {:.3} ms",
        x.dims()[1],
        layer.config.experts,
        t.route_s * 1e3,
        t.dispatch_s * 1e3,
        t.experts_s * 1e3,
        t.combine_s * 1e3
    );
    t.overhead_share()
}

fn record<R>(
    variant: &str,
    tokens: usize,
    config: &MoeConfig,
    mut run: impl FnMut() -> R,
) -> (f64, u64) {
    let timed = timing(&mut run, 5, Duration::from_millis(500));
    let time = timed.median.as_secs_f64();
    let stats = bytes_of(run);
    let params = serde_json::json!({
        "variant": variant, "tokens": tokens, "hidden": HIDDEN, "experts": config.experts,
        "top_k": config.top_k, "intermediate": config.intermediate,
        "active_params": config.active_params(), "total_params": config.total_params(),
        "dtype": "f32",
    });
    let rec = Record::new(
        &format!("moe/{variant}/{tokens}"),
        "06-moe",
        params,
        Rate {
            value: tokens as f64 / time,
            unit: "tokens/s".into(),
        },
        time,
    )
    .with_spread(&timed)
    .with_bytes(stats);
    rec.write().expect("records directory is writable");
    (time, stats.map_or(0, |s| s.peak_bytes))
}

/// Tokens routed to each expert (8 experts, top-2, 2048 tokens, capacity factor 1.25) for a
/// balanced and a skewed router.
fn load_histograms(device: &Device) {
    let config = MoeConfig::new(HIDDEN, 64, 8, 2).with_capacity_factor(Some(1.25));
    device.seed(6);
    for (stem, skew) in [("moe-load-balanced", 0.0), ("moe-load-skewed", 1.0)] {
        let demo = load_demo(&config, 2048, skew, device).unwrap();
        println!(
            "{} router: CV {:.2}, max/mean − 1 = {:.2}, dropped {:.1}%, aux loss {:.2}, capacity {}: {:?}",
            demo.router,
            demo.load.coefficient_of_variation,
            demo.load.max_violation,
            demo.load.drop_rate * 100.0,
            demo.aux_loss,
            demo.load.capacity.unwrap_or(0),
            demo.load.tokens_per_expert
        );
        // The same chart as `llm-workbench moe` draws: bars, capacity and fair share.
        load_chart(&report_dir().join(stem), &demo).expect("report directory is writable");
    }
}

criterion_group!(benches, bench_moe);
criterion_main!(benches);
