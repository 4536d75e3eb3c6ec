//! The fast trainer makes the naive trainer's choices, merge for merge.

mod common;

use ch01_bpe::base::{Learner, Vocab, count_words};
use ch01_bpe::{Error, FastTrainer, NaiveTrainer, Pattern, TieBreak, TrainConfig, train};
use proptest::prelude::*;

fn both(text: &str, config: &TrainConfig) -> (Vec<ch01_bpe::Merge>, Vec<ch01_bpe::Merge>) {
    let naive = train(&NaiveTrainer, text, config).unwrap().merges;
    let fast = train(&FastTrainer, text, config).unwrap().merges;
    (naive, fast)
}

#[test]
fn fast_equals_naive_on_the_corpora_for_every_pattern_and_tie_break() {
    let text = common::all_text();
    for pattern in Pattern::ALL {
        for tie in [TieBreak::LowestIds, TieBreak::ByteLevelOrder] {
            let config = TrainConfig {
                tie_break: tie,
                ..TrainConfig::new(256 + 300, pattern)
            };
            let (naive, fast) = both(&text, &config);
            assert_eq!(naive.len(), 300, "{pattern}");
            assert_eq!(naive, fast, "{pattern} {tie:?}");
        }
    }
}

#[test]
fn merges_are_learned_most_frequent_first() {
    let trained = train(
        &FastTrainer,
        &common::all_text(),
        &TrainConfig::new(400, Pattern::Cl100k),
    )
    .unwrap();
    let counts: Vec<u64> = trained.merges.iter().map(|m| m.count).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "counts never rise");
    // The first merge of this corpus is a pair of spaces or a letter pair: check it is the max.
    let first = trained.merges[0];
    let splitter = ch01_bpe::Splitter::new(Pattern::Cl100k);
    let words = count_words(&common::all_text(), &splitter, &[]);
    let mut counts = rustc_hash::FxHashMap::default();
    for w in &words {
        ch01_bpe::base::count_pairs(&w.ids, w.count, &mut counts);
    }
    assert_eq!(counts.values().max(), Some(&first.count));
    assert_eq!(counts[&first.pair], first.count);
}

#[test]
fn training_stops_when_no_pair_is_left() {
    let config = TrainConfig::new(10_000, Pattern::Gpt2);
    let (naive, fast) = both("ab ab ab", &config);
    assert_eq!(naive, fast);
    // Pieces "ab", " ab", " ab": merge (a, b), then (" ", ab); then every piece is one token.
    assert_eq!(naive.len(), 2);
}

#[test]
fn special_tokens_are_never_learned_from_and_come_after_the_merges() {
    let mut config = TrainConfig::new(300, Pattern::Cl100k);
    config.special_tokens = vec!["<|end|>".into()];
    let text = "<|end|>".repeat(50) + "hello world";
    let trained = train(&FastTrainer, &text, &config).unwrap();
    let tok = &trained.tokenizer;
    let end_id = tok.special_tokens()[0].1 as usize;
    assert_eq!(end_id, 256 + trained.merges.len());
    for m in &trained.merges {
        let bytes = [
            tok.token_bytes(m.pair.0).unwrap(),
            tok.token_bytes(m.pair.1).unwrap(),
        ]
        .concat();
        assert!(
            !bytes.contains(&b'|'),
            "learned from a special token: {bytes:?}"
        );
    }
    assert_eq!(
        tok.encode_with_special_tokens("<|end|>hello"),
        [vec![end_id as u32], tok.encode_ordinary("hello")].concat()
    );
}

#[test]
fn bad_training_input_is_an_error() {
    let config = TrainConfig::new(255, Pattern::Gpt2);
    assert!(matches!(
        train(&FastTrainer, "abc", &config),
        Err(Error::VocabTooSmall(255))
    ));
    let config = TrainConfig::new(300, Pattern::Gpt2);
    assert!(matches!(
        train(&NaiveTrainer, "", &config),
        Err(Error::EmptyCorpus { .. })
    ));
}

#[test]
fn a_merge_that_rebuilds_existing_bytes_reuses_the_id() {
    let mut vocab = Vocab::bytes();
    let ab = vocab.add_merge((b'a' as u32, b'b' as u32));
    let abc = vocab.add_merge((ab, b'c' as u32));
    let bc = vocab.add_merge((b'b' as u32, b'c' as u32));
    assert_eq!(vocab.add_merge((b'a' as u32, bc)), abc);
    assert_eq!(vocab.len(), 259);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn fast_equals_naive_on_random_text(text in common::text_strategy(), extra in 1usize..80, p in 0usize..4) {
        let words_text = text.repeat(3);
        let config = TrainConfig::new(256 + extra, Pattern::ALL[p]);
        let splitter = ch01_bpe::Splitter::new(config.pattern);
        let words = count_words(&words_text, &splitter, &[]);
        let naive = NaiveTrainer.learn(words.clone(), &mut Vocab::bytes(), config.vocab_size, TieBreak::LowestIds);
        let fast = FastTrainer.learn(words, &mut Vocab::bytes(), config.vocab_size, TieBreak::LowestIds);
        prop_assert_eq!(naive, fast);
    }
}
