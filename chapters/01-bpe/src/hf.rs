//! `tokenizer.json`, the format of the Hugging Face `tokenizers` library, for byte-level BPE.
//!
//! The vocabulary maps strings to ids, so byte strings are written in GPT-2's byte-level
//! alphabet ([`crate::base::byte_to_char`]: space is `Ġ`); `merges` lists the learned pairs in
//! rank order; the split pattern is a `Split` pre-tokenizer followed by `ByteLevel`; special
//! tokens are `added_tokens`. A file saved here loads in the `tokenizers` crate and encodes
//! identically (`tests/hf.rs`).
//!
//! Loading accepts the same shapes: a `BPE` model, no normalizer, and a `ByteLevel`
//! pre-tokenizer (GPT-2 pattern or none) or `Split` + `ByteLevel` with one of the known
//! patterns. Anything else is refused with the field that is not supported.

use crate::base::{TokenId, from_byte_level, to_byte_level};
use crate::error::{Error, Result};
use crate::pattern::Pattern;
use crate::tokenizer::{MissingBytes, Tokenizer};
use serde_json::{Value, json};

/// The tokenizer as `tokenizer.json` text (a rank table's merges are derived first).
pub fn to_tokenizer_json(tok: &Tokenizer) -> Result<String> {
    // A tiktoken rank table has no merge list: derive it, and keep tiktoken's whole-piece rule.
    let derived;
    let merge_list = if tok.merges().is_empty() {
        derived = tok.derive_merges();
        &derived[..]
    } else {
        tok.merges()
    };
    let mut vocab = serde_json::Map::new();
    for id in 0..tok.vocab_size() as TokenId {
        if let Some(bytes) = tok.token_bytes(id) {
            vocab.insert(to_byte_level(bytes), json!(id));
        }
    }
    let merges: Vec<Value> = merge_list
        .iter()
        .map(|&((a, b), _)| {
            let s = |id| to_byte_level(tok.token_bytes(id).unwrap_or_default());
            json!([s(a), s(b)])
        })
        .collect();
    let added: Vec<Value> = tok
        .special_tokens()
        .iter()
        .map(|(content, id)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false});
    let pre_tokenizer = match tok.pattern().regex() {
        None => byte_level,
        Some(_) if tok.pattern().isolates_digits() => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        ]}),
        Some(regex) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            byte_level,
        ]}),
    };
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": tok.whole_piece_lookup(), "vocab": vocab, "merges": merges,
        },
    });
    Ok(serde_json::to_string_pretty(&doc).expect("JSON values serialize"))
}

/// Writes `tokenizer.json` to `path`.
pub fn save(tok: &Tokenizer, path: &std::path::Path) -> Result<()> {
    let text = to_tokenizer_json(tok)?;
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads `tokenizer.json` from `path`.
pub fn load(path: &std::path::Path) -> Result<Tokenizer> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: shown.clone(),
        source,
    })?;
    from_tokenizer_json(&text, &shown)
}

/// Parses `tokenizer.json` text; errors name `path` and the line or field at fault.
pub fn from_tokenizer_json(text: &str, path: &str) -> Result<Tokenizer> {
    let doc: Value = serde_json::from_str(text).map_err(|e| Error::Corrupt {
        path: path.to_string(),
        line: e.line(),
        message: format!("not valid JSON: {e}"),
    })?;
    let field = |message: String| Error::Corrupt {
        path: path.to_string(),
        line: 0,
        message,
    };
    let unsupported = |what: String| Error::Unsupported {
        path: path.to_string(),
        what,
    };
    let model = doc.get("model").ok_or_else(|| field("no `model`".into()))?;
    match model.get("type").and_then(Value::as_str) {
        Some("BPE") | None => {}
        Some(other) => return Err(unsupported(format!("model type {other:?}"))),
    }
    if !doc.get("normalizer").is_none_or(Value::is_null) {
        return Err(unsupported("a normalizer".into()));
    }
    let pattern = pre_tokenizer_pattern(doc.get("pre_tokenizer").unwrap_or(&Value::Null))
        .map_err(unsupported)?;

    let vocab = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| field("`model.vocab` is not an object".into()))?;
    let mut by_id: Vec<Option<&str>> = Vec::new();
    for (s, id) in vocab {
        let id = id
            .as_u64()
            .filter(|&id| id < vocab.len() as u64)
            .ok_or_else(|| {
                field(format!(
                    "`model.vocab[{s:?}]` is not an id below the vocabulary's size"
                ))
            })? as usize;
        if by_id.len() <= id {
            by_id.resize(id + 1, None);
        }
        if by_id[id].replace(s.as_str()).is_some() {
            return Err(field(format!("id {id} appears twice in `model.vocab`")));
        }
    }
    let by_id: Vec<&str> = by_id
        .iter()
        .enumerate()
        .map(|(id, s)| s.ok_or_else(|| field(format!("`model.vocab` has no token with id {id}"))))
        .collect::<Result<_>>()?;

    let merges = model
        .get("merges")
        .and_then(Value::as_array)
        .ok_or_else(|| field("`model.merges` is not a list".into()))?;
    let mut pairs = Vec::with_capacity(merges.len());
    for (rank, m) in merges.iter().enumerate() {
        pairs.push(match m {
            Value::String(s) => s
                .split_once(' ')
                .ok_or_else(|| field(format!("merge {rank} is not `a b`")))?,
            Value::Array(v) if v.len() == 2 && v.iter().all(Value::is_string) => (
                v[0].as_str().unwrap_or_default(),
                v[1].as_str().unwrap_or_default(),
            ),
            _ => return Err(field(format!("merge {rank} is neither \"a b\" nor [a, b]"))),
        });
    }

    let mut specials = Vec::new();
    for t in doc
        .get("added_tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let content = t.get("content").and_then(Value::as_str);
        let id = t.get("id").and_then(Value::as_u64);
        match (content, id) {
            (Some(c), Some(id)) if id < u32::MAX as u64 => {
                // As in the `tokenizers` crate, an added token found in the vocab is that vocab
                // entry; one that is not takes an id past it. A file whose ids say otherwise
                // (`tokenizers` warns and renumbers) is refused: its ids would not mean what
                // the file says.
                match vocab.get(c).and_then(Value::as_u64) {
                    Some(v) if v != id => {
                        return Err(field(format!(
                            "added token {c:?} has id {id}, but `model.vocab` gives it {v}"
                        )));
                    }
                    None if (id as usize) < by_id.len() => {
                        return Err(field(format!(
                            "added token {c:?} has id {id}, which `model.vocab` gives to {:?}",
                            by_id[id as usize]
                        )));
                    }
                    _ => {}
                }
                specials.push((c.to_string(), id as TokenId))
            }
            _ => {
                return Err(field(
                    "an `added_tokens` entry lacks `content` or `id`".into(),
                ));
            }
        }
    }
    if let Some(&(_, max)) = specials.iter().max_by_key(|s| s.1) {
        let entries = by_id.len() + specials.len();
        crate::tokenizer::check_id_gap(path, "special token id", max as usize, entries)?;
    }
    let mut tok = from_byte_level_vocab(
        path,
        &by_id,
        &pairs,
        specials,
        pattern,
        MissingBytes::Refuse,
    )?;
    if model.get("ignore_merges").and_then(Value::as_bool) == Some(true) {
        tok = tok.with_whole_piece_lookup();
    }
    Ok(tok)
}

