//! Routing: cost per task, which models may serve a task type, the cheapest of them, and the
//! tables built from those choices.
//!
//! Cost of one task on a model, prices in USD per 1M tokens:
//!
//! ```text
//! usd_per_task = (input_tokens × costInput + output_tokens × costOutput) / 1,000,000
//! usd_total    = usd_per_task × tasks_per_day × days
//! ```
//!
//! A model is *eligible* for a task type when (1) its tier is one the policy allows for that
//! task type, (2) input + output tokens fit its context window (when it states one), (3) it has
//! every capability the task type requires, and (4) for a gated task type, the quality gate
//! passes it (see [`gate_check`]). Among eligible models the router takes the cheapest at the
//! task type's own token mix. Ties (costs equal to 1e-12 relative) go to the more capable tier
//! (earlier in the tier order), then to the smaller model id: the choice never depends on the
//! order of the catalog file.

use super::catalog::{Catalog, DEFAULT_TIER, Model, PREMIUM_TIER};
use super::gate::Scores;
use super::policy::Policy;
use super::workload::{TaskType, Workload};
use crate::error::BadInput;
use serde::Serialize;

/// Hard limits a model must meet whatever the policy says: context window and capabilities.
pub fn fits(model: &Model, task: &TaskType) -> Result<(), String> {
    let needed = task.input_tokens + task.output_tokens;
    if let Some(window) = model.context_window
        && needed > window as f64
    {
        return Err(format!(
            "context window {} tokens < {} needed",
            crate::table::thousands(window as f64, 0),
            crate::table::thousands(needed, 0)
        ));
    }
    if let Some(cap) = task
        .requires
        .iter()
        .find(|c| !model.capabilities.contains(c))
    {
        return Err(format!("lacks capability `{cap}`"));
    }
    Ok(())
}

/// The quality gate for one model on a gated task type. Evidence below the thresholds refuses
/// the model on any tier; no evidence refuses it unless its tier is trusted.
pub fn gate_check(
    model: &Model,
    task_type: &str,
    policy: &Policy,
    evidence: Option<&Scores>,
) -> Result<(), String> {
    let g = &policy.gate;
    let score = evidence.and_then(|e| e.get(&model.id, task_type));
    let trusted = g.trusted_tiers.contains(&model.tier);
    match score {
        None if trusted => Ok(()),
        None => Err(format!(
            "quality gate: no tool-call evidence for `{task_type}` (tier {} is not trusted)",
            model.tier
        )),
        Some(s) if s.outputs < g.min_outputs && !trusted => Err(format!(
            "quality gate: {} output(s) scored, {} needed",
            s.outputs, g.min_outputs
        )),
        Some(s) if s.outputs < g.min_outputs => Ok(()),
        Some(s) if s.valid_json_rate < g.min_valid_json_rate => Err(format!(
            "quality gate: valid JSON {:.1}% < {:.1}% on {} outputs",
            100.0 * s.valid_json_rate,
            100.0 * g.min_valid_json_rate,
            s.outputs
        )),
        Some(s) if s.schema_match_rate < g.min_schema_match_rate => Err(format!(
            "quality gate: schema match {:.1}% < {:.1}% on {} outputs",
            100.0 * s.schema_match_rate,
            100.0 * g.min_schema_match_rate,
            s.outputs
        )),
        Some(s) => {
            let below = |what: &str, rate: Option<f64>, min: Option<f64>, of: u64| match (rate, min)
            {
                (Some(r), Some(m)) if r < m => Err(format!(
                    "quality gate: {what} {:.1}% < {:.1}% on {of} outputs",
                    100.0 * r,
                    100.0 * m
                )),
                _ => Ok(()),
            };
            below(
                "right tool",
                s.right_tool_rate,
                g.min_right_tool_rate,
                s.with_expected_tool,
            )?;
            below(
                "right arguments",
                s.right_args_rate,
                g.min_right_args_rate,
                s.with_expected_params,
            )
        }
    }
}

/// A model the router did not take for a task type, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub model: String,
    pub tier: String,
    pub reason: String,
}

