//! Encoding and decoding with a vocabulary of merges.
//!
//! **Encoding a piece.** Start from the piece's bytes as byte tokens; repeatedly find the
//! adjacent pair with the lowest merge rank (the earliest merge learned), the leftmost if
//! several, and merge it; stop when no adjacent pair is a merge. Pieces are short, so the
//! pair ranks live in a small array and each step is a scan ([`Tokenizer::encode_piece`]);
//! a long piece (a whitespace run, a base64 blob) switches to a heap so the work stays
//! O(n log n) instead of O(n²).
//!
//! **What "a merge" means** differs by source, and the table of pairs captures it:
//! * a trained tokenizer or a `tokenizer.json` merges only the pairs it learned;
//! * a tiktoken rank file has no merge list: tiktoken merges two parts whenever their
//!   concatenated bytes are a token, at that token's rank. [`Tokenizer::from_ranks`] therefore
//!   enters *every* split of every token into the table, and checks the whole piece first
//!   (tiktoken returns a piece that is itself a token as that one token).
//!
//! The table maps a pair of ids packed into one `u64` to `(rank, merged id)`, with FxHash: one
//! multiply per lookup instead of hashing byte strings.
//!
//! **Special tokens** (`<|endoftext|>`) are cut out of the text before pre-tokenization and
//! become their own id. As in tiktoken, a special token that appears in text without being
//! allowed is an error: text from a user must not be able to forge a control token.

use crate::base::{Pair, TokenId};
use crate::error::{Error, Result};
use crate::pattern::{Pattern, Splitter};
use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BinaryHeap;

/// Pieces at least this long are merged with a heap instead of a scan.
const LONG_PIECE_BYTES: usize = 128;
const NO_RANK: u32 = u32::MAX;

/// Which special tokens may appear in the text being encoded.
#[derive(Debug, Clone, Default)]
pub enum AllowedSpecial {
    /// None: any special token in the text is an error (tiktoken's default).
    #[default]
    None,
    /// All of them become their special id.
    All,
    /// These become their id; any other special token in the text is an error.
    Some(Vec<String>),
}

/// What to do when the vocabulary lacks a token for some byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingBytes {
    /// Refuse to build: not every text could be encoded (the default).
    Refuse,
    /// Drop those bytes when encoding, as llama.cpp and `tokenizers` (without byte fallback)
    /// do: SmolLM2's vocabulary has no token for 21 byte values (bytes that never occur in
    /// UTF-8, such as `0xff`, and a few control characters). Merges never cross a dropped byte.
    Drop,
}

/// A byte-level BPE tokenizer: split pattern, merge table, vocabulary, special tokens.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    name: String,
    pattern: Pattern,
    splitter: Splitter,
    /// id → bytes, for every ordinary and special id (`None` where an id is unused).
    decoder: Vec<Option<Box<[u8]>>>,
    byte_ids: [TokenId; 256],
    /// (left, right) packed → (rank, merged id).
    pairs: FxHashMap<u64, (u32, TokenId)>,
    /// The merges in rank order, for saving; empty for tiktoken vocabularies.
    merges: Vec<(Pair, TokenId)>,
    /// tiktoken only: a piece that is itself a token encodes to that token.
    whole: Option<FxHashMap<Box<[u8]>, TokenId>>,
    specials: Vec<(String, TokenId)>,
    special_finder: Option<AhoCorasick>,
    ordinary_len: usize,
    /// Some byte values have no token (only with [`MissingBytes::Drop`]).
    missing_bytes: bool,
}

#[inline]
fn pack(pair: Pair) -> u64 {
    ((pair.0 as u64) << 32) | pair.1 as u64
}

/// How far past its number of entries a table's largest id may reach. Ids may skip numbers
/// (cl100k's special tokens start after a hole, at 100257), but the decoder is a table sized by
/// the largest id: an id near 2³² in a corrupt file would otherwise allocate gigabytes.
pub const MAX_ID_GAP: usize = 1 << 16;

