//! The shared pieces of byte-level BPE, used by both trainers and the tokenizer.
//!
//! **Why bytes.** A tokenizer must turn *any* text into ids. Starting from the 256 byte values
//! guarantees that: every UTF-8 string is a byte string, so nothing is ever "unknown", and
//! decoding is concatenating the tokens' bytes. The price is that a Korean syllable (3 bytes
//! of UTF-8) or an Arabic letter (2 bytes) starts as several tokens, and only merges learned
//! from enough text of that language bring the count down — the token inflation the lesson
//! measures.
//!
//! **Merges.** Training repeats one step: count every adjacent pair of tokens in the corpus,
//! take the most frequent pair `(a, b)`, give it a new id, and replace it everywhere
//! ([`merge_pair`]). The list of merges, in order, *is* the tokenizer.
//!
//! **Ties.** Two pairs often have the same count. The trainers break ties deterministically
//! with [`TieBreak`]: by default the pair of lowest token ids wins (`(32, 116)` before
//! `(101, 32)`). The `tokenizers` crate breaks ties the same way but numbers the 256 bytes in
//! the order of their byte-level characters (see [`byte_to_char`]), which
//! [`TieBreak::ByteLevelOrder`] reproduces.

use crate::error::{Error, Result};
use crate::pattern::{Pattern, Splitter};
use crate::tokenizer::Tokenizer;
use rustc_hash::FxHashMap;

/// A token's id. For tiktoken vocabularies the id is also the merge rank.
pub type TokenId = u32;
/// Two adjacent tokens.
pub type Pair = (TokenId, TokenId);

/// Adds every adjacent pair of `ids` to `counts`, `weight` times. Windows overlap:
/// `a a a` holds the pair `(a, a)` twice.
pub fn count_pairs(ids: &[TokenId], weight: u64, counts: &mut FxHashMap<Pair, u64>) {
    for w in ids.windows(2) {
        *counts.entry((w[0], w[1])).or_insert(0) += weight;
    }
}

/// Replaces every occurrence of `pair` in `ids` by `new_id`, left to right without overlap
/// (`a a a` becomes `aa a`). Returns whether anything changed.
pub fn merge_pair(ids: &mut Vec<TokenId>, pair: Pair, new_id: TokenId) -> bool {
    let (mut read, mut write) = (0, 0);
    let n = ids.len();
    while read < n {
        if read + 1 < n && ids[read] == pair.0 && ids[read + 1] == pair.1 {
            ids[write] = new_id;
            read += 2;
        } else {
            ids[write] = ids[read];
            read += 1;
        }
        write += 1;
    }
    ids.truncate(write);
    write != n
}

/// GPT-2's byte-level alphabet: each byte as a printable character, so a vocabulary of byte
/// strings can be stored as JSON strings (`tokenizer.json`). Printable Latin-1 bytes map to
/// themselves; the other 68 (controls, space, …) map to U+0100 onwards, in byte order —
/// space (0x20) becomes `Ġ`, newline `Ċ`.
pub fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).expect("Latin-1 is valid")
        } else {
            next += 1;
            char::from_u32(next - 1).expect("U+0100.. is valid")
        };
    }
    table
}

/// A byte string written in the byte-level alphabet.
pub fn to_byte_level(bytes: &[u8]) -> String {
    let table = byte_to_char();
    bytes.iter().map(|&b| table[b as usize]).collect()
}

/// The bytes behind a byte-level string, or `None` if a character is outside the alphabet.
pub fn from_byte_level(text: &str) -> Option<Vec<u8>> {
    let table = byte_to_char();
    let mut inverse: FxHashMap<char, u8> = FxHashMap::default();
    for (b, &c) in table.iter().enumerate() {
        inverse.insert(c, b as u8);
    }
    text.chars().map(|c| inverse.get(&c).copied()).collect()
}

/// How the trainers order pairs of equal count (the lower key wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieBreak {
    /// The pair with the lowest ids, the left id first: bytes by value, merges by age.
    #[default]
    LowestIds,
    /// As `LowestIds`, but the 256 bytes are ranked by their byte-level character, which is
    /// how the `tokenizers` crate numbers its initial alphabet.
    ByteLevelOrder,
}

impl TieBreak {
    /// The rank of each byte under this rule; merged tokens (ids ≥ 256) keep their id.
    pub fn byte_keys(self) -> [u32; 256] {
        let mut keys = [0u32; 256];
        match self {
            TieBreak::LowestIds => keys.iter_mut().enumerate().for_each(|(b, k)| *k = b as u32),
            TieBreak::ByteLevelOrder => {
                let table = byte_to_char();
                let mut order: Vec<usize> = (0..256).collect();
                order.sort_by_key(|&b| table[b] as u32);
                for (rank, b) in order.into_iter().enumerate() {
                    keys[b] = rank as u32;
                }
            }
        }
        keys
    }
}

/// Turns a tie-break rule into a sort key for pairs (smaller wins).
#[derive(Debug, Clone)]
pub struct PairKey([u32; 256]);

impl PairKey {
    pub fn new(tie: TieBreak) -> Self {
        PairKey(tie.byte_keys())
    }

