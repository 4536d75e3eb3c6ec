//! Chapter 07 measured: SmolLM2-135M-Instruct from its GGUF file, prefill and decode tokens/s at
//! 1 and all threads, with llama.cpp on the same file, prompt, threads and token counts in the
//! same run when its reference environment exists (`data/reference/smollm2/setup.sh`), and the
//! K/V bytes the cache held against the serving budget's prediction.
//!
//! Each case writes a record (`target/workbench/records/`) for `llm-workbench report`.

use ch04_kv_cache::{ConcatCache, KvCache};
use ch07_real_model::fetch::SMOLLM2;
use ch07_real_model::{Generated, GgufTokenizer, Sampling, generate, load_model};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::budget::{arch, calc};
use llm_workbench::machine::with_threads;
use llm_workbench::records::{Record, Throughput as Rate};
use smollm2::{NEW_TOKENS, PROMPT_TOKENS, llama_cpp};
use std::time::Duration;

#[path = "common/smollm2.rs"]
mod smollm2;

fn bench_real_model(c: &mut Criterion) {
    let gguf = smollm2::open_gguf();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let device = llm_workbench::device::bench_device();
    let model = load_model(&gguf, &device).unwrap();
    let config = ch07_real_model::config_from_gguf(&gguf).unwrap();
    let prompt = smollm2::prompt(&tokenizer);
    let cache = || smollm2::cache(&config, &device);
    let run = || -> Generated {
        let mut c = cache();
        generate(
            &model,
            Some(&mut c),
            &prompt,
            NEW_TOKENS,
            &Sampling::greedy(),
            &[],
            |_| {},
        )
        .unwrap()
    };

    let mut group = c.benchmark_group("real_model/prefill");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(PROMPT_TOKENS as u64));
    group.bench_function(format!("smollm2-135m/{PROMPT_TOKENS}"), |b| {
        b.iter(|| {
            let mut c = cache();
            ch04_kv_cache::decode::forward_cached(&model, &mut c, &prompt).unwrap()
        })
    });
    group.finish();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("threads | prefill tok/s ours / llama.cpp | decode tok/s ours / llama.cpp");
    for threads in [1, cores] {
        // Three whole generations; each phase's median.
        let runs: Vec<Generated> = with_threads(threads, || (0..3).map(|_| run()).collect());
        let median = |f: &dyn Fn(&Generated) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let prefill = median(&|g| g.prefill_tokens_per_s());
        let decode = median(&|g| g.decode_tokens_per_s());
        let reference = llama_cpp(threads);
        let theirs = |key: &str| reference.as_ref().ok().and_then(|v| v[key].as_f64());
        for (phase, ours, key, tokens) in [
            ("prefill", prefill, "prefill_tokens_per_s", PROMPT_TOKENS),
            ("decode", decode, "decode_tokens_per_s", NEW_TOKENS),
        ] {
            let params = serde_json::json!({
                "model": SMOLLM2.budget_id, "file": SMOLLM2.file_name, "threads": threads,
                "tokens": tokens, "activations": "f32",
                "llama_cpp_tokens_per_s": theirs(key),
                "ratio_to_llama_cpp": theirs(key).map(|t| ours / t),
                "llama_cpp": reference.as_ref().map_or_else(|e| serde_json::json!({"missing": e}), Clone::clone),
            });
            Record::new(
                &format!("real_model/{phase}/t{threads}"),
                "07-real-model",
                params,
                Rate {
                    value: ours,
                    unit: "tokens/s".into(),
                },
                tokens as f64 / ours,
            )
            .with_spread(smollm2::phase_spread(&runs, phase, tokens))
            .write()
            .expect("records directory is writable");
        }
        let show = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
        println!(
            "{threads:7} | {prefill:.1} / {} | {decode:.1} / {}",
            show(theirs("prefill_tokens_per_s")),
            show(theirs("decode_tokens_per_s"))
        );
        if let Err(e) = &reference {
            println!("llama.cpp not measured: {e}");
        }
    }

    // K/V bytes held vs the budget's prediction for the catalog model, same positions, f32.
    let mut concat = ConcatCache::new(config.num_hidden_layers);
    let g = generate(
        &model,
        Some(&mut concat),
        &prompt,
        NEW_TOKENS,
        &Sampling::greedy(),
        &[],
        |_| {},
    )
    .unwrap();
    let catalog = arch::resolve(SMOLLM2.budget_id).unwrap();
    let predicted =
        calc::kv_bytes_for_tokens(&catalog, calc::KvDtype::F32, 1, concat.tokens() as u64);
    println!(
        "KV held after {} positions: {} bytes; budget predicts {predicted} bytes",
        g.cached_positions, g.kv_bytes
    );
}

criterion_group!(benches, bench_real_model);
criterion_main!(benches);
