//! Records: the small JSON files through which benches feed the report and the calculators.
//!
//! Every bench (and `llm-workbench machine`) writes one [`Record`] per measured case under
//! `target/workbench/records/` (override with `WORKBENCH_RECORDS`). A record says what was
//! measured (`bench_id`, `chapter`, `params`), the result with its unit, the spread of the
//! repeated runs behind it, measured bytes when a counting allocator saw them, this machine's
//! measured limits (so a throughput can be read as a percentage of what the machine can do),
//! the machine and the device (flex, wgpu or cuda: [`crate::device`]), the git revision, the
//! time and the run it belongs to.
//!
//! ```json
//! { "schema": 2, "bench_id": "machine/matmul_f32_all_threads", "chapter": "machine",
//!   "params": {"n": 2048, "threads": 2},
//!   "throughput": {"value": 123.4, "unit": "GFLOP/s"}, "time_s": 0.139,
//!   "spread": {"p25_s": 0.137, "p75_s": 0.142, "runs": 9},
//!   "bytes": {"peak_bytes": 50331648, "total_bytes": 50331648, "allocations": 3},
//!   "limits": {"matmul_gflops": 123.4, "bandwidth_gb_s": 15.2},
//!   "machine": {"cpu_model": "AMD EPYC 7B13", "logical_cores": 2},
//!   "device": {"backend": "flex", "name": "AMD EPYC 7B13", "memory_bytes": 25769803776},
//!   "run_id": "20261203T092000Z-4242", "git_rev": "1a2b3c4", "unix_time_s": 1795000000 }
//! ```
//!
//! **History.** Records are kept per run and never overwritten: a record goes to
//! `runs/<run_id>/<bench id>.json` inside the records folder. A run is one `tour`, one
//! `llm-workbench machine`, or one `cargo bench` invocation: its id is `$WORKBENCH_RUN` when set
//! (so several invocations can share one), else derived from the start time and process id of
//! the `cargo` process that started this one (every bench binary of one `cargo bench` is a
//! child of the same cargo), or of this process when cargo did not start it — see [`run_id`].
//! Within one run a bench id has one record: measuring it again under the same run id
//! replaces it (give each invocation its own `WORKBENCH_RUN` to keep both). Records written
//! before history existed (schema 1, flat in the folder) still read, as one run named
//! [`LEGACY_RUN`] (a name `WORKBENCH_RUN` may not take). Readers that want "the current figure" ([`read_dir`]) take the
//! latest record of each bench id; [`read_history`] gives every run.

use crate::alloc::AllocStats;
use crate::device::DeviceInfo;
use crate::error::bad_input;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the record format; readers refuse records from a newer format. Schema 2 added
/// `run_id`, `machine` and `spread` (all optional, so schema 1 records still read), and later
/// the optional `device` (absent: flex).
pub const SCHEMA: u32 = 2;

/// The run that holds records written flat in the folder, before runs existed.
pub const LEGACY_RUN: &str = "legacy";

/// The spread of the repeated runs behind a record's time: the first and third quartile of
/// the per-run times, in seconds, and how many runs there were. `report --compare` calls a
/// change real only when the two records' quartile ranges do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub p25_s: f64,
    pub p75_s: f64,
    pub runs: usize,
}

impl Spread {
    /// Quartiles of a set of run times (seconds); `None` for no runs.
    pub fn of_times(times: &[f64]) -> Option<Spread> {
        let mut t: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
        if t.is_empty() {
            return None;
        }
        t.sort_by(f64::total_cmp);
        let (p25, _, p75) = ch02_attention::timing::quartile_indices(t.len());
        Some(Spread {
            p25_s: t[p25],
            p75_s: t[p75],
            runs: t.len(),
        })
    }
}

impl From<&ch02_attention::timing::Timing> for Spread {
    fn from(t: &ch02_attention::timing::Timing) -> Self {
        Spread {
            p25_s: t.p25.as_secs_f64(),
            p75_s: t.p75.as_secs_f64(),
            runs: t.runs,
        }
    }
}

/// Which machine measured a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MachineId {
    pub cpu_model: String,
    pub logical_cores: usize,
}

