//! The model catalog (`models.yaml`): models, their tier and their price in USD per 1M tokens.
//!
//! The file is either a list of models or a mapping `{tiers: [...], models: [...]}`; `tiers`,
//! when given, is the full tier order, most capable first, and replaces [`DEFAULT_TIERS`].
//! Prices drift, so every entry may say where its price came from and when (`priceSource`,
//! `priceAsOf`), and `estimate: true` marks a tier estimate rather than a list price.

use super::{at, line_of_id, parse_yaml};
use crate::error::BadInput;
use serde::{Deserialize, Serialize};

/// The tier order when a catalog declares none, most capable (and most expensive) first.
pub const DEFAULT_TIERS: [&str; 5] = [
    "premium",
    "standard",
    "economy",
    "open-weight-managed",
    "open-weight-economy",
];

/// The tier a task type gets when the policy does not name one.
pub const DEFAULT_TIER: &str = "standard";
/// The tier that is only ever used when a policy names it for a task type.
pub const PREMIUM_TIER: &str = "premium";

/// Where a self-hosted model runs: ids in the serving budget's catalogs
/// (`data/architectures.yaml`, `data/hardware.yaml`) and the number of GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfHosted {
    pub architecture: String,
    pub hardware: String,
    pub gpus: u32,
}

/// One catalog entry as written in the file (costs optional so a missing one can be named).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawModel {
    id: String,
    tier: String,
    cost_input: Option<f64>,
    cost_output: Option<f64>,
    provider: Option<String>,
    context_window: Option<u64>,
    #[serde(default)]
    capabilities: Vec<String>,
    price_source: Option<String>,
    price_as_of: Option<String>,
    #[serde(default)]
    estimate: bool,
    self_hosted: Option<SelfHosted>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCatalog {
    List(Vec<RawModel>),
    Full {
        tiers: Option<Vec<String>>,
        models: Vec<RawModel>,
    },
}

/// A validated model: known tier, non-negative finite prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub id: String,
    pub tier: String,
    /// USD per 1M input tokens.
    pub cost_input: f64,
    /// USD per 1M output tokens.
    pub cost_output: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Input plus output tokens the model accepts; `None` means not stated (not checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    pub capabilities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_as_of: Option<String>,
    pub estimate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_hosted: Option<SelfHosted>,
    /// What the self-hosted GPUs cost per hour whatever the load, when the serving budget
    /// priced the entry: its per-token price assumes the GPUs fully busy, this is the floor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedicated_usd_per_hour: Option<f64>,
}

impl Model {
    /// USD for one task of `input_tokens` in and `output_tokens` out.
    pub fn usd_per_task(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        (input_tokens * self.cost_input + output_tokens * self.cost_output) / 1e6
    }
}

/// A validated catalog: the tier order and the models in file order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    pub tiers: Vec<String>,
    pub models: Vec<Model>,
}

impl Catalog {
    /// Position of a tier in the order (0 = most capable); `None` for an unknown tier.
    pub fn tier_rank(&self, tier: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t == tier)
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }
}

/// A self-hosted price: USD per 1M input and output tokens, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfHostedQuote {
    pub cost_input: f64,
    pub cost_output: f64,
    pub source: String,
    pub as_of: Option<String>,
    /// The GPUs' rental price per hour (all GPUs), paid whether or not they are busy.
    pub usd_per_hour: Option<f64>,
}

/// Prices a `selfHosted` entry that has no explicit costs (the serving budget does this).
pub type Pricer<'a> = &'a dyn Fn(&SelfHosted) -> anyhow::Result<SelfHostedQuote>;

/// Parses and validates a catalog; `file` names it in errors. A `selfHosted` entry must then
/// carry explicit costs; [`parse_with`] can price it instead.
pub fn parse(text: &str, file: &str) -> anyhow::Result<Catalog> {
    parse_inner(text, file, None)
}

/// Like [`parse`], but a `selfHosted` entry without costs is priced by `pricer`. Explicit
/// costs always win: they are a quote the user has, the pricer is a model of the hardware.
pub fn parse_with(text: &str, file: &str, pricer: Pricer) -> anyhow::Result<Catalog> {
    parse_inner(text, file, Some(pricer))
}

