//! `llm-workbench serve-sim`: chapter 09's engine serving many requests on the real model —
//! synthetic ones (`--requests N [--rate R]`) or a trace (`--trace FILE`) — and what it
//! measured: throughput, time to first token, time per output token, pool use, pre-emptions.
//!
//! Everything the user gave is checked before the model's weights are loaded: a bad flag, a
//! bad trace entry, a request longer than the model's context or a pool too small for one
//! request is one line and exit 2.

use super::generate::model_path;
use crate::data::read_user_or_shipped;
use crate::device::DeviceFlag;
use crate::error::{BadInput, bad_input};
use crate::output::{JsonFlag, Progress, emit};
use crate::table::{Table, thousands};
use ch04_kv_cache::kv_bytes_formula;
use ch07_real_model::{Gguf, GgufTokenizer, config_from_gguf, load_model};
use ch09_serving::{
    Batching, Engine, EngineConfig, ServeError, Served, Summary, check_trace, from_trace,
    parse_trace, synthetic,
};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Most synthetic requests one run serves.
const MAX_REQUESTS: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BatchingArg {
    Continuous,
    Static,
}

#[derive(Debug, Clone, Args)]
pub struct ServeSimArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: DeviceFlag,
    /// The model: `smollm2` (after `llm-workbench fetch smollm2`) or a .gguf file.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Synthetic requests to serve (not with --trace).
    #[arg(
        long,
        default_value_t = 16,
        conflicts_with = "trace",
        allow_hyphen_values = true
    )]
    pub requests: i64,
    /// Poisson arrivals at this many requests per second; without it every request arrives at
    /// once (an offline batch).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "trace")]
    pub rate: Option<f64>,
    /// Replay a trace: a YAML list of `arrival_s`, `prompt_tokens`, `output_tokens`
    /// (data/serving/README.md; e.g. data/serving/trace.yaml).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Mean prompt length of synthetic requests (each within ±50%).
    #[arg(long, default_value_t = 64)]
    pub prompt_tokens: usize,
    /// Mean output length of synthetic requests (each within ±50%).
    #[arg(long, default_value_t = 32)]
    pub output_tokens: usize,
    /// Seed of the synthetic arrivals and lengths.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Most sequences in one step (vLLM's max_num_seqs).
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Most rows (tokens) in one step (vLLM's max_num_batched_tokens): prompts are fed in
    /// chunks that fill what the decodes leave.
    #[arg(long, default_value_t = 256)]
    pub max_step_tokens: usize,
    /// Blocks in the KV pool (SmolLM2 in f32: 16 tokens a block, 737 KB).
    #[arg(long, default_value_t = 512)]
    pub pool_blocks: usize,
    /// Tokens per block.
    #[arg(long, default_value_t = 16)]
    pub block_size: usize,
    /// Continuous (join and leave at every step) or static (a batch runs until its last
    /// request finishes).
    #[arg(long, value_enum, default_value_t = BatchingArg::Continuous)]
    pub batching: BatchingArg,
}

/// What `serve-sim` prints.
#[derive(Debug, Serialize)]
pub struct ServeSimReport {
    pub model: String,
    pub device: crate::device::DeviceInfo,
    pub workload: String,
    pub config: EngineConfig,
    pub summary: Summary,
    pub requests: Vec<ch09_serving::RequestMetrics>,
}

/// Checks the flags and builds the workload; loads the model only once all of it is valid.
pub fn serve(args: &ServeSimArgs) -> anyhow::Result<ServeSimReport> {
    let batching = match args.batching {
        BatchingArg::Continuous => Batching::Continuous,
        BatchingArg::Static => Batching::Static,
    };
    let config = EngineConfig {
        max_batch: args.max_batch,
        max_step_tokens: args.max_step_tokens,
        pool_blocks: args.pool_blocks,
        block_size: args.block_size,
        batching,
    };
    // The config's fields are named as its flags are (`pool_blocks` ↔ `--pool-blocks`).
    if let Err(ServeError::Zero { field }) = config.check() {
        crate::bail_input!("--{} 0: it must be at least 1", field.replace('_', "-"));
    }
    // A synthetic workload is a generated trace: both are checked as lengths first, so a
    // request too long for the model is refused before any prompt is built.
    let (entries, workload) = match &args.trace {
        Some(path) => {
            let text = read_user_or_shipped(path)?;
            let entries = parse_trace(&text).map_err(|e| bad_input(path.display(), e))?;
            let what = format!("trace {} ({} requests)", path.display(), entries.len());
            (entries, what)
        }
        None => {
            if !(1..=MAX_REQUESTS).contains(&args.requests) {
                crate::bail_input!(
                    "--requests {}: ask for 1 to {MAX_REQUESTS} requests",
                    args.requests
                );
            }
            if let Some(r) = args.rate
                && !(r.is_finite() && r > 0.0)
            {
                crate::bail_input!("--rate {r}: requests per second must be a number above 0");
            }
            for (flag, v) in [
                ("--prompt-tokens", args.prompt_tokens),
                ("--output-tokens", args.output_tokens),
            ] {
                if v == 0 {
                    crate::bail_input!("{flag} 0: ask for at least one token");
                }
            }
            let entries = synthetic(
                args.requests as usize,
                args.rate,
                args.prompt_tokens,
                args.output_tokens,
                args.seed,
            )
            .map_err(|e| BadInput(e.to_string()))?;
            let what = format!(
                "{} synthetic requests, prompts ~{} and outputs ~{} tokens, {}",
                args.requests,
                args.prompt_tokens,
                args.output_tokens,
                match args.rate {
                    Some(r) => format!("Poisson arrivals at {r} requests/s"),
                    None => "all arriving at once".into(),
                }
            );
            (entries, what)
        }
    };
    let device = args.device.open()?;
    let path = model_path(&args.model)?;
    let gguf = Gguf::open(&path).map_err(|e| BadInput(e.to_string()))?;
    let model_config = config_from_gguf(&gguf).map_err(|e| BadInput(e.to_string()))?;
    check_trace(
        &entries,
        model_config.max_position_embeddings,
        config.block_size,
        config.pool_blocks,
    )
    .map_err(|e| BadInput(e.to_string()))?;
    let pool_bytes = kv_bytes_formula(
        model_config.num_hidden_layers,
        model_config.kv_heads(),
        model_config.head_dim(),
        std::mem::size_of::<f32>(),
        config.pool_blocks.saturating_mul(config.block_size),
    );
    if let Some(memory) = crate::machine::memory_bytes()
        && pool_bytes > memory
    {
        crate::bail_input!(
            "--pool-blocks {}: {} blocks of {} tokens hold {:.1} GB of K/V, more than this machine's {:.1} GB of memory",
            config.pool_blocks,
            config.pool_blocks,
            config.block_size,
            pool_bytes as f64 / 1e9,
            memory as f64 / 1e9
        );
    }
    let tokenizer = GgufTokenizer::from_gguf(&gguf).map_err(|e| BadInput(e.to_string()))?;
    // Prompts are cut from the English corpus, so the model reads text, not noise.
    let corpus = crate::data::shipped("data/corpora/english.txt".as_ref()).expect("shipped");
    let requests = from_trace(&entries, &tokenizer.encode_raw(corpus));
    let progress = Progress::new();
    progress.set("loading the model");
    let model = load_model(&gguf, &device).map_err(|e| BadInput(e.to_string()))?;
    progress.set(&format!("serving {} requests", requests.len()));
    let served: Served = Engine::new(&model, config)
        .and_then(|engine| engine.serve(&requests))
        .map_err(|e| BadInput(e.to_string()))?;
    Ok(ServeSimReport {
        model: format!("{} ({})", args.model, path.display()),
        device: crate::device::current(),
        workload,
        config,
        summary: Summary::of(&served),
        requests: served.requests,
    })
}