impl MachineId {
    /// This machine.
    pub fn this() -> Self {
        MachineId {
            cpu_model: crate::machine::cpu_model(),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl std::fmt::Display for MachineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} logical cores",
            self.cpu_model, self.logical_cores
        )
    }
}

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
    /// Quartiles of the repeated runs behind `time_s`, when the bench kept them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<AllocStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<MachineLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineId>,
    /// The burn device the work ran on; `None` in records from before devices were recorded,
    /// which all ran on flex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceInfo>,
    /// The run that wrote it ([`run_id`]); `None` in records from before runs existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
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
            spread: None,
            bytes: None,
            limits: latest_limits(&records_dir()).unwrap_or_else(|e| {
                eprintln!("warning: {e}; record {bench_id} written without machine limits");
                None
            }),
            machine: Some(MachineId::this()),
            device: Some(crate::device::current()),
            run_id: Some(run_id()),
            git_rev: git_rev(),
            unix_time_s: now_unix_s(),
        }
    }

    pub fn with_bytes(mut self, bytes: Option<AllocStats>) -> Self {
        self.bytes = bytes;
        self
    }

    pub fn with_spread(mut self, spread: impl Into<Spread>) -> Self {
        self.spread = Some(spread.into());
        self
    }

    /// The backend the record was measured on: `flex` for records from before devices were
    /// recorded.
    pub fn backend(&self) -> &str {
        self.device.as_ref().map_or("flex", |d| d.backend.as_str())
    }

    /// The device as reports show it: `flex (CPU model, RAM)`, `wgpu (adapter)`, or `flex` for
    /// records from before devices were recorded.
    pub fn device_label(&self) -> String {
        self.device
            .as_ref()
            .map_or_else(|| "flex".to_string(), |d| d.to_string())
    }

    /// Whether the work ran on the CPU (flex), so the machine's CPU limits and the budget's
    /// `this-machine` roofline apply to it.
    pub fn on_cpu(&self) -> bool {
        self.backend() == "flex"
    }

    /// The run this record belongs to: its `run_id`, or [`LEGACY_RUN`].
    pub fn run(&self) -> &str {
        self.run_id.as_deref().unwrap_or(LEGACY_RUN)
    }

    /// File name of this record: its id with path separators replaced.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.bench_id.replace(['/', '\\', ' '], "__"))
    }

    /// Writes the record into its run's folder under `dir` (`runs/<run_id>/`, created if
    /// needed), all or nothing. Another run of the same case lands beside it, not over it.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let run = self.run();
        check_run_id(run)?;
        let dir = dir.join(RUNS).join(run);
        std::fs::create_dir_all(&dir)?;
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

/// The folder, inside a records folder, that holds one folder per run.
pub const RUNS: &str = "runs";

/// The records of a folder, and each file in it that could not be read (`path: why`).
#[derive(Debug, Default)]
pub struct RecordSet {
    pub records: Vec<Record>,
    pub skipped: Vec<String>,
}

/// One run: the records it wrote, sorted by chapter then id.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: String,
    /// When its first record was written.
    pub unix_time_s: u64,
    /// Git revisions of its records (one, unless the tree changed mid-run).
    pub git_revs: Vec<String>,
    /// The machines that wrote it (one, unless records were copied together by hand).
    pub machines: Vec<MachineId>,
    pub records: Vec<Record>,
}

impl Run {
    /// The devices its records ran on (flex for records from before devices were recorded).
    pub fn devices(&self) -> Vec<String> {
        let mut devices: Vec<String> = self.records.iter().map(Record::device_label).collect();
        devices.sort();
        devices.dedup();
        devices
    }
}

/// Every run in a records folder, oldest first, and the files that could not be read.
#[derive(Debug, Default)]
pub struct History {
    pub runs: Vec<Run>,
    pub skipped: Vec<String>,
}

impl History {
    /// The run with this id.
    pub fn run(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.id == id)
    }

    /// The latest record of each bench id on each backend (by time, then by run order),
    /// sorted by chapter then id: "the current figures". A bench measured on flex and on a GPU
    /// keeps both, so the report can set them side by side.
    pub fn latest(&self) -> Vec<Record> {
        let mut by_id: std::collections::BTreeMap<(&str, &str), &Record> = Default::default();
        for record in self.runs.iter().flat_map(|r| &r.records) {
            let key = (record.bench_id.as_str(), record.backend());
            let newer = by_id
                .get(&key)
                .is_none_or(|old| record.unix_time_s >= old.unix_time_s);
            if newer {
                by_id.insert(key, record);
            }
        }
        let mut records: Vec<Record> = by_id.into_values().cloned().collect();
        sort_records(&mut records);
        records
    }

    /// For each bench id measured at least twice on one backend, its latest record and the one
    /// before it (from an earlier run), sorted by chapter then id.
    pub fn latest_pairs(&self) -> Vec<(Record, Record)> {
        let mut by_id: std::collections::BTreeMap<(&str, &str), Vec<&Record>> = Default::default();
        for record in self.runs.iter().flat_map(|r| &r.records) {
            by_id
                .entry((&record.bench_id, record.backend()))
                .or_default()
                .push(record);
        }
        let mut pairs: Vec<(Record, Record)> = by_id
            .into_values()
            .filter_map(|mut v| {
                v.sort_by_key(|r| r.unix_time_s);
                let n = v.len();
                (n >= 2).then(|| (v[n - 2].clone(), v[n - 1].clone()))
            })
            .collect();
        pairs.sort_by(|a, b| (&a.1.chapter, &a.1.bench_id).cmp(&(&b.1.chapter, &b.1.bench_id)));
        pairs
    }
}