fn parse_inner(text: &str, file: &str, pricer: Option<Pricer>) -> anyhow::Result<Catalog> {
    let raw: RawCatalog = match parse_yaml(text, file) {
        Ok(raw) => raw,
        // An untagged enum hides the real problem; parse as the mapping form to find it.
        Err(first) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            #[allow(dead_code)]
            struct Full {
                tiers: Option<Vec<String>>,
                models: Vec<RawModel>,
            }
            let trimmed = text.trim_start();
            return Err(if trimmed.starts_with('-') {
                parse_yaml::<Vec<RawModel>>(text, file).err()
            } else {
                parse_yaml::<Full>(text, file).err()
            }
            .unwrap_or(first));
        }
    };
    let (tiers, models) = match raw {
        RawCatalog::List(models) => (None, models),
        RawCatalog::Full { tiers, models } => (tiers, models),
    };
    let tiers: Vec<String> =
        tiers.unwrap_or_else(|| DEFAULT_TIERS.iter().map(|t| t.to_string()).collect());
    if tiers.is_empty() {
        crate::bail_input!("{file}: `tiers` is empty; list the tier order, most capable first");
    }
    for (i, t) in tiers.iter().enumerate() {
        if tiers[..i].contains(t) {
            crate::bail_input!("{file}: tier `{t}` is listed twice in `tiers`");
        }
    }
    if !tiers.iter().any(|t| t == DEFAULT_TIER) {
        crate::bail_input!("{file}: `tiers` must include `{DEFAULT_TIER}`, the default tier");
    }
    if models.is_empty() {
        crate::bail_input!("{file}: the catalog has no models");
    }
    let mut out: Vec<Model> = Vec::with_capacity(models.len());
    for (i, mut m) in models.into_iter().enumerate() {
        let here = |id: &str| {
            format!(
                "{}: model `{id}` (models[{i}])",
                at(file, line_of_id(text, id))
            )
        };
        if m.id.trim().is_empty() {
            crate::bail_input!("{file}: models[{i}]: `id` is empty");
        }
        if out.iter().any(|o| o.id == m.id) {
            let second = super::lines_of_id(text, &m.id).nth(1);
            crate::bail_input!(
                "{}: duplicate model id `{}` (models[{i}])",
                at(file, second),
                m.id
            );
        }
        if !tiers.contains(&m.tier) {
            crate::bail_input!(
                "{}: unknown tier `{}`; known tiers: {}",
                here(&m.id),
                m.tier,
                tiers.join(", ")
            );
        }
        let mut dedicated_usd_per_hour = None;
        if let (Some(price), Some(sh), None, None) =
            (pricer, &m.self_hosted, m.cost_input, m.cost_output)
        {
            let q = price(sh)
                .map_err(|e| crate::error::bad_input(format!("{}: selfHosted", here(&m.id)), e))?;
            m.cost_input = Some(q.cost_input);
            m.cost_output = Some(q.cost_output);
            m.price_source = Some(q.source);
            m.price_as_of = q.as_of.or(m.price_as_of);
            dedicated_usd_per_hour = q.usd_per_hour;
        }
        let cost = |name: &str, v: Option<f64>| -> anyhow::Result<f64> {
            match v {
                None if m.self_hosted.is_some() => Err(BadInput(format!(
                    "{}: `{name}` is missing; a selfHosted entry needs explicit costs (USD per 1M tokens) \
                     until the serving budget prices it",
                    here(&m.id)
                ))
                .into()),
                None => Err(BadInput(format!("{}: `{name}` is missing (USD per 1M tokens)", here(&m.id))).into()),
                Some(v) if !v.is_finite() || v < 0.0 => {
                    Err(BadInput(format!("{}: `{name}` is {v}; a price must be a number >= 0", here(&m.id))).into())
                }
                Some(v) => Ok(v),
            }
        };
        let cost_input = cost("costInput", m.cost_input)?;
        let cost_output = cost("costOutput", m.cost_output)?;
        if m.context_window == Some(0) {
            crate::bail_input!("{}: `contextWindow` is 0", here(&m.id));
        }
        if let Some(sh) = &m.self_hosted
            && sh.gpus == 0
        {
            crate::bail_input!("{}: `selfHosted.gpus` is 0", here(&m.id));
        }
        out.push(Model {
            id: m.id,
            tier: m.tier,
            cost_input,
            cost_output,
            provider: m.provider,
            context_window: m.context_window,
            capabilities: m.capabilities,
            price_source: m.price_source,
            price_as_of: m.price_as_of,
            estimate: m.estimate,
            self_hosted: m.self_hosted,
            dedicated_usd_per_hour,
        });
    }
    Ok(Catalog { tiers, models: out })
}