pub fn run(args: &ServeSimArgs) -> anyhow::Result<()> {
    emit(&serve(args)?, args.out)
}

impl fmt::Display for ServeSimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, s) = (&self.config, &self.summary);
        let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1} ms", v * 1e3));
        writeln!(
            f,
            "{} on {} ({})",
            self.model, self.device.backend, self.device.name
        )?;
        writeln!(f, "{}", self.workload)?;
        writeln!(
            f,
            "{} batching, at most {} sequences and {} rows a step, pool of {} blocks × {} tokens\n",
            match c.batching {
                Batching::Continuous => "continuous",
                Batching::Static => "static",
            },
            c.max_batch,
            c.max_step_tokens,
            c.pool_blocks,
            c.block_size
        )?;
        let mut t = Table::new(["measure", "value"]);
        t.row([
            "throughput".into(),
            format!(
                "{} output tokens/s ({} tokens in {:.2} s)",
                thousands(s.output_tokens_per_s, 1),
                s.output_tokens,
                s.makespan_s
            ),
        ]);
        t.row([
            "time to first token".into(),
            format!(
                "p50 {}, p95 {}",
                ms(Some(s.ttft_p50_s)),
                ms(Some(s.ttft_p95_s))
            ),
        ]);
        t.row([
            "time per output token".into(),
            format!("p50 {}, p95 {}", ms(s.tpot_p50_s), ms(s.tpot_p95_s)),
        ]);
        t.row([
            "batch".into(),
            format!(
                "{:.1} sequences a step on average, {} steps",
                s.mean_batch, s.steps
            ),
        ]);
        t.row([
            "KV pool in use".into(),
            format!(
                "{:.0}% on average, {:.0}% at peak",
                s.pool_utilisation_mean * 100.0,
                s.pool_utilisation_peak * 100.0
            ),
        ]);
        t.row(["pre-emptions".into(), s.preemptions.to_string()]);
        write!(f, "{t}")
    }
}

/// The tour's chapter 09 step: the shipped trace on the real model, continuous batching, or
/// how to fetch the model when it is not there.
#[derive(Debug, Serialize)]
pub struct ServingTour {
    pub report: Option<ServeSimReport>,
    pub how_to_fetch: Option<String>,
}

pub fn tour_section(device: DeviceFlag) -> anyhow::Result<ServingTour> {
    use ch07_real_model::fetch;
    if !fetch::cached_path(&fetch::SMOLLM2).exists() {
        return Ok(ServingTour {
            report: None,
            how_to_fetch: Some(
                "SmolLM2-135M-Instruct is not fetched: run `llm-workbench fetch smollm2`, then `tour` again".into(),
            ),
        });
    }
    let args = ServeSimArgs {
        out: JsonFlag { json: false },
        device,
        model: fetch::SMOLLM2.id.into(),
        requests: 16,
        rate: None,
        trace: Some(PathBuf::from("data/serving/trace.yaml")),
        prompt_tokens: 64,
        output_tokens: 32,
        seed: 0,
        max_batch: 8,
        max_step_tokens: 128,
        pool_blocks: 512,
        block_size: 16,
        batching: BatchingArg::Continuous,
    };
    Ok(ServingTour {
        report: Some(serve(&args)?),
        how_to_fetch: None,
    })
}

impl fmt::Display for ServingTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.report, &self.how_to_fetch) {
            (Some(r), _) => write!(f, "{r}"),
            (None, Some(how)) => writeln!(f, "{how}"),
            (None, None) => Ok(()),
        }
    }
}