fn sort_records(records: &mut [Record]) {
    records.sort_by(|a, b| (&a.chapter, &a.bench_id).cmp(&(&b.chapter, &b.bench_id)));
}

/// Reads the record files directly in `dir` (`*.json`, skipping dot-files, which are writes
/// in progress or left by a killed writer).
fn read_flat(dir: &Path, set: &mut RecordSet) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| bad_input(format!("records directory {}", dir.display()), e))?;
    for entry in entries {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && path.is_file() && path.extension().is_some_and(|e| e == "json") {
            match read_file(&path) {
                Ok(record) => set.records.push(record),
                Err(e) => set.skipped.push(e.to_string()),
            }
        }
    }
    Ok(())
}

/// Reads every run in `dir`: the flat schema-1 files as [`LEGACY_RUN`], and each
/// `runs/<id>/` folder. A missing directory is bad input; an unreadable or malformed record is
/// skipped and named in [`History::skipped`], so one corrupt file neither hides the others nor
/// passes for "no records".
pub fn read_history(dir: &Path) -> anyhow::Result<History> {
    let mut groups: Vec<(String, RecordSet)> = Vec::new();
    let mut legacy = RecordSet::default();
    read_flat(dir, &mut legacy)?;
    let runs_dir = dir.join(RUNS);
    if runs_dir.is_dir() {
        for entry in std::fs::read_dir(&runs_dir)? {
            let path = entry?.path();
            if !path.is_dir() {
                continue; // not a run: runs are folders
            }
            let id: String = path.file_name().unwrap().to_string_lossy().into();
            let mut set = RecordSet::default();
            if let Err(e) = read_flat(&path, &mut set) {
                legacy.skipped.push(e.to_string());
                continue;
            }
            // The folder names the run, whatever the files say (a folder may have been renamed
            // or copied in from another machine).
            for r in &mut set.records {
                r.run_id = Some(id.clone());
            }
            groups.push((id, set));
        }
    }
    groups.insert(0, (LEGACY_RUN.to_string(), legacy));
    let mut history = History::default();
    for (id, set) in groups {
        history.skipped.extend(set.skipped);
        let mut records = set.records;
        if records.is_empty() {
            continue;
        }
        sort_records(&mut records);
        let mut git_revs: Vec<String> = records.iter().map(|r| r.git_rev.clone()).collect();
        git_revs.sort();
        git_revs.dedup();
        let mut machines: Vec<MachineId> =
            records.iter().filter_map(|r| r.machine.clone()).collect();
        machines.sort();
        machines.dedup();
        history.runs.push(Run {
            unix_time_s: records.iter().map(|r| r.unix_time_s).min().unwrap_or(0),
            id,
            git_revs,
            machines,
            records,
        });
    }
    history
        .runs
        .sort_by(|a, b| (a.unix_time_s, &a.id).cmp(&(b.unix_time_s, &b.id)));
    history.skipped.sort();
    Ok(history)
}

/// The current figures of `dir`: the latest record of each bench id over every run
/// ([`History::latest`]), and the files that could not be read.
pub fn read_dir(dir: &Path) -> anyhow::Result<RecordSet> {
    let history = read_history(dir)?;
    Ok(RecordSet {
        records: history.latest(),
        skipped: history.skipped,
    })
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

/// Limits from the latest machine record in `dir` (any run), if `llm-workbench machine` (or
/// the machine bench) has been run: the limits stamped on its all-threads matmul record. No
/// record is `None`; corrupt ones are named on stderr and passed over, and are an error naming
/// them only when no readable one is left.
pub fn latest_limits(dir: &Path) -> anyhow::Result<Option<MachineLimits>> {
    let file = format!("{}.json", crate::machine::MATMUL_ID.replace('/', "__"));
    let mut candidates = vec![dir.join(&file)];
    if let Ok(runs) = std::fs::read_dir(dir.join(RUNS)) {
        candidates.extend(runs.flatten().map(|run| run.path().join(&file)));
    }
    candidates.sort();
    let (mut latest, mut corrupt): (Option<Record>, Vec<anyhow::Error>) = (None, Vec::new());
    for path in candidates.iter().filter(|p| p.exists()) {
        match read_file(path) {
            Ok(record)
                if latest
                    .as_ref()
                    .is_none_or(|l| record.unix_time_s >= l.unix_time_s) =>
            {
                latest = Some(record)
            }
            Ok(_) => {}
            Err(e) => corrupt.push(e),
        }
    }
    // A corrupt machine record beside readable ones is named and passed over (an old run's
    // file must not block every later one); with none readable, it is the error.
    match (latest, corrupt.into_iter().next()) {
        (None, Some(e)) => Err(e),
        (latest, e) => {
            if let Some(e) = e {
                eprintln!("warning: skipped {e}");
            }
            Ok(latest.and_then(|r| r.limits))
        }
    }
}

/// The run records of this process belong to: `$WORKBENCH_RUN` when set and not empty, else
/// `<UTC start time>-<pid>` of the `cargo` process that started this one (so the bench binaries
/// of one `cargo bench`, all children of one cargo, share it), or of this process when its
/// parent is not cargo. Computed once per process.
pub fn run_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| match std::env::var("WORKBENCH_RUN") {
        Ok(id) if !id.is_empty() => id,
        _ => derived_run_id(),
    })
    .clone()
}

