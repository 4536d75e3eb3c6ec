//! Our encoder on OpenAI's rank files gives exactly tiktoken-rs's ids.

mod common;

use ch01_bpe::tiktoken::{CL100K_BASE, ENCODINGS, builtin, parse_rank_file};
use ch01_bpe::{AllowedSpecial, Error, Tokenizer};
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use tiktoken_rs::CoreBPE;

fn pairs() -> Vec<(Arc<Tokenizer>, &'static CoreBPE)> {
    vec![
        (
            builtin("cl100k_base").unwrap(),
            tiktoken_rs::cl100k_base_singleton(),
        ),
        (
            builtin("o200k_base").unwrap(),
            tiktoken_rs::o200k_base_singleton(),
        ),
        (
            builtin("r50k_base").unwrap(),
            tiktoken_rs::r50k_base_singleton(),
        ),
    ]
}

#[test]
fn ids_match_tiktoken_rs_on_every_corpus() {
    for (ours, reference) in pairs() {
        for (name, text) in common::corpora() {
            assert_eq!(
                ours.encode_ordinary(&text),
                reference.encode_ordinary(&text),
                "{name} with {}",
                ours.name()
            );
            assert_eq!(ours.count(&text), ours.encode_ordinary(&text).len());
        }
    }
}

#[test]
fn vocabularies_have_tiktoken_sizes() {
    assert_eq!(builtin("cl100k_base").unwrap().vocab_size(), 100_277);
    assert_eq!(builtin("o200k_base").unwrap().vocab_size(), 200_019);
    assert_eq!(builtin("r50k_base").unwrap().vocab_size(), 50_257);
}

#[test]
fn special_tokens_match_tiktoken_rs() {
    let text = "hi<|endoftext|>there<|fim_prefix|>x<|endofprompt|> <|endoftext|>";
    for (ours, reference) in pairs() {
        assert_eq!(
            ours.encode_with_special_tokens(text),
            reference.encode_with_special_tokens(text),
            "{}",
            ours.name()
        );
        let allowed = ["<|endoftext|>"];
        let ok = "a<|endoftext|>b";
        assert_eq!(
            ours.encode(ok, &AllowedSpecial::Some(vec![allowed[0].into()]))
                .unwrap(),
            reference
                .encode(ok, &allowed.into_iter().collect::<HashSet<_>>())
                .unwrap()
                .0,
        );
    }
}

#[test]
fn a_disallowed_special_token_is_an_error() {
    let tok = builtin("cl100k_base").unwrap();
    let err = tok
        .encode("ok <|endoftext|>", &AllowedSpecial::None)
        .unwrap_err();
    assert!(
        matches!(err, Error::DisallowedSpecial { offset: 3, .. }),
        "{err}"
    );
    let only_eot = AllowedSpecial::Some(vec!["<|endoftext|>".into()]);
    assert!(
        tok.encode("<|endoftext|><|fim_prefix|>", &only_eot)
            .is_err()
    );
    // As ordinary text the same string is several ordinary tokens.
    assert!(tok.encode_ordinary("<|endoftext|>").len() > 1);
}

#[test]
fn the_heap_and_the_scan_merge_alike() {
    let tok = builtin("cl100k_base").unwrap();
    let reference = tiktoken_rs::cl100k_base_singleton();
    for (_, text) in common::corpora() {
        for piece in text.split_inclusive(['\n', '.']) {
            let b = piece.as_bytes();
            if b.len() > 1 && b.len() < 128 {
                assert_eq!(tok.encode_piece_long(b), tok.encode_piece_short(b));
            }
        }
    }
    // A long piece (a whitespace run) goes through the heap.
    let long = format!("x{}y", " ".repeat(3000));
    assert_eq!(tok.encode_ordinary(&long), reference.encode_ordinary(&long));
}

#[test]
fn rank_files_parse_and_refuse_corruption() {
    let ranks = parse_rank_file("IQ== 0\nIg== 1\n", "t.tiktoken").unwrap();
    assert_eq!(ranks, vec![(b"!".to_vec(), 0), (b"\"".to_vec(), 1)]);
    let err = parse_rank_file("IQ== 0\n!!!! 1\n", "t.tiktoken").unwrap_err();
    assert!(err.to_string().starts_with("t.tiktoken:2:"), "{err}");
    let err = parse_rank_file("IQ== zero\n", "t.tiktoken").unwrap_err();
    assert!(err.to_string().contains(":1:"), "{err}");
    // Two bytes only: not every text can be encoded.
    let err = CL100K_BASE.with_ranks(ranks).unwrap_err();
    assert!(err.to_string().contains("byte 0x00 has no token"), "{err}");
    assert_eq!(ENCODINGS.len(), 3);
    // A rank near 2³² sizes no table: refused before anything is allocated.
    let far = parse_rank_file("IQ== 0\nIg== 4000000000\n", "t.tiktoken").unwrap();
    let err = CL100K_BASE.with_ranks(far).unwrap_err();
    assert!(
        err.to_string().contains("rank 4000000000 is far beyond"),
        "{err}"
    );
    // A rank on a special token's id (cl100k's <|endoftext|> is 100257).
    let clash = parse_rank_file("IQ== 0\nIg== 100257\n", "t.tiktoken").unwrap();
    let err = CL100K_BASE.with_ranks(clash).unwrap_err();
    let want = "rank 100257 is also the id of special token \"<|endoftext|>\"";
    assert!(err.to_string().contains(want), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn ids_match_tiktoken_rs_on_random_text(text in common::text_strategy()) {
        for (ours, reference) in pairs() {
            prop_assert_eq!(ours.encode_ordinary(&text), reference.encode_ordinary(&text), "{}", ours.name());
        }
    }
}

#[test]
fn a_rank_file_on_disk_loads_like_the_builtin_and_count_tokens_agrees() {
    use base64::Engine;
    let builtin = builtin("cl100k_base").unwrap();
    let dir = std::env::temp_dir().join(format!("ch01_ranks_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cl100k_base.tiktoken");
    let mut file = String::new();
    for id in 0..100_256u32 {
        let bytes = builtin.token_bytes(id).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        file.push_str(&format!("{b64} {id}\n"));
    }
    std::fs::write(&path, file).unwrap();
    let loaded = ch01_bpe::load(path.to_str().unwrap(), None).unwrap();
    let text = common::all_text();
    assert_eq!(
        loaded.encode_with_special_tokens(&text),
        builtin.encode_with_special_tokens(&text)
    );
    assert_eq!(
        ch01_bpe::count_tokens("cl100k_base", &text).unwrap(),
        tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary(&text)
            .len()
    );
    assert!(matches!(
        ch01_bpe::count_tokens("no_such_tokenizer", "x"),
        Err(Error::UnknownTokenizer(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