/// The router's decision for one task type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    pub task_type: String,
    pub model: String,
    pub tier: String,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub tasks_per_day: f64,
    pub usd_per_task: f64,
    pub usd_total: f64,
    /// The tiers the policy allowed, and whether the policy named the task type (else the
    /// default tier applied).
    pub allowed_tiers: Vec<String>,
    pub named_by_policy: bool,
    /// Models in allowed tiers that were refused (context, capability, quality gate).
    pub refused: Vec<Refusal>,
}

/// Orders two candidates: cheaper first, then the more capable tier, then the smaller id.
fn better(catalog: &Catalog, a: (&Model, f64), b: (&Model, f64)) -> std::cmp::Ordering {
    let tie = (a.1 - b.1).abs() <= 1e-12 * a.1.abs().max(b.1.abs());
    let by_cost = if tie {
        std::cmp::Ordering::Equal
    } else {
        a.1.total_cmp(&b.1)
    };
    by_cost
        .then_with(|| {
            catalog
                .tier_rank(&a.0.tier)
                .cmp(&catalog.tier_rank(&b.0.tier))
        })
        .then_with(|| a.0.id.cmp(&b.0.id))
}

/// The cheapest model of `models` for a task, by [`better`].
fn cheapest<'a>(
    catalog: &Catalog,
    models: impl Iterator<Item = &'a Model>,
    task: &TaskType,
) -> Option<&'a Model> {
    models
        .map(|m| (m, m.usd_per_task(task.input_tokens, task.output_tokens)))
        .min_by(|a, b| better(catalog, *a, *b))
        .map(|(m, _)| m)
}

/// Picks the cheapest eligible model for one task type; no eligible model is bad input that
/// lists why each candidate was refused.
pub fn choose(
    catalog: &Catalog,
    policy: &Policy,
    evidence: Option<&Scores>,
    task: &TaskType,
    days: f64,
) -> anyhow::Result<Choice> {
    let (allowed, named) = policy.tiers_for(&task.id);
    let gated = policy.gated(&task.id);
    let mut refused = Vec::new();
    let mut eligible = Vec::new();
    for m in catalog.models.iter().filter(|m| allowed.contains(&m.tier)) {
        let verdict = fits(m, task).and_then(|()| {
            if gated {
                gate_check(m, &task.id, policy, evidence)
            } else {
                Ok(())
            }
        });
        match verdict {
            Ok(()) => eligible.push(m),
            Err(reason) => refused.push(Refusal {
                model: m.id.clone(),
                tier: m.tier.clone(),
                reason,
            }),
        }
    }
    let Some(best) = cheapest(catalog, eligible.into_iter(), task) else {
        let why = if refused.is_empty() {
            "the catalog has no model in those tiers".to_string()
        } else {
            refused
                .iter()
                .map(|r| format!("{} ({})", r.model, r.reason))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let whose = if named {
            "the policy allows"
        } else {
            "the default tier is"
        };
        return Err(BadInput(format!(
            "task type `{}`: no eligible model ({whose} {}): {why}",
            task.id,
            allowed.join(", ")
        ))
        .into());
    };
    let usd_per_task = best.usd_per_task(task.input_tokens, task.output_tokens);
    Ok(Choice {
        task_type: task.id.clone(),
        model: best.id.clone(),
        tier: best.tier.clone(),
        input_tokens: task.input_tokens,
        output_tokens: task.output_tokens,
        tasks_per_day: task.tasks_per_day,
        usd_per_task,
        usd_total: usd_per_task * task.tasks_per_day * days,
        allowed_tiers: allowed,
        named_by_policy: named,
        refused,
    })
}

/// The whole workload on one tier: for each task type the tier's cheapest model that fits
/// (policy and gate ignored: this is the "what if everything went to this tier" column).
/// `None` when some task type has no model in the tier that fits.
pub fn all_on_tier(
    catalog: &Catalog,
    workload: &Workload,
    tier: &str,
) -> Result<(f64, Vec<String>), String> {
    let mut total = 0.0;
    let mut models = Vec::new();
    for task in &workload.task_types {
        let in_tier = catalog
            .models
            .iter()
            .filter(|m| m.tier == tier && fits(m, task).is_ok());
        let Some(m) = cheapest(catalog, in_tier, task) else {
            return Err(if catalog.models.iter().any(|m| m.tier == tier) {
                format!("no {tier} model fits task type `{}`", task.id)
            } else {
                format!("no {tier} model in the catalog")
            });
        };
        total += m.usd_per_task(task.input_tokens, task.output_tokens)
            * task.tasks_per_day
            * workload.days;
        if !models.contains(&m.id) {
            models.push(m.id.clone());
        }
    }
    Ok((total, models))
}

/// One row of the per-tier comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierRow {
    pub tier: String,
    pub models: Vec<String>,
    /// Mean USD per task over the workload (its own per-task cost for a one-type workload).
    pub usd_per_task: Option<f64>,
    pub usd_total: Option<f64>,
    /// How many times cheaper than premium (premium total / this total).
    pub cheaper_than_premium: Option<f64>,
    /// `list`, `estimate` (a tier estimate), `self-hosted` (GPUs fully busy) or `measured`
    /// (this machine's tokens/s from a `toolcall run`, at a stated hourly cost).
    pub price: String,
    /// For self-hosted models priced by the serving budget: the GPUs' rent over the period,
    /// paid whatever the load (the per-token price assumes them fully busy).
    pub dedicated_usd: Option<f64>,
    pub unavailable: Option<String>,
}

