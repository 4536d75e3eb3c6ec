//! Tool definitions for tool calling, and the JSON Schema they are exchanged in.
//!
//! A tool call is one JSON object `{"tool": NAME, "params": {...}}`. Each tool names its
//! parameters with a JSON type and whether they are required. The same definitions are written
//! as a JSON Schema (an `anyOf` with one object schema per tool), the form serving engines take
//! (vLLM's `guided_json`, llama.cpp's `--json-schema`, llguidance), so the constrainer here and
//! an engine can be given the very same file.
//!
//! Only what a tool envelope needs is read: `anyOf`, `type`, `properties`, `required`,
//! `additionalProperties: false`, `const` (the tool's name), and the annotations `$schema`,
//! `title`, `description`. Any other keyword (`pattern`, `minimum`, `enum`, `$ref`…) is refused
//! by name rather than silently ignored: ignoring it would let the model write what the schema
//! forbids.

use serde_json::{Map, Value, json};

/// A parameter's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Number,
    Bool,
}

impl ParamType {
    /// Whether a parsed JSON value has this type.
    pub fn accepts(self, v: &Value) -> bool {
        match self {
            ParamType::String => v.is_string(),
            // JSON has one number type; like JSON Schema, an integer is a number with no
            // fractional part (`6` and `6.0`), and `6.5` or `"6"` is not.
            ParamType::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            ParamType::Number => v.is_number(),
            ParamType::Bool => v.is_boolean(),
        }
    }

    /// The JSON Schema `type` name.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Bool => "boolean",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::String, Self::Integer, Self::Number, Self::Bool]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// One parameter of a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub ty: ParamType,
    pub required: bool,
}

/// A tool: its name and its parameters, in the order a call writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSpec {
    pub name: String,
    pub params: Vec<ParamSpec>,
}

impl ToolSpec {
    /// A tool from `(name, type, required)` triples.
    pub fn new(name: &str, params: &[(&str, ParamType, bool)]) -> Self {
        ToolSpec {
            name: name.to_string(),
            params: params
                .iter()
                .map(|&(n, ty, required)| ParamSpec {
                    name: n.to_string(),
                    ty,
                    required,
                })
                .collect(),
        }
    }

