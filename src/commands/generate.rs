//! `llm-workbench generate …`: chapter 04 from the command line — greedy decoding of a prompt
//! with no cache or one of the caches, with timing and KV bytes. Also the chapter's section of
//! `tour`: the same decode with every cache (same tokens, different time and bytes) and the
//! paged-vs-pre-allocated serving simulation, printed and plotted.
//!
//! The model is chapter 03's decoder with seeded random weights (no checkpoint is shipped), so
//! the generated text is meaningless: the point is the time and memory of each way of decoding.
//! The prompt is tokenized with chapter 01's `r50k_base` (GPT-2) tokenizer.

use crate::error::bad_input;
use crate::output::{JsonFlag, emit};
use crate::plot::{Axes, Series, bar_chart, line_chart, report_dir};
use crate::table::{Table, bytes, thousands};
use ch03_transformer_block::{LlamaConfig, LlamaModel};
use ch04_kv_cache::paged::{BlockPool, DEFAULT_BLOCK_SIZE};
use ch04_kv_cache::{
    CacheError, ConcatCache, KvCache, Overflow, PagedCache, PreallocCache, ServingConfig,
    ServingResult, generate_cached, generate_no_cache, kv_bytes_formula, simulate,
};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::fmt;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    None,
    Concat,
    Prealloc,
    Paged,
}

