//! `llm-workbench report`: every record as a table, each throughput also as a percentage of
//! this machine's measured limit (GFLOP/s against matmul, GB/s against read bandwidth); the
//! runs the records came from ([`runs`]); what changed between two runs ([`compare`]); and all
//! of it as one self-contained HTML page ([`html`]).

pub mod compare;
pub mod html;

use crate::plot::{Chart, Series};
use crate::records::Record;
use crate::table::{Table, bytes};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One record as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    #[serde(flatten)]
    pub record: Record,
    /// Throughput as a percentage of the matching machine limit, when one applies.
    pub percent_of_limit: Option<f64>,
}

/// The whole report: rows sorted by chapter and id, and the charts drawn from them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub records_dir: String,
    pub rows: Vec<ReportRow>,
    /// Files in the folder that are not readable records, each `path: why`.
    pub skipped: Vec<String>,
    /// PNG and SVG files written (see [`write_charts`]).
    pub charts: Vec<String>,
    /// Benches measured on more than one device, side by side.
    pub devices: Vec<DeviceComparison>,
}

/// One bench measured on several devices: each device's throughput and its ratio to flex.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceComparison {
    pub bench_id: String,
    pub unit: String,
    pub measured: Vec<DeviceFigure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceFigure {
    /// The device as records describe it: `wgpu (llvmpipe (LLVM 15.0.6, 256 bits))`.
    pub device: String,
    pub backend: String,
    pub throughput: f64,
    /// This device's throughput over flex's, when flex measured the bench too.
    pub times_flex: Option<f64>,
}