/// The tier of models measured on this machine by `toolcall run`.
pub const MEASURED_CPU_TIER: &str = "self-hosted-cpu";

/// What an hour of this machine costs when `--cpu-usd-per-hour` is not given: about the
/// on-demand price of a 2-vCPU cloud VM (AWS lists c7i.large, 2 vCPU and 4 GiB, at
/// $0.0893/hour in us-east-1). An assumption, printed with every price it makes.
pub const DEFAULT_CPU_USD_PER_HOUR: f64 = 0.10;

/// Adds a [`MEASURED_CPU_TIER`] model for every scored run that carries its own timings and
/// is not in the catalog: the machine, serving one request at a time, costs `usd_per_hour`
/// whether prefilling or decoding, so a token costs an hour's price over the tokens that hour
/// processes:
///
/// ```text
/// costInput  = usd_per_hour / 3600 / prefill_tokens_per_s × 1,000,000
/// costOutput = usd_per_hour / 3600 / decode_tokens_per_s  × 1,000,000
/// ```
///
/// Returns the ids added. The tier is appended to the order (least capable) if the catalog
/// does not list it.
pub fn add_measured_cpu_models(
    catalog: &mut Catalog,
    scores: &super::gate::Scores,
    usd_per_hour: f64,
) -> Vec<String> {
    let mut added = Vec::new();
    for s in &scores.scores {
        let Some(m) = s.measured else { continue };
        if catalog.model(&s.model).is_some() || added.contains(&s.model) {
            continue;
        }
        // A run whose timings sum to zero has no speed to price.
        let speed = |tokens_per_s: f64| tokens_per_s.is_finite() && tokens_per_s > 0.0;
        if !(speed(m.prefill_tokens_per_s) && speed(m.decode_tokens_per_s)) {
            continue;
        }
        let per_mtok = |tokens_per_s| crate::budget::calc::usd_per_mtok(usd_per_hour, tokens_per_s);
        catalog.models.push(Model {
            id: s.model.clone(),
            tier: MEASURED_CPU_TIER.to_string(),
            cost_input: per_mtok(m.prefill_tokens_per_s),
            cost_output: per_mtok(m.decode_tokens_per_s),
            provider: None,
            context_window: None,
            capabilities: vec!["tools".to_string()],
            price_source: Some(format!(
                "measured here by `toolcall run`: {:.0} tokens/s prefill, {:.1} tokens/s decode, \
                 one request at a time, at ${usd_per_hour}/hour (--cpu-usd-per-hour)",
                m.prefill_tokens_per_s, m.decode_tokens_per_s
            )),
            price_as_of: None,
            estimate: false,
            self_hosted: None,
            dedicated_usd_per_hour: Some(usd_per_hour),
        });
        added.push(s.model.clone());
    }
    if !added.is_empty() && catalog.tier_rank(MEASURED_CPU_TIER).is_none() {
        catalog.tiers.push(MEASURED_CPU_TIER.to_string());
    }
    added
}

