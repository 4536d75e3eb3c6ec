//! The tool-call experiment as a user runs it: `toolcall run` on the real model writes lines
//! the scorer and the router read; constrained decoding only ever writes valid calls; the
//! committed runs of both modes route through the quality gate with a measured price; the
//! shipped JSON Schema is what `toolcall schema` prints; bad tool sets and request files are
//! exit 2 with one line.

mod common;

use common::{assert_bad_input, bin, json, models_dir, run, temp_dir};

/// Two of the shipped requests, as a request set of their own.
const TWO_REQUESTS: &str = r#"requests:
  - id: metrics-checkout-p99
    language: en
    request: "p99 latency of checkout.latency.p99 over the last 7 days in eu-west, flag anything above 450"
    expectedTool: query_metrics
    expectedParams: {metric: checkout.latency.p99, window_days: 7, threshold: 450, region: eu-west}
  - id: secret-db-password-prod
    language: en
    request: "Rotate the db-password secret in the prod namespace."
    expectedTool: rotate_secret
    expectedParams: {name: db-password, namespace: prod}
"#;

#[test]
fn a_constrained_run_writes_valid_calls_the_scorer_reads() {
    let dir = temp_dir("toolcall-run");
    let (out, requests) = (dir.join("run.jsonl"), dir.join("two.yaml"));
    std::fs::write(&requests, TWO_REQUESTS).unwrap();
    let report = json(
        bin()
            .env("WORKBENCH_MODELS", models_dir())
            .env("WORKBENCH_RECORDS", dir.join("records"))
            .env("WORKBENCH_RUN", "toolcall-test")
            .args(["toolcall", "run", "--model", "smollm2", "--constrained"])
            .args(["--max-new-tokens", "48", "--json", "--requests"])
            .arg(&requests)
            .arg("--out")
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
        assert_eq!(l["constrained"], true);
        assert!(l["usage"]["inputTokens"].as_u64().unwrap() > 100, "{l}");
        assert!(l["usage"]["outputTokens"].as_u64().unwrap() <= 48, "{l}");
        assert!(l["maskMs"].as_f64().unwrap() > 0.0, "{l}");
        // What the mask guarantees, checked here without the scorer: one JSON object naming
        // one of the five tools.
        let call: serde_json::Value = serde_json::from_str(l["output"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{e}: {l}"));
        let tool = call["tool"].as_str().unwrap();
        assert!(
            [
                "query_metrics",
                "restart_pods",
                "aggregate_cost",
                "scale_deployment",
                "rotate_secret"
            ]
            .contains(&tool),
            "{call}"
        );
    }
    let score = &report["scores"]["scores"][0];
    assert_eq!(score["outputs"], 2);
    assert_eq!(score["validJson"], 2, "{report}");
    assert_eq!(score["schemaMatchRate"], 1.0, "{report}");
    let measured = &score["measured"];
    assert!(measured["decodeTokensPerS"].as_f64().unwrap() > 0.0);
    assert!(measured["maskMsPerToken"].as_f64().unwrap() > 0.0);
    // The run is a record too, with the scores it printed.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("records/runs/toolcall-test/toolcall__run__smollm2-135m-cpu-constrained.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(record["chapter"], "07-real-model");
    let params = &record["params"];
    assert_eq!(params["requests"], 2);
    assert_eq!(params["constrained"], true);
    assert_eq!(params["max_new_tokens"], 48);
    for (ours, theirs) in [
        ("right_tool_rate", &score["rightToolRate"]),
        ("right_args_rate", &score["rightArgsRate"]),
        ("mean_output_tokens", &score["meanOutputTokens"]),
        ("decode_tokens_per_s", &measured["decodeTokensPerS"]),
        ("prefill_tokens_per_s", &measured["prefillTokensPerS"]),
    ] {
        assert_eq!(&params[ours], theirs, "{ours}");
    }
    assert_eq!(record["throughput"]["unit"], "requests/s");
    let requests_per_s = record["throughput"]["value"].as_f64().unwrap();
    let latency_ms = measured["meanLatencyMs"].as_f64().unwrap();
    assert!(
        (requests_per_s * latency_ms / 1e3 - 1.0).abs() < 1e-9,
        "{record}"
    );
}

/// A `--limit` sample is not the request set: it writes its lines but no record.
#[test]
fn a_limited_run_writes_no_record() {
    let dir = temp_dir("toolcall-limit");
    let (code, _, err) = run(bin()
        .env("WORKBENCH_MODELS", models_dir())
        .env("WORKBENCH_RECORDS", dir.join("records"))
        .args(["toolcall", "run", "--model", "smollm2", "--constrained"])
        .args(["--limit", "1", "--max-new-tokens", "8", "--out"])
        .arg(dir.join("one.jsonl")));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("record: not written"), "{err}");
    assert!(!dir.join("records").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("one.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
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
