//! Chapter 08 measured: decode and prefill tokens/s of SmolLM2-135M with its weights in each
//! form (chapter 07's f32 model on burn's matmul, and chapter 08's kernel on f32, f16, q8_0 and
//! the file's native Q4_1), at 1 and all threads, beside llama.cpp on the same file, prompt and
//! token counts (when its reference environment exists: `data/reference/smollm2/setup.sh`).
//! The kernel's forms decode through chapter 08's one-region [`Decoder`] (what `generate`
//! runs); `native-xq8-per-product` is the same weights and kernel through chapter 04's cache
//! with burn tensors between the products — the step before the decoder, measured beside it.
//!
//! For each form: the weight bytes one decode step reads, and the read bandwidth that implies
//! as a share of this machine's, measured in the same run with the same threads — the roofline
//! a batch-1 decode cannot beat.
//!
//! Records (`target/workbench/records/`): `quantization/{prefill,decode}/{form}/t{threads}`,
//! `quantization/matvec/{form}` (one 1536 × 576 matrix-vector product, SmolLM2's FFN shape),
//! `quantization/parity/{form}` (teacher-forced agreement with llama.cpp's tokens) and
//! `quantization/perplexity/{form}` (on the English corpus).
//!
//! Always on flex, whatever `WORKBENCH_DEVICE` says: chapter 08's kernels and decoder are CPU
//! code, and the question here is this CPU's memory bandwidth.

use ch03_transformer_block::CausalLm;
use ch07_real_model::fetch::SMOLLM2;
use ch07_real_model::{
    Generated, GgmlType, GgufTokenizer, Sampling, generate, generate_with, load_model,
};
use ch08_quantization::{
    Activations, Decoder, Form, QMatrix, QuantizedLlama, Weights, load_quantized,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llm_workbench::machine::{bandwidth_buffer, read_bandwidth_gb_s, thread_pool, with_threads};
use llm_workbench::plot::{Chart, Series, report_dir};
use llm_workbench::records::{Record, Throughput as Rate};
use smollm2::{NEW_TOKENS, PROMPT_TOKENS, llama_cpp};
use std::time::Duration;

#[path = "common/smollm2.rs"]
mod smollm2;

fn bench_matvec(c: &mut Criterion) {
    let (rows, cols) = (1536, 576);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919 % 1001) as f32 / 500.0 - 1.0) * 0.05)
        .collect();
    let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, cores] {
        // Called from inside the pool, as the model's decode step is: no thread wake-up per call.
        let pool = thread_pool(threads);
        let mut group = c.benchmark_group("quantization/matvec");
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for form in Form::ALL {
            let m = QMatrix::from_f32(form, &w, rows, cols).unwrap();
            group.throughput(Throughput::Bytes(m.bytes() as u64));
            for a in Activations::ALL
                .into_iter()
                .filter(|&a| form.is_quantized() || a == Activations::F32)
            {
                let id = format!("{}-x{}/{rows}x{cols}/t{threads}", form.name(), a.name());
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        pool.install(|| {
                            let start = std::time::Instant::now();
                            for _ in 0..iters {
                                std::hint::black_box(m.matmul(&x, 1, a));
                            }
                            start.elapsed()
                        })
                    })
                });
            }
        }
        group.finish();
    }
}

/// Whether the command line's bench filter (if any) names this group, as criterion's own
/// groups are selected.
fn selected(group: &str) -> bool {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_none_or(|filter| group.contains(&filter))
}

/// How a model decodes: a [`CausalLm`] with burn tensors between its products (through chapter
/// 04's cache), or chapter 08's packed model through its one-region decoder.
enum Path {
    PerProduct(Box<dyn CausalLm + Sync>),
    Decoder(Box<QuantizedLlama>),
}

