//! tiktoken rank files and the three OpenAI encodings.
//!
//! A `.tiktoken` file is one token per line: the token's bytes in base64, a space, its rank.
//! The rank is both the token's id and its merge priority; the file holds no merge list
//! (see [`Tokenizer::from_ranks`] for what that means when encoding). The split pattern and
//! the special tokens are not in the file either: they are part of the encoding's
//! definition, below, as tiktoken's `openai_public.py` defines them.
//!
//! The built-in encodings read their ranks from the `tiktoken-rs` crate, which ships
//! OpenAI's files: its public API decodes each rank to its bytes, and our own encoder runs on
//! them. The crate supplies data here, never the algorithm.

use crate::base::TokenId;
use crate::error::{Error, Result};
use crate::pattern::Pattern;
use crate::tokenizer::Tokenizer;
use base64::Engine;
use std::sync::{Arc, OnceLock};

/// An OpenAI encoding: name, split pattern, special tokens with their ids.
#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    pub name: &'static str,
    pub pattern: Pattern,
    pub specials: &'static [(&'static str, TokenId)],
}

pub const R50K_BASE: Encoding = Encoding {
    name: "r50k_base",
    pattern: Pattern::Gpt2,
    specials: &[("<|endoftext|>", 50256)],
};

pub const CL100K_BASE: Encoding = Encoding {
    name: "cl100k_base",
    pattern: Pattern::Cl100k,
    specials: &[
        ("<|endoftext|>", 100257),
        ("<|fim_prefix|>", 100258),
        ("<|fim_middle|>", 100259),
        ("<|fim_suffix|>", 100260),
        ("<|endofprompt|>", 100276),
    ],
};

pub const O200K_BASE: Encoding = Encoding {
    name: "o200k_base",
    pattern: Pattern::O200k,
    specials: &[("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)],
};

pub const ENCODINGS: [Encoding; 3] = [R50K_BASE, CL100K_BASE, O200K_BASE];

impl Encoding {
    pub fn by_name(name: &str) -> Option<Encoding> {
        ENCODINGS.into_iter().find(|e| e.name == name)
    }

    fn specials(&self) -> Vec<(String, TokenId)> {
        self.specials
            .iter()
            .map(|&(s, id)| (s.to_string(), id))
            .collect()
    }

    /// This encoding with the ranks of a rank file.
    pub fn with_ranks(&self, ranks: Vec<(Vec<u8>, TokenId)>) -> Result<Tokenizer> {
        Tokenizer::from_ranks(self.name, ranks, self.specials(), self.pattern)
    }
}

/// Parses a `.tiktoken` rank file; errors name `path` and the line.
pub fn parse_rank_file(text: &str, path: &str) -> Result<Vec<(Vec<u8>, TokenId)>> {
    let corrupt = |line: usize, message: String| Error::Corrupt {
        path: path.to_string(),
        line,
        message,
    };
    let mut ranks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let (b64, rank) = line
            .split_once(' ')
            .ok_or_else(|| corrupt(i + 1, "expected `<base64 token> <rank>`".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| corrupt(i + 1, format!("token is not base64: {e}")))?;
        let rank: TokenId = rank
            .trim()
            .parse()
            .map_err(|e| corrupt(i + 1, format!("rank {rank:?} is not a number: {e}")))?;
        ranks.push((bytes, rank));
    }
    if ranks.is_empty() {
        return Err(corrupt(0, "no ranks in file".into()));
    }
    Ok(ranks)
}

/// The ranks of a built-in encoding, read from `tiktoken-rs`'s shipped rank files through its
/// public API: ranks are contiguous from 0, so read until the first missing or special id.
fn shipped_ranks(encoding: &Encoding) -> Vec<(Vec<u8>, TokenId)> {
    let core = match encoding.name {
        "r50k_base" => tiktoken_rs::r50k_base(),
        "cl100k_base" => tiktoken_rs::cl100k_base(),
        _ => tiktoken_rs::o200k_base(),
    }
    .expect("tiktoken-rs's shipped rank files load");
    let special: Vec<TokenId> = encoding.specials.iter().map(|s| s.1).collect();
    let mut ranks = Vec::new();
    for rank in 0.. {
        if special.contains(&rank) {
            break;
        }
        match core.decode_bytes(&[rank]) {
            Ok(bytes) => ranks.push((bytes, rank)),
            Err(_) => break,
        }
    }
    ranks
}

/// A built-in encoding (`r50k_base`, `cl100k_base`, `o200k_base`), built once per process.
pub fn builtin(name: &str) -> Option<Arc<Tokenizer>> {
    static CELLS: [OnceLock<Arc<Tokenizer>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = ENCODINGS.iter().position(|e| e.name == name)?;
    Some(
        CELLS[i]
            .get_or_init(|| {
                let e = &ENCODINGS[i];
                Arc::new(
                    e.with_ranks(shipped_ranks(e))
                        .expect("shipped ranks hold every byte"),
                )
            })
            .clone(),
    )
}

/// Loads a `.tiktoken` file. A file named after a known encoding (`cl100k_base.tiktoken`)
/// gets that encoding's pattern and special tokens; otherwise `pattern` (default cl100k)
/// applies and there are no special tokens.
pub fn load_rank_file(path: &std::path::Path, pattern: Option<Pattern>) -> Result<Tokenizer> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: shown.clone(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::InvalidUtf8 {
        path: shown.clone(),
        offset: e.valid_up_to(),
    })?;
    let ranks = parse_rank_file(text, &shown)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    match (Encoding::by_name(stem), pattern) {
        (Some(e), None) => e.with_ranks(ranks),
        (Some(e), Some(p)) => Tokenizer::from_ranks(&shown, ranks, e.specials(), p),
        (None, p) => Tokenizer::from_ranks(&shown, ranks, Vec::new(), p.unwrap_or(Pattern::Cl100k)),
    }
    .map_err(|e| match e {
        Error::Corrupt {
            line: 0, message, ..
        } => Error::Corrupt {
            path: shown.clone(),
            line: 0,
            message,
        },
        e => e,
    })
}
