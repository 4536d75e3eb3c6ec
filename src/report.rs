//! `llm-workbench report`: every record as a table, each throughput also as a percentage of
//! this machine's measured limit (GFLOP/s against matmul, GB/s against read bandwidth).

use crate::records::Record;
use crate::table::{Table, bytes};
use serde::Serialize;

/// One record as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    #[serde(flatten)]
    pub record: Record,
    /// Throughput as a percentage of the matching machine limit, when one applies.
    pub percent_of_limit: Option<f64>,
}

/// The whole report: rows sorted by chapter and id.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub records_dir: String,
    pub rows: Vec<ReportRow>,
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

pub fn build(records_dir: &std::path::Path) -> anyhow::Result<Report> {
    let rows = crate::records::read_dir(records_dir)?
        .into_iter()
        .map(|record| ReportRow {
            percent_of_limit: percent_of_limit(&record),
            record,
        })
        .collect();
    Ok(Report {
        records_dir: records_dir.display().to_string(),
        rows,
    })
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
        write!(f, "{t}")
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
