//! Pre-tokenization: cut text into pieces before BPE sees it.
//!
//! **Why.** Without it, the most frequent pairs in English are things like `"e "` and
//! `". T"`: merges would glue words to the spaces and punctuation around them, and the
//! vocabulary would fill with `"dog."`, `"dog!"`, `"dog?"`. A split pattern keeps letters,
//! digits, punctuation and whitespace in separate pieces (a word keeps its leading space:
//! `" dog"`), and merges never cross a piece boundary.
//!
//! The three OpenAI patterns are below, exactly as tiktoken writes them. They use a negative
//! look-ahead (`\s+(?!\S)`: a whitespace run gives its last space to the next word) and
//! possessive quantifiers (`\p{L}++`), which a backtracking engine such as `fancy-regex` runs
//! as written — slowly. [`Splitter`] runs them on `regex-automata` (a DFA, no backtracking)
//! after two rewrites, proven equal to the backtracking engine on the corpora and on random
//! text in `tests/splitter.rs`:
//!
//! * possessive quantifiers become greedy ones. In these patterns the two always give the same
//!   match: what follows a possessive run can never match what the run would give back
//!   (`[^\r\n\p{L}\p{N}]?+` is followed by `\p{L}`, which cannot match the character it took).
//!   A leftmost-first automaton finds the same match a backtracker finds first.
//! * `\s+(?!\S)` becomes `\s+\s` with the last character dropped from the match (a whitespace
//!   run followed by a non-space gives its last character back), plus `\s+$` for a run that
//!   ends the text. This is the trick the `bpe-openai` crate uses.

use regex_automata::{Anchored, Input, meta::Regex};

/// The split pattern of a tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// GPT-2 / r50k_base: contractions, letters, digits, other symbols, whitespace.
    Gpt2,
    /// GPT-4 / cl100k_base: case-insensitive contractions, digits in runs of at most 3,
    /// a word may take one leading non-letter (`"(word"` is not split, `" word"` neither).
    Cl100k,
    /// GPT-4o / o200k_base: like cl100k, but splits CamelCase and attaches contractions.
    O200k,
    /// No pre-tokenization: the whole text is one piece and merges may cross anything.
    None,
    /// SmolLM2 / StarCoder: every digit is a piece of its own, then GPT-2's pattern splits the
    /// text between digits (HF: `Digits(individual_digits)` then `ByteLevel`; llama.cpp's
    /// `smollm` pre-tokenizer). Two stages, not one regex: a space before a digit stays its
    /// own piece (`"a 1"` → `"a"`, `" "`, `"1"`), where one combined regex would give `" 1"`.
    /// Loaded tokenizers only; the trainers use [`Pattern::ALL`].
    Smollm,
}

/// tiktoken's patterns, verbatim (look-arounds and possessive quantifiers included).
const GPT2: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
const CL100K: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);

/// The GPT-2 pattern as the `tokenizers` crate's ByteLevel pre-tokenizer writes it.
pub const HF_BYTE_LEVEL: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

impl Pattern {
    pub const ALL: [Pattern; 4] = [
        Pattern::Gpt2,
        Pattern::Cl100k,
        Pattern::O200k,
        Pattern::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Gpt2 => "gpt2",
            Pattern::Cl100k => "cl100k",
            Pattern::O200k => "o200k",
            Pattern::None => "none",
            Pattern::Smollm => "smollm",
        }
    }

    pub fn from_name(name: &str) -> crate::Result<Self> {
        Pattern::ALL
            .into_iter()
            .chain([Pattern::Smollm])
            .find(|p| p.name() == name)
            .ok_or_else(|| crate::Error::UnknownPattern(name.to_string()))
    }

    /// The pattern as tiktoken writes it (for a backtracking engine), `None` for no split.
    /// For [`Pattern::Smollm`], the pattern of its second stage (see [`Pattern::isolates_digits`]).
    pub fn regex(self) -> Option<&'static str> {
        match self {
            Pattern::Gpt2 | Pattern::Smollm => Some(GPT2),
            Pattern::Cl100k => Some(CL100K),
            Pattern::O200k => Some(O200K),
            Pattern::None => None,
        }
    }

    /// The pattern a tokenizer.json `Split` pre-tokenizer holds, recognised back.
    pub fn from_regex(regex: &str) -> Option<Self> {
        if regex == HF_BYTE_LEVEL {
            return Some(Pattern::Gpt2);
        }
        Pattern::ALL.into_iter().find(|p| p.regex() == Some(regex))
    }

    /// Whether every digit (`\p{N}`) is cut out as a piece of its own before the pattern runs.
    pub fn isolates_digits(self) -> bool {
        self == Pattern::Smollm
    }

    /// The three automaton patterns: before the look-ahead, the look-ahead stand-in (its last
    /// character is dropped), after it.
    fn automaton(self) -> Option<[&'static str; 3]> {
        let head = match self {
            Pattern::Gpt2 | Pattern::Smollm => {
                r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+$"
            }
            Pattern::Cl100k => {
                r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]"
            }
            Pattern::O200k => concat!(
                r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                r"|\p{N}{1,3}",
                r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
                r"|\s*[\r\n]+",
                r"|\s+$",
            ),
            Pattern::None => return None,
        };
        let tail = match self {
            Pattern::O200k => r"\s+",
            _ => r"\s",
        };
        Some([head, r"\s+\s", tail])
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Splits text into pre-tokens with a compiled [`Pattern`].
#[derive(Debug, Clone)]
pub struct Splitter {
    regex: Option<Regex>,
    isolate_digits: bool,
}

impl Splitter {
    pub fn new(pattern: Pattern) -> Self {
        let regex = pattern
            .automaton()
            .map(|pats| Regex::new_many(&pats).expect("the built-in patterns compile"));
        Splitter {
            regex,
            isolate_digits: pattern.isolates_digits(),
        }
    }

    /// The pieces of `text`, in order; they concatenate back to `text`.
    pub fn split<'a>(&'a self, text: &'a str) -> Splits<'a> {
        Splits {
            regex: self.regex.as_ref(),
            isolate_digits: self.isolate_digits,
            text,
            at: 0,
        }
    }
}

/// Iterator over the pieces of a text (see [`Splitter::split`]).
pub struct Splits<'a> {
    regex: Option<&'a Regex>,
    isolate_digits: bool,
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Splits<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        let Some(regex) = self.regex else {
            self.at = self.text.len();
            return Some(self.text);
        };
        let mut rest = &self.text[start..];
        if self.isolate_digits {
            // Stage one: a digit is a piece; otherwise the pattern sees only the text up to
            // the next digit (its `$` and look-ahead end there).
            let mut chars = rest.char_indices();
            if let Some((_, c)) = chars.next()
                && c.is_numeric()
            {
                self.at = start + c.len_utf8();
                return Some(&self.text[start..self.at]);
            }
            if let Some((next_digit, _)) = chars.find(|(_, c)| c.is_numeric()) {
                rest = &rest[..next_digit];
            }
        }
        let end = match regex.find(Input::new(rest).anchored(Anchored::Yes)) {
            Some(m) if m.pattern().as_usize() == 1 => {
                // The look-ahead stand-in: give the last character back.
                let last = rest[..m.end()]
                    .chars()
                    .next_back()
                    .map_or(1, char::len_utf8);
                start + m.end() - last
            }
            Some(m) if m.end() > 0 => start + m.end(),
            // Every character matches some branch of these patterns; never loop forever.
            _ => start + rest.chars().next().map_or(1, char::len_utf8),
        };
        self.at = end;
        Some(&self.text[start..end])
    }
}
