//! What the commands share: `--json` or a table, a progress spinner on a terminal.

use clap::Args;
use serde::Serialize;
use std::fmt::Display;
use std::io::IsTerminal;

/// `--json`: print one JSON document instead of tables.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints a result as JSON or as its human-readable form.
/// Output closed early (`… | head`) is not an error: the reader has what it wanted.
pub fn emit<T: Serialize + Display>(value: &T, out: JsonFlag) -> anyhow::Result<()> {
    use std::io::Write;
    let text = if out.json {
        serde_json::to_string_pretty(value)? + "\n"
    } else {
        value.to_string()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A spinner on stderr while long work runs, only when stderr is a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    pub fn set(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A temporary name beside `path` in the same folder (so a rename is atomic), keeping its
/// extension (chart backends choose the format by it): `a/b.png` → `a/.b.tmp-<pid>-<n>.png`.
pub fn temp_beside(path: &std::path::Path) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let stem = path
        .file_stem()
        .map_or("out".into(), |s| s.to_string_lossy());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = format!(".{stem}.tmp-{}-{n}", std::process::id());
    if let Some(ext) = path.extension() {
        name = format!("{name}.{}", ext.to_string_lossy());
    }
    path.with_file_name(name)
}

/// Moves a finished temporary file over `path`, after flushing it to disk: a process killed at
/// any moment leaves either the old file or the new one, never a half-written one. The folder
/// is flushed too, so the rename itself survives a crash.
pub fn commit_temp(temp: &std::path::Path, path: &std::path::Path) -> std::io::Result<()> {
    let done = std::fs::File::open(temp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(temp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    done?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Not every filesystem can sync a directory; the rename has happened either way.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Writes `bytes` to `path` all or nothing: [`temp_beside`], then [`commit_temp`].
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = temp_beside(path);
    if let Err(e) = std::fs::write(&temp, bytes) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    commit_temp(&temp, path)
}