impl CacheKind {
    const ALL: [CacheKind; 4] = [
        CacheKind::None,
        CacheKind::Concat,
        CacheKind::Prealloc,
        CacheKind::Paged,
    ];
    fn name(self) -> &'static str {
        match self {
            CacheKind::None => "none",
            CacheKind::Concat => "concat",
            CacheKind::Prealloc => "prealloc",
            CacheKind::Paged => "paged",
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// Text to continue.
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    #[arg(long, value_enum, default_value_t = CacheKind::Prealloc)]
    pub cache: CacheKind,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The demo model: Llama-style, 4 layers of width 128, 4 query heads sharing 2 KV heads,
/// GPT-2's vocabulary so chapter 01's `r50k_base` ids fit, a 1024-token context.
pub fn demo_config() -> LlamaConfig {
    LlamaConfig {
        num_key_value_heads: Some(2),
        tie_word_embeddings: true,
        max_position_embeddings: 1024,
        ..LlamaConfig::new(128, 344, 4, 4, 50_257)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateOutput {
    pub model: String,
    pub cache: CacheKind,
    pub prompt_tokens: Vec<u32>,
    pub new_tokens: Vec<u32>,
    pub text: String,
    pub seconds: f64,
    pub tokens_per_s: f64,
    /// K and V storage the cache held at the end.
    pub kv_bytes: usize,
    /// `2 × layers × kv_heads × head_dim × 4 × positions stored`.
    pub kv_bytes_formula: u64,
}

impl fmt::Display for GenerateOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model: {}", self.model)?;
        writeln!(f, "prompt ids: {:?}", self.prompt_tokens)?;
        writeln!(f, "new ids:    {:?}", self.new_tokens)?;
        writeln!(f, "text:       {:?}", self.text)?;
        write!(
            f,
            "{}",
            Table::new([
                "cache",
                "new tokens",
                "seconds",
                "tokens/s",
                "KV held",
                "KV formula"
            ])
            .row([
                self.cache.name().to_string(),
                self.new_tokens.len().to_string(),
                format!("{:.3}", self.seconds),
                thousands(self.tokens_per_s, 1),
                bytes(self.kv_bytes as f64),
                bytes(self.kv_bytes_formula as f64),
            ])
        )
    }
}

fn cache_for(
    kind: CacheKind,
    c: &LlamaConfig,
    tokens: usize,
) -> anyhow::Result<Option<Box<dyn KvCache>>> {
    let device = burn::tensor::Device::flex();
    let (l, kv, d) = (c.num_hidden_layers, c.kv_heads(), c.head_dim());
    Ok(match kind {
        CacheKind::None => None,
        CacheKind::Concat => Some(Box::new(ConcatCache::new(l))),
        CacheKind::Prealloc => Some(Box::new(PreallocCache::new(
            l,
            1,
            kv,
            d,
            tokens,
            Overflow::Error,
            &device,
        )?)),
        CacheKind::Paged => {
            let blocks = tokens.div_ceil(DEFAULT_BLOCK_SIZE);
            let pool = BlockPool::new(l, kv, d, blocks, DEFAULT_BLOCK_SIZE, &device)?;
            Some(Box::new(PagedCache::new(pool.shared())))
        }
    })
}

fn user_error(e: CacheError) -> anyhow::Error {
    match e {
        CacheError::EmptyPrompt => bad_input("--prompt", e),
        CacheError::NoNewTokens => bad_input("--max-new-tokens", e),
        CacheError::TooLong { .. } => bad_input("--prompt/--max-new-tokens", e),
        other => other.into(),
    }
}

/// Decodes `prompt` ids with `kind` on `model`.
fn decode(
    model: &LlamaModel,
    config: &LlamaConfig,
    kind: CacheKind,
    prompt: &[u32],
    new: usize,
) -> anyhow::Result<(Vec<u32>, f64, usize)> {
    ch04_kv_cache::decode::check_request(model, prompt.len(), new).map_err(user_error)?;
    let mut cache = cache_for(kind, config, prompt.len() + new)?;
    let t = Instant::now();
    let generation = match cache.as_mut() {
        None => generate_no_cache(model, prompt, new),
        Some(c) => generate_cached(model, c.as_mut(), prompt, new),
    }
    .map_err(user_error)?;
    Ok((
        generation.tokens,
        t.elapsed().as_secs_f64(),
        generation.kv_bytes,
    ))
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    if args.prompt.is_empty() {
        return Err(user_error(CacheError::EmptyPrompt));
    }
    if args.max_new_tokens == 0 {
        return Err(user_error(CacheError::NoNewTokens));
    }
    let tokenizer = ch01_bpe::load("r50k_base", None)?;
    let prompt: Vec<u32> = tokenizer.encode_ordinary(&args.prompt);
    let config = demo_config();
    let device = burn::tensor::Device::flex();
    device.seed(args.seed);
    let model = LlamaModel::new(&config, &device)?;
    let (new, seconds, kv_bytes) =
        decode(&model, &config, args.cache, &prompt, args.max_new_tokens)?;
    let stored = if args.cache == CacheKind::None {
        0
    } else {
        prompt.len() + new.len() - 1
    };
    let text = tokenizer
        .decode_bytes(&new)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let out = GenerateOutput {
        model: format!(
            "seeded random weights (seed {}), {} layers × {} wide, {} heads / {} KV heads, r50k_base tokens: the text is noise, the timing and bytes are the point",
            args.seed,
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            config.kv_heads()
        ),
        cache: args.cache,
        prompt_tokens: prompt,
        tokens_per_s: new.len() as f64 / seconds,
        new_tokens: new,
        text,
        seconds,
        kv_bytes,
        kv_bytes_formula: kv_bytes_formula(
            config.num_hidden_layers,
            config.kv_heads(),
            config.head_dim(),
            4,
            stored,
        ),
    };
    emit(&out, args.out)
}

/// One cache's row in the tour.
#[derive(Debug, Clone, Serialize)]
pub struct TourDecode {
    pub cache: CacheKind,
    pub tokens_per_s: f64,
    pub kv_bytes: usize,
    pub same_tokens_as_no_cache: bool,
}

/// The chapter 04 section of `tour`.
#[derive(Debug, Clone, Serialize)]
pub struct KvCacheTour {
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub decodes: Vec<TourDecode>,
    pub serving: ServingConfig,
    /// `[pre-allocated, paged]`; the per-step series is left out of the JSON.
    pub serving_results: Vec<ServingSummary>,
    pub charts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServingSummary {
    pub policy: &'static str,
    pub steps: usize,
    pub mean_running: f64,
    pub peak_running: usize,
    pub mean_pool_utilization: f64,
    pub preemptions: usize,
}

impl From<&ServingResult> for ServingSummary {
    fn from(r: &ServingResult) -> Self {
        ServingSummary {
            policy: r.policy,
            steps: r.steps,
            mean_running: r.mean_running,
            peak_running: r.peak_running,
            mean_pool_utilization: r.mean_pool_utilization,
            preemptions: r.preemptions,
        }
    }
}

/// Decodes 64 tokens with every cache on the demo model, and runs the serving simulation
/// (with its charts in the report directory).
pub fn tour_section() -> anyhow::Result<KvCacheTour> {
    let config = demo_config();
    let device = burn::tensor::Device::flex();
    device.seed(0);
    let model = LlamaModel::new(&config, &device)?;
    let prompt: Vec<u32> = (0..16).map(|i| (i * 7919 + 11) % 50_257).collect();
    let new = 64;
    let mut decodes = Vec::new();
    let mut reference = None;
    for kind in CacheKind::ALL {
        let (tokens, secs, kv) = decode(&model, &config, kind, &prompt, new)?;
        let reference = reference.get_or_insert_with(|| tokens.clone());
        decodes.push(TourDecode {
            cache: kind,
            tokens_per_s: new as f64 / secs,
            kv_bytes: kv,
            same_tokens_as_no_cache: *reference == tokens,
        });
    }
    let serving = ServingConfig::default();
    let results = simulate(&serving);
    let dir = report_dir();
    let mut charts = Vec::new();
    let series: Vec<Series> = results
        .iter()
        .map(|r| Series {
            name: r.policy.to_string(),
            points: r
                .running_per_step
                .iter()
                .enumerate()
                .map(|(i, &n)| (i as f64, n as f64))
                .collect(),
        })
        .collect();
    let axes = |title| Axes {
        title,
        x: "decode step",
        y: "sequences running",
        log_x: false,
        log_y: false,
    };
    for path in line_chart(
        &dir.join("kv_cache_serving_running"),
        axes("Sequences decoding at once in a 16k-token KV pool"),
        &series,
    )? {
        charts.push(path.display().to_string());
    }
    let bars: Vec<(String, f64)> = results
        .iter()
        .map(|r| (r.policy.to_string(), r.mean_running))
        .collect();
    for path in bar_chart(
        &dir.join("kv_cache_serving_mean_running"),
        Axes {
            x: "KV pool policy",
            y: "mean sequences running",
            ..axes("Paged vs pre-allocated KV: mean concurrency")
        },
        &bars,
    )? {
        charts.push(path.display().to_string());
    }
    Ok(KvCacheTour {
        prompt_tokens: prompt.len(),
        new_tokens: new,
        decodes,
        serving,
        serving_results: results.iter().map(ServingSummary::from).collect(),
        charts,
    })
}

impl fmt::Display for KvCacheTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Greedy decode of {} new tokens after a {}-token prompt (seeded random 4-layer model):",
            self.new_tokens, self.prompt_tokens
        )?;
        let mut t = Table::new(["cache", "tokens/s", "KV held", "same tokens as no cache"]);
        for d in &self.decodes {
            t.row([
                d.cache.name().to_string(),
                thousands(d.tokens_per_s, 1),
                bytes(d.kv_bytes as f64),
                if d.same_tokens_as_no_cache {
                    "yes"
                } else {
                    "NO"
                }
                .to_string(),
            ]);
        }
        write!(f, "{t}")?;
        let s = &self.serving;
        writeln!(
            f,
            "Serving simulation: {} requests ({}–{} prompt, {}–{} output tokens), a {}-token KV pool, blocks of {}, pre-allocation of {} tokens per sequence:",
            s.requests,
            s.prompt_tokens.0,
            s.prompt_tokens.1,
            s.output_tokens.0,
            s.output_tokens.1,
            s.pool_tokens,
            s.block_size,
            s.max_len
        )?;
        let mut t = Table::new([
            "policy",
            "steps",
            "mean running",
            "peak running",
            "pool used",
            "pre-emptions",
        ]);
        for r in &self.serving_results {
            t.row([
                r.policy.to_string(),
                r.steps.to_string(),
                format!("{:.1}", r.mean_running),
                r.peak_running.to_string(),
                format!("{:.0}%", 100.0 * r.mean_pool_utilization),
                r.preemptions.to_string(),
            ]);
        }
        write!(f, "{t}")?;
        for c in &self.charts {
            writeln!(f, "chart: {c}")?;
        }
        Ok(())
    }
}
