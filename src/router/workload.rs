//! Workloads (`data/workloads/*.yaml`): what is asked of the models, per task type.
//!
//! Each task type has a volume (tasks per day) and its tokens per task, given either as counts
//! (`inputTokens`, `outputTokens`) or as sample texts plus the tokenizer that bills them
//! (`tokenizer`, `inputText`, `outputText`). Texts matter because the same request costs what
//! its *tokens* cost: a Korean prompt is several times the tokens of its English twin. Texts
//! are counted through a [`TokenCounter`], so the counting lives with the tokenizers and this
//! module stays a pure calculator.

use super::{at, line_of_id, parse_yaml};
use serde::{Deserialize, Serialize};

/// A task type as written in the workload file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskTypeSpec {
    /// The task type; the policy maps it to tiers (`reasoning`, `code-generation`,
    /// `tool-calls`, `extraction`, or any name the user declares).
    pub id: String,
    pub tasks_per_day: f64,
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
    /// Tokenizer that counts `inputText`/`outputText` (e.g. `cl100k_base`, `o200k_base`).
    pub tokenizer: Option<String>,
    pub input_text: Option<String>,
    pub output_text: Option<String>,
    /// Capabilities every model serving this task type must have (e.g. `tools`).
    #[serde(default)]
    pub requires: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WorkloadSpec {
    name: Option<String>,
    description: Option<String>,
    days: f64,
    task_types: Vec<TaskTypeSpec>,
}

/// Where a task type's token counts come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum TokenSource {
    Counts,
    Texts { tokenizer: String },
}

/// A task type with its tokens resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskType {
    pub id: String,
    pub tasks_per_day: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub requires: Vec<String>,
    pub source: TokenSource,
}

/// A workload ready for pricing: every task type has token counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    pub name: String,
    pub days: f64,
    pub task_types: Vec<TaskType>,
}

impl Workload {
    /// Tasks over the whole period, all task types.
    pub fn tasks(&self) -> f64 {
        self.task_types
            .iter()
            .map(|t| t.tasks_per_day * self.days)
            .sum()
    }

    /// The same workload with tokens and volume scaled (for the sensitivity table).
    pub fn scaled(&self, input: f64, output: f64, volume: f64) -> Workload {
        let mut w = self.clone();
        for t in &mut w.task_types {
            t.input_tokens *= input;
            t.output_tokens *= output;
            t.tasks_per_day *= volume;
        }
        w
    }
}

/// Counts the tokens of a text with a named tokenizer.
pub trait TokenCounter {
    fn count(&self, tokenizer: &str, text: &str) -> anyhow::Result<u64>;
}

/// Counts with chapter 01's tokenizers: a built-in encoding name (`cl100k_base`,
/// `o200k_base`, `r50k_base`) or a `tokenizer.json` / `.tiktoken` file.
pub struct Ch01Tokenizers;

impl TokenCounter for Ch01Tokenizers {
    fn count(&self, tokenizer: &str, text: &str) -> anyhow::Result<u64> {
        ch01_bpe::count_tokens(tokenizer, text)
            .map(|n| n as u64)
            .map_err(|e| crate::error::bad_input(format!("tokenizer `{tokenizer}`"), e))
    }
}

