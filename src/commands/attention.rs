//! `llm-workbench attention …`: chapter 02 from the command line.

use crate::device::DeviceFlag;
use crate::output::{JsonFlag, emit};
use crate::table::Table;
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use ch02_attention::{AttentionDims, attention, attention_flops, saturation, tiled_attention};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum AttentionCommand {
    /// Run every variant on the same random input: agreement with burn's fused op, time, GFLOP/s.
    Compare(CompareArgs),
    /// Why 1/√d_k: how peaked softmax rows get with and without scaling as d_k grows.
    Saturation(SaturationArgs),
    /// Attention weights of a sentence (tokenized with chapter 01) as a heatmap, PNG and SVG.
    Heatmap(HeatmapArgs),
}

#[derive(Debug, Args)]
pub struct HeatmapArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: DeviceFlag,
    /// The text to tokenize (at most 48 tokens, so the picture stays readable).
    #[arg(long, default_value = HEATMAP_TEXT)]
    pub text: String,
    /// Tokenizer: cl100k_base, o200k_base, r50k_base or a tokenizer.json / .tiktoken file.
    #[arg(long, default_value = "cl100k_base")]
    pub tokenizer: String,
    /// Where to write 02-attention-heatmap.png/.svg [default: target/workbench/report].
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// The sentence of the lesson's heatmap: repeated words show the lookup.
pub const HEATMAP_TEXT: &str = "The cat sat on the mat because the cat was tired of the dog.";

#[derive(Debug, Serialize)]
pub struct HeatmapOutput {
    pub tokenizer: String,
    pub tokens: Vec<String>,
    pub ids: Vec<u32>,
    /// Row i: how query token i spreads its attention over tokens 0..=i.
    pub weights: Vec<Vec<f32>>,
    pub files: Vec<String>,
}

impl std::fmt::Display for HeatmapOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} tokens ({}): {:?}",
            self.tokens.len(),
            self.tokenizer,
            self.tokens
        )?;
        writeln!(
            f,
            "strongest earlier match per token (Q = K = a fixed vector per token id):"
        )?;
        let mut t = Table::new(["#", "token", "attends most to (earlier)", "weight"]);
        for (i, row) in self.weights.iter().enumerate() {
            let best = (0..i).max_by(|&a, &b| row[a].total_cmp(&row[b]));
            t.row([
                i.to_string(),
                format!("{:?}", self.tokens[i]),
                best.map_or("-".into(), |j| format!("#{j} {:?}", self.tokens[j])),
                best.map_or("-".into(), |j| format!("{:.3}", row[j])),
            ]);
        }
        write!(f, "{t}")?;
        writeln!(f, "heatmap: {}", self.files.join(", "))
    }
}

pub fn heatmap(args: &HeatmapArgs) -> anyhow::Result<HeatmapOutput> {
    let tok = ch01_bpe::load(&args.tokenizer, None)
        .map_err(|e| crate::error::bad_input("--tokenizer", e))?;
    let ids = tok.encode_ordinary(&args.text);
    if ids.is_empty() || ids.len() > 48 {
        crate::bail_input!("--text has {} tokens; the heatmap takes 1 to 48", ids.len());
    }
    let tokens = ids
        .iter()
        .map(|&id| String::from_utf8_lossy(tok.token_bytes(id).unwrap_or_default()).into_owned())
        .collect::<Vec<_>>();
    let weights = ch02_attention::lookup::lookup_weights(&ids, 64, &args.device.open()?)?;
    let dir = args.dir.clone().unwrap_or_else(crate::plot::report_dir);
    let title = format!(
        "causal attention weights, Q = K = V = token vectors ({})",
        args.tokenizer
    );
    let files = crate::plot::heatmap(&dir.join("02-attention-heatmap"), &title, &tokens, &weights)?;
    Ok(HeatmapOutput {
        tokenizer: args.tokenizer.clone(),
        tokens,
        ids,
        weights,
        files: files.iter().map(|p| p.display().to_string()).collect(),
    })
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: DeviceFlag,
    /// Sequence length (queries = keys).
    #[arg(long, default_value_t = 512)]
    pub seq: usize,
    #[arg(long, default_value_t = 8)]
    pub heads: usize,
    #[arg(long, default_value_t = 64)]
    pub head_dim: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Tile size of the tiled form.
    #[arg(long, default_value_t = 128)]
    pub tile: usize,
    /// Bidirectional attention instead of causal.
    #[arg(long)]
    pub no_causal: bool,
}

