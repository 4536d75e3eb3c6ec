//! Records: the small JSON files through which benches feed the report and the calculators.
//!
//! Every bench (and `llm-workbench machine`) writes one [`Record`] per measured case under
//! `target/workbench/records/` (override with `WORKBENCH_RECORDS`). A record says what was
//! measured (`bench_id`, `chapter`, `params`), the result with its unit, measured bytes when a
//! counting allocator saw them, this machine's measured limits (so a throughput can be read as
//! a percentage of what the machine can do), the git revision and the time.
//!
//! ```json
//! { "schema": 1, "bench_id": "machine/matmul_f32_all_threads", "chapter": "machine",
//!   "params": {"n": 2048, "threads": 2},
//!   "throughput": {"value": 123.4, "unit": "GFLOP/s"}, "time_s": 0.139,
//!   "bytes": {"peak_bytes": 50331648, "total_bytes": 50331648, "allocations": 3},
//!   "limits": {"matmul_gflops": 123.4, "bandwidth_gb_s": 15.2},
//!   "git_rev": "1a2b3c4", "unix_time_s": 1795000000 }
//! ```

use crate::alloc::AllocStats;
use crate::error::bad_input;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the record format; readers refuse records from a newer format.
pub const SCHEMA: u32 = 1;

/// A measured quantity and its unit, e.g. `123.4 GFLOP/s` or `5000 tokens/s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub value: f64,
    pub unit: String,
}

/// This machine's measured limits: the denominators of "% of matmul" and "% of bandwidth".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineLimits {
    /// Best f32 matmul rate with all threads (burn flex), GFLOP/s.
    pub matmul_gflops: f64,
    /// Best read bandwidth with all threads, GB/s (10^9 bytes per second).
    pub bandwidth_gb_s: f64,
}

/// One measured case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema: u32,
    /// Unique id of the case, `group/case` (also the file name, with `/` replaced).
    pub bench_id: String,
    /// `machine`, or the chapter crate's folder name (`01-bpe`, `04-kv-cache`, …).
    pub chapter: String,
    /// Parameters of the case: model shape, sequence length, batch, dtype…
    pub params: serde_json::Value,
    pub throughput: Throughput,
    /// Time of one iteration of the measured work, seconds.
    pub time_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<AllocStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<MachineLimits>,
    pub git_rev: String,
    pub unix_time_s: u64,
}

impl Record {
    /// A record stamped with the current git revision, time and (if measured) machine limits.
    pub fn new(
        bench_id: &str,
        chapter: &str,
        params: serde_json::Value,
        throughput: Throughput,
        time_s: f64,
    ) -> Self {
        Record {
            schema: SCHEMA,
            bench_id: bench_id.to_string(),
            chapter: chapter.to_string(),
            params,
            throughput,
            time_s,
            bytes: None,
            limits: latest_limits(&records_dir()).unwrap_or_else(|e| {
                eprintln!("warning: {e}; record {bench_id} written without machine limits");
                None
            }),
            git_rev: git_rev(),
            unix_time_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub fn with_bytes(mut self, bytes: Option<AllocStats>) -> Self {
        self.bytes = bytes;
        self
    }

    /// File name of this record: its id with path separators replaced.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.bench_id.replace(['/', '\\', ' '], "__"))
    }

    /// Writes the record to `dir` (created if needed), all or nothing; a later run of the same
    /// case replaces it.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let text = serde_json::to_string_pretty(self)? + "\n";
        crate::output::write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Writes to the default records directory, [`records_dir`].
    pub fn write(&self) -> anyhow::Result<PathBuf> {
        self.write_to(&records_dir())
    }
}

/// `$WORKBENCH_RECORDS`, else `target/workbench/records` under the current directory (cargo
/// runs benches from the package root, which is the workspace root).
pub fn records_dir() -> PathBuf {
    std::env::var_os("WORKBENCH_RECORDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/workbench/records"))
}

/// The records of a folder, and each file in it that could not be read (`path: why`).
#[derive(Debug, Default)]
pub struct RecordSet {
    pub records: Vec<Record>,
    pub skipped: Vec<String>,
}

/// Reads every `*.json` record in `dir`, sorted by chapter then id. A missing directory is bad
/// input; an unreadable or malformed record is skipped and named in [`RecordSet::skipped`], so
/// one corrupt file neither hides the others nor passes for "no records".
pub fn read_dir(dir: &Path) -> anyhow::Result<RecordSet> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| bad_input(format!("records directory {}", dir.display()), e))?;
    let mut set = RecordSet::default();
    for entry in entries {
        let path = entry?.path();
        // `.name.tmp-…` files are writes in progress (or left by a killed writer), not records.
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && path.extension().is_some_and(|e| e == "json") {
            match read_file(&path) {
                Ok(record) => set.records.push(record),
                Err(e) => set.skipped.push(e.to_string()),
            }
        }
    }
    set.records
        .sort_by(|a, b| (&a.chapter, &a.bench_id).cmp(&(&b.chapter, &b.bench_id)));
    set.skipped.sort();
    Ok(set)
}

/// [`read_dir`], where a directory that does not exist yet holds no records.
pub fn read_dir_if_present(dir: &Path) -> anyhow::Result<RecordSet> {
    if dir.exists() {
        read_dir(dir)
    } else {
        Ok(RecordSet::default())
    }
}

/// Reads one record file.
pub fn read_file(path: &Path) -> anyhow::Result<Record> {
    let text = crate::error::read_user_file(path)?;
    let record: Record = serde_json::from_str(&text).map_err(|e| bad_input(path.display(), e))?;
    if record.schema > SCHEMA {
        return Err(bad_input(
            path.display(),
            format!("record schema {} is newer than {SCHEMA}", record.schema),
        ));
    }
    Ok(record)
}

/// Limits from the machine records in `dir`, if `llm-workbench machine` (or the machine
/// bench) has been run: the limits stamped on its all-threads matmul record. No record is
/// `None`; a corrupt one is an error naming it.
pub fn latest_limits(dir: &Path) -> anyhow::Result<Option<MachineLimits>> {
    let path = dir.join(format!(
        "{}.json",
        crate::machine::MATMUL_ID.replace('/', "__")
    ));
    if !path.exists() {
        return Ok(None);
    }
    Ok(read_file(&path)?.limits)
}

/// Short git revision of the working tree, with `-dirty` when it has changes; `unknown`
/// outside a checkout.
pub fn git_rev() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => match run(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(s) if !s.is_empty() => format!("{rev}-dirty"),
            _ => rev,
        },
        None => "unknown".to_string(),
    }
}
