//! This machine's limits: the denominators every bench reports against.
//!
//! A throughput means little alone; "61% of this machine's matmul rate" or "decode streams at
//! 80% of measured memory bandwidth" says how close to the hardware a kernel is. So before the
//! chapters are measured we measure two ceilings on this machine:
//!
//! * **matmul GFLOP/s**: an f32 `n×n · n×n` product with burn's flex backend costs `2·n³`
//!   FLOPs; we time it at growing `n` until the rate plateaus, on 1 thread and on all.
//! * **read bandwidth GB/s**: summing a buffer much larger than the last-level cache streams
//!   it from DRAM; bytes read ÷ time, on 1 thread and on all.
//!
//! The theoretical f32 peak (`cores × GHz × FMA units × SIMD lanes × 2`) is printed beside the
//! measured rate when the clock and SIMD width can be read from the OS.

use crate::records::{Record, Throughput};
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Record id of the all-threads matmul rate (the "% of matmul" denominator).
pub const MATMUL_ID: &str = "machine/matmul_f32_all_threads";
/// Record id of the all-threads read bandwidth (the "% of bandwidth" denominator).
pub const BANDWIDTH_ID: &str = "machine/read_bandwidth_all_threads";

/// How long and how large the probes are.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSizes {
    /// Matrix sizes tried for matmul; the best rate is the plateau.
    pub matmul_n: &'static [usize],
    /// Bytes of the buffer the bandwidth probe reads.
    pub bandwidth_bytes: usize,
    /// Repetitions; the fastest is kept (the least disturbed by other work).
    pub reps: usize,
}

impl ProbeSizes {
    /// Sizes that plateau on a server CPU: up to 2048² matmuls, a 1 GiB buffer (far above a
    /// few hundred MB of L3).
    pub const FULL: ProbeSizes = ProbeSizes {
        matmul_n: &[256, 512, 1024, 2048],
        bandwidth_bytes: 1 << 30,
        reps: 5,
    };
    /// Small sizes for tests: numbers are real but not at the plateau.
    pub const QUICK: ProbeSizes = ProbeSizes {
        matmul_n: &[128, 256],
        bandwidth_bytes: 64 << 20,
        reps: 2,
    };
}

/// One matmul measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatmulPoint {
    pub n: usize,
    pub threads: usize,
    pub gflops: f64,
    pub time_s: f64,
}

/// Everything `llm-workbench machine` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineReport {
    pub cpu_model: String,
    pub logical_cores: usize,
    pub simd_features: Vec<String>,
    pub clock_mhz: Option<f64>,
    /// `cores × GHz × 2 FMA units × f32 lanes × 2`; `None` when the clock is unknown.
    pub theoretical_f32_peak_gflops: Option<f64>,
    pub matmul_curve: Vec<MatmulPoint>,
    pub matmul_gflops_1_thread: f64,
    pub matmul_gflops_all_threads: f64,
    pub bandwidth_gb_s_1_thread: f64,
    pub bandwidth_gb_s_all_threads: f64,
    pub bandwidth_buffer_bytes: usize,
}

/// A rayon pool of `threads` threads (burn flex parallelises through rayon, so running inside
/// `pool.install` sets how many cores a matmul uses).
pub fn thread_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool can be built")
}

/// Runs `f` on a rayon pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    thread_pool(threads).install(f)
}

/// f32 matmul rate of burn flex for `n×n · n×n` on the current rayon pool: best of `reps`.
/// Always flex, whatever `--device` says: this is the CPU's limit, the denominator of every
/// CPU throughput's "% of matmul".
pub fn matmul_gflops(n: usize, reps: usize) -> MatmulPoint {
    let device = crate::device::cpu();
    let a = Tensor::<2>::random([n, n], Distribution::Default, &device);
    let b = Tensor::<2>::random([n, n], Distribution::Default, &device);
    let _ = a.clone().matmul(b.clone()); // warm-up: page in buffers, spin up threads
    device.sync().expect("flex executes synchronously");
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let c = a.clone().matmul(b.clone());
        device.sync().expect("flex executes synchronously");
        best = best.min(t.elapsed().as_secs_f64());
        drop(c);
    }
    let flops = 2.0 * (n as f64).powi(3);
    MatmulPoint {
        n,
        threads: rayon::current_num_threads(),
        gflops: flops / best / 1e9,
        time_s: best,
    }
}

