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