#[derive(Debug, Args)]
pub struct SaturationArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: DeviceFlag,
    /// Keys per row.
    #[arg(long, default_value_t = 256)]
    pub seq: usize,
}

#[derive(Debug, Serialize)]
pub struct VariantResult {
    pub variant: &'static str,
    pub time_s: f64,
    /// The FLOPs this variant performs over its time.
    pub gflops: f64,
    /// Largest |ours − burn fused| over the output.
    pub max_abs_diff_vs_burn: f64,
}

#[derive(Debug, Serialize)]
pub struct CompareOutput {
    /// The device the variants ran on.
    pub device: crate::device::DeviceInfo,
    pub batch: usize,
    pub heads: usize,
    pub seq: usize,
    pub head_dim: usize,
    pub causal: bool,
    /// FLOPs of the full computation; under a causal mask the tiled variant does half of them.
    pub flops: f64,
    pub variants: Vec<VariantResult>,
}

impl std::fmt::Display for CompareOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "attention b={} h={} s={} d={} causal={} ({:.3} GFLOP) on {}",
            self.batch,
            self.heads,
            self.seq,
            self.head_dim,
            self.causal,
            self.flops / 1e9,
            self.device
        )?;
        let mut t = Table::new(["variant", "time", "GFLOP/s", "max |Δ| vs burn"]);
        for v in &self.variants {
            t.row([
                v.variant.to_string(),
                crate::report::format_seconds(v.time_s),
                format!("{:.1}", v.gflops),
                format!("{:.1e}", v.max_abs_diff_vs_burn),
            ]);
        }
        write!(f, "{t}")
    }
}

fn positive(name: &str, v: usize) -> anyhow::Result<()> {
    if v == 0 {
        crate::bail_input!("--{name} must be at least 1");
    }
    Ok(())
}

