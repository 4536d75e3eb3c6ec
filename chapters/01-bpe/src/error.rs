//! Everything that can go wrong in this chapter is the user's input: a missing or corrupt
//! file, a corpus that is not UTF-8 or is empty, a vocabulary too small to hold the bytes, a
//! special token where none is allowed, an id the vocabulary lacks. Each message is one line
//! that names the file, line or byte offset at fault.

/// The chapter's error: always caused by input, never by a bug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A rank file or tokenizer.json that does not parse; `line` 0 means the whole file.
    #[error("{path}:{line}: {message}")]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 { path: String, offset: usize },
    #[error("{path}: the corpus is empty")]
    EmptyCorpus { path: String },
    #[error("vocab size {0} is below 256: a byte-level vocabulary starts with the 256 bytes")]
    VocabTooSmall(usize),
    #[error("vocab size {0} does not fit 32-bit token ids")]
    VocabTooLarge(usize),
    #[error(
        "special token {token:?} at byte offset {offset} is not allowed in this text (allow it, or encode the text as ordinary)"
    )]
    DisallowedSpecial { token: String, offset: usize },
    #[error("token id {0} is not in the vocabulary")]
    UnknownToken(u32),
    #[error(
        "unknown tokenizer {0:?}: expected cl100k_base, o200k_base, r50k_base, a .tiktoken rank file or a tokenizer.json"
    )]
    UnknownTokenizer(String),
    #[error("unknown pattern {0:?}: expected gpt2, cl100k, o200k or none")]
    UnknownPattern(String),
    #[error("{path}: {what} is not supported (byte-level BPE only)")]
    Unsupported { path: String, what: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
