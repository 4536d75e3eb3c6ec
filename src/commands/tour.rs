//! `llm-workbench tour`: the main job. It measures this machine, then walks the chapters in
//! order (each runs its demonstration on the data shipped in `data/`), runs the calculators on
//! the shipped catalogs, and writes the report.

use crate::machine::{MachineReport, ProbeSizes};
use crate::output::{JsonFlag, Progress, emit};
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct TourArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// Where chapters 02–06 run their tensors (the real model's step is chapter 08's CPU
    /// decoder whatever this says).
    #[command(flatten)]
    pub device: crate::device::DeviceFlag,
    /// Small sizes everywhere: a fast smoke run (numbers are real but not at the plateau).
    #[arg(long)]
    pub quick: bool,
}

/// The chapters in the order a learner takes them: folder, title, and what it teaches.
pub const CHAPTERS: &[(&str, &str, &str)] = &[
    (
        "01-bpe",
        "BPE tokenization",
        "byte-level BPE: train, encode, decode, load real tokenizers, token inflation by language",
    ),
    (
        "02-attention",
        "Scaled dot-product attention",
        "QKᵀ/√d, masks, softmax, the tiled online-softmax form, against burn's fused op",
    ),
    (
        "03-transformer-block",
        "The transformer block",
        "RMSNorm, RoPE, SwiGLU, pre-norm residuals, a small Llama-style model",
    ),
    (
        "04-kv-cache",
        "The KV cache",
        "cached decoding: concatenating, pre-allocated and paged caches, proven equal",
    ),
    (
        "05-gqa",
        "MHA, GQA and MQA",
        "one attention with n_kv_heads: the KV bytes it saves and the speed it buys",
    ),
    (
        "06-moe",
        "Mixture of Experts",
        "top-k routing, dispatch and combine, capacity, load balance",
    ),
    (
        "07-real-model",
        "A real model",
        "SmolLM2-135M from GGUF on the chapters' own code, token for token with llama.cpp",
    ),
    (
        "08-quantization",
        "Quantization and decode speed",
        "block quantization (Q8_0, Q4_0, Q4_1, K-quants), matmul on quantized weights, decode vs llama.cpp",
    ),
    (
        "09-serving",
        "Serving many requests",
        "continuous batching and chunked prefill over the paged cache, measured against the budget",
    ),
];

/// Each chapter crate's first doc lines, embedded at build time: the binary must not need the
/// source tree at run time.
const CHAPTER_DOCS: [(&str, &str); 9] = [
    ("01-bpe", include_str!("../../chapters/01-bpe/src/lib.rs")),
    (
        "02-attention",
        include_str!("../../chapters/02-attention/src/lib.rs"),
    ),
    (
        "03-transformer-block",
        include_str!("../../chapters/03-transformer-block/src/lib.rs"),
    ),
    (
        "04-kv-cache",
        include_str!("../../chapters/04-kv-cache/src/lib.rs"),
    ),
    ("05-gqa", include_str!("../../chapters/05-gqa/src/lib.rs")),
    ("06-moe", include_str!("../../chapters/06-moe/src/lib.rs")),
    (
        "07-real-model",
        include_str!("../../chapters/07-real-model/src/lib.rs"),
    ),
    (
        "08-quantization",
        include_str!("../../chapters/08-quantization/src/lib.rs"),
    ),
    (
        "09-serving",
        include_str!("../../chapters/09-serving/src/lib.rs"),
    ),
];

/// Whether a chapter has code yet: its crate says so in its first doc lines.
fn chapter_status(folder: &str) -> &'static str {
    match CHAPTER_DOCS.iter().find(|(f, _)| *f == folder) {
        Some((_, text)) if text.contains("This chapter has no code yet") => "outline only",
        Some(_) => "ready",
        None => "source not found",
    }
}

#[derive(Debug, Serialize)]
pub struct ChapterLine {
    pub folder: &'static str,
    pub title: &'static str,
    pub teaches: &'static str,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct TourOutput {
    pub machine: MachineReport,
    pub chapters: Vec<ChapterLine>,
    pub bpe: super::bpe::BpeTour,
    pub attention: AttentionTour,
    /// Chapter 03: where a model's parameters and FLOPs live; the seeded training demo.
    pub transformer: super::block::TransformerTour,
    /// Chapter 04: the same decode with every cache; paged vs pre-allocated serving.
    pub kv_cache: super::generate::KvCacheTour,
    /// Chapter 05: which models share K/V heads and what it saves; the equivalence checks.
    pub gqa: super::gqa::GqaOutput,
    /// Chapter 06: balanced vs skewed routing, MoE vs dense time.
    pub moe: super::moe::MoeTour,
    /// Chapter 09: the shipped trace served on the real model with continuous batching.
    pub serving: super::serve::ServingTour,
    /// Chapter 07: the real model answers a question (in text mode after the rest, streamed).
    pub real_model: super::generate::RealModelTour,
    /// The serving budget on catalog models: an H100 and this machine.
    pub budget: crate::budget::tour::BudgetTour,
    /// The cost router on the reference workload: the per-tier table.
    pub route: super::route::TourRoute,
    pub records_dir: String,
    pub records_written: usize,
    pub report: crate::report::Report,
    /// The HTML page of everything measured so far (`report --html`), or why it was not
    /// written (the tour's measurements stand either way).
    pub page: Result<crate::report::html::Page, String>,
}

/// Chapter 02's demonstration: why √d_k, and every variant on one input.
#[derive(Debug, Serialize)]
pub struct AttentionTour {
    pub saturation: super::attention::SaturationOutput,
    pub compare: super::attention::CompareOutput,
    pub heatmap: super::attention::HeatmapOutput,
}

