//! The shipped data the commands need, embedded in the binary: an installed `llm-workbench`
//! works from any directory. A command's default path such as `data/models.yaml` is read from
//! the current directory when that file exists there (so an edited checkout is used), and
//! from the embedded copy otherwise. `data/README.md` names the source of every file.

use crate::error::read_user_file;
use std::path::Path;

/// The corpora of `data/corpora/`, by file name, sorted.
pub const CORPORA: [(&str, &str); 8] = [
    ("arabic.txt", include_str!("../data/corpora/arabic.txt")),
    (
        "code_python.py.txt",
        include_str!("../data/corpora/code_python.py.txt"),
    ),
    (
        "code_rust.rs.txt",
        include_str!("../data/corpora/code_rust.rs.txt"),
    ),
    ("emoji.txt", include_str!("../data/corpora/emoji.txt")),
    ("english.txt", include_str!("../data/corpora/english.txt")),
    ("korean.txt", include_str!("../data/corpora/korean.txt")),
    ("numbers.txt", include_str!("../data/corpora/numbers.txt")),
    (
        "whitespace.txt",
        include_str!("../data/corpora/whitespace.txt"),
    ),
];

/// The model catalog the cost router reads by default.
pub const MODELS_YAML: &str = include_str!("../data/models.yaml");
/// The reference workload: 1,000 in + 300 out tokens per task, 10,000 tasks a day, 30 days.
pub const REFERENCE_WORKLOAD_YAML: &str = include_str!("../data/workloads/reference.yaml");

/// The sample trace `serve-sim --trace data/serving/trace.yaml` replays.
pub const SERVING_TRACE_YAML: &str = include_str!("../data/serving/trace.yaml");

/// The tool-call requests `toolcall run` asks a model by default.
pub const TOOLCALL_REQUESTS_YAML: &str = include_str!("../data/toolcalls/requests.yaml");

/// The embedded text of a shipped file, by its path in the repository (`data/…`).
pub fn shipped(path: &Path) -> Option<&'static str> {
    let path = path.to_str()?.strip_prefix("./").unwrap_or(path.to_str()?);
    match path {
        "data/models.yaml" => Some(MODELS_YAML),
        "data/workloads/reference.yaml" => Some(REFERENCE_WORKLOAD_YAML),
        "data/toolcalls/requests.yaml" => Some(TOOLCALL_REQUESTS_YAML),
        "data/serving/trace.yaml" => Some(SERVING_TRACE_YAML),
        _ => path
            .strip_prefix("data/corpora/")
            .and_then(|name| CORPORA.iter().find(|c| c.0 == name))
            .map(|c| c.1),
    }
}

/// Reads a file the user named; a shipped path that is not on disk here is read from the
/// embedded copy. Anything else missing is bad input, as for [`read_user_file`].
pub fn read_user_or_shipped(path: &Path) -> anyhow::Result<String> {
    match shipped(path) {
        Some(text) if !path.exists() => Ok(text.to_string()),
        _ => read_user_file(path),
    }
}
