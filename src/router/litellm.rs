//! LiteLLM's price file (`model_prices_and_context_window.json`) and price comparisons.
//!
//! LiteLLM keeps one JSON object per model: prices in USD *per token* (`input_cost_per_token`,
//! `output_cost_per_token`), `max_input_tokens`, `litellm_provider`, and `supports_*` flags.
//! The importer turns that into catalog entries (USD per 1M tokens = per token × 1,000,000);
//! LiteLLM has no notion of tiers, so the user assigns them with `PATTERN=TIER` rules.
//! Entries without both token prices (image, audio, embedding-only models) are skipped and
//! counted, as is the file's `sample_spec` documentation entry.

use super::catalog::{Catalog, Model};
use crate::error::bad_input;
use serde::Serialize;
use serde_json::Value;

/// A price from any source, in USD per 1M tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceEntry {
    pub id: String,
    pub cost_input: f64,
    pub cost_output: f64,
    pub provider: Option<String>,
    pub context_window: Option<u64>,
    pub capabilities: Vec<String>,
}

/// A parsed LiteLLM file: the priced entries and the skipped ones with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiteLlm {
    pub entries: Vec<PriceEntry>,
    pub skipped: Vec<(String, String)>,
}

/// Parses LiteLLM's JSON price format.
pub fn parse(text: &str, file: &str) -> anyhow::Result<LiteLlm> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| bad_input(format!("{file}:{}:{}", e.line(), e.column()), e))?;
    let Some(map) = root.as_object() else {
        crate::bail_input!("{file}: expected a JSON object of model name → prices");
    };
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (id, v) in map {
        if id == "sample_spec" {
            skipped.push((id.clone(), "documentation entry".into()));
            continue;
        }
        let price = |k: &str| v.get(k).and_then(Value::as_f64);
        let (Some(i), Some(o)) = (
            price("input_cost_per_token"),
            price("output_cost_per_token"),
        ) else {
            skipped.push((
                id.clone(),
                "no input_cost_per_token and output_cost_per_token".into(),
            ));
            continue;
        };
        if !(i.is_finite() && o.is_finite() && i >= 0.0 && o >= 0.0) {
            skipped.push((id.clone(), format!("negative price ({i}, {o})")));
            continue;
        }
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let capabilities = [
            ("supports_function_calling", "tools"),
            ("supports_vision", "vision"),
            ("supports_reasoning", "reasoning"),
        ]
        .iter()
        .filter(|(k, _)| flag(k))
        .map(|(_, c)| c.to_string())
        .collect();
        entries.push(PriceEntry {
            id: id.clone(),
            cost_input: i * 1e6,
            cost_output: o * 1e6,
            provider: v
                .get("litellm_provider")
                .and_then(Value::as_str)
                .map(str::to_string),
            context_window: v.get("max_input_tokens").and_then(Value::as_u64),
            capabilities,
        });
    }
    Ok(LiteLlm { entries, skipped })
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&k| tail.is_char_boundary(k))
                .any(|k| glob(rest, &tail[k..]))
        }
    }
}

/// Catalog entries from LiteLLM prices: each entry takes the tier of the first matching
/// `(pattern, tier)` rule; entries no rule matches are left out (returned by id).
pub fn to_catalog(
    lite: &LiteLlm,
    rules: &[(String, String)],
    source: &str,
    as_of: Option<&str>,
) -> anyhow::Result<(Catalog, Vec<String>)> {
    let mut models = Vec::new();
    let mut unmatched = Vec::new();
    for e in &lite.entries {
        let Some((_, tier)) = rules.iter().find(|(p, _)| glob(p, &e.id)) else {
            unmatched.push(e.id.clone());
            continue;
        };
        models.push(Model {
            id: e.id.clone(),
            tier: tier.clone(),
            cost_input: e.cost_input,
            cost_output: e.cost_output,
            provider: e.provider.clone(),
            context_window: e.context_window,
            capabilities: e.capabilities.clone(),
            price_source: Some(source.to_string()),
            price_as_of: as_of.map(str::to_string),
            estimate: false,
            self_hosted: None,
            dedicated_usd_per_hour: None,
        });
    }
    let tiers = super::catalog::DEFAULT_TIERS
        .iter()
        .map(|t| t.to_string())
        .collect();
    let catalog = Catalog { tiers, models };
    // Round-trip through the validator so an import is held to the same rules as a file.
    let yaml = serde_yaml_ng::to_string(&catalog)?;
    let checked = super::catalog::parse(&yaml, "imported catalog")?;
    Ok((checked, unmatched))
}