pub(crate) fn check_id_gap(path: &str, what: &str, max_id: usize, entries: usize) -> Result<()> {
    if max_id >= entries + MAX_ID_GAP {
        return Err(Error::Corrupt {
            path: path.to_string(),
            line: 0,
            message: format!(
                "{what} {max_id} is far beyond the {entries} entries (ids may skip at most {MAX_ID_GAP})"
            ),
        });
    }
    Ok(())
}

impl Tokenizer {
    /// A tokenizer from learned merges: `tokens[id]` are the bytes of `id` (the first 256 need
    /// not be the bytes in order, but every byte must be one token), `merges` in rank order.
    pub fn from_merges(
        name: &str,
        tokens: Vec<Vec<u8>>,
        merges: Vec<(Pair, TokenId)>,
        specials: Vec<(String, TokenId)>,
        pattern: Pattern,
    ) -> Result<Self> {
        Self::from_merges_with(
            name,
            tokens,
            merges,
            specials,
            pattern,
            MissingBytes::Refuse,
        )
    }

    /// [`Tokenizer::from_merges`] with a choice for bytes that have no token.
    pub fn from_merges_with(
        name: &str,
        tokens: Vec<Vec<u8>>,
        merges: Vec<(Pair, TokenId)>,
        specials: Vec<(String, TokenId)>,
        pattern: Pattern,
        missing: MissingBytes,
    ) -> Result<Self> {
        let corrupt = |message: String| Error::Corrupt {
            path: name.to_string(),
            line: 0,
            message,
        };
        let mut pairs = FxHashMap::default();
        for (rank, &(pair, id)) in merges.iter().enumerate() {
            let n = tokens.len() as u32;
            if pair.0 >= n || pair.1 >= n || id >= n {
                return Err(corrupt(format!(
                    "merge {rank} refers to an id outside the vocabulary"
                )));
            }
            // A later duplicate of a merge never fires: keep the first (lowest) rank.
            pairs.entry(pack(pair)).or_insert((rank as u32, id));
        }
        let ordinary: Vec<Option<Vec<u8>>> = tokens.into_iter().map(Some).collect();
        Self::build(name, pattern, ordinary, pairs, merges, None, specials)?
            .with_missing_bytes(missing)
    }

    /// A tokenizer from a tiktoken rank table (token bytes, rank = id).
    pub fn from_ranks(
        name: &str,
        ranks: Vec<(Vec<u8>, TokenId)>,
        specials: Vec<(String, TokenId)>,
        pattern: Pattern,
    ) -> Result<Self> {
        let max = ranks.iter().map(|r| r.1).max().unwrap_or(0) as usize;
        // The encoding's special ids lie past its ranks; a rank file that reaches one would
        // give a special's id two meanings.
        if let Some((text, id)) = specials
            .iter()
            .find(|(_, id)| ranks.iter().any(|r| r.1 == *id))
        {
            return Err(Error::Corrupt {
                path: name.to_string(),
                line: 0,
                message: format!("rank {id} is also the id of special token {text:?}"),
            });
        }
        check_id_gap(name, "rank", max, ranks.len())?;
        let mut tokens: Vec<Option<Vec<u8>>> = vec![None; max + 1];
        let mut whole: FxHashMap<Box<[u8]>, TokenId> = FxHashMap::default();
        for (bytes, id) in ranks {
            whole.insert(bytes.clone().into_boxed_slice(), id);
            tokens[id as usize] = Some(bytes);
        }
        // Every way to cut a token in two, where both halves are tokens, is a merge at the
        // token's rank: tiktoken merges on bytes, not on a list of learned pairs.
        let mut pairs = FxHashMap::default();
        for (id, bytes) in tokens.iter().enumerate() {
            let Some(bytes) = bytes else { continue };
            for cut in 1..bytes.len() {
                if let (Some(&l), Some(&r)) = (whole.get(&bytes[..cut]), whole.get(&bytes[cut..])) {
                    pairs.insert(pack((l, r)), (id as u32, id as TokenId));
                }
            }
        }
        Self::build(
            name,
            pattern,
            tokens,
            pairs,
            Vec::new(),
            Some(whole),
            specials,
        )?
        .with_missing_bytes(MissingBytes::Refuse)
    }