    /// A one-line signature for a prompt: `name(a: string, b?: integer)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let opt = if p.required { "" } else { "?" };
                format!("{}{opt}: {}", p.name, p.ty.name())
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

/// A call as the constrained dialect writes it: `{"tool": "t", "params": {"a": 1, "b": "x"}}`,
/// parameters in the tool's order (those `params` has), values as `serde_json` writes them.
pub fn render_call(tool: &ToolSpec, params: &Map<String, Value>) -> String {
    let items: Vec<String> = tool
        .params
        .iter()
        .filter_map(|p| params.get(&p.name).map(|v| format!("\"{}\": {v}", p.name)))
        .collect();
    format!(
        "{{\"tool\": \"{}\", \"params\": {{{}}}}}",
        tool.name,
        items.join(", ")
    )
}

/// The tools as one JSON Schema document: `anyOf` one closed object schema per tool.
pub fn to_json_schema(tools: &[ToolSpec]) -> Value {
    let any_of: Vec<Value> = tools
        .iter()
        .map(|t| {
            let mut props = Map::new();
            for p in &t.params {
                props.insert(p.name.clone(), json!({ "type": p.ty.name() }));
            }
            let required: Vec<&str> = t
                .params
                .iter()
                .filter(|p| p.required)
                .map(|p| p.name.as_str())
                .collect();
            json!({
                "type": "object",
                "properties": {
                    "tool": { "const": t.name },
                    "params": {
                        "type": "object",
                        "properties": props,
                        "required": required,
                        "additionalProperties": false,
                    },
                },
                "required": ["tool", "params"],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "one tool call",
        "anyOf": any_of,
    })
}

/// Why a schema could not be read, with the JSON Pointer of the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {pointer}")]
pub struct SchemaError {
    pub pointer: String,
    pub message: String,
}

const ANNOTATIONS: [&str; 3] = ["$schema", "title", "description"];

/// Most parameters one tool may have (the constrained-decoding automaton grows with them).
pub const MAX_PARAMS: usize = 64;

/// Tool and parameter names are 1–64 of `A-Z a-z 0-9 _ -` (the rule OpenAI's and Anthropic's
/// tool APIs use), so a name is written in JSON as it is, never escaped.
fn check_name(name: &str, at: &str, what: &str) -> Result<(), SchemaError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(err(
            at,
            &format!("{what} `{name}`: names are 1-64 of A-Z, a-z, 0-9, `_` and `-`"),
        ))
    }
}

/// Reads tools back from a JSON Schema of the shape [`to_json_schema`] writes. Property order
/// is kept: it is the order the constrained output writes them in.
pub fn from_json_schema(schema: &Value) -> Result<Vec<ToolSpec>, SchemaError> {
    let root = object(schema, "", &["anyOf"])?;
    let alts = root
        .get("anyOf")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            err(
                "",
                "expected `anyOf`: a list with one object schema per tool",
            )
        })?;
    let mut tools: Vec<ToolSpec> = Vec::new();
    for (i, alt) in alts.iter().enumerate() {
        let at = format!("/anyOf/{i}");
        let props = closed_object(alt, &at)?;
        if props.len() != 2 || !props.contains_key("tool") || !props.contains_key("params") {
            return Err(err(
                &format!("{at}/properties"),
                "a tool's properties must be exactly `tool` and `params`",
            ));
        }
        check_required(alt, &at, &["tool", "params"])?;
        let name_at = format!("{at}/properties/tool");
        let name = object(&props["tool"], &name_at, &["const"])?
            .get("const")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(&name_at, "expected `const`: the tool's name, a string"))?;
        check_name(name, &name_at, "tool")?;
        if tools.iter().any(|t| t.name == name) {
            return Err(err(&name_at, &format!("tool `{name}` is defined twice")));
        }
        let params_at = format!("{at}/properties/params");
        let params = closed_object(&props["params"], &params_at)?;
        let required = required_list(&props["params"], &params_at)?;
        if let Some(r) = required.iter().find(|r| !params.contains_key(**r)) {
            return Err(err(
                &format!("{params_at}/required"),
                &format!("`{r}` is required but not a property"),
            ));
        }
        if params.len() > MAX_PARAMS {
            return Err(err(
                &format!("{params_at}/properties"),
                &format!("{} parameters; at most {MAX_PARAMS}", params.len()),
            ));
        }
        let mut spec = ToolSpec {
            name: name.to_string(),
            params: Vec::new(),
        };
        for (pname, p) in params {
            let p_at = format!("{params_at}/properties/{pname}");
            check_name(pname, &p_at, "parameter")?;
            let ty = object(p, &p_at, &["type"])?
                .get("type")
                .and_then(Value::as_str)
                .and_then(ParamType::from_name)
                .ok_or_else(|| err(&p_at, "expected `type`: string, integer, number or boolean"))?;
            spec.params.push(ParamSpec {
                name: pname.clone(),
                ty,
                required: required.contains(&pname.as_str()),
            });
        }
        tools.push(spec);
    }
    Ok(tools)
}

fn err(pointer: &str, message: &str) -> SchemaError {
    SchemaError {
        pointer: if pointer.is_empty() { "/" } else { pointer }.to_string(),
        message: message.to_string(),
    }
}

/// `v` as an object whose keys are all in `allowed` or the annotations.
fn object<'a>(
    v: &'a Value,
    at: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, SchemaError> {
    let map = v
        .as_object()
        .ok_or_else(|| err(at, "expected a schema object"))?;
    if let Some(k) = map
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()))
    {
        return Err(err(
            at,
            &format!(
                "unsupported keyword `{k}` (the constrainer reads anyOf, type, properties, \
                 required, additionalProperties: false, const)"
            ),
        ));
    }
    Ok(map)
}

