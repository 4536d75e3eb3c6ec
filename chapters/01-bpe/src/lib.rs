//! Chapter 01: byte-level BPE — train, encode, decode, load real tokenizers.
//!
//! The lesson is `README.md` beside this crate. Read the code in this order:
//!
//! 1. [`base`]: bytes, pair counting, merging, the vocabulary, tie-breaking, `train`.
//! 2. [`pattern`]: pre-tokenization with the GPT-2, cl100k and o200k split patterns.
//! 3. [`naive`]: the trainer as first explained — recount everything each merge.
//! 4. [`fast`]: the same merges, updating only the words a merge touches.
//! 5. [`tokenizer`]: encoding by lowest merge rank, decoding, special tokens.
//! 6. [`tiktoken`]: OpenAI's rank files (cl100k_base, o200k_base, r50k_base).
//! 7. [`hf`]: `tokenizer.json`, the Hugging Face format, saved and loaded.
//!
//! [`count_tokens`] is the one-call entry point other code uses to count the tokens of a text.

pub mod base;
pub mod error;
pub mod fast;
pub mod hf;
pub mod naive;
pub mod pattern;
pub mod tiktoken;
pub mod tokenizer;

pub use base::{Merge, TieBreak, TokenId, TrainConfig, Trained, train};
pub use error::{Error, Result};
pub use fast::FastTrainer;
pub use naive::NaiveTrainer;
pub use pattern::{Pattern, Splitter};
pub use tokenizer::{AllowedSpecial, MissingBytes, Tokenizer};

use std::path::Path;
use std::sync::Arc;

/// Names of the built-in encodings.
pub const BUILTIN: [&str; 3] = ["cl100k_base", "o200k_base", "r50k_base"];

/// Resolves a tokenizer: a built-in name (`cl100k_base`, `o200k_base`, `r50k_base`), a
/// `tokenizer.json` (by extension, or a file that starts with `{`), or a `.tiktoken` rank file
/// (whose split pattern is `pattern`, default cl100k, unless its name is a known encoding).
pub fn load(name_or_path: &str, pattern: Option<Pattern>) -> Result<Arc<Tokenizer>> {
    if let Some(t) = tiktoken::builtin(name_or_path) {
        return Ok(t);
    }
    let path = Path::new(name_or_path);
    if !path.exists() {
        return Err(Error::UnknownTokenizer(name_or_path.to_string()));
    }
    let is_json = path.extension().is_some_and(|e| e == "json")
        || std::fs::read(path)
            .map(|b| b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{'))
            .unwrap_or(false);
    let tok = if is_json {
        hf::load(path)?
    } else {
        tiktoken::load_rank_file(path, pattern)?
    };
    Ok(Arc::new(tok))
}

/// Tokens in `text` under a tokenizer named as [`load`] accepts, counting special-token text
/// as ordinary text. Built-in encodings are built once per process and then shared.
pub fn count_tokens(name_or_path: &str, text: &str) -> Result<usize> {
    Ok(load(name_or_path, None)?.count(text))
}

/// Reads a corpus file as UTF-8; invalid UTF-8 names the byte offset, an empty file is an error.
pub fn read_corpus(path: &Path) -> Result<String> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
        path: shown.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    if text.is_empty() {
        return Err(Error::EmptyCorpus { path: shown });
    }
    Ok(text)
}

/// Size of a text in tokens, characters and bytes: the inputs of token inflation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextStats {
    pub tokens: usize,
    /// Unicode scalar values.
    pub characters: usize,
    /// UTF-8 bytes.
    pub bytes: usize,
}

impl TextStats {
    /// Counts `text` with `tok` (special-token text counted as ordinary text).
    pub fn of(tok: &Tokenizer, text: &str) -> Self {
        TextStats {
            tokens: tok.count(text),
            characters: text.chars().count(),
            bytes: text.len(),
        }
    }

    /// Tokens per 1,000 characters: how many tokens a fixed amount of text costs.
    pub fn tokens_per_1k_chars(&self) -> f64 {
        if self.characters == 0 {
            0.0
        } else {
            1000.0 * self.tokens as f64 / self.characters as f64
        }
    }

    /// UTF-8 bytes per token: how much each token carries (4 or more in English).
    pub fn bytes_per_token(&self) -> f64 {
        if self.tokens == 0 {
            0.0
        } else {
            self.bytes as f64 / self.tokens as f64
        }
    }
}