    #[inline]
    pub fn key(&self, pair: Pair) -> (u32, u32) {
        let k = |id: TokenId| if id < 256 { self.0[id as usize] } else { id };
        (k(pair.0), k(pair.1))
    }

    /// Whether `(count_a, a)` should be merged before `(count_b, b)`.
    pub fn better(&self, count_a: u64, a: Pair, count_b: u64, b: Pair) -> bool {
        count_a > count_b || (count_a == count_b && self.key(a) < self.key(b))
    }
}

/// The vocabulary being built: id → bytes, and bytes → id to spot a merge that produces a
/// byte string some earlier merge already made (it then reuses that id, as `tokenizers` does).
#[derive(Debug, Clone)]
pub struct Vocab {
    tokens: Vec<Vec<u8>>,
    index: FxHashMap<Vec<u8>, TokenId>,
}

impl Vocab {
    /// The 256 single bytes, id = byte value.
    pub fn bytes() -> Self {
        let tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let index = tokens.iter().cloned().zip(0..).collect();
        Vocab { tokens, index }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn token(&self, id: TokenId) -> &[u8] {
        &self.tokens[id as usize]
    }

    /// The id of `a` followed by `b`, created if new.
    pub fn add_merge(&mut self, pair: Pair) -> TokenId {
        let mut bytes = self.tokens[pair.0 as usize].clone();
        bytes.extend_from_slice(&self.tokens[pair.1 as usize]);
        if let Some(&id) = self.index.get(&bytes) {
            return id;
        }
        let id = self.tokens.len() as TokenId;
        self.index.insert(bytes.clone(), id);
        self.tokens.push(bytes);
        id
    }

    pub fn into_tokens(self) -> Vec<Vec<u8>> {
        self.tokens
    }
}

/// One learned merge: `pair` becomes `id`; `count` is how often the pair occurred when chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub pair: Pair,
    pub id: TokenId,
    pub count: u64,
}

/// A distinct pre-token of the corpus as token ids, and how many times it occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub ids: Vec<TokenId>,
    pub count: u64,
}

/// Pre-tokenizes `text` (special tokens cut out first, never learned from) and counts the
/// distinct pieces. Merges never cross a piece boundary, so training only needs each
/// distinct piece once with its count — the first big saving over a flat corpus.
pub fn count_words(text: &str, splitter: &Splitter, specials: &[String]) -> Vec<Word> {
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    for segment in crate::tokenizer::split_on_specials(text, specials) {
        for piece in splitter.split(segment) {
            *counts.entry(piece).or_insert(0) += 1;
        }
    }
    let mut words: Vec<Word> = counts
        .into_iter()
        .map(|(piece, count)| Word {
            ids: piece.bytes().map(TokenId::from).collect(),
            count,
        })
        .collect();
    // Merges do not depend on word order, but a fixed order keeps runs reproducible.
    words.sort_unstable_by(|a, b| a.ids.cmp(&b.ids));
    words
}

/// What a trainer adds: the merge loop over counted words.
pub trait Learner {
    /// Learns merges until `vocab` holds `vocab_size` tokens or no pair is left.
    fn learn(
        &self,
        words: Vec<Word>,
        vocab: &mut Vocab,
        vocab_size: usize,
        tie: TieBreak,
    ) -> Vec<Merge>;
}

/// Training settings shared by both trainers.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Tokens in the vocabulary: the 256 bytes plus the merges (special tokens come after).
    pub vocab_size: usize,
    pub pattern: Pattern,
    /// Strings that become single tokens, never split and never learned from.
    pub special_tokens: Vec<String>,
    pub tie_break: TieBreak,
}

impl TrainConfig {
    pub fn new(vocab_size: usize, pattern: Pattern) -> Self {
        TrainConfig {
            vocab_size,
            pattern,
            special_tokens: Vec::new(),
            tie_break: TieBreak::default(),
        }
    }
}

/// The result of training: the merges in order, with the vocabulary they built.
#[derive(Debug, Clone)]
pub struct Trained {
    pub merges: Vec<Merge>,
    pub tokenizer: Tokenizer,
}

/// Trains a tokenizer on `text` with `learner` (see [`crate::NaiveTrainer`],
/// [`crate::FastTrainer`]).
pub fn train(learner: &impl Learner, text: &str, config: &TrainConfig) -> Result<Trained> {
    if config.vocab_size < 256 {
        return Err(Error::VocabTooSmall(config.vocab_size));
    }
    if config.vocab_size > u32::MAX as usize {
        return Err(Error::VocabTooLarge(config.vocab_size));
    }
    if text.is_empty() {
        return Err(Error::EmptyCorpus {
            path: "corpus".into(),
        });
    }
    let splitter = Splitter::new(config.pattern);
    let words = count_words(text, &splitter, &config.special_tokens);
    let mut vocab = Vocab::bytes();
    let merges = learner.learn(words, &mut vocab, config.vocab_size, config.tie_break);
    let tokens = vocab.into_tokens();
    let specials = config
        .special_tokens
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), (tokens.len() + i) as TokenId))
        .collect();
    let pairs = merges.iter().map(|m| (m.pair, m.id)).collect();
    let tokenizer = Tokenizer::from_merges("trained", tokens, pairs, specials, config.pattern)?;
    Ok(Trained { merges, tokenizer })
}