/// An object schema with `additionalProperties: false`; returns its `properties`.
fn closed_object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, SchemaError> {
    let map = object(
        v,
        at,
        &["type", "properties", "required", "additionalProperties"],
    )?;
    if map.get("type").and_then(Value::as_str) != Some("object") {
        return Err(err(at, "expected `\"type\": \"object\"`"));
    }
    if map.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Err(err(
            at,
            "`additionalProperties` must be false: a call writes only the listed properties",
        ));
    }
    map.get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| err(at, "expected `properties`"))
}

fn required_list<'a>(v: &'a Value, at: &str) -> Result<Vec<&'a str>, SchemaError> {
    match v.get("required") {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| {
                r.as_str()
                    .ok_or_else(|| err(&format!("{at}/required"), "expected property names"))
            })
            .collect(),
        Some(_) => Err(err(&format!("{at}/required"), "expected a list")),
    }
}

fn check_required(v: &Value, at: &str, want: &[&str]) -> Result<(), SchemaError> {
    let mut got = required_list(v, at)?;
    got.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    if got != want {
        return Err(err(
            &format!("{at}/required"),
            &format!("must be exactly {want:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<ToolSpec> {
        use ParamType::*;
        vec![
            ToolSpec::new("a", &[("x", String, true), ("n", Integer, false)]),
            ToolSpec::new("b", &[("on", Bool, true), ("v", Number, true)]),
        ]
    }

    #[test]
    fn the_schema_reads_back_with_order_and_required_flags() {
        let schema = to_json_schema(&tools());
        assert_eq!(from_json_schema(&schema).unwrap(), tools());
        assert_eq!(tools()[0].signature(), "a(x: string, n?: integer)");
    }

    #[test]
    fn keywords_the_constrainer_cannot_express_are_named() {
        let mut schema = to_json_schema(&tools());
        schema["anyOf"][1]["properties"]["params"]["properties"]["v"]["minimum"] = json!(0);
        let e = from_json_schema(&schema).unwrap_err();
        assert!(e.message.contains("`minimum`"), "{e}");
        assert_eq!(e.pointer, "/anyOf/1/properties/params/properties/v");

        let mut open = to_json_schema(&tools());
        open["anyOf"][0]["properties"]["params"]["additionalProperties"] = json!(true);
        assert!(
            from_json_schema(&open)
                .unwrap_err()
                .message
                .contains("additionalProperties")
        );
        let mut twice = to_json_schema(&tools());
        twice["anyOf"][1]["properties"]["tool"]["const"] = json!("a");
        assert!(
            from_json_schema(&twice)
                .unwrap_err()
                .message
                .contains("twice")
        );
        assert!(from_json_schema(&json!({"type": "object"})).is_err());
    }

    /// Names are written into the constrained output unescaped, so only plain ones are read.
    #[test]
    fn names_that_json_would_escape_and_too_many_parameters_are_refused() {
        for bad in ["a\"b", "a\\b", "", "tab\t", "서울"] {
            let mut tool = to_json_schema(&tools());
            tool["anyOf"][0]["properties"]["tool"]["const"] = json!(bad);
            let e = from_json_schema(&tool).unwrap_err();
            assert!(
                bad.is_empty() || e.message.contains("names are"),
                "{bad:?}: {e}"
            );
            let mut param = to_json_schema(&tools());
            let props = &mut param["anyOf"][1]["properties"]["params"]["properties"];
            props[bad] = json!({"type": "boolean"});
            assert!(from_json_schema(&param).is_err(), "{bad:?}");
        }
        let names: Vec<std::string::String> = (0..=MAX_PARAMS).map(|i| format!("p{i}")).collect();
        let params: Vec<(&str, ParamType, bool)> = names
            .iter()
            .map(|n| (n.as_str(), ParamType::Bool, false))
            .collect();
        let many = to_json_schema(&[ToolSpec::new("many", &params)]);
        assert!(
            from_json_schema(&many)
                .unwrap_err()
                .message
                .contains("at most")
        );
        let ok = to_json_schema(&[ToolSpec::new("many", &params[..MAX_PARAMS])]);
        assert!(from_json_schema(&ok).is_ok());
    }
}
