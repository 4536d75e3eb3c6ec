//! Nothing half-written: a writer killed (SIGKILL) in the middle of large writes leaves every
//! record readable and every whole-file write either old or new. The audit log keeps every
//! line of every finished append; a kill can tear at most the last line of the append it
//! interrupts, which readers count as malformed.
//!
//! The writer is this test binary itself, re-run as a child with `ATOMIC_WRITER_DIR` set, so
//! it uses the library's own writers: [`Record::write_to`], [`write_atomic`] and
//! [`audit::append`].

use llm_workbench::output::write_atomic;
use llm_workbench::records::{self, Record, Throughput};
use llm_workbench::router::audit::{self, AuditLine};
use std::path::Path;
use std::time::Duration;

const DIR_VAR: &str = "ATOMIC_WRITER_DIR";
const BLOB_BYTES: usize = 8 << 20;
const APPEND_LINES: usize = 20;
/// The child creates this file before its first write, so the parent times its kill from
/// when writing began, not from the spawn (a loaded machine can take seconds to start it).
const STARTED: &str = "started";
/// Rounds until a kill has landed inside an all-or-nothing write (a temporary file is left).
const MIN_ROUNDS: u64 = 10;
const MAX_ROUNDS: u64 = 60;

/// A file whose every byte follows from its first eight: `n` then bytes `(n + i) % 251`.
fn blob(n: u64) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    v.extend((0..BLOB_BYTES).map(|i| ((n as usize + i) % 251) as u8));
    v
}

fn audit_line(i: usize) -> AuditLine {
    AuditLine {
        time: "2026-12-02T00:00:00Z".into(),
        workload: "w".repeat(200),
        task_type: format!("task-{i}"),
        model: "m".into(),
        tier: "premium".into(),
        input_tokens: 1.0,
        output_tokens: 2.0,
        tasks_per_day: 3.0,
        days: 4.0,
        usd_per_task: 5.0,
        usd_total: 6.0,
    }
}

/// The child: writes until it is killed.
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return; // only runs as the child of the test below
    };
    let dir = Path::new(&dir);
    std::fs::write(dir.join(STARTED), b"").unwrap();
    let lines: Vec<AuditLine> = (0..APPEND_LINES).map(audit_line).collect();
    for n in 0u64.. {
        let params = serde_json::json!({"n": n, "padding": "p".repeat(32 << 20)});
        Record::new(
            "atomic/big",
            "machine",
            params,
            Throughput {
                value: 1.0,
                unit: "x".into(),
            },
            1.0,
        )
        .write_to(dir)
        .unwrap();
        write_atomic(&dir.join("blob.bin"), &blob(n)).unwrap();
        audit::append(&dir.join("audit.jsonl"), &lines).unwrap();
    }
}

#[test]
fn a_writer_killed_mid_write_leaves_only_whole_files() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("atomic-writes");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut round = 0u64;
    while round < MIN_ROUNDS || (temp_files(&dir) == 0 && round < MAX_ROUNDS) {
        let _ = std::fs::remove_file(dir.join(STARTED));
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, &dir)
            .env("WORKBENCH_RECORDS", &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let waited = std::time::Instant::now();
        while !dir.join(STARTED).exists() {
            assert!(
                waited.elapsed() < Duration::from_secs(120),
                "the writer never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Kill times spread over a few writes: one cycle takes ~0.1–1 s.
        std::thread::sleep(Duration::from_millis(30 + 97 * (round % 13)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let set = records::read_dir(&dir).unwrap();
        assert!(set.skipped.is_empty(), "round {round}: {:?}", set.skipped);
        if let Ok(bytes) = std::fs::read(dir.join("blob.bin")) {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
            assert!(bytes == blob(n), "round {round}: blob.bin is torn");
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("audit.jsonl")) {
            let (mut bad, mut n) = (Vec::new(), 0);
            let lines: Vec<AuditLine> = audit::read_jsonl(&text, "audit.jsonl", &mut bad, &mut n);
            assert!(
                n as u64 <= round + 1,
                "round {round}: {n} torn lines {bad:?}"
            );
            assert!(!lines.is_empty(), "round {round}");
        }
        round += 1;
    }
    // A temporary file left behind shows a kill landed inside an all-or-nothing write (and
    // that the readers above skipped it).
    assert!(
        temp_files(&dir) > 0,
        "no kill landed inside a write in {round} rounds: the test proved nothing"
    );
    // The writer got far enough to be killed mid-way at least once: something was written.
    assert!(dir.join("blob.bin").exists() && dir.join("audit.jsonl").exists());
}

fn temp_files(dir: &Path) -> usize {
    // The folder's own files, and each run folder's records (`runs/<id>/`).
    let runs = std::fs::read_dir(dir.join("runs")).into_iter().flatten();
    std::iter::once(dir.to_path_buf())
        .chain(runs.map(|e| e.unwrap().path()))
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp-")
        })
        .count()
}
