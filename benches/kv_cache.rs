//! Chapter 04 measured: greedy decode tokens/s without a cache and with each cache: criterion
//! samples 50-token decodes of the small model; every (model, cache, length) case is also timed
//! once, with its bytes counted, for the records and the table (a no-cache decode of 200 tokens
//! of the GPT-2-small-sized model takes minutes, too long to sample); KV bytes from the counting
//! allocator next to the formula `2 × layers × kv_heads × head_dim × 4 × tokens`; and decode
//! tokens/s against this machine's bandwidth roofline (bytes streamed per token ÷ GB/s).
//!
//! `KV_BENCH_MAX_NEW=200` caps the new-token counts (default 1000) for a quicker run;
//! `KV_BENCH_CACHES=concat,prealloc` and `KV_BENCH_MODELS=gpt2-small` re-measure a subset.

use burn::tensor::{Device, Tensor};
use ch03_transformer_block::{LlamaConfig, LlamaModel, param_counts, presets};
use ch04_kv_cache::{
    BlockPool, CacheError, ConcatCache, KvCache, Overflow, PagedCache, PreallocCache,
    generate_cached, generate_no_cache, kv_bytes_formula,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::alloc::{CountingAlloc, allocated_so_far, measure};
use llm_workbench::bench::bytes_of;
use llm_workbench::records::{Record, Throughput as Rate, latest_limits, records_dir};
use llm_workbench::table::{Table, bytes, thousands};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const PROMPT: usize = 8;
const CACHES: [&str; 4] = ["none", "concat", "prealloc", "paged"];

fn models() -> Vec<(&'static str, LlamaConfig)> {
    vec![
        ("small", presets::small(8192)),
        ("gpt2-small", presets::gpt2_small_sized()),
    ]
}

fn prompt(vocab: usize) -> Vec<u32> {
    (0..PROMPT as u32)
        .map(|i| (i * 7919 + 11) % vocab as u32)
        .collect()
}

/// Whether `name` is in the comma-separated list in `var` (everything when it is unset).
fn selected(var: &str, name: &str) -> bool {
    std::env::var(var).map_or(true, |list| list.split(',').any(|x| x.trim() == name))
}

fn new_token_counts() -> Vec<usize> {
    let max: usize = std::env::var("KV_BENCH_MAX_NEW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    [50, 200, 1000].into_iter().filter(|&n| n <= max).collect()
}

/// A fresh cache sized for `tokens` positions.
fn make_cache(kind: &str, c: &LlamaConfig, tokens: usize, device: &Device) -> Box<dyn KvCache> {
    let (l, kv, d) = (c.num_hidden_layers, c.kv_heads(), c.head_dim());
    match kind {
        "concat" => Box::new(ConcatCache::new(l)),
        "prealloc" => Box::new(
            PreallocCache::new(l, 1, kv, d, tokens, Overflow::Error, device).expect("capacity ≥ 1"),
        ),
        "paged" => {
            let pool = BlockPool::new(l, kv, d, tokens.div_ceil(16), 16, device).expect("valid");
            Box::new(PagedCache::new(pool.shared()))
        }
        other => unreachable!("{other}"),
    }
}

/// A cache that counts the bytes its own `update` allocates: the copies it makes to store this
/// step's K/V and hand back all of them (concatenation's `cat`, a gather), apart from the
/// model's activations.
struct Counted<'a> {
    inner: &'a mut dyn KvCache,
    update_bytes: u64,
}

impl KvCache for Counted<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn tokens(&self) -> usize {
        self.inner.tokens()
    }
    fn reserve(&mut self, new_tokens: usize) -> Result<(), CacheError> {
        self.inner.reserve(new_tokens)
    }
    fn update(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let before = allocated_so_far().unwrap_or(0);
        let out = self.inner.update(layer, k, v);
        self.update_bytes += allocated_so_far().unwrap_or(0) - before;
        out
    }
    fn commit(&mut self, new_tokens: usize) {
        self.inner.commit(new_tokens)
    }
    fn kv_bytes(&self) -> usize {
        self.inner.kv_bytes()
    }
    fn max_tokens_per_step(&self) -> usize {
        self.inner.max_tokens_per_step()
    }
}

/// One decode of `new` tokens; returns the KV bytes the cache held and the bytes its updates
/// allocated.
fn decode(
    model: &LlamaModel,
    c: &LlamaConfig,
    kind: &str,
    new: usize,
    device: &Device,
) -> (usize, u64) {
    let p = prompt(c.vocab_size);
    if kind == "none" {
        (generate_no_cache(model, &p, new).expect("fits").kv_bytes, 0)
    } else {
        let mut cache = make_cache(kind, c, PROMPT + new, device);
        let mut counted = Counted {
            inner: cache.as_mut(),
            update_bytes: 0,
        };
        let kv = generate_cached(model, &mut counted, &p, new)
            .expect("fits")
            .kv_bytes;
        (kv, counted.update_bytes)
    }
}

fn bench_small(crit: &mut Criterion) {
    let device = llm_workbench::device::bench_device();
    device.seed(0);
    let (name, config) = models().remove(0);
    let model = LlamaModel::new(&config, &device).expect("valid preset");
    let mut group = crit.benchmark_group("kv_cache_decode_small");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    // Criterion samples 50-token decodes (10 samples each); the longer decodes are timed once
    // in `measure_all`.
    for new in [50usize] {
        group.throughput(Throughput::Elements(new as u64));
        for kind in CACHES {
            group.bench_function(BenchmarkId::new(format!("{name}/{kind}"), new), |b| {
                b.iter(|| decode(&model, &config, kind, new, &device))
            });
        }
    }
    group.finish();
}

