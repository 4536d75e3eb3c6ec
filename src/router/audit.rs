//! The audit log and the review that closes the loop.
//!
//! `route --audit FILE.jsonl` appends one line per routing decision (time, task type, model,
//! tier, tokens, cost). `route review` reads the log with an outcomes file (which task types
//! failed on which tier) and reports spend per task type and tier, flags task types that
//! evidence says a cheaper tier serves, and applies the escalation rule: a task type moves up
//! one tier when its failure rate on its current tier passes the policy's `maxFailureRate`
//! over at least `minOutcomes` outcomes.

use super::catalog::Catalog;
use super::plan::{Plan, fits};
use super::policy::Policy;
use super::workload::{TaskType, TokenSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One routing decision as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLine {
    /// UTC, RFC 3339 (`2026-06-01T12:00:00Z`).
    pub time: String,
    pub workload: String,
    pub task_type: String,
    pub model: String,
    pub tier: String,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub tasks_per_day: f64,
    pub days: f64,
    pub usd_per_task: f64,
    pub usd_total: f64,
}

/// The audit lines of a plan, stamped with `time`.
pub fn audit_lines(plan: &Plan, time: &str) -> Vec<AuditLine> {
    plan.choices
        .iter()
        .map(|c| AuditLine {
            time: time.to_string(),
            workload: plan.workload.clone(),
            task_type: c.task_type.clone(),
            model: c.model.clone(),
            tier: c.tier.clone(),
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            tasks_per_day: c.tasks_per_day,
            days: plan.days,
            usd_per_task: c.usd_per_task,
            usd_total: c.usd_total,
        })
        .collect()
}

/// Seconds since the Unix epoch as RFC 3339 UTC (days-to-civil conversion, proleptic Gregorian).
pub fn rfc3339(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The current time as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(s)
}

/// Appends `lines` to the audit log at `path` (created if missing), all in one write to a
/// file opened for appending, so two processes appending at once do not interleave within a
/// line. A process killed during the write can leave the end of that write torn (the kernel
/// stops a large write between pages): the next append ends the torn line first, so it
/// cannot swallow a new line, and [`read_jsonl`] counts it as one malformed line.
pub fn append(path: &std::path::Path, lines: &[AuditLine]) -> anyhow::Result<()> {
    use std::io::Write;
    let at = |e: std::io::Error| crate::error::bad_input(path.display(), e);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(at)?;
    let mut text = String::new();
    if ends_mid_line(&mut f).map_err(at)? {
        text.push('\n');
    }
    for l in lines {
        text += &serde_json::to_string(l)?;
        text.push('\n');
    }
    f.write_all(text.as_bytes()).map_err(at)
}

/// Whether a file's last byte is something other than a newline.
fn ends_mid_line(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// A line of a JSONL file that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadLine {
    pub at: String,
    pub reason: String,
}

/// Parses JSONL into `T`, counting malformed lines (the first few kept) instead of stopping.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
    bad: &mut Vec<BadLine>,
    bad_count: &mut usize,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(e) => {
                *bad_count += 1;
                if bad.len() < 5 {
                    bad.push(BadLine {
                        at: format!("{file}:{}", i + 1),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// What happened to tasks: one task (`ok`) or a count (`tasks`, `failures`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeLine {
    pub task_type: String,
    pub model: String,
    /// The model's tier; looked up in the catalog when absent.
    pub tier: Option<String>,
    pub ok: Option<bool>,
    pub tasks: Option<u64>,
    pub failures: Option<u64>,
    pub time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendRow {
    pub task_type: String,
    pub tier: String,
    pub decisions: usize,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRow {
    pub task_type: String,
    pub tier: String,
    pub outcomes: u64,
    pub failures: u64,
    pub failure_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flag {
    pub task_type: String,
    /// `cheaper-tier-serves` or `escalate`.
    pub kind: String,
    pub from_tier: String,
    pub to_tier: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub spend: Vec<SpendRow>,
    pub usd_total: f64,
    pub outcomes: Vec<OutcomeRow>,
    pub flags: Vec<Flag>,
    pub malformed_lines: usize,
    pub malformed: Vec<BadLine>,
}

/// Reviews audit lines against outcomes. The current tier of a task type is the tier of its
/// last audit line; `bad` and `bad_count` carry malformed lines already found.
pub fn review(
    catalog: &Catalog,
    policy: &Policy,
    audit: &[AuditLine],
    outcomes: &[OutcomeLine],
    mut bad: Vec<BadLine>,
    mut bad_count: usize,
) -> Review {
    let mut spend: BTreeMap<(String, String), (usize, f64)> = BTreeMap::new();
    let mut current: BTreeMap<String, &AuditLine> = BTreeMap::new();
    for a in audit {
        let e = spend
            .entry((a.task_type.clone(), a.tier.clone()))
            .or_default();
        e.0 += 1;
        e.1 += a.usd_total;
        current.insert(a.task_type.clone(), a);
    }
    let mut tally: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (i, o) in outcomes.iter().enumerate() {
        let tier = o
            .tier
            .clone()
            .or_else(|| catalog.model(&o.model).map(|m| m.tier.clone()));
        let counts = match (o.ok, o.tasks, o.failures) {
            (Some(ok), None, None) => Some((1, u64::from(!ok))),
            (None, Some(n), Some(f)) if f <= n => Some((n, f)),
            _ => None,
        };
        let (Some(tier), Some((n, f))) = (tier, counts) else {
            bad_count += 1;
            if bad.len() < 5 {
                let why = if counts.is_none() {
                    "give `ok`, or `tasks` and `failures` (failures <= tasks)".to_string()
                } else {
                    format!(
                        "model `{}` is not in the catalog and the line has no `tier`",
                        o.model
                    )
                };
                bad.push(BadLine {
                    at: format!("outcome #{}", i + 1),
                    reason: why,
                });
            }
            continue;
        };
        let e = tally.entry((o.task_type.clone(), tier)).or_default();
        e.0 += n;
        e.1 += f;
    }
    let esc = &policy.escalation;
    let rank = |t: &str| catalog.tier_rank(t).unwrap_or(usize::MAX);
    let mut flags = Vec::new();
    for (task_type, line) in &current {
        let here = rank(&line.tier);
        // Escalation: failing too often where it is now.
        if let Some(&(n, f)) = tally.get(&(task_type.clone(), line.tier.clone()))
            && n >= esc.min_outcomes
            && f as f64 / n as f64 > esc.max_failure_rate
        {
            let up = here
                .checked_sub(1)
                .and_then(|r| catalog.tiers.get(r))
                .cloned();
            let rate = 100.0 * f as f64 / n as f64;
            let reason = match &up {
                Some(t) => format!(
                    "{f} of {n} failed on {} ({rate:.1}% > {:.1}%): move up to {t}{}",
                    line.tier,
                    100.0 * esc.max_failure_rate,
                    if t == super::catalog::PREMIUM_TIER {
                        " (premium must be named in the policy)"
                    } else {
                        ""
                    }
                ),
                None => format!(
                    "{f} of {n} failed on {} ({rate:.1}%), already the top tier",
                    line.tier
                ),
            };
            flags.push(Flag {
                task_type: task_type.clone(),
                kind: "escalate".into(),
                from_tier: line.tier.clone(),
                to_tier: up,
                reason,
            });
            continue;
        }
        // A cheaper tier with enough good outcomes: the spend here may be unnecessary.
        let cheaper = tally
            .iter()
            .filter(|((t, tier), (n, f))| {
                t == task_type
                    && rank(tier) > here
                    && *n >= esc.min_outcomes
                    && *f as f64 / *n as f64 <= esc.max_failure_rate
            })
            .max_by_key(|((_, tier), _)| rank(tier));
        if let Some(((_, tier), (n, f))) = cheaper {
            let task = TaskType {
                id: task_type.clone(),
                tasks_per_day: line.tasks_per_day,
                input_tokens: line.input_tokens,
                output_tokens: line.output_tokens,
                requires: Vec::new(),
                source: TokenSource::Counts,
            };
            let there = catalog
                .models
                .iter()
                .filter(|m| &m.tier == tier && fits(m, &task).is_ok())
                .map(|m| {
                    m.usd_per_task(task.input_tokens, task.output_tokens)
                        * task.tasks_per_day
                        * line.days
                })
                .min_by(f64::total_cmp);
            let cost = there.map_or(String::new(), |c| {
                format!(
                    "; {} there instead of {} per {} days",
                    super::usd(c),
                    super::usd(line.usd_total),
                    line.days
                )
            });
            flags.push(Flag {
                task_type: task_type.clone(),
                kind: "cheaper-tier-serves".into(),
                from_tier: line.tier.clone(),
                to_tier: Some(tier.clone()),
                reason: format!(
                    "on {} but {tier} failed {f} of {n} ({:.1}% <= {:.1}%){cost}",
                    line.tier,
                    100.0 * *f as f64 / *n as f64,
                    100.0 * esc.max_failure_rate
                ),
            });
        }
    }
    let spend: Vec<SpendRow> = spend
        .into_iter()
        .map(|((task_type, tier), (decisions, usd))| SpendRow {
            task_type,
            tier,
            decisions,
            usd,
        })
        .collect();
    Review {
        usd_total: spend.iter().map(|s| s.usd).sum(),
        spend,
        outcomes: tally
            .into_iter()
            .map(|((task_type, tier), (n, f))| OutcomeRow {
                task_type,
                tier,
                outcomes: n,
                failures: f,
                failure_rate: if n > 0 { f as f64 / n as f64 } else { 0.0 },
            })
            .collect(),
        flags,
        malformed_lines: bad_count,
        malformed: bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{catalog, policy::default_policy};

    /// The shipped catalog, with its self-hosted entry priced by a stand-in (not under test here).
    fn shipped() -> Catalog {
        let quote = |_: &catalog::SelfHosted| -> anyhow::Result<catalog::SelfHostedQuote> {
            Ok(catalog::SelfHostedQuote {
                cost_input: 1.0,
                cost_output: 1.0,
                source: "stand-in".into(),
                as_of: None,
                usd_per_hour: None,
            })
        };
        catalog::parse_with(
            include_str!("../../data/models.yaml"),
            "models.yaml",
            &quote,
        )
        .unwrap()
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_780_000_000), "2026-05-28T20:26:40Z");
    }

    fn line(task_type: &str, model: &str, tier: &str, usd: f64) -> AuditLine {
        AuditLine {
            time: "t".into(),
            workload: "w".into(),
            task_type: task_type.into(),
            model: model.into(),
            tier: tier.into(),
            input_tokens: 1000.0,
            output_tokens: 300.0,
            tasks_per_day: 10_000.0,
            days: 30.0,
            usd_per_task: usd / 300_000.0,
            usd_total: usd,
        }
    }

    fn outcome(task_type: &str, tier: &str, tasks: u64, failures: u64) -> OutcomeLine {
        OutcomeLine {
            task_type: task_type.into(),
            model: "any".into(),
            tier: Some(tier.into()),
            ok: None,
            tasks: Some(tasks),
            failures: Some(failures),
            time: None,
        }
    }

    #[test]
    fn escalates_on_failures_and_flags_a_cheaper_tier_that_serves() {
        let c = shipped();
        let audit = [
            line("extraction", "e", "economy", 600.0),
            line("summaries", "s", "standard", 2250.0),
        ];
        let outcomes = [
            outcome("extraction", "economy", 100, 15), // 15% > 10%: escalate to standard
            outcome("summaries", "standard", 100, 1),
            outcome("summaries", "economy", 50, 2), // 4% <= 10%: economy serves it
            outcome("summaries", "open-weight-economy", 5, 0), // too few outcomes to count
        ];
        let r = review(&c, &default_policy(), &audit, &outcomes, Vec::new(), 0);
        assert_eq!(r.usd_total, 2850.0);
        assert_eq!(r.flags.len(), 2);
        assert_eq!(
            (r.flags[0].kind.as_str(), r.flags[0].to_tier.as_deref()),
            ("escalate", Some("standard"))
        );
        assert_eq!(
            (r.flags[1].kind.as_str(), r.flags[1].to_tier.as_deref()),
            ("cheaper-tier-serves", Some("economy"))
        );
        assert!(
            r.flags[1].reason.contains("$600 there instead of $2,250"),
            "{}",
            r.flags[1].reason
        );
    }

    #[test]
    fn malformed_lines_are_counted_and_skipped() {
        let mut bad = Vec::new();
        let mut n = 0;
        let lines: Vec<OutcomeLine> = read_jsonl(
            "{\"taskType\":\"a\",\"model\":\"m\",\"tier\":\"economy\",\"ok\":true}\n{oops\n\n",
            "o.jsonl",
            &mut bad,
            &mut n,
        );
        assert_eq!((lines.len(), n), (1, 1));
        assert!(bad[0].at == "o.jsonl:2");
        let c = shipped();
        let odd = OutcomeLine {
            ok: Some(true),
            tasks: Some(3),
            ..outcome("a", "economy", 0, 0)
        };
        let r = review(&c, &default_policy(), &[], &[odd], bad, n);
        assert_eq!(r.malformed_lines, 2);
    }
}
