//! The quality gate: tool-call quality scored from model outputs.
//!
//! An answer must be one JSON object `{"tool": name, "params": {...}}` for one of the five
//! tools of the reference schema ([`TOOLS`]). Scoring an output:
//! 1. drop the "thinking" parts: `<think>…</think>` / `<thinking>…</thinking>` blocks, a
//!    harmony-style analysis channel, or parts of type `thinking`/`reasoning` when the output
//!    is a list of parts. A thinking block that never closes means the output cap cut the
//!    model off before it answered: the answer is empty;
//! 2. drop one surrounding Markdown code fence (a transport wrapper, not part of the JSON);
//! 3. an empty answer is a failure (not a crash); otherwise it must parse as JSON (valid-JSON
//!    rate) and match the schema: one of the tools, every required parameter, every type
//!    right, and no parameter the tool does not have (a hallucinated argument fails at the
//!    API just the same). Whether it is the *expected* tool, with the expected arguments, is
//!    scored separately (right tool, right arguments): a valid call of the wrong tool is a
//!    schema match and a wrong tool.
//!
//! Scores are kept per (model, task type): they are the evidence the router's gate reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub use ch07_real_model::toolschema::ParamType;
use ch07_real_model::toolschema::ToolSpec;

/// (name, type, required) for each parameter of a tool.
pub type Params = &'static [(&'static str, ParamType, bool)];

/// The reference tool schema: five operations tools.
pub const TOOLS: [(&str, Params); 5] = {
    use ParamType::*;
    [
        (
            "query_metrics",
            &[
                ("metric", String, true),
                ("window_days", Integer, true),
                ("threshold", Number, false),
                ("region", String, false),
            ],
        ),
        (
            "restart_pods",
            &[
                ("region", String, true),
                ("selector", String, true),
                ("only_failed", Bool, true),
            ],
        ),
        (
            "aggregate_cost",
            &[
                ("group_by", String, true),
                ("month", String, true),
                ("service", String, false),
            ],
        ),
        (
            "scale_deployment",
            &[
                ("name", String, true),
                ("region", String, true),
                ("replicas", Integer, true),
            ],
        ),
        (
            "rotate_secret",
            &[("name", String, true), ("namespace", String, true)],
        ),
    ]
};

/// The reference tools as chapter 07's tool specs (the constrainer's input, and the JSON
/// Schema `llm-workbench toolcall schema` writes).
pub fn tool_specs() -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .map(|(name, params)| ToolSpec::new(name, params))
        .collect()
}

/// What one output scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "verdict", content = "reason")]
pub enum Verdict {
    Match,
    EmptyAnswer,
    InvalidJson(String),
    SchemaMismatch(String),
}

/// Removes thinking from a raw text output and returns the final answer (maybe empty).
pub fn final_answer_text(raw: &str) -> String {
    // Harmony-style channels: the answer is the `final` channel; analysis alone is no answer.
    if raw.contains("<|channel|>") {
        return match raw.rsplit_once("<|channel|>final<|message|>") {
            Some((_, rest)) => rest.split("<|").next().unwrap_or("").trim().to_string(),
            None => String::new(),
        };
    }
    let mut text = raw.to_string();
    for (open, close) in [("<think>", "</think>"), ("<thinking>", "</thinking>")] {
        while let Some(start) = text.find(open) {
            match text[start..].find(close) {
                Some(end) => text.replace_range(start..start + end + close.len(), ""),
                // Cut off while thinking: nothing after the tag is an answer.
                None => text.truncate(start),
            }
        }
    }
    strip_fence(text.trim()).to_string()
}

fn strip_fence(text: &str) -> &str {
    let Some(body) = text.strip_prefix("```") else {
        return text;
    };
    let Some(body) = body.strip_suffix("```") else {
        return text;
    };
    // Drop the info string (`json`) on the opening line.
    body.split_once('\n').map_or(body, |(_, rest)| rest).trim()
}