/// A run id must be one folder name: 1–64 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
fn check_run_id(id: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id != LEGACY_RUN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(bad_input(
            format!("run id {id:?} (WORKBENCH_RUN)"),
            format!(
                "a run id is 1-64 of A-Z a-z 0-9 . _ - , does not start with a dot and is not \
                 {LEGACY_RUN:?} (the name of the records from before runs)"
            ),
        ))
    }
}

fn derived_run_id() -> String {
    let own = std::process::id();
    let parent = proc_stat(own)
        .and_then(|(ppid, _)| ppid)
        .filter(|&p| proc_comm(p).as_deref() == Some("cargo"));
    let pid = parent.unwrap_or(own);
    let started = proc_stat(pid)
        .and_then(|(_, start)| start)
        .unwrap_or_else(now_unix_s);
    format!("{}-{pid}", utc_compact(started))
}

/// A process's parent pid and start time (unix seconds) from `/proc` (Linux; `None`
/// elsewhere). `/proc/PID/stat` gives the start in clock ticks since boot (USER_HZ, 100 on
/// Linux) and `/proc/stat` the boot time.
fn proc_stat(pid: u32) -> Option<(Option<u32>, Option<u64>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let (ppid, ticks) = parse_stat(&stat)?;
    Some((ppid, boot.zip(ticks).map(|(b, t)| b + t / 100)))
}

/// The parent pid (field 4) and start time in clock ticks since boot (field 22) of a
/// `/proc/PID/stat` line. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(Option<u32>, Option<u64>)> {
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((
        rest.get(1).and_then(|v| v.parse().ok()),
        rest.get(19).and_then(|v| v.parse().ok()),
    ))
}

fn proc_comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Seconds since the Unix epoch.
pub fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// (year, month, day, hour, minute, second) in UTC of a Unix time (days to civil date:
/// H. Hinnant's algorithm, <https://howardhinnant.github.io/date_algorithms.html>).
fn utc_parts(unix_s: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix_s / 86_400) as i64;
    let secs = (unix_s % 86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// `2026-12-03 09:20 UTC`.
pub fn utc_text(unix_s: u64) -> String {
    let (y, mo, d, h, mi, _) = utc_parts(unix_s);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// `20261203T092000Z`: sorts as time does, and is one folder name.
fn utc_compact(unix_s: u64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(unix_s);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        // 2000-02-29 12:34:56 UTC and 2026-12-03 00:00:00 UTC (checked with `date -u -d @N`).
        assert_eq!(utc_parts(951_827_696), (2000, 2, 29, 12, 34, 56));
        assert_eq!(utc_compact(1_796_256_000), "20261203T000000Z");
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn quartiles_of_run_times() {
        let s = Spread::of_times(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.p25_s, s.p75_s, s.runs), (2.0, 4.0, 5));
        assert_eq!(Spread::of_times(&[7.0]).unwrap().p75_s, 7.0);
        assert!(Spread::of_times(&[]).is_none());
    }

    #[test]
    fn stat_lines_give_the_parent_and_the_start() {
        // A real line's shape (`cat /proc/self/stat`), with a command name holding `) (`.
        let line = "4242 (a) (b c) S 4100 4242 4100 0 -1 4194304 120 0 0 0 1 0 0 0 20 0 1 0 \
                    987654 9000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(parse_stat(line), Some((Some(4100), Some(987_654))));
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn run_ids_are_folder_names() {
        for ok in ["20261203T092000Z-4242", "nightly.1", "a"] {
            assert!(check_run_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a b", "legacy", &"x".repeat(65)] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
    }
}