pub fn compare(args: &CompareArgs) -> anyhow::Result<CompareOutput> {
    for (name, v) in [
        ("seq", args.seq),
        ("heads", args.heads),
        ("head-dim", args.head_dim),
        ("batch", args.batch),
        ("tile", args.tile),
    ] {
        positive(name, v)?;
    }
    // Sizes in f64: flags are unbounded, and a wrapped integer product would pass any guard.
    let elements = |dims: [usize; 4]| dims.iter().map(|&v| v as f64).product::<f64>();
    let (b, h, s, d) = (args.batch, args.heads, args.seq, args.head_dim);
    let score_bytes = 4.0 * elements([b, h, s, s]);
    let qkv_out_bytes = 4.0 * 4.0 * elements([b, h, s, d]);
    if score_bytes + qkv_out_bytes > (4u64 << 30) as f64 {
        crate::bail_input!(
            "--batch {b} --heads {h} --seq {s} --head-dim {d}: q, k, v, the output and the step-by-step score matrix would need {} (limit 4 GiB)",
            crate::table::bytes(score_bytes + qkv_out_bytes)
        );
    }
    let causal = !args.no_causal;
    let device = args.device.open()?;
    let shape = [args.batch, args.heads, args.seq, args.head_dim];
    let n = Distribution::Normal(0.0, 1.0);
    let [q, k, v] = [0, 1, 2].map(|_| Tensor::<4>::random(shape, n, &device));
    let dims = AttentionDims {
        batch: args.batch,
        heads: args.heads,
        seq_q: args.seq,
        seq_k: args.seq,
        head_dim: args.head_dim,
        value_dim: args.head_dim,
    };
    // The FLOPs each variant performs: burn's fused op and the step-by-step form compute the
    // masked scores too; the tiled form skips the masked tiles.
    let flops = attention_flops(dims, causal, false);
    let tiled_flops = attention_flops(dims, causal, true);

    // A GPU queues work and returns at once: wait for it, or the time is of the queueing.
    let timed = |f: &dyn Fn() -> Tensor<4>| -> anyhow::Result<(Tensor<4>, f64)> {
        let _ = f(); // warm-up (and, on a GPU, the kernels' compilation)
        device.sync()?;
        let t = Instant::now();
        let out = f();
        device.sync()?;
        Ok((out, t.elapsed().as_secs_f64()))
    };
    let options = AttentionModuleOptions {
        is_causal: causal,
        ..Default::default()
    };
    let (reference, burn_time) =
        timed(&|| burn_attention(q.clone(), k.clone(), v.clone(), None, None, options))?;
    let mut variants = vec![VariantResult {
        variant: "burn_fused",
        time_s: burn_time,
        gflops: flops / burn_time / 1e9,
        max_abs_diff_vs_burn: 0.0,
    }];
    let ours: [(&'static str, f64, &dyn Fn() -> Tensor<4>); 2] = [
        ("steps", flops, &|| {
            attention(q.clone(), k.clone(), v.clone(), causal, None).expect("shapes checked above")
        }),
        ("tiled", tiled_flops, &|| {
            tiled_attention(q.clone(), k.clone(), v.clone(), causal, None, args.tile)
                .expect("shapes checked above")
        }),
    ];
    for (variant, variant_flops, f) in ours {
        let (out, time_s) = timed(f)?;
        let diff = (out - reference.clone()).abs().max().into_scalar::<f32>() as f64;
        variants.push(VariantResult {
            variant,
            time_s,
            gflops: variant_flops / time_s / 1e9,
            max_abs_diff_vs_burn: diff,
        });
    }
    Ok(CompareOutput {
        device: crate::device::current(),
        batch: args.batch,
        heads: args.heads,
        seq: args.seq,
        head_dim: args.head_dim,
        causal,
        flops,
        variants,
    })
}

#[derive(Debug, Serialize)]
pub struct SaturationRow {
    pub head_dim: usize,
    pub max_weight_unscaled: f64,
    pub max_weight_scaled: f64,
    pub entropy_unscaled: f64,
    pub entropy_scaled: f64,
}

#[derive(Debug, Serialize)]
pub struct SaturationOutput {
    pub seq: usize,
    pub rows: Vec<SaturationRow>,
}

impl std::fmt::Display for SaturationOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "softmax rows over {} random unit-variance keys (entropy as a fraction of uniform)",
            self.seq
        )?;
        let mut t = Table::new([
            "d_k",
            "max weight, QKᵀ",
            "max weight, QKᵀ/√d",
            "entropy, QKᵀ",
            "entropy, QKᵀ/√d",
        ]);
        for r in &self.rows {
            t.row([
                r.head_dim.to_string(),
                format!("{:.3}", r.max_weight_unscaled),
                format!("{:.3}", r.max_weight_scaled),
                format!("{:.3}", r.entropy_unscaled),
                format!("{:.3}", r.entropy_scaled),
            ]);
        }
        write!(f, "{t}")
    }
}

/// The measurement builds `[seq, seq]` f32 scores (and their softmax): 256 MiB each at 8,192.
const MAX_SATURATION_SEQ: usize = 8192;

pub fn saturation_table(seq: usize, device: &Device) -> anyhow::Result<SaturationOutput> {
    if seq < 2 {
        crate::bail_input!("--seq must be at least 2 (entropy is measured against ln(seq))");
    }
    if seq > MAX_SATURATION_SEQ {
        crate::bail_input!("--seq {seq}: at most {MAX_SATURATION_SEQ} keys per row");
    }
    device.seed(0);
    let rows = [4usize, 16, 64, 256, 1024]
        .into_iter()
        .map(|d| {
            let s = saturation::measure(d, seq, device);
            SaturationRow {
                head_dim: d,
                max_weight_unscaled: s.max_weight_unscaled,
                max_weight_scaled: s.max_weight_scaled,
                entropy_unscaled: s.entropy_unscaled,
                entropy_scaled: s.entropy_scaled,
            }
        })
        .collect();
    Ok(SaturationOutput { seq, rows })
}

pub fn run(cmd: &AttentionCommand) -> anyhow::Result<()> {
    match cmd {
        AttentionCommand::Compare(args) => emit(&compare(args)?, args.out),
        AttentionCommand::Saturation(args) => {
            emit(&saturation_table(args.seq, &args.device.open()?)?, args.out)
        }
        AttentionCommand::Heatmap(args) => emit(&heatmap(args)?, args.out),
    }
}
