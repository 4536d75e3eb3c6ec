//! Records kept per run, `report --runs`, `report --compare` and `report --html`, as a user
//! meets them on the command line.

mod common;

use common::{assert_bad_input, bin, json, run, temp_dir, write_record};

/// A record as a bench writes it (schema 2), with a median time and its quartiles.
fn record(run_id: &str, bench: &str, time_s: f64, spread: (f64, f64), t: u64) -> serde_json::Value {
    serde_json::json!({
        "schema": 2, "bench_id": bench, "chapter": "02-attention",
        "params": {"variant": bench.split('/').nth(1).unwrap(), "seq": 128},
        "throughput": {"value": 1.0 / time_s, "unit": "runs/s"}, "time_s": time_s,
        "spread": {"p25_s": spread.0, "p75_s": spread.1, "runs": 9},
        "machine": {"cpu_model": "test cpu", "logical_cores": 2},
        "run_id": run_id, "git_rev": "abc1234", "unix_time_s": t,
    })
}

/// Two runs of the same measurement both survive, each in its own folder, and `report`
/// shows the latest while `--runs` lists both.
#[test]
fn history_survives_two_runs() {
    let dir = temp_dir("history-two-runs");
    // Names that sort against time: runs are ordered by when they ran, not by name.
    for run_id in ["zz-first", "aa-second"] {
        let (code, _, stderr) = run(bin()
            .args(["machine", "--quick"])
            .env("WORKBENCH_RECORDS", &dir)
            .env("WORKBENCH_RUN", run_id));
        assert_eq!(code, 0, "{stderr}");
        // Records carry whole seconds and both runs may fall in one: date this run a minute
        // back, as if the next one came later (no sleeping in tests).
        let entries = std::fs::read_dir(dir.join("runs").join(run_id)).unwrap();
        for entry in entries.filter(|_| run_id == "zz-first") {
            let path = entry.unwrap().path();
            let mut r: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            r["unix_time_s"] = (r["unix_time_s"].as_u64().unwrap() - 60).into();
            std::fs::write(&path, r.to_string()).unwrap();
        }
    }
    for run_id in ["zz-first", "aa-second"] {
        let file = dir
            .join("runs")
            .join(run_id)
            .join("machine__matmul_f32_all_threads.json");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(r["run_id"], run_id);
        assert!(r["machine"]["logical_cores"].as_u64().unwrap() >= 1, "{r}");
    }
    let runs = json(
        bin()
            .args(["report", "--runs", "--json", "--records"])
            .arg(&dir),
    );
    let ids: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["zz-first", "aa-second"], "{runs}");
    assert_eq!(runs["runs"][1]["records"], 4);
    // The report's table holds each bench once: the latest.
    let report = json(
        bin()
            .args(["report", "--json", "--no-charts", "--records"])
            .arg(&dir),
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{report}");
    assert!(rows.iter().all(|r| r["run_id"] == "aa-second"), "{report}");
}

/// Without WORKBENCH_RUN, one process's records share one derived run id, and two
/// processes started apart get two.
#[test]
fn a_run_id_is_derived_per_invocation() {
    let dir = temp_dir("history-derived");
    for _ in 0..2 {
        let (code, _, stderr) = run(bin()
            .args(["machine", "--quick"])
            .env("WORKBENCH_RECORDS", &dir)
            .env_remove("WORKBENCH_RUN"));
        assert_eq!(code, 0, "{stderr}");
    }
    let runs = json(
        bin()
            .args(["report", "--runs", "--json", "--records"])
            .arg(&dir),
    );
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in runs {
        assert_eq!(r["records"], 4, "{r}");
        let id = r["id"].as_str().unwrap();
        // `20261203T092000Z-4242`: the start time, then the process id.
        assert!(
            id.len() > 17 && id.as_bytes()[8] == b'T' && &id[15..17] == "Z-",
            "{id}"
        );
    }
}

