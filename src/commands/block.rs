//! `llm-workbench block …`: chapter 03 from the command line — where a model's parameters and
//! FLOPs live (from a HF `config.json` or a preset), and the seeded training demo with its loss
//! curve. Also the chapter's section of `tour`.
//!
//! The model and the demo live in the `ch03-transformer-block` crate; this module reads files,
//! turns bad configs into exit code 2, prints, and draws the loss curve.

use crate::error::{BadInput, bad_input, read_user_file};
use crate::output::{JsonFlag, Progress, emit};
use crate::plot::{Axes, Series, line_chart};
use crate::table::{Table, thousands};
use ch03_transformer_block::{
    FlopsPerToken, HELD_OUT_FRACTION, LlamaConfig, ParamCounts, TrainDemo, TrainDemoConfig, presets,
};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Parameters and FLOPs per token of a Llama-family model, by component, from its config.
    Params(ParamsArgs),
    /// Train the tiny seeded model on a corpus: the loss curve and greedy generation.
    Train(TrainArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    Smollm2135m,
    Gpt2SmallSized,
    Tiny,
    Small,
}

impl Preset {
    fn config(self) -> LlamaConfig {
        match self {
            Preset::Smollm2135m => presets::smollm2_135m(),
            Preset::Gpt2SmallSized => presets::gpt2_small_sized(),
            Preset::Tiny => presets::tiny(512),
            Preset::Small => presets::small(8192),
        }
    }
}

#[derive(Debug, Args)]
pub struct ParamsArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// A Hugging Face `config.json` of a Llama-family model.
    #[arg(long, conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// A built-in shape (default: smollm2135m).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Keys each token attends to, for the attention-score FLOPs.
    #[arg(long, default_value_t = 2048)]
    pub context: usize,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: crate::device::DeviceFlag,
    /// Training corpus (UTF-8 text).
    #[arg(long, default_value = "data/corpora/english.txt")]
    pub corpus: PathBuf,
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Text to continue after training.
    #[arg(long, default_value = ch03_transformer_block::DEMO_PROMPT)]
    pub prompt: String,
    /// Tokens to generate greedily.
    #[arg(long, default_value_t = 40)]
    pub tokens: usize,
    /// Do not draw the loss curve.
    #[arg(long)]
    pub no_chart: bool,
}

/// One row of the where-it-lives table.
#[derive(Debug, Serialize)]
pub struct ComponentRow {
    pub component: &'static str,
    pub params: usize,
    pub flops_per_token: f64,
}

#[derive(Debug, Serialize)]
pub struct ParamsOutput {
    pub config: LlamaConfig,
    pub counts: ParamCounts,
    pub total_params: usize,
    pub context_tokens: usize,
    pub flops: FlopsPerToken,
    pub flops_per_token: f64,
    pub rows: Vec<ComponentRow>,
}

pub fn params_of(config: LlamaConfig, context_tokens: usize) -> ParamsOutput {
    let counts = ch03_transformer_block::param_counts(&config);
    let flops = ch03_transformer_block::flops_per_token(&config, context_tokens as f64);
    let tied = config.tie_word_embeddings;
    let rows = vec![
        ComponentRow {
            component: "embedding",
            params: counts.embedding,
            flops_per_token: 0.0,
        },
        ComponentRow {
            component: "attention q,k,v,o",
            params: counts.attention,
            flops_per_token: flops.attention_projections,
        },
        ComponentRow {
            component: "attention scores QKᵀ, ·V",
            params: 0,
            flops_per_token: flops.attention_scores,
        },
        ComponentRow {
            component: "SwiGLU FFN",
            params: counts.ffn,
            flops_per_token: flops.ffn,
        },
        ComponentRow {
            component: "RMSNorm gains",
            params: counts.norms,
            flops_per_token: 0.0,
        },
        ComponentRow {
            component: if tied {
                "LM head (tied: the embedding)"
            } else {
                "LM head"
            },
            params: counts.lm_head,
            flops_per_token: flops.lm_head,
        },
    ];
    ParamsOutput {
        total_params: counts.total(),
        flops_per_token: flops.total(),
        config,
        counts,
        context_tokens,
        flops,
        rows,
    }
}