    fn build(
        name: &str,
        pattern: Pattern,
        tokens: Vec<Option<Vec<u8>>>,
        pairs: FxHashMap<u64, (u32, TokenId)>,
        merges: Vec<(Pair, TokenId)>,
        whole: Option<FxHashMap<Box<[u8]>, TokenId>>,
        specials: Vec<(String, TokenId)>,
    ) -> Result<Self> {
        let mut byte_ids = [NO_RANK; 256];
        for (id, t) in tokens.iter().enumerate() {
            if let Some(t) = t
                && t.len() == 1
                && byte_ids[t[0] as usize] == NO_RANK
            {
                byte_ids[t[0] as usize] = id as TokenId;
            }
        }
        let missing_bytes = byte_ids.contains(&NO_RANK);
        let ordinary_len = tokens.len();
        let mut decoder: Vec<Option<Box<[u8]>>> = tokens
            .into_iter()
            .map(|t| t.map(Vec::into_boxed_slice))
            .collect();
        for (text, id) in &specials {
            let id = *id as usize;
            if decoder.len() <= id {
                decoder.resize(id + 1, None);
            }
            // A special that is also an ordinary token keeps the ordinary token's bytes.
            decoder[id].get_or_insert_with(|| text.as_bytes().into());
        }
        let special_finder = (!specials.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(specials.iter().map(|s| &s.0))
                .expect("literal special tokens always build")
        });
        Ok(Tokenizer {
            name: name.to_string(),
            pattern,
            splitter: Splitter::new(pattern),
            decoder,
            byte_ids,
            pairs,
            merges,
            whole,
            specials,
            special_finder,
            ordinary_len,
            missing_bytes,
        })
    }

    /// Applies the policy for byte values without a token: an error naming the first one, or
    /// dropping them when encoding.
    fn with_missing_bytes(self, missing: MissingBytes) -> Result<Self> {
        match self.byte_ids.iter().position(|&id| id == NO_RANK) {
            Some(b) if missing == MissingBytes::Refuse => Err(Error::Corrupt {
                path: self.name.clone(),
                line: 0,
                message: format!("byte 0x{b:02x} has no token, so not every text can be encoded"),
            }),
            _ => Ok(self),
        }
    }

    /// Encode a piece that is itself a token as that token before any merging (tiktoken's
    /// rule, and `ignore_merges` in tokenizer.json).
    pub fn with_whole_piece_lookup(mut self) -> Self {
        let whole = (0..self.ordinary_len as TokenId)
            .filter_map(|id| Some((self.token_bytes(id)?.into(), id)))
            .collect();
        self.whole = Some(whole);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Number of ids, ordinary and special (one past the largest id).
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// The learned merges in rank order (empty for a tiktoken rank table).
    pub fn merges(&self) -> &[(Pair, TokenId)] {
        &self.merges
    }

    pub fn special_tokens(&self) -> &[(String, TokenId)] {
        &self.specials
    }

    /// The bytes of an ordinary token (not a special one).
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        if (id as usize) < self.ordinary_len {
            self.decoder[id as usize].as_deref()
        } else {
            None
        }
    }

    /// Encodes text with special tokens treated as plain text.
    pub fn encode_ordinary(&self, text: &str) -> Vec<TokenId> {
        let mut out = Vec::with_capacity(text.len() / 3);
        self.encode_ordinary_into(text, &mut out);
        out
    }

    fn encode_ordinary_into(&self, text: &str, out: &mut Vec<TokenId>) {
        for piece in self.splitter.split(text) {
            self.encode_piece(piece.as_bytes(), out);
        }
    }

    /// Encodes text; special tokens in `allowed` become their id, any other special token
    /// in the text is [`Error::DisallowedSpecial`] (tiktoken's rule).
    pub fn encode(&self, text: &str, allowed: &AllowedSpecial) -> Result<Vec<TokenId>> {
        let Some(finder) = &self.special_finder else {
            return Ok(self.encode_ordinary(text));
        };
        let is_allowed = |s: &str| match allowed {
            AllowedSpecial::None => false,
            AllowedSpecial::All => true,
            AllowedSpecial::Some(list) => list.iter().any(|a| a == s),
        };
        let mut out = Vec::with_capacity(text.len() / 3);
        let mut start = 0;
        for m in finder.find_iter(text) {
            let (token, id) = &self.specials[m.pattern().as_usize()];
            if !is_allowed(token) {
                return Err(Error::DisallowedSpecial {
                    token: token.clone(),
                    offset: m.start(),
                });
            }
            self.encode_ordinary_into(&text[start..m.start()], &mut out);
            out.push(*id);
            start = m.end();
        }
        self.encode_ordinary_into(&text[start..], &mut out);
        Ok(out)
    }

    /// Encodes text with every special token allowed.
    pub fn encode_with_special_tokens(&self, text: &str) -> Vec<TokenId> {
        self.encode(text, &AllowedSpecial::All)
            .expect("all special tokens are allowed")
    }

    /// Number of tokens of `text` encoded as ordinary text.
    pub fn count(&self, text: &str) -> usize {
        let mut out = Vec::with_capacity(64);
        let mut n = 0;
        for piece in self.splitter.split(text) {
            out.clear();
            self.encode_piece(piece.as_bytes(), &mut out);
            n += out.len();
        }
        n
    }

    /// The bytes behind `ids` (special tokens decode to their text).
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            match self.decoder.get(id as usize) {
                Some(Some(bytes)) => out.extend_from_slice(bytes),
                _ => return Err(Error::UnknownToken(id)),
            }
        }
        Ok(out)
    }

    /// The text behind `ids`; ids that cut a character in half decode with U+FFFD.
    pub fn decode(&self, ids: &[TokenId]) -> Result<String> {
        let bytes = self.decode_bytes(ids)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    #[inline]
    fn rank(&self, left: TokenId, right: TokenId) -> (u32, TokenId) {
        self.pairs
            .get(&pack((left, right)))
            .copied()
            .unwrap_or((NO_RANK, 0))
    }

    /// Encodes one pre-token and appends its ids to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        if let Some(whole) = &self.whole
            && let Some(&id) = whole.get(piece)
        {
            out.push(id);
            return;
        }
        if self.missing_bytes && piece.iter().any(|&b| self.byte_ids[b as usize] == NO_RANK) {
            // Bytes without a token are dropped, and merges never cross them.
            for part in piece.split(|&b| self.byte_ids[b as usize] == NO_RANK) {
                self.encode_piece(part, out);
            }
            return;
        }
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ids[piece[0] as usize]),
            n if n < LONG_PIECE_BYTES => self.merge_short(piece, out),
            _ => self.merge_long(piece, out),
        }
    }

    /// The scan: ids and the rank of each adjacent pair in stack arrays, merge the lowest.
    fn merge_short(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let mut ids = [0 as TokenId; LONG_PIECE_BYTES];
        let mut ranks = [(NO_RANK, 0 as TokenId); LONG_PIECE_BYTES];
        let mut n = piece.len();
        for (i, &b) in piece.iter().enumerate() {
            ids[i] = self.byte_ids[b as usize];
        }
        for i in 0..n - 1 {
            ranks[i] = self.rank(ids[i], ids[i + 1]);
        }
        loop {
            // The lowest rank, leftmost on ties (strict `<`).
            let mut best = (NO_RANK, 0);
            for (i, r) in ranks[..n - 1].iter().enumerate() {
                if r.0 < best.0 {
                    best = (r.0, i);
                }
            }
            if best.0 == NO_RANK {
                break;
            }
            let i = best.1;
            ids[i] = ranks[i].1;
            ids.copy_within(i + 2..n, i + 1);
            if i + 2 < n {
                ranks.copy_within(i + 2..n - 1, i + 1);
            }
            n -= 1;
            if i > 0 {
                ranks[i - 1] = self.rank(ids[i - 1], ids[i]);
            }
            if i + 1 < n {
                ranks[i] = self.rank(ids[i], ids[i + 1]);
            }
        }
        out.extend_from_slice(&ids[..n]);
    }

    /// The heap: a linked list of parts and a min-heap of (rank, position) candidates;
    /// a candidate whose pair has changed since it was pushed is skipped when popped.
    fn merge_long(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let n = piece.len();
        let mut ids: Vec<TokenId> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        for i in 0..n - 1 {
            let (r, _) = self.rank(ids[i], ids[i + 1]);
            if r != NO_RANK {
                heap.push(std::cmp::Reverse((r, i)));
            }
        }
        while let Some(std::cmp::Reverse((r, i))) = heap.pop() {
            if !alive[i] || next[i] >= n {
                continue;
            }
            let j = next[i];
            let (now, merged) = self.rank(ids[i], ids[j]);
            if now != r {
                continue;
            }
            ids[i] = merged;
            alive[j] = false;
            next[i] = next[j];
            if next[i] < n {
                prev[next[i]] = i;
                let (r, _) = self.rank(ids[i], ids[next[i]]);
                if r != NO_RANK {
                    heap.push(std::cmp::Reverse((r, i)));
                }
            }
            if prev[i] < n {
                let p = prev[i];
                let (r, _) = self.rank(ids[p], ids[i]);
                if r != NO_RANK {
                    heap.push(std::cmp::Reverse((r, p)));
                }
            }
        }
        let mut i = 0;
        while i < n {
            out.push(ids[i]);
            i = next[i];
        }
    }

    /// The merge list behind a tiktoken rank table, for formats that need one (tokenizer.json):
    /// a token of rank `r` is what BPE makes of its own bytes with only the ranks below `r`,
    /// and that is exactly two parts — the merge that creates it. Tokens that do not split in
    /// two (never the case in OpenAI's files) are left without a merge.
    pub fn derive_merges(&self) -> Vec<(Pair, TokenId)> {
        let mut merges = Vec::new();
        for id in 0..self.ordinary_len as TokenId {
            let Some(bytes) = self.token_bytes(id) else {
                continue;
            };
            if bytes.len() < 2 {
                continue;
            }
            let mut ids: Vec<TokenId> = bytes.iter().map(|&b| self.byte_ids[b as usize]).collect();
            loop {
                let best = (0..ids.len() - 1)
                    .map(|i| (self.rank(ids[i], ids[i + 1]), i))
                    .filter(|((r, _), _)| *r < id)
                    .min_by_key(|((r, _), i)| (*r, *i));
                let Some(((_, merged), i)) = best else { break };
                ids[i] = merged;
                ids.remove(i + 1);
            }
            if let [l, r] = ids[..] {
                merges.push(((l, r), id));
            }
        }
        merges
    }

    /// Whether a piece that is itself a token encodes as that token before merging.
    pub fn whole_piece_lookup(&self) -> bool {
        self.whole.is_some()
    }

    /// Test hook: encode a piece with the heap path whatever its length.
    #[doc(hidden)]
    pub fn encode_piece_long(&self, piece: &[u8]) -> Vec<TokenId> {
        let mut out = Vec::new();
        if piece.len() > 1 {
            self.merge_long(piece, &mut out);
        } else {
            self.encode_piece(piece, &mut out);
        }
        out
    }

    /// Test hook: encode a short piece with the scan, skipping the whole-piece lookup.
    #[doc(hidden)]
    pub fn encode_piece_short(&self, piece: &[u8]) -> Vec<TokenId> {
        let mut out = Vec::new();
        if piece.len() > 1 && piece.len() < LONG_PIECE_BYTES {
            self.merge_short(piece, &mut out);
        } else {
            self.encode_piece(piece, &mut out);
        }
        out
    }

    /// Ids of special tokens, as a set.
    pub fn special_ids(&self) -> FxHashSet<TokenId> {
        self.specials.iter().map(|s| s.1).collect()
    }
}

/// Cuts `text` at every occurrence of a special token, dropping the tokens: the ordinary
/// segments in order. Used by training, which never learns from special tokens.
pub fn split_on_specials<'a>(text: &'a str, specials: &[String]) -> Vec<&'a str> {
    if specials.is_empty() {
        return vec![text];
    }
    let finder = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(specials)
        .expect("literal special tokens always build");
    let mut out = Vec::new();
    let mut start = 0;
    for m in finder.find_iter(text) {
        out.push(&text[start..m.start()]);
        start = m.end();
    }
    out.push(&text[start..]);
    out
}