/// `--compare` calls a change only beyond the measured spread: B slower with quartile ranges
/// apart is "slower", a small move inside the ranges is "within spread".
#[test]
fn compare_flags_only_changes_beyond_the_spread() {
    let dir = temp_dir("history-compare");
    for (run_id, bench, time_s, spread, t) in [
        ("a", "attention/tiled/128", 1.00, (0.98, 1.02), 100),
        ("a", "attention/steps/128", 2.00, (1.90, 2.10), 100),
        ("a", "attention/gone/128", 1.0, (0.9, 1.1), 100),
        ("b", "attention/tiled/128", 1.50, (1.45, 1.55), 200),
        ("b", "attention/steps/128", 2.05, (1.95, 2.15), 200),
    ] {
        write_record(&dir, run_id, &record(run_id, bench, time_s, spread, t));
    }
    let cmp = json(
        bin()
            .args(["report", "--json", "--compare", "a", "b", "--records"])
            .arg(&dir),
    );
    let change = |id: &str| {
        cmp["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["bench_id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {cmp}"))
            .clone()
    };
    let tiled = change("attention/tiled/128");
    assert_eq!(tiled["verdict"], "slower", "{tiled}");
    assert!((tiled["time_ratio"].as_f64().unwrap() - 1.5).abs() < 1e-12);
    assert_eq!(change("attention/steps/128")["verdict"], "within_spread");
    assert_eq!(cmp["only_in_a"][0], "attention/gone/128");
    // The other way round, the same change is "faster"; as text, one line per bench.
    let (code, text, _) = run(bin()
        .args(["report", "--compare", "b", "a", "--records"])
        .arg(&dir));
    assert_eq!(code, 0);
    let line = text
        .lines()
        .find(|l| l.contains("attention/tiled/128"))
        .unwrap();
    assert!(line.contains("faster"), "{text}");
    // A folder works as a side too (e.g. records copied from another machine).
    let cmp = json(
        bin()
            .args(["report", "--json", "--compare", "a"])
            .arg(dir.join("runs/b"))
            .arg("--records")
            .arg(&dir),
    );
    assert_eq!(change_of(&cmp, "attention/tiled/128"), "slower");
}

fn change_of(cmp: &serde_json::Value, id: &str) -> String {
    cmp["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bench_id"] == id)
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn compare_with_an_unknown_run_lists_the_runs() {
    let dir = temp_dir("history-unknown");
    write_record(
        &dir,
        "one",
        &record("one", "attention/tiled/128", 1.0, (1.0, 1.0), 1),
    );
    write_record(
        &dir,
        "two",
        &record("two", "attention/tiled/128", 1.0, (1.0, 1.0), 2),
    );
    assert_bad_input(
        bin()
            .args(["report", "--compare", "one", "three", "--records"])
            .arg(&dir),
        &["three", "one, two"],
    );
}

/// The page holds every section it links to, the chapter's charts inline, the changes since
/// the previous run, and opens with records of the pre-history format and with none.
#[test]
fn the_html_page_has_its_sections_for_old_new_and_no_records() {
    let dir = temp_dir("history-html");
    write_record(
        &dir,
        "a",
        &record("a", "attention/tiled/128", 1.00, (0.98, 1.02), 100),
    );
    write_record(
        &dir,
        "b",
        &record("b", "attention/tiled/128", 1.50, (1.45, 1.55), 200),
    );
    let mut legacy = record("x", "attention/steps/256", 2.0, (2.0, 2.0), 50);
    for key in ["run_id", "spread", "machine"] {
        legacy.as_object_mut().unwrap().remove(key);
    }
    legacy["schema"] = 1.into();
    legacy["params"]["seq"] = 256.into();
    std::fs::write(dir.join("attention__steps__256.json"), legacy.to_string()).unwrap();

    let out = dir.join("page");
    let page = json(
        bin()
            .args(["report", "--html", "--json", "--no-charts", "--records"])
            .arg(&dir)
            .arg("--out")
            .arg(&out),
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let sections: Vec<&str> = page["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for id in [
        "changes",
        "ch-02-attention",
        "budget",
        "predicted",
        "router",
        "runs",
    ] {
        assert!(sections.contains(&id), "{id} not in {sections:?}");
    }
    for id in &sections {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "#{id} has no element"
        );
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "#{id} is not in the contents"
        );
    }
    assert!(
        html.contains("<span class=\"slower\">slower</span>"),
        "changes section"
    );
    assert!(html.contains("legacy"), "the flat records are a run");
    assert!(page["charts"].as_u64().unwrap() >= 4, "{page}");
    // Self-contained: nothing loaded (SVG's xmlns is a name, not a fetch).
    for fetch in ["src=\"http", "href=\"http", "<link", "<script", "url("] {
        assert!(!html.contains(fetch), "the page fetches: {fetch}");
    }

    // No records at all: one friendly line, and the calculators still there.
    let empty = temp_dir("history-html-empty");
    let (code, _, stderr) = run(bin()
        .args(["report", "--html", "--no-charts", "--out"])
        .arg(empty.join("page"))
        .env("WORKBENCH_RECORDS", empty.join("records")));
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(empty.join("page/index.html")).unwrap();
    assert!(html.contains("No records yet"), "{html}");
    assert!(html.contains("id=\"router\""));
}