fn attention_tour(quick: bool, device: crate::device::DeviceFlag) -> anyhow::Result<AttentionTour> {
    use super::attention::{
        CompareArgs, HEATMAP_TEXT, HeatmapArgs, compare, heatmap, saturation_table,
    };
    let args = CompareArgs {
        out: JsonFlag { json: false },
        device,
        seq: if quick { 128 } else { 1024 },
        heads: 8,
        head_dim: 64,
        batch: 1,
        tile: 128,
        no_causal: false,
    };
    let heat = HeatmapArgs {
        out: JsonFlag { json: false },
        device,
        text: HEATMAP_TEXT.to_string(),
        tokenizer: "cl100k_base".to_string(),
        dir: None,
    };
    Ok(AttentionTour {
        saturation: saturation_table(256, &device.open()?)?,
        compare: compare(&args)?,
        heatmap: heatmap(&heat)?,
    })
}

pub fn run(args: &TourArgs) -> anyhow::Result<()> {
    // A device this build lacks is refused before any work is done.
    let device = args.device.open()?;
    let progress = Progress::new();
    let sizes = if args.quick {
        ProbeSizes::QUICK
    } else {
        ProbeSizes::FULL
    };
    let machine = crate::machine::measure(sizes, &|m| progress.set(&format!("machine: {m}")));
    let records = machine.records();
    for r in &records {
        r.write()?;
    }
    drop(progress);

    let chapters = CHAPTERS
        .iter()
        .map(|&(folder, title, teaches)| ChapterLine {
            folder,
            title,
            teaches,
            status: chapter_status(folder),
        })
        .collect();
    let progress = Progress::new();
    progress.set("chapter 01: bpe");
    let bpe = super::bpe::tour_section(if args.quick { 512 } else { 2048 })?;
    progress.set("chapter 02: attention");
    let attention = attention_tour(args.quick, args.device)?;

    progress.set("chapter 03: the transformer block");
    let transformer = super::block::tour(args.quick, &device)?;
    progress.set("chapter 04: the KV cache");
    let kv_cache = super::generate::tour_section(&device)?;
    progress.set("chapter 05: MHA, GQA and MQA");
    let gqa = super::gqa::report(&device)?;
    progress.set("chapter 06: mixture of experts");
    let moe = super::moe::demonstrate(&super::moe::MoeArgs {
        quick: args.quick,
        device: args.device,
        ..Default::default()
    })?;
    progress.set("chapter 09: serving many requests");
    let serving = super::serve::tour_section(args.device)?;
    progress.set("serving budget and cost router");
    let budget = crate::budget::tour::run();
    let route = super::route::tour_section()?;
    drop(progress);
    // Text mode streams the answer after everything else is printed; JSON holds it.
    let real_model = if args.out.json {
        super::generate::real_model_tour(false)?
    } else {
        super::generate::RealModelTour::pending()
    };

    let dir = crate::records::records_dir();
    let out = TourOutput {
        machine,
        chapters,
        bpe,
        attention,
        transformer,
        kv_cache,
        gqa,
        moe,
        serving,
        real_model,
        budget,
        route,
        records_dir: dir.display().to_string(),
        records_written: records.len(),
        report: crate::report::build(&dir, Some(&crate::plot::charts_dir_for(&dir)))?,
        page: super::report::load_history(&dir, false)
            .and_then(|h| {
                super::report::html_page(&dir, &h, &crate::report::html::default_out(&dir), None)
            })
            .map_err(|e| format!("the report page was not written: {e}")),
    };
    crate::report::warn_skipped(&out.report.skipped);
    emit(
        &out,
        JsonFlag {
            json: args.out.json,
        },
    )?;
    if !args.out.json {
        println!("\n== Chapter 07: a real model ==");
        print!("{}", super::generate::real_model_tour(true)?);
        match &out.page {
            Ok(page) => println!(
                "\n== The report as one page ==\n{} (open it in a browser; `llm-workbench report --html` rewrites it)",
                page.path
            ),
            Err(why) => println!("\n== The report as one page ==\n{why}"),
        }
    }
    Ok(())
}

impl std::fmt::Display for TourOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "== This machine ==\n{}\n", self.machine)?;
        writeln!(f, "== Chapters ==")?;
        let mut t = crate::table::Table::new(["chapter", "title", "status", "what it teaches"]);
        for c in &self.chapters {
            t.row([c.folder, c.title, c.status, c.teaches]);
        }
        writeln!(f, "{t}")?;
        writeln!(f, "== Chapter 01: BPE, token inflation ==\n{}", self.bpe)?;
        writeln!(
            f,
            "== Chapter 02: attention ==\n{}\n{}\n{}",
            self.attention.saturation, self.attention.compare, self.attention.heatmap
        )?;
        writeln!(
            f,
            "== Chapter 03: the transformer block ==\n{}",
            self.transformer
        )?;
        writeln!(f, "== Chapter 04: the KV cache ==\n{}", self.kv_cache)?;
        writeln!(f, "== Chapter 05: MHA, GQA and MQA ==\n{}", self.gqa)?;
        writeln!(f, "== Chapter 06: mixture of experts ==\n{}", self.moe)?;
        writeln!(
            f,
            "== Chapter 09: serving many requests ==\n{}",
            self.serving
        )?;
        writeln!(f, "== Serving budget ==\n{}", self.budget)?;
        writeln!(f, "== Cost router ==\n{}", self.route)?;
        writeln!(f, "== Report ==")?;
        writeln!(
            f,
            "{} records written to {}; `cargo bench` adds the chapters' measurements, `llm-workbench report` prints them all.\n",
            self.records_written, self.records_dir
        )?;
        write!(f, "{}", self.report)
    }
}
