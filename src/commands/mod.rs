//! The command line: one file per subcommand, each of which parses its arguments, calls a
//! library (a chapter crate, the serving budget, the cost router) and prints the result as a
//! table or, with `--json`, as one JSON document. One rule for errors: bad input prints one
//! line and exits 2, never a panic.

pub mod attention;
pub mod block;
pub mod bpe;
pub mod budget;
pub mod fetch;
pub mod generate;
pub mod gqa;
pub mod machine;
pub mod moe;
pub mod report;
pub mod route;
pub mod serve;
pub mod toolcall;
pub mod tour;

use crate::error::exit_code;
use clap::{Parser, Subcommand};
use std::ffi::OsString;

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
    Tour(tour::TourArgs),
    /// Measure this machine's limits: matmul GFLOP/s and memory bandwidth GB/s.
    Machine(machine::MachineArgs),
    /// Print every bench record as a table and draw the chapters' curves.
    Report(report::ReportArgs),
    /// Chapter 01: train, encode, decode and count with byte-level BPE tokenizers.
    #[command(subcommand)]
    Bpe(bpe::BpeCommand),
    /// Chapter 02: compare attention variants, show why 1/√d_k, draw the heatmap.
    #[command(subcommand)]
    Attention(attention::AttentionCommand),
    /// Chapter 03: parameters and FLOPs of a Llama-family config; the seeded training demo.
    #[command(subcommand)]
    Block(block::BlockCommand),
    /// Chapter 04 and 07: decode with no cache or a KV cache, with timing and KV bytes — on a
    /// seeded random model, or a real one (`--model smollm2` or a .gguf file).
    Generate(generate::GenerateArgs),
    /// Chapter 07: download a model (`smollm2`) into the model cache and check its SHA-256.
    Fetch(fetch::FetchArgs),
    /// Chapter 05: which models share K/V heads, what it saves, and the equivalence checks.
    Gqa(gqa::GqaArgs),
    /// Chapter 06: Mixture of Experts: balanced vs skewed routing, MoE vs dense time.
    Moe(moe::MoeArgs),
    /// Chapter 09: serve many requests on the real model with continuous (or static) batching
    /// over the paged KV cache: throughput, time to first token, time per token, pre-emptions.
    ServeSim(serve::ServeSimArgs),
    /// Serving budget: weights, KV cache, concurrency, throughput, $/1M tokens, vLLM flags.
    Budget(budget::BudgetArgs),
    /// Cost router: per-tier costs, the routing plan, audit review, price catalogs.
    Route(route::RouteArgs),
    /// Tool-call quality: score model outputs against the five-tool schema.
    Toolcall(toolcall::ToolcallArgs),
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
        Command::Tour(args) => tour::run(&args),
        Command::Machine(args) => machine::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Bpe(cmd) => bpe::run(&cmd),
        Command::Attention(cmd) => attention::run(&cmd),
        Command::Block(cmd) => block::run(&cmd),
        Command::Generate(args) => generate::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        Command::Gqa(args) => gqa::run(&args),
        Command::Moe(args) => moe::run(&args),
        Command::ServeSim(args) => serve::run(&args),
        Command::Budget(args) => budget::run(&args),
        Command::Route(args) => route::run(&args),
        Command::Toolcall(args) => toolcall::run(&args),
    }
}
