//! decode(encode(x)) == x for every UTF-8 input, with real and trained vocabularies.

mod common;

use ch01_bpe::tiktoken::builtin;
use ch01_bpe::{FastTrainer, Pattern, Tokenizer, TrainConfig, train};
use proptest::prelude::*;
use std::sync::LazyLock;

static TRAINED: LazyLock<Vec<Tokenizer>> = LazyLock::new(|| {
    let text = common::all_text();
    Pattern::ALL
        .iter()
        .map(|&p| {
            train(&FastTrainer, &text, &TrainConfig::new(600, p))
                .unwrap()
                .tokenizer
        })
        .collect()
});

fn check(tok: &Tokenizer, text: &str) -> Result<(), TestCaseError> {
    let ids = tok.encode_ordinary(text);
    prop_assert_eq!(
        tok.decode_bytes(&ids).unwrap(),
        text.as_bytes(),
        "{}",
        tok.name()
    );
    prop_assert_eq!(tok.decode(&ids).unwrap(), text);
    Ok(())
}

#[test]
fn corpora_round_trip() {
    for (_, text) in common::corpora() {
        for name in ch01_bpe::BUILTIN {
            check(&builtin(name).unwrap(), &text).unwrap();
        }
        for tok in TRAINED.iter() {
            check(tok, &text).unwrap();
        }
    }
}

#[test]
fn unknown_ids_are_an_error() {
    let tok = builtin("cl100k_base").unwrap();
    assert!(tok.decode(&[100_256]).is_err(), "cl100k has no id 100256");
    assert_eq!(tok.decode(&[100_257]).unwrap(), "<|endoftext|>");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn random_text_round_trips(text in common::text_strategy()) {
        check(&builtin("cl100k_base").unwrap(), &text)?;
        check(&builtin("o200k_base").unwrap(), &text)?;
        for tok in TRAINED.iter() {
            check(tok, &text)?;
        }
    }
}