impl fmt::Display for ParamsOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "{} layers, hidden {}, {} heads × {} ({} KV heads), FFN {}, vocab {}, tied {}",
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.head_dim(),
            c.kv_heads(),
            c.intermediate_size,
            c.vocab_size,
            c.tie_word_embeddings
        )?;
        let mut t = Table::new(["component", "params", "% params", "FLOPs/token", "% FLOPs"]);
        for r in &self.rows {
            t.row([
                r.component.to_string(),
                thousands(r.params as f64, 0),
                format!("{:.1}%", 100.0 * r.params as f64 / self.total_params as f64),
                thousands(r.flops_per_token, 0),
                format!("{:.1}%", 100.0 * r.flops_per_token / self.flops_per_token),
            ]);
        }
        t.row([
            "total".to_string(),
            thousands(self.total_params as f64, 0),
            "100%".into(),
            thousands(self.flops_per_token, 0),
            "100%".into(),
        ]);
        write!(f, "{t}")?;
        writeln!(
            f,
            "FLOPs/token at {} keys of context = {:.2} × parameters",
            self.context_tokens,
            self.flops_per_token / self.total_params as f64
        )
    }
}

#[derive(Debug, Serialize)]
pub struct TrainOutput {
    pub demo: TrainDemo,
    pub seconds: f64,
    pub charts: Vec<String>,
}

/// Runs the demo on `text` (read from `corpus`) and draws the loss curve into the report folder.
pub fn train(
    corpus: &str,
    text: &str,
    config: &TrainDemoConfig,
    device: &burn::tensor::Device,
    prompt: &str,
    tokens: usize,
    chart: bool,
) -> anyhow::Result<TrainOutput> {
    let progress = Progress::new();
    let start = Instant::now();
    let demo =
        ch03_transformer_block::train_demo(text, config, device, prompt, tokens, |step, loss| {
            progress.set(&format!(
                "chapter 03: training step {step}/{}, loss {loss:.3}",
                config.steps
            ))
        })
        .map_err(|e| bad_input(corpus, e))?;
    let seconds = start.elapsed().as_secs_f64();
    drop(progress);
    let charts = if chart {
        let steps = demo.losses.len() as f64;
        let level = |name: &str, nats: f64| Series {
            name: name.into(),
            points: vec![(1.0, nats), (steps, nats)],
        };
        let points = demo
            .losses
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64 + 1.0, *l as f64))
            .collect();
        let title = format!(
            "Chapter 03: training loss, {}-layer width-{} model, seed {}",
            config.layers, config.hidden_size, config.seed
        );
        line_chart(
            &crate::plot::report_dir().join("ch03-train-loss"),
            Axes {
                title: &title,
                x: "step",
                y: "cross-entropy (nats/token)",
                log_x: false,
                log_y: true,
            },
            &[
                Series {
                    name: "batch loss".into(),
                    points,
                },
                level("unigram entropy (no context)", demo.unigram_entropy),
                level("bigram entropy (no attention)", demo.bigram_entropy),
                level("held-out loss after training", demo.held_out_loss),
            ],
        )?
        .into_iter()
        .map(|p| p.display().to_string())
        .collect()
    } else {
        Vec::new()
    };
    Ok(TrainOutput {
        demo,
        seconds,
        charts,
    })
}