/// How the row's prices were made: any estimate makes the row an estimate.
fn price_kind(catalog: &Catalog, models: &[String]) -> &'static str {
    let any = |f: fn(&Model) -> bool| models.iter().any(|id| catalog.model(id).is_some_and(f));
    if any(|m| m.estimate) {
        "estimate"
    } else if any(|m| m.self_hosted.is_some()) {
        "self-hosted"
    } else if any(|m| m.tier == super::catalog::MEASURED_CPU_TIER) {
        "measured"
    } else {
        "list"
    }
}

/// The per-tier comparison: every tier in catalog order, the whole workload on it.
pub fn tier_table(catalog: &Catalog, workload: &Workload) -> Vec<TierRow> {
    let tasks = workload.tasks();
    let premium = all_on_tier(catalog, workload, PREMIUM_TIER)
        .ok()
        .map(|(t, _)| t);
    catalog
        .tiers
        .iter()
        .map(|tier| match all_on_tier(catalog, workload, tier) {
            Ok((total, models)) => TierRow {
                tier: tier.clone(),
                price: price_kind(catalog, &models).into(),
                dedicated_usd: {
                    let hourly = models
                        .iter()
                        .filter_map(|id| catalog.model(id)?.dedicated_usd_per_hour);
                    hourly
                        .reduce(|a, b| a + b)
                        .map(|h| h * 24.0 * workload.days)
                },
                models,
                usd_per_task: (tasks > 0.0).then(|| total / tasks),
                usd_total: Some(total),
                cheaper_than_premium: premium.filter(|_| total > 0.0).map(|p| p / total),
                unavailable: None,
            },
            Err(why) => TierRow {
                tier: tier.clone(),
                models: Vec::new(),
                usd_per_task: None,
                usd_total: None,
                cheaper_than_premium: None,
                price: String::new(),
                dedicated_usd: None,
                unavailable: Some(why),
            },
        })
        .collect()
}

/// The routing plan: one choice per task type, and what it saves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub workload: String,
    pub days: f64,
    pub choices: Vec<Choice>,
    pub usd_total: f64,
    pub all_premium_usd: Option<f64>,
    pub all_standard_usd: Option<f64>,
    pub savings_vs_premium_usd: Option<f64>,
    pub savings_vs_standard_usd: Option<f64>,
}

/// Routes every task type of a workload.
pub fn plan(
    catalog: &Catalog,
    policy: &Policy,
    evidence: Option<&Scores>,
    workload: &Workload,
) -> anyhow::Result<Plan> {
    let choices = workload
        .task_types
        .iter()
        .map(|t| choose(catalog, policy, evidence, t, workload.days))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let usd_total = choices.iter().map(|c| c.usd_total).sum();
    let all_premium_usd = all_on_tier(catalog, workload, PREMIUM_TIER)
        .ok()
        .map(|(t, _)| t);
    let all_standard_usd = all_on_tier(catalog, workload, DEFAULT_TIER)
        .ok()
        .map(|(t, _)| t);
    Ok(Plan {
        workload: workload.name.clone(),
        days: workload.days,
        choices,
        usd_total,
        all_premium_usd,
        all_standard_usd,
        savings_vs_premium_usd: all_premium_usd.map(|p| p - usd_total),
        savings_vs_standard_usd: all_standard_usd.map(|s| s - usd_total),
    })
}

