//! `llm-workbench moe` through the binary: JSON output of chapter 06's demonstration, and bad
//! input (exit 2, one line, no panic).

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("moe-cli-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_llm-workbench"))
        .arg("moe")
        .args(args)
        // Charts go to the report directory beside the records: keep them out of the tree.
        .env("WORKBENCH_RECORDS", dir.join("records"))
        .output()
        .expect("binary runs")
}

#[test]
fn moe_json_reports_load_and_speed() {
    let out = run(&["--quick", "--experts", "4", "--top-k", "1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let loads = v["loads"].as_array().unwrap();
    assert_eq!(loads.len(), 2);
    assert_eq!(loads[0]["router"], "balanced");
    for l in loads {
        assert_eq!(l["experts"], 4);
        assert_eq!(l["top_k"], 1);
        assert_eq!(l["tokens"], 512);
        let per_expert: Vec<u64> = l["load"]["tokens_per_expert"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        // Every token is routed to exactly top_k experts.
        assert_eq!(per_expert.iter().sum::<u64>(), 512);
        // Capacity (factor 1.25): each expert keeps at most ⌈1.25 · 512 · 1 / 4⌉ = 160 of its
        // assignments, and the drop rate is what it did not keep.
        let kept: Vec<u64> = l["load"]["kept_per_expert"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        for (k, r) in kept.iter().zip(&per_expert) {
            assert_eq!(*k, (*r).min(160), "kept {kept:?} of routed {per_expert:?}");
        }
        let dropped = 512 - kept.iter().sum::<u64>();
        let drop_rate = l["load"]["drop_rate"].as_f64().unwrap();
        assert!(
            (drop_rate - dropped as f64 / 512.0).abs() < 1e-12,
            "{drop_rate}"
        );
    }
    // The skewed router loads expert 0 more than the balanced one does.
    let first = |i: usize| loads[i]["load"]["tokens_per_expert"][0].as_u64().unwrap();
    assert!(first(1) > first(0), "{} vs {}", first(1), first(0));
    assert_eq!(v["speed"]["experts"], 4);
    assert!(v["speed"]["moe_s"].as_f64().unwrap() > 0.0);
    // The routing share is the phases' non-expert time over their total.
    let p = &v["speed"]["phases"];
    let phase = |k: &str| p[k].as_f64().unwrap();
    let overhead = phase("route_s") + phase("dispatch_s") + phase("combine_s");
    let share = v["speed"]["routing_share"].as_f64().unwrap();
    assert!(
        (share - overhead / (overhead + phase("experts_s"))).abs() < 1e-9,
        "{share}"
    );
}

#[test]
fn bad_moe_input_exits_2_with_one_line() {
    for args in [
        &["--experts", "4", "--top-k", "5"][..],
        &["--experts", "0"][..],
        &["--capacity-factor", "-1"][..],
        &["--skew", "-0.5"][..],
        &["--tokens", "0"][..],
        &["--tokens", "100000000"][..],
        &["--experts", "1000000", "--top-k", "1"][..],
        &["--tokens", "65536", "--experts", "256"][..],
        &["--quick", "--tokens", "64"][..],
        &["--top-k", "two"][..],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
