//! The cost router: which model tier each kind of task should go to, and what that saves.
//!
//! Read in this order:
//! - [`catalog`]: the models and their prices (USD per 1M tokens), the tier order, validation;
//!   [`litellm`] imports LiteLLM's per-token price file and compares two price lists.
//! - [`workload`]: task types with volume and tokens per task (or sample texts to count).
//! - [`policy`]: which tiers may serve each task type (standard by default, premium only when
//!   named), the quality gate's thresholds and the escalation rule.
//! - [`gate`]: tool-call quality scored from model outputs, the evidence the policy reads;
//!   [`requests`]: the tool-call requests a model is asked (`toolcall run`).
//! - [`plan`]: cost per task, eligibility, the cheapest eligible model, the per-tier table,
//!   the routing plan and its sensitivity.
//! - [`audit`]: one log line per routing decision, and the review that reads it back.
//! - [`route`]: the per-tier table, the plan and its sensitivity in one call.
//!
//! Everything here is pure functions over typed values and prints nothing: the commands
//! `llm-workbench route …` and `llm-workbench toolcall …` (`commands::route`,
//! `commands::toolcall`) read the files and print the tables.

pub mod audit;
pub mod catalog;
pub mod gate;
pub mod litellm;
pub mod plan;
pub mod policy;
pub mod requests;
pub mod workload;

use crate::error::BadInput;
use catalog::Catalog;
use gate::Scores;
use plan::{Plan, SensitivityRow, TierRow};
use policy::Policy;
use workload::Workload;

/// Parses YAML into `T`; a syntax or shape error becomes one line `file:line:column: message`.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> anyhow::Result<T> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // The library appends " at line L column C"; the location goes in front instead.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        match e.location() {
            Some(at) => BadInput(format!("{file}:{}:{}: {msg}", at.line(), at.column())).into(),
            None => BadInput(format!("{file}: {msg}")).into(),
        }
    })
}

/// The 1-based line of the first `id: <id>` in a YAML text, so semantic errors can point at
/// the entry they are about (serde does not keep positions for values that parsed fine).
pub(crate) fn line_of_id(text: &str, id: &str) -> Option<usize> {
    lines_of_id(text, id).next()
}

/// The 1-based lines of every `id: <id>` key, in block (`- id: a`) or flow (`{id: a, …}`) style.
pub(crate) fn lines_of_id<'a>(text: &'a str, id: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.lines().enumerate().filter_map(move |(i, line)| {
        let hit = line.match_indices("id:").any(|(k, _)| {
            let before = line[..k].chars().next_back();
            let key_starts = matches!(before, None | Some(' ' | '{' | '-' | ','));
            let value = line[k + 3..].split([',', '}', '#']).next().unwrap_or("");
            key_starts && value.trim().trim_matches(['"', '\'']) == id
        });
        hit.then_some(i + 1)
    })
}

/// `file:line` when the line is known, else `file`.
pub(crate) fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// Rounds to `decimals` places, ties to even, treating values within float noise of a tie as a
/// tie: 6.25 → 6.2 and 85.5 → 86, as published tables round, even when the computed value is
/// 6.2500000000000001 or 85.49999999999999.
pub fn round_half_even(value: f64, decimals: u32) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    let scaled = value * scale;
    let floor = scaled.floor();
    let frac = scaled - floor;
    let noise = 1e-9 * scaled.abs().max(1.0);
    let rounded = if (frac - 0.5).abs() <= noise {
        if floor % 2.0 == 0.0 {
            floor
        } else {
            floor + 1.0
        }
    } else {
        scaled.round()
    };
    rounded / scale
}

/// Dollars with thousands separators and no cents: `$3,750`, `$86`.
pub fn usd(value: f64) -> String {
    format!("${}", crate::table::thousands(round_half_even(value, 0), 0))
}

/// Dollars per task: at least 4 decimals, up to 3 significant digits, trailing zeros past the
/// fourth decimal dropped: `$0.0125`, `$0.0020`, `$0.000285`, `$0.00007`.
pub fn usd_per_task(value: f64) -> String {
    if value == 0.0 {
        return "$0.0000".into();
    }
    let magnitude = value.abs().log10().floor() as i32; // 0.0125 → -2
    let decimals = (2 - magnitude).max(4) as u32;
    let s = format!("{:.*}", decimals as usize, round_half_even(value, decimals));
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let keep = frac.trim_end_matches('0').len().max(4);
    format!("${int}.{}", &frac[..keep.min(frac.len())])
}

/// A ratio to one decimal with ties to even: `1.7×`, `6.2×`, `178.6×`.
pub fn ratio(value: f64) -> String {
    format!("{}×", crate::table::thousands(round_half_even(value, 1), 1))
}

/// The per-tier table, the plan and its sensitivity for a loaded catalog and workload.
pub fn route(
    catalog: &Catalog,
    policy: &Policy,
    evidence: Option<&Scores>,
    workload: &Workload,
) -> anyhow::Result<(Vec<TierRow>, Plan, Vec<SensitivityRow>)> {
    let tiers = plan::tier_table(catalog, workload);
    let p = plan::plan(catalog, policy, evidence, workload)?;
    let s = plan::sensitivity(catalog, policy, evidence, workload, &p);
    Ok((tiers, p, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_even_and_noise_tolerant() {
        assert_eq!(round_half_even(6.25, 1), 6.2);
        assert_eq!(round_half_even(6.250000000000001, 1), 6.2);
        assert_eq!(round_half_even(6.35, 1), 6.4);
        assert_eq!(round_half_even(85.5, 0), 86.0);
        assert_eq!(round_half_even(85.49999999999999, 0), 86.0);
        assert_eq!(round_half_even(84.5, 0), 84.0);
        assert_eq!(round_half_even(43.859, 1), 43.9);
    }

    #[test]
    fn money_formats() {
        assert_eq!(usd(3750.0000000001), "$3,750");
        assert_eq!(usd(85.5), "$86");
        assert_eq!(usd_per_task(0.0125), "$0.0125");
        assert_eq!(usd_per_task(0.0075), "$0.0075");
        assert_eq!(usd_per_task(0.002), "$0.0020");
        assert_eq!(usd_per_task(0.000285), "$0.000285");
        assert_eq!(usd_per_task(0.00007), "$0.00007");
        assert_eq!(usd_per_task(0.5), "$0.5000");
        assert_eq!(ratio(3750.0 / 85.5), "43.9×");
    }

    #[test]
    fn yaml_errors_carry_file_line_and_column() {
        let err = parse_yaml::<serde_yaml_ng::Value>("a: [1, 2\nb: 3\n", "x.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.yaml:"), "{text}");
        assert_eq!(
            text.split(':').nth(1).map(|l| l.parse::<usize>().is_ok()),
            Some(true),
            "{text}"
        );
        assert_eq!(
            line_of_id("models:\n  - id: a\n  - id: \"b\"\n", "b"),
            Some(3)
        );
        assert_eq!(
            line_of_id("- {id: x, tier: a}\n- {tier: b, id: y}\n", "y"),
            Some(2)
        );
        assert_eq!(line_of_id("- {taskid: y}\n", "y"), None);
    }
}