/// One row of the sensitivity table: the plan re-routed with tokens or volume scaled.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensitivityRow {
    pub scenario: String,
    pub input_scale: f64,
    pub output_scale: f64,
    pub volume_scale: f64,
    pub usd_total: Option<f64>,
    /// This total / the base plan's total.
    pub vs_base: Option<f64>,
    /// Task types whose model changed, as `task type → model`.
    pub rerouted: Vec<String>,
    pub error: Option<String>,
}

/// The scenarios of the sensitivity table: (name, input ×, output ×, volume ×).
pub const SCENARIOS: [(&str, f64, f64, f64); 7] = [
    ("base", 1.0, 1.0, 1.0),
    ("input tokens ×0.5", 0.5, 1.0, 1.0),
    ("input tokens ×2", 2.0, 1.0, 1.0),
    ("output tokens ×0.5", 1.0, 0.5, 1.0),
    ("output tokens ×2", 1.0, 2.0, 1.0),
    ("input and output ×4", 4.0, 4.0, 1.0),
    ("volume ×10", 1.0, 1.0, 10.0),
];

/// Re-plans the workload under each scenario; the cheapest model may change with the mix.
pub fn sensitivity(
    catalog: &Catalog,
    policy: &Policy,
    evidence: Option<&Scores>,
    workload: &Workload,
    base: &Plan,
) -> Vec<SensitivityRow> {
    SCENARIOS
        .iter()
        .map(|&(name, i, o, v)| {
            let mut row = SensitivityRow {
                scenario: name.to_string(),
                input_scale: i,
                output_scale: o,
                volume_scale: v,
                usd_total: None,
                vs_base: None,
                rerouted: Vec::new(),
                error: None,
            };
            match plan(catalog, policy, evidence, &workload.scaled(i, o, v)) {
                Ok(p) => {
                    row.usd_total = Some(p.usd_total);
                    row.vs_base = (base.usd_total > 0.0).then(|| p.usd_total / base.usd_total);
                    row.rerouted = p
                        .choices
                        .iter()
                        .zip(&base.choices)
                        .filter(|(a, b)| a.model != b.model)
                        .map(|(a, _)| format!("{} → {}", a.task_type, a.model))
                        .collect();
                }
                Err(e) => row.error = Some(e.to_string()),
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{catalog, policy, workload};

    fn task(id: &str, input: f64, output: f64) -> TaskType {
        TaskType {
            id: id.into(),
            tasks_per_day: 100.0,
            input_tokens: input,
            output_tokens: output,
            requires: Vec::new(),
            source: workload::TokenSource::Counts,
        }
    }

    fn pol(text: &str) -> Policy {
        let base = "gate: {minOutputs: 2, minValidJsonRate: 0.9, minSchemaMatchRate: 0.9, trustedTiers: [standard]}\n\
                    escalation: {maxFailureRate: 0.1, minOutcomes: 10}\n";
        policy::parse(&format!("{text}\n{base}"), "p.yaml").unwrap()
    }

    #[test]
    fn cheapest_depends_on_the_token_mix() {
        // a is cheap on input, b cheap on output: the mix decides.
        let c = catalog::parse(
            "- {id: a, tier: economy, costInput: 0.1, costOutput: 10}\n- {id: b, tier: economy, costInput: 2, costOutput: 1}\n",
            "m.yaml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = pol("taskTypes:\n  - {id: t, tiers: [economy]}");
        assert_eq!(
            choose(&c, &p, None, &task("t", 10_000.0, 10.0), 30.0)
                .unwrap()
                .model,
            "a"
        );
        assert_eq!(
            choose(&c, &p, None, &task("t", 10.0, 10_000.0), 30.0)
                .unwrap()
                .model,
            "b"
        );
    }

    #[test]
    fn standard_is_the_default_and_premium_needs_naming() {
        let c = catalog::parse(
            "- {id: p, tier: premium, costInput: 0.01, costOutput: 0.01}\n- {id: s, tier: standard, costInput: 3, costOutput: 15}\n",
            "m.yaml",
        )
        .unwrap();
        // Premium is cheaper here, and still not taken for a task type the policy does not name.
        let p = pol("taskTypes:\n  - {id: judge, tiers: [premium]}");
        let c1 = choose(&c, &p, None, &task("other", 1000.0, 300.0), 30.0).unwrap();
        assert_eq!((c1.model.as_str(), c1.named_by_policy), ("s", false));
        assert_eq!(
            choose(&c, &p, None, &task("judge", 1000.0, 300.0), 30.0)
                .unwrap()
                .model,
            "p"
        );
    }

    #[test]
    fn ties_go_to_the_more_capable_tier_then_the_smaller_id_whatever_the_file_order() {
        let text = "- {id: z, tier: economy, costInput: 1, costOutput: 1}\n- {id: y, tier: economy, costInput: 1, costOutput: 1}\n\
                    - {id: x, tier: open-weight-managed, costInput: 1, costOutput: 1}\n";
        let p = pol("taskTypes:\n  - {id: t, tiers: [economy, open-weight-managed]}");
        let t = task("t", 1000.0, 300.0);
        let c = catalog::parse(text, "m.yaml").unwrap();
        assert_eq!(choose(&c, &p, None, &t, 30.0).unwrap().model, "y");
        let mut reversed = c.clone();
        reversed.models.reverse();
        assert_eq!(choose(&reversed, &p, None, &t, 30.0).unwrap().model, "y");
    }

    #[test]
    fn context_capabilities_and_no_eligible_model() {
        let c = catalog::parse(
            "- {id: small, tier: economy, costInput: 0.1, costOutput: 0.1, contextWindow: 8000}\n\
             - {id: big, tier: economy, costInput: 1, costOutput: 1, contextWindow: 100000, capabilities: [tools]}\n",
            "m.yaml",
        )
        .unwrap();
        let p = pol("taskTypes:\n  - {id: t, tiers: [economy]}");
        let ch = choose(&c, &p, None, &task("t", 9000.0, 100.0), 30.0).unwrap();
        assert_eq!(ch.model, "big");
        assert!(
            ch.refused[0]
                .reason
                .contains("context window 8,000 tokens < 9,100"),
            "{:?}",
            ch.refused
        );
        let mut needs = task("t", 200_000.0, 0.0);
        needs.requires = vec!["tools".into()];
        let e = choose(&c, &p, None, &needs, 30.0).unwrap_err().to_string();
        assert!(
            e.starts_with("task type `t`: no eligible model")
                && e.contains("small (")
                && e.contains("big ("),
            "{e}"
        );
    }

    #[test]
    fn the_gate_refuses_weak_or_unproven_models() {
        use crate::router::gate::Score;
        let c = catalog::parse(
            "- {id: cheap, tier: economy, costInput: 0.1, costOutput: 0.1}\n- {id: mid, tier: standard, costInput: 3, costOutput: 15}\n",
            "m.yaml",
        )
        .unwrap();
        let p = pol("taskTypes:\n  - {id: t, tiers: [standard, economy], gated: true}");
        let t = task("t", 100.0, 30.0);
        // No evidence: the untrusted economy model is refused, standard is trusted.
        let ch = choose(&c, &p, None, &t, 30.0).unwrap();
        assert_eq!(ch.model, "mid");
        assert!(ch.refused[0].reason.contains("no tool-call evidence"));
        let mut ev = Scores::default();
        ev.scores.push(Score {
            model: "cheap".into(),
            task_type: "t".into(),
            outputs: 6,
            valid_json: 6,
            schema_match: 4,
            valid_json_rate: 1.0,
            schema_match_rate: 4.0 / 6.0,
            ..Score::default()
        });
        let ch = choose(&c, &p, Some(&ev), &t, 30.0).unwrap();
        assert!(
            ch.refused[0]
                .reason
                .contains("schema match 66.7% < 90.0% on 6 outputs"),
            "{:?}",
            ch.refused
        );
        ev.scores[0].schema_match_rate = 1.0;
        assert_eq!(choose(&c, &p, Some(&ev), &t, 30.0).unwrap().model, "cheap");
    }
}