/// The benches of `records` (latest per bench and backend) measured on more than one backend.
pub fn device_comparison(records: &[Record]) -> Vec<DeviceComparison> {
    let mut by_id: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_id.entry(&r.bench_id).or_default().push(r);
    }
    by_id
        .into_iter()
        .filter(|(_, rs)| rs.len() > 1)
        .map(|(id, mut rs)| {
            // flex first, then the GPUs by name.
            rs.sort_by_key(|r| (!r.on_cpu(), r.backend().to_string()));
            let flex = rs.iter().find(|r| r.on_cpu()).map(|r| r.throughput.value);
            DeviceComparison {
                bench_id: id.to_string(),
                unit: rs[0].throughput.unit.clone(),
                measured: rs
                    .iter()
                    .map(|r| DeviceFigure {
                        device: r.device_label(),
                        backend: r.backend().to_string(),
                        throughput: r.throughput.value,
                        times_flex: flex
                            .filter(|f| *f > 0.0 && !r.on_cpu())
                            .map(|f| r.throughput.value / f),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Throughput as a % of the machine limit with the same unit.
/// The limits are the CPU's, so a record measured on a GPU gets none.
pub fn percent_of_limit(r: &Record) -> Option<f64> {
    if !r.on_cpu() {
        return None;
    }
    let limits = r.limits?;
    let limit = match r.throughput.unit.as_str() {
        "GFLOP/s" => limits.matmul_gflops,
        "GB/s" => limits.bandwidth_gb_s,
        _ => return None,
    };
    (limit > 0.0).then(|| 100.0 * r.throughput.value / limit)
}

/// Reads the records in `records_dir` and, when `charts_dir` is given, draws their charts there.
pub fn build(records_dir: &Path, charts_dir: Option<&Path>) -> anyhow::Result<Report> {
    from_history(
        records_dir,
        &crate::records::read_history(records_dir)?,
        charts_dir,
    )
}

/// [`build`] from a history already read from `records_dir`: its latest record of each bench.
pub fn from_history(
    records_dir: &Path,
    history: &crate::records::History,
    charts_dir: Option<&Path>,
) -> anyhow::Result<Report> {
    let (records, skipped) = (history.latest(), history.skipped.clone());
    let charts = match charts_dir {
        Some(dir) => write_charts(&records, dir)?
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        None => Vec::new(),
    };
    let devices = device_comparison(&records);
    let rows = records
        .into_iter()
        .map(|record| ReportRow {
            percent_of_limit: percent_of_limit(&record),
            record,
        })
        .collect();
    Ok(Report {
        records_dir: records_dir.display().to_string(),
        rows,
        charts,
        skipped,
        devices,
    })
}

/// Parameters that can serve as a chart's x axis, in order of preference, and whether a
/// record's time covers all `x` tokens (so time per token is time ÷ x) or is already one step.
const X_PARAMS: [(&str, &str, bool); 4] = [
    ("seq", "sequence length (tokens)", true),
    ("context_tokens", "context (tokens)", false),
    ("new_tokens", "new tokens decoded", true),
    ("tokens", "tokens", true),
];

/// Time-per-token and peak-bytes points of one variant's curve.
#[derive(Default)]
struct Curve {
    time_per_token_s: Vec<(f64, f64)>,
    peak_bytes: Vec<(f64, f64)>,
}

/// Curves per chapter: every record with a string `variant` parameter and a numeric x
/// parameter (`seq`, `context_tokens`, …) becomes a point of its variant's curve — time per
/// token, and peak bytes where measured — on log–log axes (`<chapter>-time`,
/// `<chapter>-peak-bytes`).
pub fn chart_specs(records: &[Record]) -> Vec<(String, Chart)> {
    let mut chapters: BTreeMap<&str, (&str, BTreeMap<String, Curve>)> = BTreeMap::new();
    for r in records {
        let Some(variant) = r.params.get("variant").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some((x_label, per_x, x)) = X_PARAMS.iter().find_map(|(k, label, per_x)| {
            r.params
                .get(*k)
                .and_then(|v| v.as_f64())
                .filter(|x| *x > 0.0)
                .map(|x| (*label, *per_x, x))
        }) else {
            continue;
        };
        let (_, curves) = chapters
            .entry(&r.chapter)
            .or_insert((x_label, BTreeMap::new()));
        // A GPU's points are their own curve beside flex's.
        let series_name = if r.on_cpu() {
            variant.to_string()
        } else {
            format!("{variant} ({})", r.backend())
        };
        let curve = curves.entry(series_name).or_default();
        let per_token = if per_x { r.time_s / x } else { r.time_s };
        curve.time_per_token_s.push((x, per_token));
        if let Some(b) = r.bytes {
            curve.peak_bytes.push((x, b.peak_bytes.max(1) as f64));
        }
    }
    let mut specs = Vec::new();
    for (chapter, (x_label, curves)) in chapters {
        let series = |pick: fn(&Curve) -> &Vec<(f64, f64)>| -> Vec<Series> {
            curves
                .iter()
                .filter(|(_, c)| !pick(c).is_empty())
                .map(|(name, c)| {
                    let mut points = pick(c).clone();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Series {
                        name: name.to_string(),
                        points,
                    }
                })
                .collect()
        };
        let name = chapter_title(chapter);
        for (suffix, what, unit, pick) in [
            (
                "time",
                "time per token",
                "seconds per token",
                (|c: &Curve| &c.time_per_token_s) as fn(&Curve) -> &Vec<(f64, f64)>,
            ),
            (
                "peak-bytes",
                "peak memory allocated",
                "peak bytes",
                |c: &Curve| &c.peak_bytes,
            ),
        ] {
            let series = series(pick);
            if !series.is_empty() {
                let chart = Chart::line(
                    &format!("{chapter}-{suffix}"),
                    &format!("{name}: {what}"),
                    x_label,
                    unit,
                    (true, true),
                    series,
                );
                specs.push((chapter.to_string(), chart));
            }
        }
    }
    specs
}

/// Draws [`chart_specs`] as PNG and SVG files in `dir`.
pub fn write_charts(records: &[Record], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (_, chart) in chart_specs(records) {
        files.extend(chart.write(dir)?);
    }
    Ok(files)
}

/// A chapter folder's title (`02-attention` → `02 Scaled dot-product attention`), or the
/// folder name for anything else (`machine`).
pub fn chapter_title(folder: &str) -> String {
    crate::commands::tour::CHAPTERS
        .iter()
        .find(|(f, _, _)| *f == folder)
        .map_or_else(
            || folder.to_string(),
            |(f, title, _)| format!("{} {title}", &f[..2]),
        )
}

/// The runs in a records folder, one line each (`report --runs`).
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub id: String,
    pub time: String,
    pub unix_time_s: u64,
    pub records: usize,
    pub chapters: Vec<String>,
    pub git_revs: Vec<String>,
    pub machines: Vec<String>,
    /// The devices its records ran on.
    pub devices: Vec<String>,
}

/// `report --runs`: every run, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct Runs {
    pub records_dir: String,
    pub runs: Vec<RunLine>,
    pub skipped: Vec<String>,
}

/// `report --runs` for a history read from `records_dir`.
pub fn runs(records_dir: &Path, history: &crate::records::History) -> Runs {
    Runs {
        records_dir: records_dir.display().to_string(),
        runs: history.runs.iter().map(run_line).collect(),
        skipped: history.skipped.clone(),
    }
}

/// Names each unreadable record file on stderr, one line each (the reports go on without them).
pub fn warn_skipped(skipped: &[String]) {
    for s in skipped {
        eprintln!("skipped {s}");
    }
}

fn run_line(run: &crate::records::Run) -> RunLine {
    let mut chapters: Vec<String> = run.records.iter().map(|r| r.chapter.clone()).collect();
    chapters.dedup();
    RunLine {
        id: run.id.clone(),
        time: crate::records::utc_text(run.unix_time_s),
        unix_time_s: run.unix_time_s,
        records: run.records.len(),
        chapters,
        git_revs: run.git_revs.clone(),
        machines: run.machines.iter().map(|m| m.to_string()).collect(),
        devices: run.devices(),
    }
}

impl std::fmt::Display for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.runs.is_empty() {
            return writeln!(
                f,
                "no runs in {} (run `llm-workbench machine` or `cargo bench`)",
                self.records_dir
            );
        }
        let mut t = Table::new([
            "run", "started", "records", "chapters", "rev", "machine", "device",
        ]);
        for r in &self.runs {
            t.row([
                r.id.clone(),
                r.time.clone(),
                r.records.to_string(),
                r.chapters.join(" "),
                r.git_revs.join(" "),
                r.machines.join("; "),
                r.devices.join("; "),
            ]);
        }
        writeln!(f, "records: {}\n", self.records_dir)?;
        write!(f, "{t}")
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rows.is_empty() {
            return writeln!(
                f,
                "no records in {} (run `llm-workbench machine` or `cargo bench`)",
                self.records_dir
            );
        }
        let mut t = Table::new([
            "chapter",
            "bench",
            "throughput",
            "unit",
            "% of limit",
            "time",
            "peak bytes",
            "device",
            "rev",
        ]);
        for row in &self.rows {
            let r = &row.record;
            t.row([
                r.chapter.clone(),
                r.bench_id.clone(),
                format!("{:.2}", r.throughput.value),
                r.throughput.unit.clone(),
                row.percent_of_limit
                    .map_or("-".into(), |p| format!("{p:.1}%")),
                format_seconds(r.time_s),
                r.bytes.map_or("-".into(), |b| bytes(b.peak_bytes as f64)),
                r.backend().to_string(),
                r.git_rev.clone(),
            ]);
        }
        writeln!(f, "records: {}\n", self.records_dir)?;
        write!(f, "{t}")?;
        if !self.devices.is_empty() {
            writeln!(f, "\nbenches measured on more than one device:")?;
            let mut t = Table::new(["bench", "device", "throughput", "unit", "× flex"]);
            for c in &self.devices {
                for m in &c.measured {
                    t.row([
                        c.bench_id.clone(),
                        m.device.clone(),
                        format!("{:.2}", m.throughput),
                        c.unit.clone(),
                        m.times_flex.map_or("-".into(), |x| format!("{x:.2}×")),
                    ]);
                }
            }
            write!(f, "{t}")?;
        }
        if !self.charts.is_empty() {
            writeln!(f, "\ncharts:")?;
            for c in &self.charts {
                writeln!(f, "  {c}")?;
            }
        }
        Ok(())
    }
}

/// Seconds with a unit that keeps three significant digits: `0.00123` → `1.23 ms`.
pub fn format_seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}
