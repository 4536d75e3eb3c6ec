//! The routing policy: which tiers may serve each task type, the quality gate's thresholds and
//! the escalation rule.
//!
//! Two rules hold whatever the file says, because they are the point of the policy: a task
//! type the policy does not name goes to [`DEFAULT_TIER`] (standard), and [`PREMIUM_TIER`] is
//! used only where a task type names it — nobody pays premium prices by accident.

use super::catalog::{Catalog, DEFAULT_TIER, MEASURED_CPU_TIER, PREMIUM_TIER};
use super::{at, line_of_id, parse_yaml};
use serde::{Deserialize, Serialize};

/// The shipped default policy (`data/policies/default.yaml`).
pub const DEFAULT_POLICY_YAML: &str = include_str!("../../data/policies/default.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskPolicy {
    pub id: String,
    pub description: Option<String>,
    /// Tiers allowed to serve this task type (the router takes the cheapest eligible model).
    pub tiers: Vec<String>,
    /// Whether the quality gate applies: models need measured evidence (see [`Gate`]).
    #[serde(default)]
    pub gated: bool,
}

/// Thresholds a model's measured outputs must meet for a gated task type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gate {
    pub min_outputs: u64,
    pub min_valid_json_rate: f64,
    pub min_schema_match_rate: f64,
    /// Share of outputs that called the expected tool, checked where the evidence names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_right_tool_rate: Option<f64>,
    /// Share of outputs with exactly the expected arguments, checked where the evidence has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_right_args_rate: Option<f64>,
    /// Tiers that may serve a gated task type without evidence (evidence below the thresholds
    /// still refuses them).
    #[serde(default)]
    pub trusted_tiers: Vec<String>,
}

/// Move a task type up a tier when its failure rate passes `max_failure_rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Escalation {
    pub max_failure_rate: f64,
    pub min_outcomes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    pub task_types: Vec<TaskPolicy>,
    pub gate: Gate,
    pub escalation: Escalation,
}

impl Policy {
    /// The tiers allowed for a task type and whether the policy named it.
    pub fn tiers_for(&self, task_type: &str) -> (Vec<String>, bool) {
        match self.task_types.iter().find(|t| t.id == task_type) {
            Some(t) => (t.tiers.clone(), true),
            None => (vec![DEFAULT_TIER.to_string()], false),
        }
    }

    pub fn gated(&self, task_type: &str) -> bool {
        self.task_types.iter().any(|t| t.id == task_type && t.gated)
    }

    /// Checks the policy against a catalog's tiers: every tier it names must exist, but for
    /// the measured-CPU tier, which runs given to `route --outputs` add to any catalog.
    pub fn check_tiers(&self, catalog: &Catalog, file: &str) -> anyhow::Result<()> {
        for t in &self.task_types {
            for tier in &t.tiers {
                if catalog.tier_rank(tier).is_none() && tier != MEASURED_CPU_TIER {
                    crate::bail_input!(
                        "{file}: task type `{}`: unknown tier `{tier}`; the catalog's tiers: {}",
                        t.id,
                        catalog.tiers.join(", ")
                    );
                }
            }
        }
        for tier in &self.gate.trusted_tiers {
            if catalog.tier_rank(tier).is_none() {
                crate::bail_input!("{file}: gate.trustedTiers: unknown tier `{tier}`");
            }
        }
        Ok(())
    }
}

/// Parses and validates a policy; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> anyhow::Result<Policy> {
    let p: Policy = parse_yaml(text, file)?;
    for (i, t) in p.task_types.iter().enumerate() {
        let here = format!(
            "{}: task type `{}`",
            at(file, line_of_id(text, &t.id)),
            t.id
        );
        if p.task_types[..i].iter().any(|o| o.id == t.id) {
            crate::bail_input!("{here}: duplicate task type id");
        }
        if t.tiers.is_empty() {
            crate::bail_input!("{here}: `tiers` is empty");
        }
    }
    let rate = |name: &str, v: f64| -> anyhow::Result<()> {
        if !(0.0..=1.0).contains(&v) {
            crate::bail_input!("{file}: `{name}` is {v}; a rate is between 0 and 1");
        }
        Ok(())
    };
    rate("gate.minValidJsonRate", p.gate.min_valid_json_rate)?;
    rate("gate.minSchemaMatchRate", p.gate.min_schema_match_rate)?;
    for (name, v) in [
        ("gate.minRightToolRate", p.gate.min_right_tool_rate),
        ("gate.minRightArgsRate", p.gate.min_right_args_rate),
    ] {
        if let Some(v) = v {
            rate(name, v)?;
        }
    }
    rate("escalation.maxFailureRate", p.escalation.max_failure_rate)?;
    debug_assert!(PREMIUM_TIER != DEFAULT_TIER);
    Ok(p)
}

/// The shipped default policy.
pub fn default_policy() -> Policy {
    match parse(DEFAULT_POLICY_YAML, "data/policies/default.yaml") {
        Ok(p) => p,
        Err(e) => unreachable!("the embedded default policy is valid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_task_types_get_standard_and_premium_is_explicit() {
        let p = default_policy();
        assert_eq!(
            p.tiers_for("translation"),
            (vec!["standard".to_string()], false)
        );
        let (tiers, named) = p.tiers_for("reasoning");
        assert!(named && tiers == ["premium"]);
        // Premium appears only where a task type names it.
        let premium: Vec<&str> = p
            .task_types
            .iter()
            .filter(|t| t.tiers.iter().any(|x| x == PREMIUM_TIER))
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(premium, ["reasoning"]);
        assert!(p.gated("tool-calls") && !p.gated("extraction"));
    }

    #[test]
    fn bad_policies_are_named() {
        let base = "gate: {minOutputs: 5, minValidJsonRate: 0.9, minSchemaMatchRate: 0.9}\nescalation: {maxFailureRate: 0.1, minOutcomes: 10}\n";
        let e = parse(
            &format!("taskTypes:\n  - {{id: a, tiers: []}}\n{base}"),
            "p.yaml",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("p.yaml:2: task type `a`: `tiers` is empty"),
            "{e}"
        );
        let p = parse(
            &format!("taskTypes:\n  - {{id: a, tiers: [gold]}}\n{base}"),
            "p.yaml",
        )
        .unwrap();
        let c = crate::router::catalog::parse(
            "- {id: m, tier: standard, costInput: 1, costOutput: 1}\n",
            "m.yaml",
        )
        .unwrap();
        let e = p.check_tiers(&c, "p.yaml").unwrap_err();
        assert!(e.to_string().contains("unknown tier `gold`"), "{e}");
        let e = parse(
            &format!("taskTypes: []\n{}", base.replace("0.1,", "1.5,")),
            "p.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("maxFailureRate"), "{e}");
    }
}
