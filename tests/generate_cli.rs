//! `llm-workbench generate` through the binary: JSON output and bad input (exit 2, one line).

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_llm-workbench"))
        .arg("generate")
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn generate_json_reports_tokens_and_kv_bytes() {
    let out = run(&[
        "--prompt",
        "Hello",
        "--max-new-tokens",
        "5",
        "--cache",
        "prealloc",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["new_tokens"].as_array().unwrap().len(), 5);
    assert_eq!(v["cache"], "prealloc");
    // Pre-allocated for prompt + 5 positions; 4 of the new tokens were fed back.
    let prompt = v["prompt_tokens"].as_array().unwrap().len() as u64;
    let per_token = 2 * 4 * 2 * 32 * 4; // 2 × layers × kv_heads × head_dim × f32
    assert_eq!(v["kv_bytes"].as_u64().unwrap(), per_token * (prompt + 5));
    assert_eq!(
        v["kv_bytes_formula"].as_u64().unwrap(),
        per_token * (prompt + 4)
    );
}

#[test]
fn bad_input_exits_2_with_one_line() {
    for args in [
        ["--prompt", "", "--max-new-tokens", "4"],
        ["--prompt", "hi", "--max-new-tokens", "0"],
        ["--prompt", "hi", "--max-new-tokens", "5000"],
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    // An unknown cache is clap's error, naming the flag.
    let out = run(&["--prompt", "hi", "--cache", "lru"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache"));
}

#[test]
fn tour_section_decodes_equal_and_plots_the_serving_simulation() {
    let tour =
        llm_workbench::commands::generate::tour_section(&llm_workbench::device::cpu()).unwrap();
    assert_eq!(tour.decodes.len(), 4);
    assert!(tour.decodes.iter().all(|d| d.same_tokens_as_no_cache));
    let [pre, paged] = [&tour.serving_results[0], &tour.serving_results[1]];
    assert!(paged.mean_running > pre.mean_running);
    assert!(tour.charts.iter().all(|c| std::path::Path::new(c).exists()));
    assert!(tour.to_string().contains("Serving simulation"));
}
