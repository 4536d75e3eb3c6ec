//! `llm-workbench report`: every bench record as a table, and the chapters' curves as charts.

use crate::output::{JsonFlag, emit};
use clap::Args;
use std::path::PathBuf;

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

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let dir = args
        .records
        .clone()
        .unwrap_or_else(crate::records::records_dir);
    let charts = args
        .charts
        .clone()
        .unwrap_or_else(|| crate::plot::charts_dir_for(&dir));
    let charts = (!args.no_charts).then_some(charts.as_path());
    emit(&crate::report::build(&dir, charts)?, args.out)
}
