//! Tool-call requests (`data/toolcalls/requests.yaml`): what a model is asked, and the call it
//! should answer with. `llm-workbench toolcall run` prompts a model with each one and writes
//! the outputs the quality gate scores.

use super::{at, line_of_id, parse_yaml};
use ch07_real_model::toolschema::{ToolSpec, render_call};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One request and its expected call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolRequest {
    pub id: String,
    pub language: String,
    /// For a translation: the id of the English request it translates.
    pub translation_of: Option<String>,
    pub request: String,
    pub expected_tool: String,
    pub expected_params: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile {
    requests: Vec<ToolRequest>,
}

/// Parses a request file and checks every expected call against `tools`: a request whose
/// expected answer is not itself a valid call would score a correct model as wrong.
pub fn parse(text: &str, file: &str, tools: &[ToolSpec]) -> anyhow::Result<Vec<ToolRequest>> {
    let parsed: RequestFile = parse_yaml(text, file)?;
    if parsed.requests.is_empty() {
        crate::bail_input!("{file}: `requests` is empty");
    }
    for (i, r) in parsed.requests.iter().enumerate() {
        let here = || format!("{}: request `{}`", at(file, line_of_id(text, &r.id)), r.id);
        if r.id.trim().is_empty() {
            crate::bail_input!("{file}: requests[{i}]: `id` is empty");
        }
        if parsed.requests[..i].iter().any(|o| o.id == r.id) {
            crate::bail_input!("{}: duplicate id", here());
        }
        if r.request.trim().is_empty() {
            crate::bail_input!("{}: `request` is empty", here());
        }
        let Some(tool) = tools.iter().find(|t| t.name == r.expected_tool) else {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            crate::bail_input!(
                "{}: `expectedTool` {} is not one of the tools ({})",
                here(),
                r.expected_tool,
                names.join(", ")
            );
        };
        if let Some(k) = r
            .expected_params
            .keys()
            .find(|k| !tool.params.iter().any(|p| &p.name == *k))
        {
            crate::bail_input!(
                "{}: `expectedParams` has `{k}`, not a parameter of {}",
                here(),
                tool.name
            );
        }
        let expected = render_call(tool, &r.expected_params);
        if let super::gate::Verdict::SchemaMismatch(why) | super::gate::Verdict::InvalidJson(why) =
            super::gate::score_answer(&expected, tools)
        {
            crate::bail_input!("{}: the expected call is not valid: {why}", here());
        }
    }
    Ok(parsed.requests)
}

/// The user turn for one request: the answer format, the tools as signatures, the request.
/// No worked example: a 135M model copies an example's tool and values whatever it is asked
/// (measured: every answer was the example, with one example or with one per tool).
pub fn prompt(tools: &[ToolSpec], request: &str) -> String {
    let list: Vec<String> = tools
        .iter()
        .map(|t| format!("- {}", t.signature()))
        .collect();
    format!(
        "Answer with one tool call as JSON, {{\"tool\": NAME, \"params\": {{...}}}}, and nothing else.\n\
         Tools:\n{}\n\nRequest: {request}",
        list.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::gate::tool_specs;

    #[test]
    fn the_shipped_requests_parse_and_every_argument_is_in_its_request() {
        let text = std::fs::read_to_string("data/toolcalls/requests.yaml").unwrap();
        let requests = parse(&text, "requests.yaml", &tool_specs()).unwrap();
        let count = |lang: &str| requests.iter().filter(|r| r.language == lang).count();
        assert!(count("en") >= 40, "{}", count("en"));
        assert_eq!((count("ko"), count("ar")), (10, 10));
        for r in &requests {
            for (k, v) in &r.expected_params {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(_) => continue,
                    other => other.to_string(),
                };
                assert!(r.request.contains(&shown), "{}: {k} = {shown}", r.id);
            }
            if let Some(of) = &r.translation_of {
                let en = requests.iter().find(|e| &e.id == of).unwrap();
                assert_eq!(
                    (&en.expected_tool, &en.expected_params),
                    (&r.expected_tool, &r.expected_params)
                );
            }
        }
    }

    #[test]
    fn a_missing_field_and_a_wrong_expected_call_are_named() {
        let tools = tool_specs();
        let missing =
            "requests:\n  - id: a\n    language: en\n    request: x\n    expectedParams: {}\n";
        let e = parse(missing, "r.yaml", &tools).unwrap_err().to_string();
        assert!(
            e.starts_with("r.yaml:2:") && e.contains("expectedTool"),
            "{e}"
        );
        let bad = "requests:\n  - id: a\n    language: en\n    request: x\n    expectedTool: rotate_secret\n    expectedParams: {name: db}\n";
        let e = parse(bad, "r.yaml", &tools).unwrap_err().to_string();
        assert!(
            e.contains("r.yaml:2: request `a`") && e.contains("namespace"),
            "{e}"
        );
    }
}