/// The final answer of an output given as a string or as a list of typed parts.
pub fn final_answer(output: &Value) -> Result<String, String> {
    match output {
        Value::String(s) => Ok(final_answer_text(s)),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut answer = String::new();
            for p in parts {
                let kind = p.get("type").and_then(Value::as_str).unwrap_or("text");
                let thought = p.get("thought").and_then(Value::as_bool).unwrap_or(false);
                if thought
                    || matches!(
                        kind,
                        "thinking" | "reasoning" | "thought" | "redacted_thinking"
                    )
                {
                    continue;
                }
                match p.get("text") {
                    Some(Value::String(t)) => answer.push_str(t),
                    Some(Value::Null) | None => {}
                    Some(_) => return Err("a part's `text` is not a string".into()),
                }
            }
            Ok(final_answer_text(&answer))
        }
        _ => Err("`output` must be a string or a list of parts".into()),
    }
}

/// Scores one final answer against the schema: valid JSON, and a call of one of `tools` with
/// its required parameters, right types and nothing else. Whether it is the *right* call is
/// [`grade`]'s question.
pub fn score_answer(answer: &str, tools: &[ToolSpec]) -> Verdict {
    if answer.trim().is_empty() {
        return Verdict::EmptyAnswer;
    }
    let v: Value = match serde_json::from_str(answer) {
        Ok(v) => v,
        Err(e) => return Verdict::InvalidJson(e.to_string()),
    };
    let mismatch = |s: String| Verdict::SchemaMismatch(s);
    let Some(obj) = v.as_object() else {
        return mismatch("the answer is not a JSON object".into());
    };
    if let Some(k) = obj.keys().find(|k| *k != "tool" && *k != "params") {
        return mismatch(format!("unexpected top-level key `{k}`"));
    }
    let Some(tool) = obj.get("tool").and_then(Value::as_str) else {
        return mismatch("`tool` is missing or not a string".into());
    };
    let Some(spec) = tools.iter().find(|t| t.name == tool) else {
        return mismatch(format!("unknown tool `{tool}`"));
    };
    let Some(args) = obj.get("params").and_then(Value::as_object) else {
        return mismatch("`params` is missing or not an object".into());
    };
    for p in &spec.params {
        match args.get(&p.name) {
            None if p.required => {
                return mismatch(format!("{tool}: required `{}` is missing", p.name));
            }
            None => {}
            Some(v) if !p.ty.accepts(v) => {
                return mismatch(format!(
                    "{tool}: `{}` must be of type {}",
                    p.name,
                    p.ty.name()
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(k) = args
        .keys()
        .find(|k| !spec.params.iter().any(|p| &p.name == *k))
    {
        return mismatch(format!("{tool}: unknown parameter `{k}`"));
    }
    Verdict::Match
}

/// An answer's verdict, and whether it called the expected tool with the expected arguments
/// (`None` where the line states no expectation).
#[derive(Debug, Clone, PartialEq)]
pub struct Graded {
    pub verdict: Verdict,
    pub right_tool: Option<bool>,
    pub right_args: Option<bool>,
}

/// Grades an answer: [`score_answer`], then the tool against `expected_tool` and the arguments
/// against `expected_params` (the same keys, strings equal, numbers equal as numbers: `7` is
/// `7.0`). Right arguments imply the right tool and a schema match.
pub fn grade(
    answer: &str,
    tools: &[ToolSpec],
    expected_tool: Option<&str>,
    expected_params: Option<&Map<String, Value>>,
) -> Graded {
    let verdict = score_answer(answer, tools);
    let parsed: Option<Value> = serde_json::from_str(answer).ok();
    let called = parsed
        .as_ref()
        .and_then(|v| v.get("tool"))
        .and_then(Value::as_str);
    let right_tool = expected_tool.map(|want| called == Some(want));
    let right_args = expected_params.map(|want| {
        let args = parsed
            .as_ref()
            .and_then(|v| v.get("params"))
            .and_then(Value::as_object);
        verdict == Verdict::Match
            && right_tool != Some(false)
            && args.is_some_and(|got| {
                got.len() == want.len()
                    && want
                        .iter()
                        .all(|(k, w)| got.get(k).is_some_and(|g| same_value(g, w)))
            })
    });
    Graded {
        verdict,
        right_tool,
        right_args,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// One line of an outputs file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputLine {
    model: String,
    #[serde(default = "default_task_type")]
    task_type: String,
    output: Value,
    expected_tool: Option<String>,
    expected_params: Option<Map<String, Value>>,
    usage: Option<Usage>,
    /// Wall time of the request, and its prefill and decode parts (runs made here).
    latency_ms: Option<f64>,
    prefill_ms: Option<f64>,
    decode_ms: Option<f64>,
    /// Time spent computing constrained-decoding masks.
    mask_ms: Option<f64>,
}

fn default_task_type() -> String {
    "tool-calls".into()
}

/// Token counts a provider reported for one output (thinking tokens are billed as output).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Usage {
    input_tokens: f64,
    output_tokens: f64,
    #[serde(default)]
    thinking_tokens: f64,
}

/// Scores of one (model, task type).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub model: String,
    pub task_type: String,
    pub outputs: u64,
    pub empty_answers: u64,
    pub valid_json: u64,
    pub schema_match: u64,
    pub valid_json_rate: f64,
    pub schema_match_rate: f64,
    /// Mean reported tokens per output, when every output reported usage.
    pub mean_input_tokens: Option<f64>,
    pub mean_output_tokens: Option<f64>,
    pub mean_thinking_tokens: Option<f64>,
    /// Outputs whose line names the expected tool, and how many called it; the rate is over
    /// those lines (`None` when no line names one).
    pub with_expected_tool: u64,
    pub right_tool: u64,
    pub right_tool_rate: Option<f64>,
    /// Outputs whose line gives the expected arguments, and how many matched them exactly.
    pub with_expected_params: u64,
    pub right_args: u64,
    pub right_args_rate: Option<f64>,
    /// Measured speed, when every output carries its timings (runs made by `toolcall run`).
    pub measured: Option<Measured>,
    /// The first few failures, as (file:line, reason).
    pub failures: Vec<(String, String)>,
}

/// Speed measured while the outputs were generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    pub mean_latency_ms: f64,
    /// Input tokens per second of prefill and output tokens per second of decode, over all
    /// outputs (total tokens ÷ total time).
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Mask time per output token, when the run was constrained.
    pub mask_ms_per_token: Option<f64>,
}

/// A line that could not be read; scoring goes on without it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Malformed {
    pub line: usize,
    pub reason: String,
}

/// Everything scored from one or more outputs files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scores {
    pub files: Vec<String>,
    pub scores: Vec<Score>,
    pub malformed_lines: usize,
    /// The first few malformed lines (file:line and why).
    pub malformed: Vec<Malformed>,
}

impl Scores {
    pub fn get(&self, model: &str, task_type: &str) -> Option<&Score> {
        self.scores
            .iter()
            .find(|s| s.model == model && s.task_type == task_type)
    }
}

const KEEP: usize = 5;

/// Scores outputs files given as (file name, JSONL text) against `tools`; malformed lines are
/// counted and skipped, the rest scored.
/// Timings price a model (its tokens/s), so each one given must be a finite, non-negative
/// number of milliseconds.
fn check_timings(l: &OutputLine) -> Result<(), String> {
    let timings = [
        ("latencyMs", l.latency_ms),
        ("prefillMs", l.prefill_ms),
        ("decodeMs", l.decode_ms),
        ("maskMs", l.mask_ms),
    ];
    match timings
        .iter()
        .find(|(_, v)| v.is_some_and(|ms| !(ms.is_finite() && ms >= 0.0)))
    {
        Some((name, v)) => Err(format!(
            "`{name}` must be a finite, non-negative number of milliseconds, not {}",
            v.unwrap_or_default()
        )),
        None => Ok(()),
    }
}

pub fn score_files(inputs: &[(String, String)], tools: &[ToolSpec]) -> Scores {
    #[derive(Default)]
    struct Acc {
        score: Score,
        usage: Vec<Usage>,
        usage_missing: bool,
        /// (latency, prefill, decode, mask) ms per output; `None` once one output lacks them.
        timings: Option<Vec<[f64; 4]>>,
    }
    let mut acc: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut out = Scores::default();
    for (file, text) in inputs {
        out.files.push(file.clone());
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<OutputLine>(line)
                .map_err(|e| e.to_string())
                .and_then(|l| check_timings(&l).map(|()| l))
                .and_then(|l| final_answer(&l.output).map(|a| (l, a)));
            let (l, answer) = match parsed {
                Ok(ok) => ok,
                Err(reason) => {
                    out.malformed_lines += 1;
                    if out.malformed.len() < KEEP {
                        out.malformed.push(Malformed {
                            line: n,
                            reason: format!("{file}:{n}: {reason}"),
                        });
                    }
                    continue;
                }
            };
            let graded = grade(
                &answer,
                tools,
                l.expected_tool.as_deref(),
                l.expected_params.as_ref(),
            );
            let verdict = graded.verdict;
            let a = acc
                .entry((l.model.clone(), l.task_type.clone()))
                .or_insert_with(|| Acc {
                    timings: Some(Vec::new()),
                    ..Acc::default()
                });
            let timing = match (l.latency_ms, l.prefill_ms, l.decode_ms) {
                (Some(t), Some(p), Some(d)) => Some([t, p, d, l.mask_ms.unwrap_or(0.0)]),
                _ => None,
            };
            match (&mut a.timings, timing) {
                (Some(all), Some(t)) => all.push(t),
                (all, _) => *all = None,
            }
            let s = &mut a.score;
            s.model = l.model;
            s.task_type = l.task_type;
            s.outputs += 1;
            match &verdict {
                Verdict::Match => {
                    s.valid_json += 1;
                    s.schema_match += 1;
                }
                Verdict::SchemaMismatch(_) => s.valid_json += 1,
                Verdict::EmptyAnswer | Verdict::InvalidJson(_) => {}
            }
            if verdict == Verdict::EmptyAnswer {
                s.empty_answers += 1;
            }
            if let Some(right) = graded.right_tool {
                s.with_expected_tool += 1;
                s.right_tool += u64::from(right);
            }
            if let Some(right) = graded.right_args {
                s.with_expected_params += 1;
                s.right_args += u64::from(right);
            }
            if verdict == Verdict::Match
                && graded.right_tool == Some(false)
                && s.failures.len() < KEEP
            {
                s.failures.push((
                    format!("{file}:{n}"),
                    format!(
                        "wrong tool (expected `{}`)",
                        l.expected_tool.as_deref().unwrap_or("")
                    ),
                ));
            }
            if verdict != Verdict::Match && s.failures.len() < KEEP {
                let why = match verdict {
                    Verdict::EmptyAnswer => "empty answer (cut off while thinking?)".to_string(),
                    Verdict::InvalidJson(e) => format!("invalid JSON: {e}"),
                    Verdict::SchemaMismatch(e) => format!("schema: {e}"),
                    Verdict::Match => String::new(),
                };
                s.failures.push((format!("{file}:{n}"), why));
            }
            match l.usage {
                Some(u) => a.usage.push(u),
                None => a.usage_missing = true,
            }
        }
    }
    out.scores = acc
        .into_values()
        .map(|a| {
            let mut s = a.score;
            let n = s.outputs.max(1) as f64;
            s.valid_json_rate = s.valid_json as f64 / n;
            s.schema_match_rate = s.schema_match as f64 / n;
            // Means only when every output reported usage: a partial mean misleads.
            let full = !a.usage_missing && !a.usage.is_empty();
            let mean = |f: fn(&Usage) -> f64| {
                full.then(|| a.usage.iter().map(f).sum::<f64>() / a.usage.len() as f64)
            };
            s.mean_input_tokens = mean(|u| u.input_tokens);
            s.mean_output_tokens = mean(|u| u.output_tokens);
            s.mean_thinking_tokens = mean(|u| u.thinking_tokens);
            let rate = |k: u64, of: u64| (of > 0).then(|| k as f64 / of as f64);
            s.right_tool_rate = rate(s.right_tool, s.with_expected_tool);
            s.right_args_rate = rate(s.right_args, s.with_expected_params);
            s.measured = a.timings.filter(|t| !t.is_empty() && full).map(|t| {
                let sum = |i: usize| t.iter().map(|x| x[i]).sum::<f64>();
                let tokens = |f: fn(&Usage) -> f64| a.usage.iter().map(f).sum::<f64>();
                let (output, mask) = (tokens(|u| u.output_tokens), sum(3));
                Measured {
                    mean_latency_ms: sum(0) / t.len() as f64,
                    prefill_tokens_per_s: tokens(|u| u.input_tokens) / (sum(1) / 1e3),
                    decode_tokens_per_s: output / (sum(2) / 1e3),
                    mask_ms_per_token: (mask > 0.0).then(|| mask / output),
                }
            });
            s
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_is_filtered_and_a_cut_off_answer_is_empty() {
        let ok = r#"{"tool": "rotate_secret", "params": {"name": "db", "namespace": "prod"}}"#;
        assert_eq!(
            final_answer_text(&format!("<think>plan {{\"x\"}}</think>\n{ok}")),
            ok
        );
        assert_eq!(final_answer_text(&format!("```json\n{ok}\n```")), ok);
        assert_eq!(
            final_answer_text("<think>still thinking when the cap hit"),
            ""
        );
        assert_eq!(
            final_answer_text(&format!(
                "<|channel|>analysis<|message|>hmm<|end|><|start|>assistant<|channel|>final<|message|>{ok}<|return|>"
            )),
            ok
        );
        let parts = serde_json::json!([{"type": "thinking", "text": "{not json"}, {"type": "text", "text": ok}]);
        assert_eq!(final_answer(&parts).unwrap(), ok);
        assert_eq!(score_answer("", &tool_specs()), Verdict::EmptyAnswer);
    }

    /// Timings become a price, so a negative or non-finite one is a malformed line, and a run
    /// with them all in range is measured.
    #[test]
    fn timings_out_of_range_are_malformed_lines() {
        let line = |prefill: &str| {
            format!(
                r#"{{"model": "m", "taskType": "tool-calls", "output": "{{}}", "usage": {{"inputTokens": 100, "outputTokens": 10}}, "latencyMs": 1000, "prefillMs": {prefill}, "decodeMs": 500}}"#
            )
        };
        for bad in ["-5", "-0.001"] {
            let s = score_files(&[("f.jsonl".into(), line(bad))], &tool_specs());
            assert_eq!(s.malformed_lines, 1, "{bad}");
            assert!(s.malformed[0].reason.contains("`prefillMs`"), "{bad}");
        }
        let s = score_files(&[("f.jsonl".into(), line("250"))], &tool_specs());
        let m = s.scores[0].measured.expect("all timings given");
        assert_eq!(
            (m.prefill_tokens_per_s, m.decode_tokens_per_s),
            (400.0, 20.0)
        );
    }

    #[test]
    fn schema_match_checks_tool_required_params_and_types() {
        let v = |s: &str| score_answer(s, &tool_specs());
        assert_eq!(
            v(
                r#"{"tool":"restart_pods","params":{"region":"eu","selector":"app=x","only_failed":true}}"#
            ),
            Verdict::Match
        );
        assert_eq!(
            v(
                r#"{"tool":"query_metrics","params":{"metric":"p99","window_days":7,"threshold":0.5}}"#
            ),
            Verdict::Match
        );
        let bad = [
            r#"{"tool":"restart_pods","params":{"region":"eu","selector":"app=x","only_failed":"true"}}"#,
            r#"{"tool":"scale_deployment","params":{"name":"api","region":"eu","replicas":2.5}}"#,
            r#"{"tool":"aggregate_cost","params":{"group_by":"team"}}"#,
            r#"{"tool":"delete_cluster","params":{}}"#,
            r#"{"tool":"rotate_secret","params":{"name":"a","namespace":"b","force":true}}"#,
            r#"[{"tool":"rotate_secret"}]"#,
        ];
        for b in bad {
            assert!(matches!(v(b), Verdict::SchemaMismatch(_)), "{b}");
        }
        assert!(matches!(
            v(r#"{"tool": "rotate_secret", "params": {"#),
            Verdict::InvalidJson(_)
        ));
        let ok = r#"{"tool":"rotate_secret","params":{"name":"a","namespace":"b"}}"#;
        // A wrong tool is a valid call of another tool: schema match, wrong tool.
        let wrong = grade(ok, &tool_specs(), Some("restart_pods"), None);
        assert_eq!(
            (wrong.verdict, wrong.right_tool, wrong.right_args),
            (Verdict::Match, Some(false), None)
        );
    }

    #[test]
    fn right_arguments_are_the_same_keys_and_values() {
        let want: Map<String, Value> =
            serde_json::from_str(r#"{"name": "api", "region": "eu", "replicas": 3}"#).unwrap();
        let g = |answer: &str| {
            grade(answer, &tool_specs(), Some("scale_deployment"), Some(&want)).right_args
        };
        let call = |params: &str| format!(r#"{{"tool": "scale_deployment", "params": {params}}}"#);
        assert_eq!(
            g(&call(r#"{"region": "eu", "name": "api", "replicas": 3.0}"#)),
            Some(true)
        );
        assert_eq!(
            g(&call(r#"{"name": "api", "region": "eu", "replicas": 4}"#)),
            Some(false)
        );
        assert_eq!(
            g(&call(r#"{"name": "API", "region": "eu", "replicas": 3}"#)),
            Some(false)
        );
        assert_eq!(
            g(r#"{"tool": "scale_deployment", "params": {"name": "api""#),
            Some(false)
        );
        assert_eq!(
            g(r#"{"tool": "rotate_secret", "params": {"name": "api", "namespace": "eu"}}"#),
            Some(false)
        );
    }

    #[test]
    fn jsonl_scores_per_model_and_counts_malformed_lines() {
        let ok = r#"{\"tool\":\"rotate_secret\",\"params\":{\"name\":\"a\",\"namespace\":\"b\"}}"#;
        let text = format!(
            "{{\"model\":\"m\",\"output\":\"{ok}\",\"usage\":{{\"inputTokens\":100,\"outputTokens\":30,\"thinkingTokens\":10}}}}\n\
             {{\"model\":\"m\",\"output\":\"<think>never ends\",\"usage\":{{\"inputTokens\":200,\"outputTokens\":50,\"thinkingTokens\":50}}}}\n\
             not json at all\n\
             {{\"model\":\"n\",\"taskType\":\"x\",\"output\":\"{{oops\"}}\n"
        );
        let s = score_files(&[("o.jsonl".to_string(), text)], &tool_specs());
        assert_eq!(s.malformed_lines, 1);
        assert!(s.malformed[0].reason.starts_with("o.jsonl:3:"));
        let m = s.get("m", "tool-calls").unwrap();
        assert_eq!(
            (m.outputs, m.empty_answers, m.valid_json, m.schema_match),
            (2, 1, 1, 1)
        );
        assert_eq!(m.schema_match_rate, 0.5);
        assert_eq!(m.mean_input_tokens, Some(150.0));
        let n = s.get("n", "x").unwrap();
        assert_eq!((n.outputs, n.valid_json), (1, 0));
    }
}