/// Sums a slice with 16 independent accumulators so the loop vectorises and is limited by
/// memory, not by the latency of one dependent add chain.
pub fn sum_f32(data: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = data.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A buffer for the bandwidth probe, written once so every page is really mapped.
pub fn bandwidth_buffer(bytes: usize) -> Vec<f32> {
    vec![1.0f32; bytes / 4]
}

/// Read bandwidth over `data` on the current rayon pool, GB/s: best of `reps` full passes.
pub fn read_bandwidth_gb_s(data: &[f32], reps: usize) -> f64 {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let chunk = data.len().div_ceil(threads * 4).max(16);
    let pass = || -> f32 { data.par_chunks(chunk).map(sum_f32).sum() };
    std::hint::black_box(pass()); // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        std::hint::black_box(pass());
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::mem::size_of_val(data) as f64 / best / 1e9
}

/// The CPU's model name (`/proc/cpuinfo` on Linux, else the architecture).
pub fn cpu_model() -> String {
    cpu_model_and_mhz().0
}

/// The machine's RAM in bytes (`MemTotal` of `/proc/meminfo`); `None` elsewhere.
pub fn memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// CPU model and clock from `/proc/cpuinfo` (Linux); `None` fields elsewhere.
fn cpu_model_and_mhz() -> (String, Option<f64>) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
    (model, field("cpu MHz").and_then(|v| v.parse().ok()))
}

/// SIMD extensions this CPU has that matter for f32 kernels, widest last.
pub fn simd_features() -> Vec<String> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! check {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) { out.push($f.to_string()); }
            )*};
        }
        check!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "avx512f",
            "avx512bf16",
            "avx512fp16"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            out.push("neon".to_string());
        }
    }
    out
}

/// f32 lanes of the widest FMA-capable vector unit: 16 with AVX-512, 8 with AVX2+FMA, 4 with NEON.
fn f32_lanes(features: &[String]) -> Option<f64> {
    let has = |f: &str| features.iter().any(|x| x == f);
    if has("avx512f") {
        Some(16.0)
    } else if has("avx2") && has("fma") {
        Some(8.0)
    } else if has("neon") {
        Some(4.0)
    } else {
        None
    }
}

/// Theoretical f32 peak: `cores × GHz × FMA units × lanes × 2` (an FMA is two FLOPs). Assumes
/// two FMA units per core, as server x86 and recent Arm cores have.
pub fn theoretical_f32_peak_gflops(cores: usize, mhz: f64, lanes: f64) -> f64 {
    const FMA_UNITS: f64 = 2.0;
    cores as f64 * mhz / 1000.0 * FMA_UNITS * lanes * 2.0
}

/// Measures this machine. `progress` is told what is being measured (for a spinner).
pub fn measure(sizes: ProbeSizes, progress: &dyn Fn(&str)) -> MachineReport {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (cpu_model, clock_mhz) = cpu_model_and_mhz();
    let simd = simd_features();
    let peak = clock_mhz
        .zip(f32_lanes(&simd))
        .map(|(mhz, lanes)| theoretical_f32_peak_gflops(cores, mhz, lanes));

    let mut curve = Vec::new();
    for threads in [1, cores] {
        for &n in sizes.matmul_n {
            progress(&format!("matmul {n}×{n}, {threads} thread(s)"));
            curve.push(with_threads(threads, || matmul_gflops(n, sizes.reps)));
        }
        if cores == 1 {
            break;
        }
    }
    let best = |threads: usize| {
        curve
            .iter()
            .filter(|p| p.threads == threads)
            .map(|p| p.gflops)
            .fold(0.0, f64::max)
    };
    let buffer = bandwidth_buffer(sizes.bandwidth_bytes);
    progress("read bandwidth, 1 thread");
    let bw1 = with_threads(1, || read_bandwidth_gb_s(&buffer, sizes.reps));
    progress("read bandwidth, all threads");
    let bw_all = with_threads(cores, || read_bandwidth_gb_s(&buffer, sizes.reps));

    MachineReport {
        cpu_model,
        logical_cores: cores,
        simd_features: simd,
        clock_mhz,
        theoretical_f32_peak_gflops: peak,
        matmul_gflops_1_thread: best(1),
        matmul_gflops_all_threads: best(cores),
        matmul_curve: curve,
        bandwidth_gb_s_1_thread: bw1,
        bandwidth_gb_s_all_threads: bw_all,
        bandwidth_buffer_bytes: sizes.bandwidth_bytes,
    }
}

