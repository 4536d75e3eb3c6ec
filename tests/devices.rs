//! `--device` and records that carry their device: a device this build lacks is bad input
//! naming the cargo feature; what runs says where it ran; records of one bench on two devices
//! are both kept and set side by side, and the CPU's limits are applied to the CPU's records
//! only (the budget's `this-machine` side: `budget::measured`'s unit tests).

mod common;

use common::{assert_bad_input, bin, json, run, temp_dir, write_record};
use std::path::Path;

/// The tensor commands, each with `--device` and small sizes.
const COMMANDS: &[&str] = &[
    "attention compare --seq 16",
    "attention saturation --seq 16",
    "gqa",
    "moe --quick",
    "block train --steps 1 --tokens 1 --no-chart",
    "generate --prompt hi --max-new-tokens 1",
    "tour --quick",
];

#[test]
fn a_device_this_build_lacks_names_its_feature() {
    let dir = temp_dir("devices-missing-feature");
    for device in ["wgpu", "cuda"] {
        let compiled = llm_workbench::device::DeviceChoice::parse(device)
            .unwrap()
            .compiled_in();
        if compiled {
            continue;
        }
        for command in COMMANDS {
            let mut cmd = bin();
            cmd.args(command.split(' '))
                .args(["--device", device])
                .env("WORKBENCH_RECORDS", dir.join("records"))
                .current_dir(&dir);
            assert_bad_input(&mut cmd, &[&format!("--features {device}")]);
        }
    }
    // Refused before any work: nothing was written.
    assert!(!dir.join("records").exists());
}

#[test]
fn an_unknown_device_is_refused_by_name() {
    assert_bad_input(
        bin().args(["attention", "compare", "--device", "tpu"]),
        &["tpu"],
    );
}

#[test]
fn a_comparison_says_which_device_it_ran_on() {
    let out = json(bin().args(["attention", "compare", "--seq", "16", "--json"]));
    assert_eq!(out["device"]["backend"], "flex");
    let name = out["device"]["name"].as_str().unwrap();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    assert!(
        cpuinfo.contains(name) || name == std::env::consts::ARCH,
        "{name}"
    );
    assert!(out["device"]["memory_bytes"].as_u64().unwrap_or(1) > 0);
}

/// A record as a bench writes it, measured on `device` (`None`: a record from before devices
/// were recorded).
fn record(bench: &str, tokens_per_s: f64, device: Option<&str>, t: u64) -> serde_json::Value {
    let mut r = serde_json::json!({
        "schema": 2, "bench_id": bench, "chapter": "04-kv-cache",
        "params": {"variant": "prealloc", "context_tokens": 100, "cache": "prealloc",
                   "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "vocab": 100,
                   "intermediate": 128, "context": 100},
        "throughput": {"value": tokens_per_s, "unit": "tokens/s"}, "time_s": 1.0 / tokens_per_s,
        "limits": {"matmul_gflops": 50.0, "bandwidth_gb_s": 10.0},
        "machine": {"cpu_model": "test cpu", "logical_cores": 2},
        "run_id": format!("run-{t}"), "git_rev": "abc1234", "unix_time_s": t,
    });
    if let Some(backend) = device {
        r["device"] = serde_json::json!({"backend": backend, "name": format!("{backend} part"),
                                         "memory_bytes": null});
    }
    r
}

fn write(dir: &Path, value: &serde_json::Value) {
    write_record(dir, value["run_id"].as_str().unwrap(), value);
}

#[test]
fn one_bench_on_two_devices_is_kept_twice_and_compared() {
    let dir = temp_dir("devices-report");
    let bench = "kv_cache/decode/prealloc";
    // flex without a device field (an older record), then flex, then wgpu, newest last.
    write(&dir, &record(bench, 10.0, None, 1_000));
    write(&dir, &record(bench, 20.0, Some("flex"), 2_000));
    write(&dir, &record(bench, 50.0, Some("wgpu"), 3_000));
    let report = json(
        bin()
            .args(["report", "--no-charts", "--json", "--records"])
            .arg(&dir),
    );
    let rows = report["rows"].as_array().unwrap();
    let mut by_backend: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            let backend = r["device"]["backend"]
                .as_str()
                .unwrap_or("flex")
                .to_string();
            (backend, r["throughput"]["value"].as_f64().unwrap())
        })
        .collect();
    by_backend.sort_by(|a, b| a.0.cmp(&b.0));
    // The latest of each backend: flex's newer record, and wgpu's.
    assert_eq!(
        by_backend,
        [("flex".to_string(), 20.0), ("wgpu".to_string(), 50.0)]
    );
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let measured = devices[0]["measured"].as_array().unwrap();
    assert_eq!(measured[0]["backend"], "flex");
    assert!(measured[0]["times_flex"].is_null());
    assert_eq!(measured[1]["backend"], "wgpu");
    assert_eq!(measured[1]["times_flex"].as_f64().unwrap(), 2.5);

    // The text report and the page show the comparison too.
    let (code, text, stderr) = run(bin().args(["report", "--no-charts", "--records"]).arg(&dir));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        text.contains("more than one device") && text.contains("2.50×"),
        "{text}"
    );
    let out = dir.join("page");
    let (code, _, stderr) = run(bin()
        .args(["report", "--html", "--records"])
        .arg(&dir)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{stderr}");
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("id=\"devices\"") && page.contains("wgpu (wgpu part)"));
}

#[test]
fn the_cpu_limits_apply_to_the_cpus_records_only() {
    use llm_workbench::records::Record;
    let flex: Record = serde_json::from_value(record("a/decode", 20.0, None, 1)).unwrap();
    let mut gpu: Record =
        serde_json::from_value(record("a/decode", 50.0, Some("cuda"), 2)).unwrap();
    // A GFLOP/s record: a percentage of the CPU's matmul limit on flex, none on a GPU.
    let mut flex_gflops = flex.clone();
    flex_gflops.throughput = llm_workbench::records::Throughput {
        value: 25.0,
        unit: "GFLOP/s".into(),
    };
    gpu.throughput = flex_gflops.throughput.clone();
    assert_eq!(
        llm_workbench::report::percent_of_limit(&flex_gflops),
        Some(50.0)
    );
    assert_eq!(llm_workbench::report::percent_of_limit(&gpu), None);
}