fn bench_decode(_: &mut Criterion) {
    // `cargo bench --bench quantization -- matvec` runs the matrix-vector products alone.
    if !selected("quantization/decode") {
        return;
    }
    let cpu = llm_workbench::device::cpu();
    let gguf = smollm2::open_gguf();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let config = ch07_real_model::config_from_gguf(&gguf).unwrap();
    let prompt = smollm2::prompt(&tokenizer);
    let greedy = Sampling::greedy();
    let run = |path: &Path| -> Generated {
        match path {
            Path::PerProduct(model) => {
                let mut cache = smollm2::cache(&config, &cpu);
                generate(
                    model.as_ref(),
                    Some(&mut cache),
                    &prompt,
                    NEW_TOKENS,
                    &greedy,
                    &[],
                    |_| {},
                )
            }
            Path::Decoder(model) => {
                let mut decoder = Decoder::new(model, PROMPT_TOKENS + NEW_TOKENS);
                generate_with(
                    &mut decoder,
                    &prompt,
                    NEW_TOKENS,
                    &greedy,
                    &[],
                    &mut |_, _| {},
                    |_| {},
                )
            }
        }
        .unwrap()
    };

    // (name, model, weight bytes read per decoded token)
    let burn_f32 = load_model(&gguf, &cpu).unwrap();
    let mut models: Vec<(String, Path, usize)> = Vec::new();
    let params = ch03_transformer_block::param_counts(&config);
    models.push((
        "burn-f32".into(),
        Path::PerProduct(Box::new(burn_f32)),
        4 * params.total(),
    ));
    let before = load_quantized(&gguf, Weights::Native, Activations::Q8, &cpu).unwrap();
    let bytes = before.weight_bytes_per_token();
    models.push((
        "native-xq8-per-product".into(),
        Path::PerProduct(Box::new(before)),
        bytes,
    ));
    for (weights, activations) in [
        (Weights::All(Form::F32), Activations::F32),
        (Weights::All(Form::F16), Activations::F32),
        (Weights::All(Form::Q8_0), Activations::F32),
        (Weights::All(Form::Q8_0), Activations::Q8),
        (Weights::Native, Activations::F32),
        (Weights::Native, Activations::Q8),
    ] {
        let m = load_quantized(&gguf, weights, activations, &cpu).unwrap();
        let bytes = m.weight_bytes_per_token();
        let name = if weights.is_quantized() {
            format!("{}-x{}", weights.name(), activations.name())
        } else {
            weights.name().into()
        };
        models.push((name, Path::Decoder(Box::new(m)), bytes));
    }

    let buffer = bandwidth_buffer(256 << 20);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // At all threads: (name, MB per token, decode tokens/s), llama.cpp's decode, the bandwidth.
    let mut at_all_threads = (Vec::new(), None, 0.0);
    println!(
        "weights                | threads | weight MB/token | prefill tok/s (×llama.cpp) | decode tok/s (×llama.cpp) | decode GB/s (% of measured)"
    );
    for threads in [1, cores] {
        let bandwidth = with_threads(threads, || read_bandwidth_gb_s(&buffer, 5));
        let reference = llama_cpp(threads);
        let theirs = |key: &str| reference.as_ref().ok().and_then(|v| v[key].as_f64());
        for (name, model, bytes) in &models {
            let runs: Vec<Generated> =
                with_threads(threads, || (0..3).map(|_| run(model)).collect());
            let median = |f: &dyn Fn(&Generated) -> f64| {
                let mut v: Vec<f64> = runs.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let prefill = median(&|g| g.prefill_tokens_per_s());
            let decode = median(&|g| g.decode_tokens_per_s());
            let gb_s = decode * *bytes as f64 / 1e9;
            if threads == cores {
                at_all_threads
                    .0
                    .push((name.clone(), *bytes as f64 / 1e6, decode));
                at_all_threads.1 = theirs("decode_tokens_per_s");
                at_all_threads.2 = bandwidth;
            }
            let ratio = |ours: f64, key: &str| theirs(key).map(|t| ours / t);
            for (phase, ours, key, tokens) in [
                ("prefill", prefill, "prefill_tokens_per_s", PROMPT_TOKENS),
                ("decode", decode, "decode_tokens_per_s", NEW_TOKENS),
            ] {
                let params = serde_json::json!({
                    "model": SMOLLM2.budget_id, "weights": name, "threads": threads, "tokens": tokens,
                    "weight_bytes_per_token": bytes,
                    "read_gb_s": if phase == "decode" { Some(gb_s) } else { None },
                    "machine_read_gb_s": bandwidth,
                    "percent_of_bandwidth": if phase == "decode" { Some(100.0 * gb_s / bandwidth) } else { None },
                    "llama_cpp_tokens_per_s": theirs(key),
                    "ratio_to_llama_cpp": ratio(ours, key),
                    "llama_cpp": reference.as_ref().map_or_else(|e| serde_json::json!({"missing": e}), Clone::clone),
                });
                Record::new(
                    &format!("quantization/{phase}/{name}/t{threads}"),
                    "08-quantization",
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
            let x = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}×"));
            println!(
                "{name:22} | {threads:7} | {:15.1} | {prefill:8.1} ({:>6}) | {decode:7.1} ({:>6}) | {gb_s:5.1} ({:.0}%)",
                *bytes as f64 / 1e6,
                x(ratio(prefill, "prefill_tokens_per_s")),
                x(ratio(decode, "decode_tokens_per_s")),
                100.0 * gb_s / bandwidth
            );
        }
        let show = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
        println!(
            "llama.cpp              | {threads:7} |            Q4_1 | {:>8} |         | {:>7} | machine read bandwidth {bandwidth:.1} GB/s",
            show(theirs("prefill_tokens_per_s")),
            show(theirs("decode_tokens_per_s"))
        );
        if let Err(e) = &reference {
            println!("llama.cpp not measured: {e}");
        }
    }
    let (measured, llama_cpp_decode, bandwidth) = at_all_threads;
    roofline_chart(&measured, llama_cpp_decode, bandwidth, cores);
}

/// Decode tokens/s against weight MB read per token, on log axes, under the roofline
/// `bandwidth ÷ bytes` (a straight line of slope −1): how far each form is from what this
/// machine's memory allows. Written to the report folder as `ch08-decode-roofline`.
fn roofline_chart(
    measured: &[(String, f64, f64)],
    llama_cpp: Option<f64>,
    bandwidth_gb_s: f64,
    threads: usize,
) {
    let point = |name: &str| {
        measured
            .iter()
            .find(|(n, ..)| n == name)
            .map(|&(_, mb, t)| (mb, t))
    };
    let mut decoder: Vec<(f64, f64)> = ["f32", "f16", "q8_0-xq8", "native-xq8"]
        .into_iter()
        .filter_map(point)
        .collect();
    decoder.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut series = vec![Series {
        name: format!("roofline: {bandwidth_gb_s:.1} GB/s ÷ bytes"),
        points: [60.0, 100.0, 200.0, 400.0, 600.0]
            .into_iter()
            .map(|mb| (mb, bandwidth_gb_s * 1e3 / mb))
            .collect(),
    }];
    series.push(Series {
        name: "chapter 08 decoder: f32, f16, q8_0, native Q4_1".into(),
        points: decoder,
    });
    if let Some(burn) = point("burn-f32") {
        series.push(Series {
            name: "chapter 07 (burn f32)".into(),
            points: vec![burn],
        });
    }
    if let (Some(ours), Some(theirs)) = (point("native-xq8"), llama_cpp) {
        series.push(Series {
            name: "llama.cpp, same file".into(),
            points: vec![(ours.0, theirs)],
        });
    }
    let chart = Chart::line(
        "ch08-decode-roofline",
        &format!("SmolLM2-135M decode at batch 1, {threads} threads"),
        "weight MB read per token",
        "decode tokens/s",
        (true, true),
        series,
    );
    match chart.write(&report_dir()) {
        Ok(files) => println!("chart: {}", files[0].display()),
        Err(e) => println!("chart not drawn: {e}"),
    }
}

/// Teacher-forced agreement with llama.cpp (chapter 07's fixture: 13 prompts × 32 steps) for
/// each form, as records the report shows beside the speeds: the tests assert the bars, this
/// keeps the figures. `cargo bench --bench quantization -- parity` runs it alone.
fn bench_parity(_: &mut Criterion) {
    if !selected("quantization/parity") {
        return;
    }
    let cpu = llm_workbench::device::cpu();
    let gguf = smollm2::open_gguf();
    let fixture = "data/reference/smollm2/greedy.json";
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let prompts = ch07_real_model::parity::prompts(&fixture).unwrap();
    // The tensor path in every form, and the decoder `generate` runs (native + q8).
    for (weights, activations, decoder) in [
        (Weights::Native, Activations::Q8, false),
        (Weights::Native, Activations::Q8, true),
        (Weights::Native, Activations::F32, false),
        (Weights::All(Form::F16), Activations::Q8, false),
        (Weights::All(Form::Q8_0), Activations::Q8, false),
        (Weights::All(Form::Q4_1), Activations::Q8, false),
    ] {
        let model = load_quantized(&gguf, weights, activations, &cpu).unwrap();
        let start = std::time::Instant::now();
        let t = if decoder {
            let mut logits = |seq: &[u32]| Decoder::new(&model, seq.len()).forward(seq, true);
            ch07_real_model::parity::teacher_forced_with(&mut logits, &prompts, 1.0).unwrap()
        } else {
            ch07_real_model::parity::teacher_forced(&model, &prompts, 1.0).unwrap()
        };
        let seconds = start.elapsed().as_secs_f64();
        let path = if decoder { "-decoder" } else { "" };
        let name = format!("{}-x{}{path}", weights.name(), activations.name());
        println!("parity {name}: {t}");
        let params = serde_json::json!({
            "model": SMOLLM2.budget_id, "weights": weights.name(), "activations": activations.name(),
            "agree": t.agree, "total": t.total, "clear_agree": t.clear_agree,
            "clear_total": t.clear_total, "near_tie_logits": 1.0,
            "mean_top5_logit_diff": t.mean_logit_diff, "worst_top5_logit_diff": t.worst_logit_diff,
            "llama_cpp_vs_itself": t.own_noise,
        });
        Record::new(
            &format!("quantization/parity/{name}"),
            "08-quantization",
            params,
            Rate {
                value: 100.0 * t.agree as f64 / t.total as f64,
                unit: "% of steps, argmax = llama.cpp".into(),
            },
            seconds,
        )
        .write()
        .expect("records directory is writable");
    }
}

/// Perplexity of SmolLM2 on the English corpus (its first 1,024 tokens) in each form, through
/// the decoder: what each rounding costs on real text, beside the native Q4_1 weights with
/// exact f32 activations as the baseline. `cargo bench --bench quantization -- perplexity`.
fn bench_perplexity(_: &mut Criterion) {
    if !selected("quantization/perplexity") {
        return;
    }
    let cpu = llm_workbench::device::cpu();
    let gguf = smollm2::open_gguf();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpora/english.txt"),
    )
    .unwrap();
    let mut ids = tokenizer.tokenizer.encode_ordinary(&text);
    ids.truncate(1024);
    let mut baseline = None;
    println!("weights      | perplexity | vs native-xf32");
    for (weights, activations) in [
        (Weights::Native, Activations::F32),
        (Weights::Native, Activations::Q8),
        (Weights::All(Form::F16), Activations::F32),
        (Weights::All(Form::Q8_0), Activations::Q8),
        (Weights::All(Form::Q4_1), Activations::Q8),
    ] {
        let model = load_quantized(&gguf, weights, activations, &cpu).unwrap();
        let start = std::time::Instant::now();
        let logits = Decoder::new(&model, ids.len()).forward(&ids, true).unwrap();
        let ppl = ch08_quantization::eval::perplexity(&logits, &ids).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let name = if weights.is_quantized() {
            format!("{}-x{}", weights.name(), activations.name())
        } else {
            weights.name().into()
        };
        let base = *baseline.get_or_insert(ppl);
        println!(
            "{name:12} | {ppl:10.3} | {:+.2}%",
            100.0 * (ppl / base - 1.0)
        );
        let params = serde_json::json!({
            "model": SMOLLM2.budget_id, "weights": weights.name(), "activations": activations.name(),
            "text": "data/corpora/english.txt", "tokens": ids.len(),
            "baseline": "native-xf32", "baseline_perplexity": base,
            "percent_above_baseline": 100.0 * (ppl / base - 1.0),
        });
        Record::new(
            &format!("quantization/perplexity/{name}"),
            "08-quantization",
            params,
            Rate {
                value: ppl,
                unit: "perplexity".into(),
            },
            seconds,
        )
        .write()
        .expect("records directory is writable");
    }
}

/// Chapter 03's demo model, trained in f32 on the English corpus and never quantized, with its
/// matrices rounded to Q8_0, Q4_1 and Q4_0 and back: the RMS error that adds to the weights and
/// the held-out loss after it — a baseline SmolLM2's file (quantized already) cannot give.
/// `cargo bench --bench quantization -- trained`.
fn bench_trained(_: &mut Criterion) {
    if !selected("quantization/trained") {
        return;
    }
    let cpu = llm_workbench::device::cpu();
    use ch03_transformer_block::{
        DEMO_PROMPT, TrainDemoConfig, mean_loss, train_demo_keeping_model,
    };
    use ch08_quantization::eval::{RoundTrip, round_trip_weights};
    let corpus = "data/corpora/english.txt";
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(corpus))
            .unwrap();
    let config = TrainDemoConfig::default();
    let (demo, trained) =
        train_demo_keeping_model(&text, &config, &cpu, DEMO_PROMPT, 1, |_, _| {}).unwrap();
    println!(
        "chapter 03's model, {} parameters, {} steps; held-out loss {:.3} nats/token over {} tokens",
        demo.parameters,
        config.steps,
        demo.held_out_loss,
        trained.held_out.len()
    );
    println!("weights | RMS error / RMS weight | training loss | held-out loss (vs f32)");
    let mut baseline = None;
    for ty in [
        None,
        Some(GgmlType::Q8_0),
        Some(GgmlType::Q4_1),
        Some(GgmlType::Q4_0),
    ] {
        let start = std::time::Instant::now();
        let (model, stats) = match ty {
            None => (trained.model.clone(), RoundTrip::default()),
            Some(t) => round_trip_weights(trained.model.clone(), t).unwrap(),
        };
        let loss = mean_loss(&model, &trained.held_out, config.seq_len).unwrap();
        let train_loss = mean_loss(&model, &trained.train, config.seq_len).unwrap();
        let base = *baseline.get_or_insert(loss);
        let name = ty.map_or("f32".to_string(), |t| t.name().to_lowercase());
        let relative = stats.rms_error / stats.rms_weight.max(f64::MIN_POSITIVE);
        println!(
            "{name:7} | {relative:21.4} | {train_loss:13.3} | {loss:.3} ({:+.3})",
            loss - base
        );
        let params = serde_json::json!({
            "model": "chapter 03 demo", "corpus": corpus, "weights": name,
            "held_out_tokens": trained.held_out.len(), "rms_weight_error": stats.rms_error,
            "rms_weight": stats.rms_weight, "relative_rms_error": relative,
            "kept_f32": stats.kept_f32, "f32_held_out_loss": base,
            "training_loss": train_loss, "training_tokens": trained.train.len(),
        });
        Record::new(
            &format!("quantization/trained/{name}"),
            "08-quantization",
            params,
            Rate {
                value: loss,
                unit: "nats/token held out".into(),
            },
            start.elapsed().as_secs_f64(),
        )
        .write()
        .expect("records directory is writable");
    }
}

criterion_group!(
    benches,
    bench_matvec,
    bench_decode,
    bench_parity,
    bench_perplexity,
    bench_trained
);
criterion_main!(benches);
