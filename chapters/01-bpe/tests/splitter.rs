//! The automaton splitter equals the backtracking engine running tiktoken's patterns
//! verbatim (look-ahead and possessive quantifiers included), on the corpora and on random text.

mod common;

use ch01_bpe::Pattern;
use ch01_bpe::pattern::Splitter;
use proptest::prelude::*;
use std::sync::LazyLock;

const PATTERNS: [Pattern; 3] = [Pattern::Gpt2, Pattern::Cl100k, Pattern::O200k];

static REFERENCE: LazyLock<Vec<fancy_regex::Regex>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|p| fancy_regex::Regex::new(p.regex().unwrap()).unwrap())
        .collect()
});
static OURS: LazyLock<Vec<Splitter>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|&p| Splitter::new(p))
        .chain([Splitter::new(Pattern::None)])
        .collect()
});

fn index(pattern: Pattern) -> usize {
    PATTERNS.iter().position(|&p| p == pattern).unwrap_or(3)
}

fn reference(pattern: Pattern, text: &str) -> Vec<String> {
    let re = &REFERENCE[index(pattern)];
    re.find_iter(text)
        .map(|m| m.unwrap().as_str().to_string())
        .collect()
}

fn ours(pattern: Pattern, text: &str) -> Vec<String> {
    OURS[index(pattern)]
        .split(text)
        .map(str::to_string)
        .collect()
}

#[test]
fn splits_match_the_backtracking_engine_on_the_corpora() {
    for (name, text) in common::corpora() {
        for p in PATTERNS {
            assert_eq!(ours(p, &text), reference(p, &text), "{name} with {p}");
        }
    }
}

#[test]
fn possessive_quantifiers_are_honoured_by_the_reference() {
    // A possessive run never gives back: `a++a` cannot match "aaa", greedy `a+a` can.
    assert!(
        !fancy_regex::Regex::new("^a++a$")
            .unwrap()
            .is_match("aaa")
            .unwrap()
    );
    assert!(
        fancy_regex::Regex::new("^a+a$")
            .unwrap()
            .is_match("aaa")
            .unwrap()
    );
}

#[test]
fn whitespace_gives_its_last_space_to_the_next_word() {
    let pieces = ours(Pattern::Cl100k, "a   b  ");
    assert_eq!(pieces, ["a", "  ", " b", "  "]);
    assert_eq!(ours(Pattern::None, "a b"), ["a b"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]
    #[test]
    fn splits_match_on_random_text(text in common::text_strategy()) {
        for p in PATTERNS {
            let mine = ours(p, &text);
            prop_assert_eq!(mine.concat(), text.clone());
            prop_assert_eq!(mine, reference(p, &text), "pattern {}", p);
        }
    }
}
