//! Helpers for the tests that run the `llm-workbench` binary as a user would.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llm-workbench"))
}

/// The folder holding chapter 07's model, fetched first if needed (`WORKBENCH_MODELS` for the
/// binary under test).
pub fn models_dir() -> String {
    let fetched = ch07_real_model::fetch::ensure(&ch07_real_model::fetch::SMOLLM2)
        .unwrap_or_else(|e| panic!("{e}"));
    fetched.path().parent().unwrap().display().to_string()
}

/// A fresh, empty directory under cargo's per-test scratch space.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Exit code, stdout and stderr of a finished command.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("binary runs");
    (
        status.code().expect("exited, not killed"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// Runs a command that must succeed and print JSON.
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "stderr: {err}");
    serde_json::from_str(&out).expect("JSON on stdout")
}

/// Bad input: exit 2 and exactly one line on stderr that mentions each of `must_mention`,
/// no panic or backtrace.
pub fn assert_bad_input(cmd: &mut Command, must_mention: &[&str]) {
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 2, "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got: {stderr}"
    );
    for m in must_mention {
        assert!(stderr.contains(m), "{stderr:?} should mention {m:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Writes a record (as JSON) where a run's records live: `DIR/runs/RUN_ID/<bench id>.json`.
pub fn write_record(dir: &Path, run_id: &str, value: &serde_json::Value) {
    let folder = dir.join("runs").join(run_id);
    std::fs::create_dir_all(&folder).unwrap();
    let name = value["bench_id"].as_str().unwrap().replace('/', "__");
    std::fs::write(folder.join(format!("{name}.json")), value.to_string()).unwrap();
}
