//! `llm-workbench report --compare A B`: each bench measured in both, B against A.
//!
//! A and B are run ids from `report --runs`, or record folders (the latest record of each
//! bench in the folder: e.g. one copied from another machine). A change counts as faster or
//! slower only when it is larger than the run-to-run spread both records measured: B's
//! interquartile range of run times lies wholly below (faster) or above (slower) A's. Records
//! without a spread (older ones, or benches that time a single run) show the ratio and
//! "no spread", never a verdict they cannot back.

use crate::error::bad_input;
use crate::records::{Record, Spread};
use crate::table::Table;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Whether B's time moved beyond the measured spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    WithinSpread,
    NoSpread,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::WithinSpread => "within spread",
            Verdict::NoSpread => "no spread",
        }
    }

    /// B against A: their quartile ranges must not overlap for a verdict.
    pub fn of(a: Option<Spread>, b: Option<Spread>) -> Verdict {
        match (a, b) {
            (Some(a), Some(b)) if b.p75_s < a.p25_s => Verdict::Faster,
            (Some(a), Some(b)) if b.p25_s > a.p75_s => Verdict::Slower,
            (Some(_), Some(_)) => Verdict::WithinSpread,
            _ => Verdict::NoSpread,
        }
    }
}

/// One bench measured on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub bench_id: String,
    pub chapter: String,
    pub unit: String,
    pub a_value: f64,
    pub b_value: f64,
    /// B's throughput ÷ A's (above 1: B is faster).
    pub throughput_ratio: f64,
    pub a_time_s: f64,
    pub b_time_s: f64,
    /// B's time ÷ A's (above 1: B is slower).
    pub time_ratio: f64,
    pub verdict: Verdict,
}

impl Change {
    /// Record `b` against record `a` of the same bench.
    pub fn between(a: &Record, b: &Record) -> Change {
        Change {
            bench_id: b.bench_id.clone(),
            chapter: b.chapter.clone(),
            unit: b.throughput.unit.clone(),
            a_value: a.throughput.value,
            b_value: b.throughput.value,
            throughput_ratio: b.throughput.value / a.throughput.value,
            a_time_s: a.time_s,
            b_time_s: b.time_s,
            time_ratio: b.time_s / a.time_s,
            verdict: Verdict::of(a.spread, b.spread),
        }
    }
}

/// Every bench both sides measured, and those only one did.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub changes: Vec<Change>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// Pairs the records of two sides by bench id.
pub fn compare_records(a_label: &str, a: &[Record], b_label: &str, b: &[Record]) -> Comparison {
    let index = |rs: &[Record]| -> BTreeMap<String, Record> {
        rs.iter().map(|r| (r.bench_id.clone(), r.clone())).collect()
    };
    let (a_ids, b_ids) = (index(a), index(b));
    let mut changes: Vec<Change> = a_ids
        .iter()
        .filter_map(|(id, ra)| Some(Change::between(ra, b_ids.get(id)?)))
        .collect();
    changes.sort_by(|x, y| (&x.chapter, &x.bench_id).cmp(&(&y.chapter, &y.bench_id)));
    let only = |mine: &BTreeMap<String, Record>, theirs: &BTreeMap<String, Record>| {
        mine.keys()
            .filter(|k| !theirs.contains_key(*k))
            .cloned()
            .collect()
    };
    Comparison {
        a: a_label.to_string(),
        b: b_label.to_string(),
        only_in_a: only(&a_ids, &b_ids),
        only_in_b: only(&b_ids, &a_ids),
        changes,
    }
}

/// One side of a comparison: a run in `records_dir`, or a folder of records.
fn side(records_dir: &Path, which: &str) -> anyhow::Result<(String, Vec<Record>)> {
    let history = crate::records::read_history(records_dir)?;
    for s in &history.skipped {
        eprintln!("skipped {s}");
    }
    if let Some(run) = history.run(which) {
        return Ok((format!("run {which}"), run.records.clone()));
    }
    let path = Path::new(which);
    if path.is_dir() {
        let set = crate::records::read_dir(path)?;
        for s in &set.skipped {
            eprintln!("skipped {s}");
        }
        return Ok((format!("folder {which}"), set.records));
    }
    let ids: Vec<&str> = history.runs.iter().map(|r| r.id.as_str()).collect();
    Err(bad_input(
        format!("--compare {which}"),
        format!(
            "no such run in {} and no such folder (runs: {})",
            records_dir.display(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        ),
    ))
}

/// `report --compare A B` over the runs of `records_dir` (or two folders).
pub fn compare(records_dir: &Path, a: &str, b: &str) -> anyhow::Result<Comparison> {
    let (a_label, a_records) = side(records_dir, a)?;
    let (b_label, b_records) = side(records_dir, b)?;
    Ok(compare_records(&a_label, &a_records, &b_label, &b_records))
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "A: {}\nB: {}\n", self.a, self.b)?;
        if self.changes.is_empty() {
            writeln!(f, "no bench was measured in both")?;
        } else {
            let mut t = Table::new([
                "bench",
                "A",
                "B",
                "unit",
                "B/A throughput",
                "B/A time",
                "change",
            ]);
            for c in &self.changes {
                t.row([
                    c.bench_id.clone(),
                    format!("{:.4}", c.a_value),
                    format!("{:.4}", c.b_value),
                    c.unit.clone(),
                    format!("{:.3}×", c.throughput_ratio),
                    format!("{:.3}×", c.time_ratio),
                    c.verdict.text().to_string(),
                ]);
            }
            write!(f, "{t}")?;
        }
        for (side, ids) in [("A", &self.only_in_a), ("B", &self.only_in_b)] {
            if !ids.is_empty() {
                writeln!(f, "only in {side}: {}", ids.join(", "))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(p25_s: f64, p75_s: f64) -> Option<Spread> {
        Some(Spread {
            p25_s,
            p75_s,
            runs: 9,
        })
    }

    #[test]
    fn a_verdict_needs_quartile_ranges_apart() {
        let a = spread(1.0, 1.1);
        assert_eq!(Verdict::of(a, spread(1.2, 1.3)), Verdict::Slower);
        assert_eq!(Verdict::of(a, spread(0.8, 0.9)), Verdict::Faster);
        // Overlapping ranges: the medians may differ, the runs do not tell them apart.
        assert_eq!(Verdict::of(a, spread(1.05, 1.3)), Verdict::WithinSpread);
        assert_eq!(Verdict::of(a, spread(0.5, 1.0)), Verdict::WithinSpread);
        assert_eq!(Verdict::of(None, spread(9.0, 9.0)), Verdict::NoSpread);
    }
}