/// Prices a self-hosted entry with the serving budget (rental $/hour over roofline throughput).
pub fn budget_quote(sh: &SelfHosted) -> anyhow::Result<SelfHostedQuote> {
    let p = crate::budget::self_hosted_usd_per_mtok(&sh.architecture, &sh.hardware, sh.gpus)?;
    if !(p.input_usd_per_mtok.is_finite() && p.output_usd_per_mtok.is_finite()) {
        crate::bail_input!(
            "the serving budget cannot price {} on {} × {}",
            sh.architecture,
            sh.gpus,
            sh.hardware
        );
    }
    Ok(SelfHostedQuote {
        cost_input: p.input_usd_per_mtok,
        cost_output: p.output_usd_per_mtok,
        source: format!(
            "serving budget: {} on {} × {} at ${:.2}/hour, batch {}, GPUs fully busy{}",
            p.architecture_id,
            p.gpus,
            p.hardware_id,
            p.usd_per_hour_total,
            p.batch,
            p.price_source
                .map_or(String::new(), |s| format!("; rental price: {s}"))
        ),
        as_of: p.price_as_of,
        usd_per_hour: Some(p.usd_per_hour_total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "- {id: a, tier: premium, costInput: 5, costOutput: 25}\n- {id: b, tier: standard, costInput: 3, costOutput: 15}\n";

    #[test]
    fn a_list_gets_the_default_tiers() {
        let c = parse(TWO, "t.yaml").unwrap();
        assert_eq!(c.tiers, DEFAULT_TIERS);
        assert_eq!(c.models[1].usd_per_task(1000.0, 300.0), 0.0075);
        assert_eq!(c.tier_rank("open-weight-economy"), Some(4));
    }

    #[test]
    fn declared_tiers_replace_the_order() {
        let text = "tiers: [premium, standard, local]\nmodels:\n  - {id: x, tier: local, costInput: 0, costOutput: 0}\n";
        let c = parse(text, "t.yaml").unwrap();
        assert_eq!(c.tier_rank("local"), Some(2));
        assert_eq!(c.tier_rank("economy"), None);
    }

    #[test]
    fn bad_entries_are_named() {
        let err = |t: &str| parse(t, "m.yaml").unwrap_err().to_string();
        let e = err("- {id: a, tier: gold, costInput: 1, costOutput: 1}\n");
        assert!(
            e.contains("unknown tier `gold`") && e.starts_with("m.yaml:1:"),
            "{e}"
        );
        let e = err("- {id: a, tier: economy, costInput: -1, costOutput: 1}\n");
        assert!(e.contains("`costInput` is -1"), "{e}");
        let e = err("- {id: a, tier: economy, costInput: 1}\n");
        assert!(e.contains("`costOutput` is missing"), "{e}");
        let e = err(
            "- id: a\n  tier: economy\n  costInput: 1\n  costOutput: 1\n- id: a\n  tier: economy\n  costInput: 1\n  costOutput: 1\n",
        );
        assert!(e.starts_with("m.yaml:5: duplicate model id `a`"), "{e}");
        let e = err("- {id: a, tier: economy, costInput: 1, costOutput: 1, costOutptu: 2}\n");
        assert!(
            e.contains("unknown field `costOutptu`") && e.starts_with("m.yaml:1:"),
            "{e}"
        );
        let e = err(
            "models:\n  - {id: a, tier: economy, costInput: 1, costOutput: 1}\n  - {id: b tier: economy}\n",
        );
        assert!(e.starts_with("m.yaml:3:"), "{e}");
        let e = err("tiers: [premium, cheap]\nmodels: []\n");
        assert!(e.contains("must include `standard`"), "{e}");
    }

    #[test]
    fn self_hosted_entries_need_explicit_costs_for_now() {
        let text = "- id: local\n  tier: open-weight-economy\n  selfHosted: {architecture: a, hardware: h, gpus: 1}\n";
        let e = parse(text, "m.yaml").unwrap_err().to_string();
        assert!(e.contains("selfHosted entry needs explicit costs"), "{e}");
        let quote = |sh: &SelfHosted| -> anyhow::Result<SelfHostedQuote> {
            Ok(SelfHostedQuote {
                cost_input: 0.01 * f64::from(sh.gpus),
                cost_output: 0.1,
                source: "test".into(),
                as_of: None,
                usd_per_hour: None,
            })
        };
        let priced = parse_with(text, "m.yaml", &quote).unwrap();
        assert_eq!(
            (
                priced.models[0].cost_input,
                priced.models[0].price_source.as_deref()
            ),
            (0.01, Some("test"))
        );
        let text = format!("{text}  costInput: 0.05\n  costOutput: 0.2\n");
        assert_eq!(
            parse_with(&text, "m.yaml", &quote).unwrap().models[0].cost_input,
            0.05,
            "explicit costs win"
        );
        let c = parse(&text, "m.yaml").unwrap();
        assert_eq!(c.models[0].self_hosted.as_ref().map(|s| s.gpus), Some(1));
    }
}
