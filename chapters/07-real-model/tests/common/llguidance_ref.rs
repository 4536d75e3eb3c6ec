//! llguidance (the structured-output engine of llama.cpp and vLLM) set up as this chapter's
//! reference for constrained decoding; shared by `tests/constrain.rs` and the root crate's
//! `benches/toolcall.rs`.
#![allow(dead_code)]

use ch01_bpe::{TokenId, Tokenizer};
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use serde_json::{Value, json};
use std::sync::Arc;

/// A parser factory over `tokenizer`'s vocabulary: text tokens as their bytes, special tokens
/// marked with a leading 0xFF (toktrie's convention; no grammar text can match them), `stop`
/// as the end-of-sequence token.
pub fn factory(tokenizer: &Tokenizer, stop: TokenId) -> ParserFactory {
    let specials = tokenizer.special_ids();
    let n = tokenizer.vocab_size();
    let words: Vec<Vec<u8>> = (0..n as TokenId)
        .map(|id| {
            let bytes = tokenizer.decode_bytes(&[id]).unwrap_or_default();
            if specials.contains(&id) {
                [vec![0xFF], bytes].concat()
            } else {
                bytes
            }
        })
        .collect();
    let trie = TokTrie::from(&TokRxInfo::new(n as u32, stop), &words);
    let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
    let mut factory = ParserFactory::new_simple(&env).expect("a token environment");
    factory.quiet();
    factory
}

/// A matcher for `schema` in chapter 07's dialect: `", "` and `": "` separators and no other
/// whitespace, escapes `\" \\ \b \f \n \r \t` only; properties in schema order and the
/// default integer and number forms are llguidance's own.
pub fn matcher(factory: &ParserFactory, schema: &Value) -> Matcher {
    let mut schema = schema.clone();
    schema["x-guidance"] = json!({
        "whitespace_flexible": false,
        "item_separator": ", ",
        "key_separator": ": ",
        "json_allowed_escapes": "nrbtf\\\"",
    });
    Matcher::new(factory.create_parser(TopLevelGrammar::from_json_schema(schema)))
}
