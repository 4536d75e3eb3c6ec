//! Shared by the tests: the shipped corpora and adversarial text generators.
#![allow(dead_code)]

pub mod hf_trainer;

use proptest::prelude::*;
use std::path::PathBuf;

pub fn corpora_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/corpora")
}

/// Every corpus file as (file name, text), sorted by name.
pub fn corpora() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(corpora_dir())
        .expect("data/corpora exists")
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 6, "expected the shipped corpora");
    out
}

/// All corpora joined: the training text of the tests.
pub fn all_text() -> String {
    corpora()
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pieces that stress the split patterns and the merges: whitespace of every kind and
/// length, contractions in odd cases (`'S`, the long s `ſ`, the Kelvin sign), digits,
/// letters of several scripts, combining marks, emoji with joiners, CamelCase, line ends.
const PIECES: &[&str] = &[
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{85}",
    "'s",
    "'S",
    "'ll",
    "'LL",
    "'ſ",
    "'\u{212a}",
    "'re",
    "'",
    "a",
    "Z",
    "é",
    "e\u{301}",
    "ß",
    "İ",
    "Ǆ",
    "0",
    "12",
    "345",
    "٣",
    "²",
    "½",
    "한",
    "국어",
    "ا",
    "لعربية",
    "日本",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "\u{200d}",
    "\u{fe0f}",
    "CamelCase",
    "HTTPServer",
    "x.y",
    "...",
    "!!",
    "/",
    "//",
    "\\",
    "\"",
    "(",
    ")",
    "$",
    "_",
    "-",
    "—",
    "\u{0}",
    "\u{7f}",
    "\u{1f}",
    "<|endoftext|>",
    "<|",
    "|>",
    "\u{10ffff}",
    "\u{fffd}",
    "ǅ",
    "ʰ",
    "\u{5d0}",
];

/// Random strings: arbitrary Unicode, or sequences of the adversarial pieces.
pub fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(PIECES), 0..40).prop_map(|v| v.concat()),
        "[ \t\n\r]{0,300}[a-z]{0,3}[ \t\n\r]{0,300}",
        proptest::collection::vec(any::<char>(), 0..60).prop_map(|v| v.into_iter().collect()),
    ]
}
