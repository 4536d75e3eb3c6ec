//! The tool-call experiment as a user runs it: `toolcall run` on the real model writes lines
//! the scorer and the router read; constrained decoding only ever writes valid calls; the
//! committed runs of both modes route through the quality gate with a measured price; the
//! shipped JSON Schema is what `toolcall schema` prints; bad tool sets and request files are
//! exit 2 with one line.

mod common;

use ch07_real_model::fetch::{SMOLLM2, ensure};
use common::{assert_bad_input, bin, json, run, temp_dir};

fn models_dir() -> String {
    let fetched = ensure(&SMOLLM2).unwrap_or_else(|e| panic!("{e}"));
    fetched.path().parent().unwrap().display().to_string()
}

#[test]
fn a_constrained_run_writes_valid_calls_the_scorer_reads() {
    let dir = temp_dir("toolcall-run");
    let out = dir.join("run.jsonl");
    let report = json(
        bin()
            .env("WORKBENCH_MODELS", models_dir())
            .env("WORKBENCH_RECORDS", dir.join("records"))
            .args(["toolcall", "run", "--model", "smollm2", "--constrained"])
            .args(["--limit", "2", "--max-new-tokens", "48", "--json", "--out"])
            .arg(&out),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        for key in [
            "model",
            "taskType",
            "request",
            "expectedTool",
            "expectedParams",
            "output",
            "usage",
            "latencyMs",
        ] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        assert_eq!(l["model"], "smollm2-135m-cpu-constrained");
        assert!(l["usage"]["inputTokens"].as_u64().unwrap() > 100, "{l}");
    }
    let score = &report["scores"]["scores"][0];
    assert_eq!(score["outputs"], 2);
    // Only valid calls can come out of the mask (if the model stops within the token cap).
    assert_eq!(score["schemaMatchRate"], 1.0, "{report}");
    assert!(score["measured"]["decodeTokensPerS"].as_f64().unwrap() > 0.0);
    // The file reads back through `toolcall score` alike.
    let rescored = json(
        bin()
            .args(["toolcall", "score", "--json", "--outputs"])
            .arg(&out),
    );
    assert_eq!(rescored["scores"], report["scores"]["scores"]);
    // The run is a record too, with the scores it printed.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("records/toolcall__run__smollm2-135m-cpu-constrained.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(record["chapter"], "07-real-model");
    assert_eq!(record["params"]["requests"], 2);
    assert_eq!(
        record["params"]["schema_match_rate"],
        score["schemaMatchRate"]
    );
    assert_eq!(record["throughput"]["unit"], "requests/s");
}

#[test]
fn the_committed_runs_route_through_the_gate_with_a_measured_price() {
    let plan = json(bin().args([
        "route",
        "--workload",
        "data/workloads/ops-assistant.yaml",
        "--outputs",
        "data/toolcalls/smollm2-135m-cpu.jsonl",
        "--outputs",
        "data/toolcalls/smollm2-135m-cpu-constrained.jsonl",
        "--cpu-usd-per-hour",
        "0.36",
        "--no-chart",
        "--json",
    ]));
    let tiers = plan["tiers"].to_string();
    for id in ["smollm2-135m-cpu", "smollm2-135m-cpu-constrained"] {
        assert!(tiers.contains(id), "{id} not in the per-tier table");
    }
    let tool_calls = plan["plan"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["taskType"] == "tool-calls")
        .expect("a tool-calls choice");
    let refused = tool_calls["refused"].to_string();
    assert!(
        refused.contains("smollm2-135m-cpu-constrained") && refused.contains("quality gate"),
        "{refused}"
    );
    // The price is the stated hourly cost over the measured tokens/s: 3.6× the default's.
    let price = |usd: &str| {
        let p = json(bin().args([
            "route",
            "--outputs",
            "data/toolcalls/smollm2-135m-cpu-constrained.jsonl",
            "--cpu-usd-per-hour",
            usd,
            "--no-chart",
            "--json",
        ]));
        p["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == "self-hosted-cpu")
            .map(|t| {
                assert_eq!(t["price"], "measured");
                t["usdPerTask"].as_f64().unwrap()
            })
            .expect("a row for the measured tier")
    };
    let (low, high) = (price("0.10"), price("0.36"));
    assert!((high / low - 3.6).abs() < 1e-9, "{low} {high}");
}

#[test]
fn the_shipped_schema_is_the_routers_tools() {
    let (code, out, err) = run(bin().args(["toolcall", "schema"]));
    assert_eq!(code, 0, "{err}");
    let shipped = std::fs::read_to_string("data/toolcalls/tools.schema.json").unwrap();
    assert_eq!(
        out, shipped,
        "run `llm-workbench toolcall schema --out data/toolcalls/tools.schema.json`"
    );
}

#[test]
fn tool_sets_and_request_files_the_run_cannot_use_are_named() {
    let dir = temp_dir("toolcall-bad");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("data/toolcalls/tools.schema.json").unwrap())
            .unwrap();
    schema["anyOf"][3]["properties"]["params"]["properties"]["replicas"]["maximum"] =
        serde_json::json!(50);
    let tools = dir.join("tools.json");
    std::fs::write(&tools, schema.to_string()).unwrap();
    let requests = dir.join("requests.yaml");
    std::fs::write(
        &requests,
        "requests:\n  - id: a\n    language: en\n    request: rotate db in prod\n    expectedTool: rotate_secret\n    expectedParams: {name: db, namespace: prod}\n  - id: b\n    language: en\n    expectedTool: rotate_secret\n    expectedParams: {name: db, namespace: prod}\n",
    )
    .unwrap();
    let out = dir.join("o.jsonl");
    let run_with = |extra: &[&std::ffi::OsStr]| {
        let mut cmd = bin();
        cmd.env("WORKBENCH_MODELS", dir.join("no-models"))
            .args(["toolcall", "run", "--model", "smollm2", "--out"])
            .arg(&out)
            .args(extra);
        cmd
    };
    assert_bad_input(
        &mut run_with(&["--tools".as_ref(), tools.as_os_str()]),
        &[
            "tools.json",
            "`maximum`",
            "/anyOf/3/properties/params/properties/replicas",
        ],
    );
    assert_bad_input(
        &mut run_with(&["--requests".as_ref(), requests.as_os_str()]),
        &["requests.yaml:7", "`request`"],
    );
    assert_bad_input(&mut run_with(&[]), &["smollm2", "fetch"]);
    assert!(!out.exists(), "nothing is written on bad input");
}
