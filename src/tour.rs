//! `llm-workbench tour`: the main job. It measures this machine, then walks the chapters in
//! order (each runs its demonstration on the data shipped in `data/`), runs the calculators on
//! the shipped catalogs, and writes the report.

use crate::cli::{JsonFlag, Progress, TourArgs, emit};
use crate::machine::{MachineReport, ProbeSizes};
use serde::Serialize;

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
];

/// Whether a chapter has code yet: its crate says so in its first doc lines.
fn chapter_status(folder: &str) -> &'static str {
    let lib = std::path::Path::new("chapters")
        .join(folder)
        .join("src/lib.rs");
    match std::fs::read_to_string(lib) {
        Ok(text) if text.contains("This chapter has no code yet") => "outline only",
        Ok(_) => "ready",
        Err(_) => "not found from this directory",
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
    pub records_dir: String,
    pub records_written: usize,
    pub report: crate::report::Report,
}

pub fn run(args: &TourArgs) -> anyhow::Result<()> {
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
    let dir = crate::records::records_dir();
    let out = TourOutput {
        machine,
        chapters,
        records_dir: dir.display().to_string(),
        records_written: records.len(),
        report: crate::report::build(&dir)?,
    };
    emit(
        &out,
        JsonFlag {
            json: args.out.json,
        },
    )
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
        writeln!(f, "== Report ==")?;
        writeln!(
            f,
            "{} records written to {}; `cargo bench` adds the chapters' measurements, `llm-workbench report` prints them all.\n",
            self.records_written, self.records_dir
        )?;
        write!(f, "{}", self.report)
    }
}