/// Parses a workload file and resolves token counts (texts through `counter`).
pub fn parse(text: &str, file: &str, counter: &dyn TokenCounter) -> anyhow::Result<Workload> {
    let spec: WorkloadSpec = parse_yaml(text, file)?;
    if !spec.days.is_finite() || spec.days <= 0.0 {
        crate::bail_input!("{file}: `days` is {}; it must be > 0", spec.days);
    }
    if spec.task_types.is_empty() {
        crate::bail_input!("{file}: `taskTypes` is empty");
    }
    let mut task_types: Vec<TaskType> = Vec::new();
    for (i, t) in spec.task_types.into_iter().enumerate() {
        let here = format!(
            "{}: task type `{}` (taskTypes[{i}])",
            at(file, line_of_id(text, &t.id)),
            t.id
        );
        if task_types.iter().any(|o| o.id == t.id) {
            crate::bail_input!("{here}: duplicate task type id");
        }
        if !t.tasks_per_day.is_finite() || t.tasks_per_day < 0.0 {
            crate::bail_input!(
                "{here}: `tasksPerDay` is {}; it must be >= 0",
                t.tasks_per_day
            );
        }
        let texts = t.input_text.is_some() || t.output_text.is_some() || t.tokenizer.is_some();
        let counts = t.input_tokens.is_some() || t.output_tokens.is_some();
        let (input_tokens, output_tokens, source) = match (counts, texts) {
            (true, true) => crate::bail_input!(
                "{here}: give either token counts (`inputTokens`, `outputTokens`) or sample texts \
                 (`tokenizer`, `inputText`, `outputText`), not both"
            ),
            (false, false) => {
                crate::bail_input!("{here}: `inputTokens` and `outputTokens` are missing")
            }
            (true, false) => {
                let get = |name: &str, v: Option<f64>| -> anyhow::Result<f64> {
                    match v {
                        None => crate::bail_input!("{here}: `{name}` is missing"),
                        Some(v) if !v.is_finite() || v < 0.0 => {
                            crate::bail_input!("{here}: `{name}` is {v}; it must be >= 0")
                        }
                        Some(v) => Ok(v),
                    }
                };
                (
                    get("inputTokens", t.input_tokens)?,
                    get("outputTokens", t.output_tokens)?,
                    TokenSource::Counts,
                )
            }
            (false, true) => {
                let Some(tok) = t.tokenizer.clone() else {
                    crate::bail_input!("{here}: sample texts need a `tokenizer`")
                };
                let count = |name: &str, text: &Option<String>| -> anyhow::Result<f64> {
                    let Some(text) = text else {
                        crate::bail_input!("{here}: `{name}` is missing")
                    };
                    counter
                        .count(&tok, text)
                        .map(|n| n as f64)
                        .map_err(|e| crate::error::bad_input(&here, e))
                };
                (
                    count("inputText", &t.input_text)?,
                    count("outputText", &t.output_text)?,
                    TokenSource::Texts {
                        tokenizer: tok.clone(),
                    },
                )
            }
        };
        task_types.push(TaskType {
            id: t.id,
            tasks_per_day: t.tasks_per_day,
            input_tokens,
            output_tokens,
            requires: t.requires,
            source,
        });
    }
    Ok(Workload {
        name: spec.name.unwrap_or_else(|| file.to_string()),
        days: spec.days,
        task_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts whitespace-separated words: enough to prove texts flow through the counter.
    struct Words;
    impl TokenCounter for Words {
        fn count(&self, _tokenizer: &str, text: &str) -> anyhow::Result<u64> {
            Ok(text.split_whitespace().count() as u64)
        }
    }

    #[test]
    fn counts_and_texts_both_resolve() {
        let text = "days: 30\ntaskTypes:\n  - {id: a, tasksPerDay: 10, inputTokens: 100, outputTokens: 20}\n  \
                    - {id: b, tasksPerDay: 5, tokenizer: words, inputText: \"one two three\", outputText: \"four\"}\n";
        let w = parse(text, "w.yaml", &Words).unwrap();
        assert_eq!(w.task_types[1].input_tokens, 3.0);
        assert_eq!(w.task_types[1].output_tokens, 1.0);
        assert_eq!(w.tasks(), 450.0);
        let e = parse(text, "w.yaml", &Ch01Tokenizers)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("task type `b`") && e.contains("tokenizer `words`"),
            "{e}"
        );
    }

    #[test]
    fn bad_workloads_are_named() {
        let e = |t: &str| parse(t, "w.yaml", &Ch01Tokenizers).unwrap_err().to_string();
        assert!(e("days: 0\ntaskTypes: []\n").contains("`days` is 0"));
        let m = e("days: 30\ntaskTypes:\n  - {id: a, tasksPerDay: 10, inputTokens: 100}\n");
        assert!(
            m.contains("`outputTokens` is missing") && m.starts_with("w.yaml:3:"),
            "{m}"
        );
        let m = e(
            "days: 30\ntaskTypes:\n  - {id: a, tasksPerDay: -1, inputTokens: 1, outputTokens: 1}\n",
        );
        assert!(m.contains("`tasksPerDay` is -1"), "{m}");
    }
}
