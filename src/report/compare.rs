//! `llm-workbench report --compare A B`: each bench measured in both, B against A.
//!
//! A and B are run ids from `report --runs`, or record folders (the latest record of each
//! bench in the folder: e.g. one copied from another machine). A change counts as faster or
//! slower only when it is larger than the run-to-run spread both records measured: B's
//! interquartile range of run times lies wholly below (faster) or above (slower) A's, each over
//! at least [`MIN_RUNS`] runs. Records without such a spread (older ones, or benches that time
//! fewer runs) show the ratio and "no spread", never a verdict they cannot back; records of the
//! same id whose unit or parameters differ (a `--quick` machine run against a full one) are
//! "not comparable" and get no ratio.

use crate::error::bad_input;
use crate::records::{Record, Spread};
use crate::table::Table;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Runs a spread needs before a verdict rests on it: with fewer, the quartiles are single
/// runs and any difference would look real.
pub const MIN_RUNS: usize = 3;

/// Whether B's time moved beyond the measured spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    WithinSpread,
    NoSpread,
    NotComparable,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::WithinSpread => "within spread",
            Verdict::NoSpread => "no spread",
            Verdict::NotComparable => "not comparable",
        }
    }

    /// B against A: their quartile ranges must not overlap for a verdict.
    pub fn of(a: Option<Spread>, b: Option<Spread>) -> Verdict {
        let enough = |s: Option<Spread>| s.filter(|s| s.runs >= MIN_RUNS);
        match (enough(a), enough(b)) {
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
    /// B's throughput ÷ A's (above 1: B is faster); `None` when not comparable.
    pub throughput_ratio: Option<f64>,
    pub a_time_s: f64,
    pub b_time_s: f64,
    /// B's time ÷ A's (above 1: B is slower); `None` when not comparable.
    pub time_ratio: Option<f64>,
    pub verdict: Verdict,
}

impl Change {
    /// Record `b` against record `a` of the same bench.
    pub fn between(a: &Record, b: &Record) -> Change {
        let comparable = a.throughput.unit == b.throughput.unit && a.params == b.params;
        Change {
            bench_id: b.bench_id.clone(),
            chapter: b.chapter.clone(),
            unit: b.throughput.unit.clone(),
            a_value: a.throughput.value,
            b_value: b.throughput.value,
            throughput_ratio: comparable.then(|| b.throughput.value / a.throughput.value),
            a_time_s: a.time_s,
            b_time_s: b.time_s,
            time_ratio: comparable.then(|| b.time_s / a.time_s),
            verdict: if comparable {
                Verdict::of(a.spread, b.spread)
            } else {
                Verdict::NotComparable
            },
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

/// One side of a comparison: a run of `history` (read from `records_dir`), or a folder.
fn side(
    records_dir: &Path,
    history: &crate::records::History,
    which: &str,
) -> anyhow::Result<(String, Vec<Record>)> {
    if let Some(run) = history.run(which) {
        return Ok((format!("run {which}"), run.records.clone()));
    }
    let path = Path::new(which);
    if path.is_dir() {
        let set = crate::records::read_dir(path)?;
        super::warn_skipped(&set.skipped);
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

/// `report --compare A B` over the runs in `history`, read from `records_dir` (or two folders).
pub fn compare(
    records_dir: &Path,
    history: &crate::records::History,
    a: &str,
    b: &str,
) -> anyhow::Result<Comparison> {
    let (a_label, a_records) = side(records_dir, history, a)?;
    let (b_label, b_records) = side(records_dir, history, b)?;
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
                    ratio_text(c.throughput_ratio),
                    ratio_text(c.time_ratio),
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

/// `1.234×`, or `-` for no ratio.
pub fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{r:.3}×"))
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
        // Too few runs behind a spread: no verdict, however far apart.
        let two_runs = Some(Spread {
            p25_s: 5.0,
            p75_s: 5.0,
            runs: 2,
        });
        assert_eq!(Verdict::of(a, two_runs), Verdict::NoSpread);
    }
}
