//! `llm-workbench report`: every bench record as a table, and the chapters' curves as charts;
//! `--runs` lists the runs, `--compare A B` shows what changed between two, `--html` writes
//! everything as one page.

use crate::output::{JsonFlag, emit};
use clap::Args;
use std::path::{Path, PathBuf};

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
    /// Write the whole report as one self-contained page, `index.html` in --out (chart files
    /// only with --charts).
    #[arg(long)]
    pub html: bool,
    /// The page's folder [default: target/workbench/report, beside the records]; only with --html.
    #[arg(long = "out", value_name = "DIR", requires = "html")]
    pub page_dir: Option<PathBuf>,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let dir = args
        .records
        .clone()
        .unwrap_or_else(crate::records::records_dir);
    let history = load_history(&dir, args.records.is_some())?;
    crate::report::warn_skipped(&history.skipped);
    if args.runs {
        return emit(&crate::report::runs(&dir, &history), args.out);
    }
    if let Some(sides) = &args.compare {
        return emit(
            &crate::report::compare::compare(&dir, &history, &sides[0], &sides[1])?,
            args.out,
        );
    }
    if args.html {
        let out = args
            .page_dir
            .clone()
            .unwrap_or_else(|| crate::report::html::default_out(&dir));
        // With --html, the PNG/SVG files are drawn only when asked for: the page holds the charts.
        let charts = args.charts.as_deref().filter(|_| !args.no_charts);
        return emit(&html_page(&dir, &history, &out, charts)?, args.out);
    }
    let charts = args
        .charts
        .clone()
        .unwrap_or_else(|| crate::plot::charts_dir_for(&dir));
    let charts = (!args.no_charts).then_some(charts.as_path());
    emit(
        &crate::report::from_history(&dir, &history, charts)?,
        args.out,
    )
}

/// The records' history; a folder that does not exist yet holds none unless it was named with
/// `--records` (then it is a mistake worth an error).
pub fn load_history(dir: &Path, explicit: bool) -> anyhow::Result<crate::records::History> {
    if explicit || dir.exists() {
        crate::records::read_history(dir)
    } else {
        Ok(crate::records::History::default())
    }
}

/// Writes the page (and the chart files when `charts` is given).
pub fn html_page(
    dir: &Path,
    history: &crate::records::History,
    out: &Path,
    charts: Option<&Path>,
) -> anyhow::Result<crate::report::html::Page> {
    if let Some(charts) = charts {
        crate::report::write_charts(&history.latest(), charts)?;
    }
    crate::report::html::write_page(dir, history, out)
}