impl fmt::Display for TrainOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.demo;
        let c = &d.config;
        writeln!(
            f,
            "{} params ({} layers, width {}), BPE vocab {} trained on the corpus ({} bytes → {} tokens); {} steps of {}×{} tokens in {:.1} s",
            thousands(d.parameters as f64, 0),
            c.layers,
            c.hidden_size,
            c.vocab_size,
            thousands(d.corpus_bytes as f64, 0),
            thousands(d.corpus_tokens as f64, 0),
            c.steps,
            c.batch,
            c.seq_len,
            self.seconds
        )?;
        let mut t = Table::new(["step", "loss (nats/token)"]);
        t.row([
            "uniform guess".to_string(),
            format!("{:.3}", d.uniform_loss),
        ]);
        for (what, nats) in [
            ("unigram entropy (no context)", d.unigram_entropy),
            ("bigram entropy (one token: no attention)", d.bigram_entropy),
            ("trigram entropy (two tokens)", d.trigram_entropy),
        ] {
            t.row([what.to_string(), format!("{nats:.3}")]);
        }
        let every = (d.losses.len() / 6).max(1);
        for (i, l) in d.losses.iter().enumerate() {
            if i % every == 0 || i + 1 == d.losses.len() {
                t.row([(i + 1).to_string(), format!("{l:.3}")]);
            }
        }
        write!(f, "{t}")?;
        writeln!(
            f,
            "held out ({} tokens, the corpus's last {:.0}%): {:.3} nats/token; a unigram model fit to the {} training tokens: {:.3}",
            thousands(d.held_out_tokens as f64, 0),
            100.0 * HELD_OUT_FRACTION,
            d.held_out_loss,
            thousands(d.train_tokens as f64, 0),
            d.held_out_unigram_loss
        )?;
        writeln!(f, "greedy continuation: {:?}", d.generated)?;
        for c in &self.charts {
            writeln!(f, "chart: {c}")?;
        }
        Ok(())
    }
}

/// The demo trains in seconds per hundred steps; beyond this it is hours, not a demo.
const MAX_TRAIN_STEPS: usize = 100_000;
/// Greedy continuation of the demo model, far past anything it learned to say.
const MAX_GENERATED_TOKENS: usize = 4096;

pub fn run(cmd: &BlockCommand) -> anyhow::Result<()> {
    match cmd {
        BlockCommand::Params(args) => {
            let config = match &args.config {
                Some(path) => LlamaConfig::from_json(&read_user_file(path)?)
                    .map_err(|e| BadInput(format!("{}: {e}", path.display())))?,
                None => args.preset.unwrap_or(Preset::Smollm2135m).config(),
            };
            if args.context == 0 {
                crate::bail_input!("--context must be at least 1 (a token attends to itself)");
            }
            emit(&params_of(config, args.context), args.out)
        }
        BlockCommand::Train(args) => {
            if !(1..=MAX_TRAIN_STEPS).contains(&args.steps) {
                crate::bail_input!("--steps must be between 1 and {MAX_TRAIN_STEPS}");
            }
            if args.tokens > MAX_GENERATED_TOKENS {
                crate::bail_input!("--tokens must be at most {MAX_GENERATED_TOKENS}");
            }
            let config = TrainDemoConfig {
                steps: args.steps,
                seed: args.seed,
                ..TrainDemoConfig::default()
            };
            emit(
                &train(
                    &args.corpus.display().to_string(),
                    &crate::data::read_user_or_shipped(&args.corpus)?,
                    &config,
                    &args.device.open()?,
                    &args.prompt,
                    args.tokens,
                    !args.no_chart,
                )?,
                args.out,
            )
        }
    }
}

/// Chapter 03's part of `tour`: where SmolLM2-135M's parameters and FLOPs live, and the
/// training demo on the shipped corpus (fewer steps with `--quick`).
#[derive(Debug, Serialize)]
pub struct TransformerTour {
    pub smollm2_params: ParamsOutput,
    pub training: TrainOutput,
}

pub fn tour(quick: bool, device: &burn::tensor::Device) -> anyhow::Result<TransformerTour> {
    let english = crate::data::CORPORA.iter().find(|c| c.0 == "english.txt");
    let (_, text) = english.expect("english.txt is among the embedded corpora");
    let config = TrainDemoConfig {
        steps: if quick { 100 } else { 300 },
        ..TrainDemoConfig::default()
    };
    Ok(TransformerTour {
        smollm2_params: params_of(presets::smollm2_135m(), 2048),
        training: train(
            "data/corpora/english.txt",
            text,
            &config,
            device,
            ch03_transformer_block::DEMO_PROMPT,
            40,
            true,
        )?,
    })
}

impl fmt::Display for TransformerTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "SmolLM2-135M-shaped, where the parameters and FLOPs live:\n{}",
            self.smollm2_params
        )?;
        write!(
            f,
            "Training the tiny model on the English corpus:\n{}",
            self.training
        )
    }
}
