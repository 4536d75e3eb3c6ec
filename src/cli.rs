//! The command line: clap subcommands, one `--json` switch per command that prints results,
//! and one rule for errors: bad input prints one line and exits 2, never a panic.

use crate::error::exit_code;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::ffi::OsString;
use std::fmt::Display;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "llm-workbench",
    version,
    about = "Learn and measure LLM internals: chapters, benches, a serving budget and a cost router."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every chapter's demonstration on the shipped data, the calculators, and the report.
    Tour(TourArgs),
    /// Measure this machine's limits: matmul GFLOP/s and memory bandwidth GB/s.
    Machine(MachineArgs),
    /// Print every bench record as a table and draw the chapters' curves.
    Report(ReportArgs),
    /// Chapter 01: train, encode, decode and count with byte-level BPE tokenizers.
    #[command(subcommand)]
    Bpe(crate::bpe_cli::BpeCommand),
    /// Chapter 02: compare attention variants, show why 1/√d_k, draw the heatmap.
    #[command(subcommand)]
    Attention(crate::attention_cli::AttentionCommand),
    /// Chapter 03: parameters and FLOPs of a Llama-family config; the seeded training demo.
    #[command(subcommand)]
    Block(crate::transformer_cli::BlockCommand),
    /// Chapter 04: greedy decoding with no cache or a KV cache, with timing and KV bytes.
    Generate(crate::generate_cli::GenerateArgs),
    /// Chapter 05: which models share K/V heads, what it saves, and the equivalence checks.
    Gqa(crate::gqa_cli::GqaArgs),
    /// Serving budget: weights, KV cache, concurrency, throughput, $/1M tokens, vLLM flags.
    Budget(crate::budget::cli::BudgetArgs),
    /// Cost router: per-tier costs, the routing plan, audit review, price catalogs.
    Route(crate::router::cli::RouteArgs),
    /// Tool-call quality: score model outputs against the five-tool schema.
    Toolcall(crate::router::cli::ToolcallArgs),
}

/// `--json`: print one JSON document instead of tables.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TourArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// Small sizes everywhere: a fast smoke run (numbers are real but not at the plateau).
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct MachineArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// Small probe sizes (for tests); the limits written are then not at the plateau.
    #[arg(long)]
    pub quick: bool,
    /// Do not write records.
    #[arg(long)]
    pub no_records: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// Directory of records [default: $WORKBENCH_RECORDS or target/workbench/records].
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Where charts are written [default: target/workbench/report, beside the records].
    #[arg(long)]
    pub charts: Option<PathBuf>,
    /// Tables only, no charts.
    #[arg(long)]
    pub no_charts: bool,
}

/// Prints a result as JSON or as its human-readable form.
/// Output closed early (`… | head`) is not an error: the reader has what it wanted.
pub fn emit<T: Serialize + Display>(value: &T, out: JsonFlag) -> anyhow::Result<()> {
    use std::io::Write;
    let text = if out.json {
        serde_json::to_string_pretty(value)? + "\n"
    } else {
        value.to_string()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A spinner on stderr while long work runs, only when stderr is a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    pub fn set(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(e.kind(), DisplayHelp | DisplayVersion)
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.kind()
                    == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                {
                    2
                } else {
                    0
                };
            }
            // clap explains at length; the contract is one line naming the bad argument.
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return 2;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit_code(&err)
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Tour(args) => crate::tour::run(&args),
        Command::Generate(args) => crate::generate_cli::run(&args),
        Command::Bpe(cmd) => crate::bpe_cli::run(&cmd),
        Command::Block(cmd) => crate::transformer_cli::run(&cmd),
        Command::Attention(cmd) => crate::attention_cli::run(&cmd),
        Command::Gqa(args) => crate::gqa_cli::run(&args),
        Command::Budget(args) => crate::budget::cli::run(&args),
        Command::Route(args) => crate::router::cli::run_route(&args),
        Command::Toolcall(args) => crate::router::cli::run_toolcall(&args),
        Command::Machine(args) => {
            let progress = Progress::new();
            let sizes = if args.quick {
                crate::machine::ProbeSizes::QUICK
            } else {
                crate::machine::ProbeSizes::FULL
            };
            let report = crate::machine::measure(sizes, &|m| progress.set(m));
            drop(progress);
            if !args.no_records {
                for r in report.records() {
                    r.write()?;
                }
            }
            emit(&report, args.out)
        }
        Command::Report(args) => {
            let dir = args.records.unwrap_or_else(crate::records::records_dir);
            let charts = args
                .charts
                .unwrap_or_else(|| crate::plot::charts_dir_for(&dir));
            let charts = (!args.no_charts).then_some(charts.as_path());
            emit(&crate::report::build(&dir, charts)?, args.out)
        }
    }
}
