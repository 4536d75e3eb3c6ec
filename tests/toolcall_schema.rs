//! The quality gate's schema check against an independent reference: the `jsonschema` crate
//! validating a JSON Schema of the five tools written out here by hand. Every answer in the
//! shipped sample outputs, and several hundred mutations of them (each parameter dropped,
//! retyped, or joined by an unknown one), must get the same verdict from both.

use llm_workbench::router::gate::{Verdict, final_answer, grade, tool_specs};
use serde_json::{Value, json};

/// The reference schema, one `oneOf` branch per tool (only the expected tool's branch when a
/// line names one).
fn schema(expected: Option<&str>) -> Value {
    let tools = [
        (
            "query_metrics",
            json!({"metric": {"type": "string"}, "window_days": {"type": "integer"},
                   "threshold": {"type": "number"}, "region": {"type": "string"}}),
            json!(["metric", "window_days"]),
        ),
        (
            "restart_pods",
            json!({"region": {"type": "string"}, "selector": {"type": "string"}, "only_failed": {"type": "boolean"}}),
            json!(["region", "selector", "only_failed"]),
        ),
        (
            "aggregate_cost",
            json!({"group_by": {"type": "string"}, "month": {"type": "string"}, "service": {"type": "string"}}),
            json!(["group_by", "month"]),
        ),
        (
            "scale_deployment",
            json!({"name": {"type": "string"}, "region": {"type": "string"}, "replicas": {"type": "integer"}}),
            json!(["name", "region", "replicas"]),
        ),
        (
            "rotate_secret",
            json!({"name": {"type": "string"}, "namespace": {"type": "string"}}),
            json!(["name", "namespace"]),
        ),
    ];
    let branches: Vec<Value> = tools
        .into_iter()
        .filter(|(name, _, _)| expected.is_none_or(|e| e == *name))
        .map(|(name, props, required)| {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["tool", "params"],
                "properties": {
                    "tool": {"const": name},
                    "params": {"type": "object", "additionalProperties": false,
                               "required": required, "properties": props}
                }
            })
        })
        .collect();
    json!({"oneOf": branches})
}

fn reference_accepts(answer: &Value, expected: Option<&str>) -> bool {
    let s = schema(expected);
    let validator = jsonschema::validator_for(&s).expect("the reference schema is valid");
    validator.is_valid(answer)
}

fn ours_accepts(answer: &Value, expected: Option<&str>) -> bool {
    // Schema-valid for the expected tool: a valid call, of that tool.
    let g = grade(&answer.to_string(), &tool_specs(), expected, None);
    g.verdict == Verdict::Match && g.right_tool != Some(false)
}

/// The parsed answers of the shipped sample outputs, with their expected tool.
fn sample_answers() -> Vec<(Value, Option<String>)> {
    let text = std::fs::read_to_string("data/toolcalls/sample-outputs.jsonl").unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|line| {
            let answer = final_answer(&line["output"]).ok()?;
            let parsed: Value = serde_json::from_str(&answer).ok()?;
            Some((parsed, line["expectedTool"].as_str().map(str::to_string)))
        })
        .collect()
}

/// Every answer with one parameter dropped, retyped, or an unknown parameter added.
fn mutations(answer: &Value) -> Vec<Value> {
    let replacements = [
        json!("x"),
        json!(7),
        json!(7.0),
        json!(7.5),
        json!(-3),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
    ];
    let mut out = vec![answer.clone()];
    let Some(params) = answer.get("params").and_then(Value::as_object) else {
        return out;
    };
    for key in params.keys() {
        let mut dropped = answer.clone();
        dropped["params"].as_object_mut().unwrap().remove(key);
        out.push(dropped);
        for r in &replacements {
            let mut retyped = answer.clone();
            retyped["params"][key] = r.clone();
            out.push(retyped);
        }
    }
    for optional in ["threshold", "region", "service", "force"] {
        for r in [json!("eu"), json!(0.5)] {
            let mut added = answer.clone();
            added["params"][optional] = r;
            out.push(added);
        }
    }
    let mut renamed = answer.clone();
    renamed["tool"] = json!("delete_cluster");
    out.push(renamed);
    let mut extra = answer.clone();
    extra["reason"] = json!("because");
    out.push(extra);
    out.push(json!([answer.clone()]));
    out.push(answer["params"].clone());
    out
}

#[test]
fn the_schema_check_agrees_with_a_json_schema_validator() {
    let samples = sample_answers();
    assert!(
        samples.len() >= 15,
        "sample answers parsed: {}",
        samples.len()
    );
    let mut checked = 0;
    let mut accepted = 0;
    for (answer, expected) in &samples {
        for m in mutations(answer) {
            for exp in [expected.as_deref(), None] {
                let (ours, reference) = (ours_accepts(&m, exp), reference_accepts(&m, exp));
                assert_eq!(
                    ours, reference,
                    "verdicts differ on {m} (expected tool {exp:?})"
                );
                checked += 1;
                accepted += usize::from(ours);
            }
        }
    }
    // Both outcomes occur in bulk, so agreement is not agreement on "always" or "never".
    assert!(
        checked > 1000 && accepted > 100 && checked - accepted > 500,
        "{checked} checked, {accepted} accepted"
    );
}