/// One timed, allocation-counted run per (model, cache, new tokens); records and a table.
fn measure_all(_: &mut Criterion) {
    let device = llm_workbench::device::bench_device();
    device.seed(0);
    let limits = latest_limits(&records_dir()).expect("machine record");
    let gb_s = limits.as_ref().map(|l| l.bandwidth_gb_s);
    let mut table = Table::new([
        "model",
        "cache",
        "new",
        "tokens/s",
        "× none",
        "roofline tok/s",
        "% roofline",
        "KV read/token",
        "cache copies/token",
        "allocated/token",
        "KV held",
        "KV formula",
        "KV alloc",
        "peak bytes",
    ]);
    for (name, config) in models() {
        if !selected("KV_BENCH_MODELS", name) {
            continue;
        }
        let model = LlamaModel::new(&config, &device).expect("valid preset");
        let (l, kv, d) = (
            config.num_hidden_layers,
            config.kv_heads(),
            config.head_dim(),
        );
        // Bytes a decode step must move, besides the KV it reads: every matmul weight once (the
        // tied embedding again as the LM head), f32, and the logits it writes.
        let weight_bytes = 4.0 * param_counts(&config).matmul_weights(&config) as f64;
        let logit_bytes = 4.0 * config.vocab_size as f64;
        println!(
            "{name}: per token {} of weights + {} of logits + the KV at the mean context",
            bytes(weight_bytes),
            bytes(logit_bytes)
        );
        decode(&model, &config, "prealloc", 8, &device); // warm up
        let mut none_rate = std::collections::HashMap::new();
        for new in new_token_counts() {
            for kind in CACHES {
                if kind == "none" && new > 200 || !selected("KV_BENCH_CACHES", kind) {
                    continue; // no cache is quadratic: minutes on the large model, adds nothing
                }
                let (((kv_held, cache_bytes), secs), stats) = measure(|| {
                    let t = Instant::now();
                    let held = decode(&model, &config, kind, new, &device);
                    (held, t.elapsed().as_secs_f64())
                });
                let cache_copies = cache_bytes as f64 / new as f64;
                let rate = new as f64 / secs;
                if kind == "none" {
                    none_rate.insert(new, rate);
                }
                let context = PROMPT + new;
                // Positions stored at the end: the last new token is never fed back.
                let stored = context - 1;
                let formula = kv_bytes_formula(l, kv, d, 4, stored);
                // The allocator's view of the KV storage: what creating it allocates.
                let alloc_kv = (kind != "none" && kind != "concat")
                    .then(|| bytes_of(|| make_cache(kind, &config, context, &device)))
                    .flatten()
                    .map(|s| s.peak_bytes);
                let mean_context = PROMPT + new / 2;
                let kv_read = if kind == "none" {
                    0.0
                } else {
                    kv_bytes_formula(l, kv, d, 4, mean_context) as f64
                };
                let streamed = weight_bytes + logit_bytes + kv_read;
                // Everything the decode's operations wrote into fresh buffers, per new token:
                // activations and logits for every cache, plus whatever copies of the KV a
                // cache makes (concatenation's `cat`, a gather).
                let allocated = stats.map(|s| s.total_bytes as f64 / new as f64);
                let roofline = gb_s.map(|g| g * 1e9 / streamed);
                table.row([
                    name.to_string(),
                    kind.to_string(),
                    new.to_string(),
                    thousands(rate, 1),
                    none_rate
                        .get(&new)
                        .map_or("-".into(), |n| format!("{:.1}×", rate / n)),
                    roofline.map_or("-".into(), |r| thousands(r, 1)),
                    roofline
                        .filter(|_| kind != "none")
                        .map_or("-".into(), |r| format!("{:.0}%", 100.0 * rate / r)),
                    bytes(kv_read),
                    bytes(cache_copies),
                    allocated.map_or("-".into(), bytes),
                    bytes(kv_held as f64),
                    bytes(formula as f64),
                    alloc_kv.map_or("-".into(), |b| bytes(b as f64)),
                    stats.map_or("-".into(), |s| bytes(s.peak_bytes as f64)),
                ]);
                let params = serde_json::json!({
                    "variant": format!("{name} {kind}"), "model": name, "cache": kind,
                    "new_tokens": new, "prompt_tokens": PROMPT, "context": context, "batch": 1,
                    "dtype": "f32", "layers": l, "hidden": config.hidden_size,
                    "heads": config.num_attention_heads, "kv_heads": kv, "head_dim": d,
                    "vocab": config.vocab_size, "d_ff": config.intermediate_size,
                    "tied_embeddings": config.tie_word_embeddings,
                    "kv_bytes": kv_held, "kv_bytes_formula": formula,
                    "kv_bytes_allocated": alloc_kv,
                    "bytes_streamed_per_token": streamed,
                    "weight_bytes_per_token": weight_bytes, "kv_bytes_read_per_token": kv_read,
                    "logit_bytes_per_token": logit_bytes,
                    "bytes_allocated_per_token": allocated,
                    "cache_copy_bytes_per_token": cache_copies,
                    "roofline_tokens_per_s": roofline,
                });
                Record::new(
                    &format!("kv_cache/decode/{name}/{kind}/{new}"),
                    "04-kv-cache",
                    params,
                    Rate {
                        value: rate,
                        unit: "tokens/s".into(),
                    },
                    secs,
                )
                .with_bytes(stats)
                .write()
                .expect("records directory is writable");
            }
        }
    }
    println!(
        "\nDecode, prompt {PROMPT} tokens, f32, batch 1 (roofline at {} GB/s):\n{table}",
        gb_s.map_or("? (run `llm-workbench machine`)".into(), |g| format!(
            "{g:.1}"
        ))
    );
}

criterion_group!(benches, bench_small, measure_all);
criterion_main!(benches);