impl From<&Model> for PriceEntry {
    fn from(m: &Model) -> Self {
        PriceEntry {
            id: m.id.clone(),
            cost_input: m.cost_input,
            cost_output: m.cost_output,
            provider: m.provider.clone(),
            context_window: m.context_window,
            capabilities: m.capabilities.clone(),
        }
    }
}

/// One model priced in both lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceDiff {
    pub id_a: String,
    pub id_b: String,
    pub input_a: f64,
    pub input_b: f64,
    pub output_a: f64,
    pub output_b: f64,
    /// B's cost over A's on the reference mix (1,000 in + 300 out tokens).
    pub b_over_a: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub file_a: String,
    pub file_b: String,
    pub matched: Vec<PriceDiff>,
    pub only_in_a: Vec<String>,
    pub only_in_b: usize,
}

/// The part of an id after its last `/` (LiteLLM prefixes many ids with a provider route).
fn bare(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Compares two price lists model by model; ids match exactly or by their bare name.
pub fn compare(a: &[PriceEntry], b: &[PriceEntry], file_a: &str, file_b: &str) -> Comparison {
    let mut matched = Vec::new();
    let mut only_in_a = Vec::new();
    let mut used = vec![false; b.len()];
    let mix = |e: &PriceEntry| 1000.0 * e.cost_input + 300.0 * e.cost_output;
    for x in a {
        let hits: Vec<usize> = (0..b.len())
            .filter(|&j| b[j].id == x.id || bare(&b[j].id) == bare(&x.id))
            .collect();
        if hits.is_empty() {
            only_in_a.push(x.id.clone());
        }
        for j in hits {
            used[j] = true;
            let y = &b[j];
            matched.push(PriceDiff {
                id_a: x.id.clone(),
                id_b: y.id.clone(),
                input_a: x.cost_input,
                input_b: y.cost_input,
                output_a: x.cost_output,
                output_b: y.cost_output,
                b_over_a: if mix(x) > 0.0 {
                    mix(y) / mix(x)
                } else {
                    f64::NAN
                },
            });
        }
    }
    Comparison {
        file_a: file_a.into(),
        file_b: file_b.into(),
        matched,
        only_in_a,
        only_in_b: used.iter().filter(|u| !**u).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of the providers"},
      "claude-sonnet-5": {"input_cost_per_token": 2e-06, "output_cost_per_token": 1e-05, "max_input_tokens": 200000,
                          "litellm_provider": "anthropic", "supports_function_calling": true},
      "host/google/gemma-x": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07},
      "embedder": {"input_cost_per_token": 1e-07, "mode": "embedding"}
    }"#;

    #[test]
    fn per_token_prices_become_per_million() {
        let l = parse(SAMPLE, "p.json").unwrap();
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.skipped.len(), 2);
        let s = &l.entries[0];
        assert!((s.cost_input - 2.0).abs() < 1e-9 && (s.cost_output - 10.0).abs() < 1e-9);
        assert_eq!(
            (s.context_window, s.capabilities.clone()),
            (Some(200_000), vec!["tools".to_string()])
        );
    }

    #[test]
    fn tier_rules_and_comparison() {
        assert!(
            glob("*/gemma-*", "host/google/gemma-x") && !glob("gemma-*", "host/google/gemma-x")
        );
        let l = parse(SAMPLE, "p.json").unwrap();
        let rules = vec![("*gemma*".to_string(), "open-weight-managed".to_string())];
        let (c, unmatched) = to_catalog(&l, &rules, "LiteLLM", Some("2026-06")).unwrap();
        assert_eq!(c.models.len(), 1);
        assert_eq!(unmatched, ["claude-sonnet-5"]);
        let ours = [PriceEntry {
            id: "claude-sonnet-5".into(),
            cost_input: 3.0,
            cost_output: 15.0,
            provider: None,
            context_window: None,
            capabilities: vec![],
        }];
        let cmp = compare(&ours, &l.entries, "a", "b");
        assert_eq!(cmp.matched.len(), 1);
        assert!((cmp.matched[0].b_over_a - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(cmp.only_in_b, 1);
        let e = parse("{\"a\": [1,\n", "p.json").unwrap_err().to_string();
        assert!(e.starts_with("p.json:2:"), "{e}");
    }
}
