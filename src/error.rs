//! Errors the user can cause are kept apart from the rest, because they exit differently:
//! bad input (a missing file, a YAML typo, a negative size, an unknown id) prints one line and
//! exits with code 2; anything else is a bug or an environment failure and exits with 1.

use std::fmt;

/// Bad input from the user: one line that names the file, line or field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Builds a [`BadInput`] error inside an `anyhow::Result` function: `bail_input!("...")`.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::error::BadInput(format!($($arg)*)).into())
    };
}

/// Wraps any error as [`BadInput`], prefixed with what was being read (usually a path).
pub fn bad_input(context: impl fmt::Display, err: impl fmt::Display) -> anyhow::Error {
    BadInput(format!("{context}: {err}")).into()
}

/// Reads a file the user named; a missing or unreadable file is bad input, not a crash.
pub fn read_user_file(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| bad_input(path.display(), e))?;
    // A cap, so that `/dev/zero` or a model file given where text belongs is refused, not read
    // until memory runs out.
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad_input(path.display(), e))?;
    if bytes.len() as u64 > MAX_TEXT_FILE_BYTES {
        return Err(bad_input(
            path.display(),
            format!(
                "larger than {} MiB: not a text file this command reads",
                MAX_TEXT_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        bad_input(
            path.display(),
            format!(
                "invalid UTF-8 at byte offset {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The largest text input (catalog, workload, tokenizer.json, rank file, JSONL) read.
pub const MAX_TEXT_FILE_BYTES: u64 = 256 << 20;

/// Exit code for an error: 2 when the user's input is at fault, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| e.is::<BadInput>()) || err.is::<clap::Error>() {
        2
    } else {
        1
    }
}