/// A corrupt file inside a run folder is named on stderr and the rest still read; a stray
/// file under `runs/` is not a run; a record's run is its folder.
#[test]
fn corrupt_files_in_runs_are_named_and_the_rest_read() {
    let dir = temp_dir("history-corrupt");
    write_record(
        &dir,
        "good",
        &record("elsewhere", "attention/tiled/128", 1.0, (1.0, 1.0), 1),
    );
    std::fs::write(dir.join("runs/good/broken.json"), "{\"schema\": 2, ").unwrap();
    std::fs::write(dir.join("runs/notes.txt"), "not a run").unwrap();
    let (code, stdout, stderr) = run(bin()
        .args(["report", "--runs", "--json", "--records"])
        .arg(&dir));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("skipped")).count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("broken.json"), "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    let report = json(
        bin()
            .args(["report", "--json", "--no-charts", "--records"])
            .arg(&dir),
    );
    assert_eq!(report["rows"][0]["run_id"], "good", "{report}");
}

/// Records whose unit or parameters differ are not compared; two folders compare without any
/// default records folder.
#[test]
fn different_cases_are_not_comparable_and_folders_need_no_records_folder() {
    let dir = temp_dir("history-not-comparable");
    let a = record("a", "attention/tiled/128", 1.0, (0.9, 1.1), 1);
    let mut b = record("b", "attention/tiled/128", 5.0, (4.9, 5.1), 2);
    b["params"]["seq"] = 4096.into();
    write_record(&dir, "a", &a);
    write_record(&dir, "b", &b);
    let cwd = temp_dir("history-not-comparable-cwd");
    let cmp = json(
        bin()
            .current_dir(&cwd)
            .env_remove("WORKBENCH_RECORDS")
            .args(["report", "--json", "--compare"])
            .arg(dir.join("runs/a"))
            .arg(dir.join("runs/b")),
    );
    let change = &cmp["changes"][0];
    assert_eq!(change["verdict"], "not_comparable", "{cmp}");
    assert!(change["time_ratio"].is_null(), "{cmp}");
}

#[test]
fn a_page_folder_that_is_a_file_is_refused() {
    let dir = temp_dir("history-out-file");
    let file = dir.join("page.html");
    std::fs::write(&file, "keep me").unwrap();
    assert_bad_input(
        bin()
            .args(["report", "--html", "--no-charts", "--records"])
            .arg(&dir)
            .arg("--out")
            .arg(&file),
        &["--out", "page.html"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}
