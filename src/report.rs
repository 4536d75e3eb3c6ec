//! `llm-workbench report`: every record as a table, each throughput also as a percentage of
//! this machine's measured limit (GFLOP/s against matmul, GB/s against read bandwidth).

use crate::plot::{Axes, Series, line_chart};
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
}

/// Throughput as a % of the machine limit with the same unit.
pub fn percent_of_limit(r: &Record) -> Option<f64> {
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
    let crate::records::RecordSet { records, skipped } = crate::records::read_dir(records_dir)?;
    let charts = match charts_dir {
        Some(dir) => write_charts(&records, dir)?
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        None => Vec::new(),
    };
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
    })
}

/// Parameters that can serve as a chart's x axis, in order of preference.
const X_PARAMS: [&str; 4] = ["seq", "context_tokens", "new_tokens", "tokens"];

/// Time and peak-bytes points of one variant's curve.
#[derive(Default)]
struct Curve {
    time_s: Vec<(f64, f64)>,
    peak_bytes: Vec<(f64, f64)>,
}

/// Curves per chapter: every record with a string `variant` parameter and a numeric x
/// parameter (`seq`, `context_tokens`, …) becomes a point of its variant's curve — time per
/// run, and peak bytes where measured — drawn on log–log axes as `<chapter>-time` and
/// `<chapter>-peak-bytes`.
pub fn write_charts(records: &[Record], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut chapters: BTreeMap<&str, (&str, BTreeMap<&str, Curve>)> = BTreeMap::new();
    for r in records {
        let Some(variant) = r.params.get("variant").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some((x_name, x)) = X_PARAMS
            .iter()
            .find_map(|k| r.params.get(*k).and_then(|v| v.as_f64()).map(|x| (*k, x)))
        else {
            continue;
        };
        let (_, curves) = chapters
            .entry(&r.chapter)
            .or_insert((x_name, BTreeMap::new()));
        let curve = curves.entry(variant).or_default();
        curve.time_s.push((x, r.time_s));
        if let Some(b) = r.bytes {
            curve.peak_bytes.push((x, b.peak_bytes.max(1) as f64));
        }
    }
    let mut files = Vec::new();
    for (chapter, (x_name, curves)) in chapters {
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
        for (suffix, what, unit, pick) in [
            (
                "time",
                "time per run",
                "seconds",
                (|c: &Curve| &c.time_s) as fn(&Curve) -> &Vec<(f64, f64)>,
            ),
            (
                "peak-bytes",
                "peak bytes allocated",
                "bytes",
                |c: &Curve| &c.peak_bytes,
            ),
        ] {
            let series = series(pick);
            if series.is_empty() {
                continue;
            }
            let title = format!("{chapter}: {what}");
            let axes = Axes {
                title: &title,
                x: x_name,
                y: unit,
                log_x: true,
                log_y: true,
            };
            files.extend(line_chart(
                &dir.join(format!("{chapter}-{suffix}")),
                axes,
                &series,
            )?);
        }
    }
    Ok(files)
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.skipped {
            writeln!(f, "skipped {s}")?;
        }
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
                r.git_rev.clone(),
            ]);
        }
        writeln!(f, "records: {}\n", self.records_dir)?;
        write!(f, "{t}")?;
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
