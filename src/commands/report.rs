//! `llm-workbench report`: every bench record as a table, and the chapters' curves as charts;
//! `--runs` lists the runs, `--compare A B` shows what changed between two, `--html` writes
//! everything as one page.

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
    /// List the runs the records came from (a run: one tour, one `machine`, one `cargo bench`).
    #[arg(long, conflicts_with_all = ["compare", "html"])]
    pub runs: bool,
    /// Compare two runs (ids from --runs) or two record folders: B against A, per bench, with
    /// a change flagged only beyond the runs' measured spread.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "html")]
    pub compare: Option<Vec<String>>,
    /// Write the whole report as one self-contained page, `index.html` in --out.
    #[arg(long)]
    pub html: bool,
    /// The page's folder [default: target/workbench/report, beside the records]; only with --html.
    #[arg(long = "out", value_name = "DIR", requires = "html")]
    pub page_dir: Option<PathBuf>,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let explicit = args.records.is_some();
    let dir = args
        .records
        .clone()
        .unwrap_or_else(crate::records::records_dir);
    if args.runs {
        return emit(&crate::report::runs(&dir)?, args.out);
    }
    if let Some(sides) = &args.compare {
        return emit(
            &crate::report::compare::compare(&dir, &sides[0], &sides[1])?,
            args.out,
        );
    }
    let charts = args
        .charts
        .clone()
        .unwrap_or_else(|| crate::plot::charts_dir_for(&dir));
    let charts = (!args.no_charts).then_some(charts.as_path());
    if args.html {
        let out = args
            .page_dir
            .clone()
            .unwrap_or_else(|| crate::report::html::default_out(&dir));
        return emit(&html_page(&dir, explicit, &out, charts)?, args.out);
    }
    emit(&crate::report::build(&dir, charts)?, args.out)
}

/// Writes the page (and, unless `--no-charts`, the chart files). A records folder that does
/// not exist yet is an empty report unless it was named with `--records`.
pub fn html_page(
    dir: &std::path::Path,
    explicit: bool,
    out: &std::path::Path,
    charts: Option<&std::path::Path>,
) -> anyhow::Result<crate::report::html::Page> {
    let history = if explicit || dir.exists() {
        crate::records::read_history(dir)?
    } else {
        crate::records::History::default()
    };
    if let Some(charts) = charts {
        crate::report::write_charts(&history.latest(), charts)?;
    }
    crate::report::html::write_page(dir, &history, out)
}