impl MachineReport {
    /// The four records that later benches read their denominators from.
    pub fn records(&self) -> Vec<Record> {
        let best_point = |threads: usize| {
            self.matmul_curve
                .iter()
                .filter(|p| p.threads == threads)
                .max_by(|a, b| a.gflops.total_cmp(&b.gflops))
                .copied()
        };
        // The ceiling is the best rate seen with any thread count (on a busy machine one thread
        // can beat two).
        let limits = crate::records::MachineLimits {
            matmul_gflops: self
                .matmul_gflops_all_threads
                .max(self.matmul_gflops_1_thread),
            bandwidth_gb_s: self
                .bandwidth_gb_s_all_threads
                .max(self.bandwidth_gb_s_1_thread),
        };
        let mut out = Vec::new();
        for (id, threads) in [
            ("machine/matmul_f32_1_thread", 1),
            (MATMUL_ID, self.logical_cores),
        ] {
            if let Some(p) = best_point(threads) {
                out.push(Record::new(
                    id,
                    "machine",
                    serde_json::json!({"n": p.n, "threads": threads, "dtype": "f32", "backend": "flex"}),
                    Throughput { value: p.gflops, unit: "GFLOP/s".into() },
                    p.time_s,
                ));
            }
        }
        for (id, threads, gb_s) in [
            (
                "machine/read_bandwidth_1_thread",
                1,
                self.bandwidth_gb_s_1_thread,
            ),
            (
                BANDWIDTH_ID,
                self.logical_cores,
                self.bandwidth_gb_s_all_threads,
            ),
        ] {
            out.push(Record::new(
                id,
                "machine",
                serde_json::json!({"bytes": self.bandwidth_buffer_bytes, "threads": threads}),
                Throughput {
                    value: gb_s,
                    unit: "GB/s".into(),
                },
                self.bandwidth_buffer_bytes as f64 / (gb_s * 1e9),
            ));
        }
        for r in &mut out {
            r.limits = Some(limits);
        }
        out
    }
}

impl std::fmt::Display for MachineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::table::Table;
        writeln!(
            f,
            "CPU: {} ({} logical cores)",
            self.cpu_model, self.logical_cores
        )?;
        writeln!(f, "SIMD: {}", self.simd_features.join(" "))?;
        match (self.clock_mhz, self.theoretical_f32_peak_gflops) {
            (Some(mhz), Some(peak)) => writeln!(
                f,
                "clock {mhz:.0} MHz → theoretical f32 peak {peak:.1} GFLOP/s (2 FMA units assumed)"
            )?,
            _ => writeln!(
                f,
                "theoretical f32 peak: unknown (clock or SIMD width not readable)"
            )?,
        }
        writeln!(f)?;
        let mut t = Table::new(["matmul n", "threads", "time", "GFLOP/s"]);
        for p in &self.matmul_curve {
            t.row([
                p.n.to_string(),
                p.threads.to_string(),
                crate::report::format_seconds(p.time_s),
                format!("{:.1}", p.gflops),
            ]);
        }
        writeln!(f, "{t}")?;
        let mut t = Table::new(["limit", "1 thread", "all threads"]);
        t.row([
            "f32 matmul GFLOP/s (burn flex)".to_string(),
            format!("{:.1}", self.matmul_gflops_1_thread),
            format!("{:.1}", self.matmul_gflops_all_threads),
        ]);
        t.row([
            format!(
                "read bandwidth GB/s ({} buffer)",
                crate::table::bytes(self.bandwidth_buffer_bytes as f64)
            ),
            format!("{:.1}", self.bandwidth_gb_s_1_thread),
            format!("{:.1}", self.bandwidth_gb_s_all_threads),
        ]);
        write!(f, "{t}")
    }
}
