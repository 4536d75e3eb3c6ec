//! The command line as a user meets it: exit codes, one-line errors, JSON output, records.

mod common;

use common::{assert_bad_input, bin, run, temp_dir};

#[test]
fn unknown_subcommand_is_one_line_exit_2() {
    assert_bad_input(bin().arg("nosuch"), &["nosuch"]);
}

#[test]
fn missing_records_dir_is_one_line_exit_2() {
    assert_bad_input(
        bin().args(["report", "--records", "/nonexistent"]),
        &["/nonexistent"],
    );
}

/// A corrupt record neither hides the others nor passes unnoticed: it is skipped and named.
#[test]
fn a_corrupt_record_is_skipped_and_named_and_the_others_are_reported() {
    let dir = temp_dir("corrupt-record");
    std::fs::write(dir.join("broken.json"), "{\"schema\": 1, \"bench_id\": ").unwrap();
    let good = serde_json::json!({"schema": 1, "bench_id": "demo/good", "chapter": "02-attention",
        "params": {}, "throughput": {"value": 1.5, "unit": "GFLOP/s"}, "time_s": 0.1,
        "git_rev": "abc", "unix_time_s": 1});
    std::fs::write(dir.join("demo__good.json"), good.to_string()).unwrap();
    let (code, stdout, stderr) = run(bin().args(["report", "--no-charts", "--records"]).arg(&dir));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("demo/good"), "{stdout}");
    // Named on stderr, one line, and nowhere in the report itself.
    let skipped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("skipped"))
        .collect();
    assert_eq!(skipped.len(), 1, "{stderr}");
    assert!(skipped[0].contains("broken.json"), "{stderr}");
    assert!(!stdout.contains("broken.json"), "{stdout}");
}

#[test]
fn help_exits_0() {
    let (code, stdout, _) = run(bin().arg("--help"));
    assert_eq!(code, 0);
    for sub in ["tour", "machine", "report"] {
        assert!(stdout.contains(sub), "help lists {sub}");
    }
}

#[test]
fn machine_measures_and_report_shows_its_records() {
    let dir = temp_dir("machine-records");
    let (code, stdout, stderr) = run(bin()
        .args(["machine", "--quick", "--json"])
        .env("WORKBENCH_RECORDS", &dir));
    assert_eq!(code, 0, "{stderr}");
    let m: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for field in [
        "matmul_gflops_1_thread",
        "matmul_gflops_all_threads",
        "bandwidth_gb_s_1_thread",
        "bandwidth_gb_s_all_threads",
    ] {
        let v = m[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing: {m}"));
        assert!(v > 0.0 && v.is_finite(), "{field} = {v}");
    }

    let (code, stdout, stderr) = run(bin().args(["report", "--json", "--records"]).arg(&dir));
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["bench_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"machine/matmul_f32_all_threads"), "{ids:?}");
    assert!(
        ids.contains(&"machine/read_bandwidth_all_threads"),
        "{ids:?}"
    );
    // The limit is the best of the 1-thread and all-threads rates: that record reads 100%.
    let pct = |id: &str| {
        let row = rows.iter().find(|r| r["bench_id"] == id).unwrap();
        row["percent_of_limit"].as_f64().unwrap()
    };
    let best = pct("machine/matmul_f32_all_threads").max(pct("machine/matmul_f32_1_thread"));
    assert!((best - 100.0).abs() < 1e-9, "{best}");
    // Same number in the CLI output and in the record.
    let all = rows
        .iter()
        .find(|r| r["bench_id"] == "machine/matmul_f32_all_threads")
        .unwrap();
    assert_eq!(
        all["throughput"]["value"].as_f64(),
        m["matmul_gflops_all_threads"].as_f64()
    );

    let (code, table, _) = run(bin().args(["report", "--records"]).arg(&dir));
    assert_eq!(code, 0);
    assert!(table.contains("machine/read_bandwidth_1_thread") && table.contains("GB/s"));
}

#[test]
fn tour_runs_on_the_defaults() {
    let dir = temp_dir("tour-records");
    let (code, stdout, stderr) = run(bin()
        .args(["tour", "--quick", "--json"])
        .env("WORKBENCH_RECORDS", &dir));
    assert_eq!(code, 0, "{stderr}");
    let tour: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let chapters = tour["chapters"].as_array().unwrap();
    assert_eq!(chapters[0]["folder"], "01-bpe");
    assert_eq!(chapters.len(), 9);
    // Chapter 07: the real model answers (the test binaries fetch it), or says how to get it.
    let real = &tour["real_model"];
    assert!(
        real["answer"].as_str().is_some_and(|a| a.contains("Paris"))
            || real["how_to_fetch"]
                .as_str()
                .is_some_and(|h| h.contains("fetch smollm2")),
        "{real}"
    );
    // Chapter 09: the shipped trace served (all its output tokens), or how to fetch.
    let trace = std::fs::read_to_string("data/serving/trace.yaml").unwrap();
    let trace_tokens: i64 = ch09_serving::parse_trace(&trace)
        .unwrap()
        .iter()
        .map(|t| t.output_tokens)
        .sum();
    let serving = &tour["serving"];
    assert!(
        serving["report"]["summary"]["output_tokens"] == trace_tokens
            || serving["how_to_fetch"]
                .as_str()
                .is_some_and(|h| h.contains("fetch smollm2")),
        "{serving}"
    );
    assert!(tour["report"]["rows"].as_array().unwrap().len() >= 4);
}

/// `llm-workbench … | head` closes the pipe early: that is not a crash.
#[test]
fn closed_stdout_is_not_a_panic() {
    let mut child = bin()
        .args(["attention", "saturation", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
