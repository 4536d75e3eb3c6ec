//! The tokenizer, from the GGUF file's own metadata, on chapter 01's encoder.
//!
//! A GGUF file carries its tokenizer: `tokenizer.ggml.model` (`gpt2` = byte-level BPE),
//! `tokenizer.ggml.tokens` (every token in GPT-2's byte alphabet, by id), `tokenizer.ggml.merges`
//! (`"a b"` in rank order), `tokenizer.ggml.token_type` (1 normal, 3 control, 4 user-defined…),
//! `tokenizer.ggml.pre` (which split pattern: `smollm` splits every digit off, then GPT-2's
//! pattern), and the ids of `bos`/`eos`. That is exactly what chapter 01's tokenizer is built
//! from; the control tokens (`<|im_start|>`, `<|im_end|>`, `<|endoftext|>`…) become its special
//! tokens, matched in the text only when a caller allows them.

use crate::gguf::{Gguf, GgufError};
use ch01_bpe::hf::from_byte_level_vocab;
use ch01_bpe::tokenizer::MissingBytes;
use ch01_bpe::{Pattern, TokenId, Tokenizer};

/// The `tokenizer.ggml.pre` values this loader maps to chapter 01's patterns.
pub const SUPPORTED_PRE: &[(&str, Pattern)] = &[
    ("smollm", Pattern::Smollm),
    ("starcoder", Pattern::Smollm),
    ("gpt-2", Pattern::Gpt2),
    ("default", Pattern::Gpt2),
];

/// A GGUF model's tokenizer and the token ids that drive generation.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    pub bos: Option<TokenId>,
    pub eos: Option<TokenId>,
    /// Whether a raw prompt starts with `bos` (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// `tokenizer.chat_template`, if the file has one.
    pub chat_template: Option<String>,
}

impl GgufTokenizer {
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, GgufError> {
        let error = |message: String| GgufError {
            path: gguf.path.clone(),
            message,
        };
        let model = gguf.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(error(format!(
                "tokenizer model `{model}` is not supported (byte-level BPE, `gpt2`, is)"
            )));
        }
        let pre = gguf
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let pattern = SUPPORTED_PRE
            .iter()
            .find(|(name, _)| *name == pre)
            .map(|&(_, p)| p)
            .ok_or_else(|| {
                let known: Vec<&str> = SUPPORTED_PRE.iter().map(|(n, _)| *n).collect();
                error(format!(
                    "pre-tokenizer `{pre}` is not supported (supported: {})",
                    known.join(", ")
                ))
            })?;
        let tokens = gguf.require_strings("tokenizer.ggml.tokens")?;
        let merges: Vec<(&str, &str)> = gguf
            .require_strings("tokenizer.ggml.merges")?
            .into_iter()
            .enumerate()
            .map(|(rank, m)| {
                m.split_once(' ')
                    .ok_or_else(|| error(format!("merge {rank} is not `a b`: {m:?}")))
            })
            .collect::<Result<_, _>>()?;
        let types: Vec<u64> = match gguf.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .as_array()
                .unwrap_or_default()
                .iter()
                .map(|t| t.as_u64().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(error(format!(
                "{} token types for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        const CONTROL: u64 = 3;
        let specials: Vec<(String, TokenId)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (_, t))| **t == CONTROL)
            .map(|(id, (s, _))| (s.to_string(), id as TokenId))
            .collect();
        let tokenizer = from_byte_level_vocab(
            &gguf.path,
            &tokens,
            &merges,
            specials,
            pattern,
            MissingBytes::Drop,
        )
        .map_err(|e| error(e.to_string()))?;
        let id = |key: &str| gguf.get(key).and_then(|v| v.as_u64()).map(|v| v as TokenId);
        Ok(GgufTokenizer {
            tokenizer,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            add_bos: gguf
                .get("tokenizer.ggml.add_bos_token")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            chat_template: gguf
                .get("tokenizer.chat_template")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
    }

    /// The id of a special token by its text (`<|im_end|>`).
    pub fn special_id(&self, text: &str) -> Option<TokenId> {
        self.tokenizer
            .special_tokens()
            .iter()
            .find(|(t, _)| t == text)
            .map(|&(_, id)| id)
    }

    /// Ids of a raw prompt: the text as plain text (special-token strings are not matched),
    /// with `bos` first if the file asks for it.
    pub fn encode_raw(&self, text: &str) -> Vec<TokenId> {
        let mut ids: Vec<TokenId> = self.bos.filter(|_| self.add_bos).into_iter().collect();
        ids.extend(self.tokenizer.encode_ordinary(text));
        ids
    }

    /// Ids of a chat-formatted text: its special tokens are matched.
    pub fn encode_chat(&self, formatted: &str) -> Vec<TokenId> {
        let mut ids: Vec<TokenId> = self.bos.filter(|_| self.add_bos).into_iter().collect();
        ids.extend(self.tokenizer.encode_with_special_tokens(formatted));
        ids
    }
}
