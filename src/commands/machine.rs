//! `llm-workbench machine`: measure this machine's limits and write them as records.

use crate::machine::{ProbeSizes, measure};
use crate::output::{JsonFlag, Progress, emit};
use clap::Args;

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

pub fn run(args: &MachineArgs) -> anyhow::Result<()> {
    let progress = Progress::new();
    let sizes = if args.quick {
        ProbeSizes::QUICK
    } else {
        ProbeSizes::FULL
    };
    let report = measure(sizes, &|m| progress.set(m));
    drop(progress);
    if !args.no_records {
        for r in report.records() {
            r.write()?;
        }
    }
    emit(&report, args.out)
}