/// A tokenizer from a byte-level vocabulary (`vocab[id]` written in GPT-2's byte alphabet) and
/// merges as pairs of vocabulary strings in rank order: the shape of both `tokenizer.json` and
/// a GGUF file's `tokenizer.ggml.tokens` / `tokenizer.ggml.merges`. Errors name `path`.
pub fn from_byte_level_vocab(
    path: &str,
    vocab: &[&str],
    merges: &[(&str, &str)],
    specials: Vec<(String, TokenId)>,
    pattern: Pattern,
    missing: MissingBytes,
) -> Result<Tokenizer> {
    let field = |message: String| Error::Corrupt {
        path: path.to_string(),
        line: 0,
        message,
    };
    let mut by_string = rustc_hash::FxHashMap::default();
    let mut tokens = Vec::with_capacity(vocab.len());
    for (id, s) in vocab.iter().enumerate() {
        tokens.push(from_byte_level(s).ok_or_else(|| Error::Unsupported {
            path: path.to_string(),
            what: format!("vocab entry {s:?} outside the byte-level alphabet"),
        })?);
        by_string.entry(*s).or_insert(id as TokenId);
    }
    let mut pairs = Vec::with_capacity(merges.len());
    for (rank, (a, b)) in merges.iter().enumerate() {
        let id = |s: &str| {
            by_string
                .get(s)
                .copied()
                .ok_or_else(|| field(format!("merge {rank}: {s:?} is not in the vocab")))
        };
        pairs.push(((id(a)?, id(b)?), id(&format!("{a}{b}"))?));
    }
    // A special token that is also in the vocab keeps its id and the vocab's bytes, as the
    // `tokenizers` crate decodes it (its byte-level decoder maps the vocab string to bytes).
    Tokenizer::from_merges_with(path, tokens, pairs, specials, pattern, missing)
}

/// The split pattern a `pre_tokenizer` value describes, or what is not supported.
fn pre_tokenizer_pattern(pre: &Value) -> std::result::Result<Pattern, String> {
    let kind = pre.get("type").and_then(Value::as_str);
    let byte_level = |v: &Value| {
        if v.get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
            return Err("ByteLevel with add_prefix_space".to_string());
        }
        Ok(v.get("use_regex").and_then(Value::as_bool).unwrap_or(true))
    };
    match kind {
        Some("ByteLevel") => Ok(if byte_level(pre)? {
            Pattern::Gpt2
        } else {
            Pattern::None
        }),
        Some("Sequence") => {
            let parts = pre
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or("a Sequence pre-tokenizer without `pretokenizers`")?;
            let [split, bl] = parts.as_slice() else {
                return Err("a pre-tokenizer Sequence other than [Split, ByteLevel]".into());
            };
            if split.get("type").and_then(Value::as_str) == Some("Digits")
                && split.get("individual_digits").and_then(Value::as_bool) == Some(true)
                && bl.get("type").and_then(Value::as_str) == Some("ByteLevel")
                && byte_level(bl)?
            {
                return Ok(Pattern::Smollm);
            }
            if split.get("type").and_then(Value::as_str) != Some("Split")
                || bl.get("type").and_then(Value::as_str) != Some("ByteLevel")
                || byte_level(bl)?
                || split.get("behavior").and_then(Value::as_str) != Some("Isolated")
                || split.get("invert").and_then(Value::as_bool) == Some(true)
            {
                return Err("a pre-tokenizer Sequence other than [Split(Isolated), ByteLevel(use_regex: false)]".into());
            }
            let regex = split
                .pointer("/pattern/Regex")
                .and_then(Value::as_str)
                .ok_or("a Split pre-tokenizer without a Regex pattern")?;
            Pattern::from_regex(regex).ok_or_else(|| format!("split pattern {regex:?}"))
        }
        Some(other) => Err(format!("pre-tokenizer {other:?}")),
        None => Err("no byte-level pre-tokenizer".into()),
    }
}
