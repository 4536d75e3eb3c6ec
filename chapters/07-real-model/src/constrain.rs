//! Constrained decoding: the model may only write a valid tool call.
//!
//! A 135M model asked for `{"tool": …, "params": {…}}` often writes almost that: a missing
//! brace, a prose preamble, `"replicas": "3"`. Serving engines (llama.cpp's grammars, vLLM and
//! SGLang with [llguidance](https://github.com/guidance-ai/llguidance) or
//! [XGrammar](https://arxiv.org/abs/2411.15100)) make such outputs impossible instead of
//! unlikely: at every step, the logits of every token that could not continue a valid output are
//! set to −∞ before sampling. Three steps build that mask here:
//!
//! 1. **Schema → regular expression.** With fixed whitespace and property order, the calls one
//!    tool set allows form a regular language: `{"tool": "scale_deployment", "params": {"name":
//!    STRING, "region": STRING, "replicas": INTEGER}}` and its siblings, optional parameters as
//!    optional groups. [`envelope`] writes it as a small regex tree ([`Re`]) over **bytes** — a
//!    token is bytes, and may end in the middle of a UTF-8 character, so the automaton must
//!    accept exactly the byte prefixes of valid UTF-8 text.
//! 2. **Regex → DFA.** Thompson's construction gives an NFA; the subset construction turns it
//!    into a table `state × byte → state` ([`Dfa`]), computed once per tool set.
//! 3. **DFA × vocabulary → mask.** All token byte strings go into a trie ([`TokenTrie`]). A mask
//!    is one walk of the trie from the current DFA state: a branch whose bytes lead to the dead
//!    state is skipped whole, so the cost is the number of trie nodes still alive, not
//!    vocabulary × token length.
//!
//! The dialect, stated because it decides which tokens are allowed (and set the same way in the
//! llguidance reference of the tests): separators exactly `", "` and `": "`, no other
//! whitespace; properties in the schema's order, optional ones may be left out; strings are
//! UTF-8 without `"`, `\`, the controls U+0000–U+001F and DEL, with the escapes `\" \\ \b \f \n \r
//! \t` (no `\/`, no `\uXXXX`); integers `-?(0|[1-9][0-9]*)`; numbers add an optional fraction
//! and exponent; booleans `true|false`. Once the call is complete, only the stop token is.

use crate::toolschema::{ParamType, ToolSpec};
use ch01_bpe::{TokenId, Tokenizer};
use std::collections::HashMap;

/// A regular expression over bytes.
#[derive(Debug, Clone)]
pub enum Re {
    /// These bytes, in order.
    Lit(Vec<u8>),
    /// One byte in `lo..=hi`.
    Range(u8, u8),
    Seq(Vec<Re>),
    Alt(Vec<Re>),
    Star(Box<Re>),
}

fn lit(s: &str) -> Re {
    Re::Lit(s.as_bytes().to_vec())
}
fn seq(v: impl Into<Vec<Re>>) -> Re {
    Re::Seq(v.into())
}
fn alt(v: impl Into<Vec<Re>>) -> Re {
    Re::Alt(v.into())
}
fn opt(r: Re) -> Re {
    alt([r, seq([])])
}
fn star(r: Re) -> Re {
    Re::Star(Box::new(r))
}
fn plus(r: Re) -> Re {
    seq([r.clone(), star(r)])
}
fn digit() -> Re {
    Re::Range(b'0', b'9')
}

/// One character of a JSON string: a UTF-8 encoded scalar value other than `"`, `\`, the C0
/// controls and DEL (RFC 3629's table, so overlong forms and surrogates are excluded), or an
/// escape.
fn string_char() -> Re {
    let tail = || Re::Range(0x80, 0xBF);
    let b = |lo, hi| Re::Range(lo, hi);
    alt([
        b(0x20, 0x21), // space, !   (0x22 is ")
        b(0x23, 0x5B), // # … [      (0x5C is \)
        b(0x5D, 0x7E), // ] … ~      (0x7F is DEL)
        seq([b(0xC2, 0xDF), tail()]),
        seq([b(0xE0, 0xE0), b(0xA0, 0xBF), tail()]),
        seq([b(0xE1, 0xEC), tail(), tail()]),
        seq([b(0xED, 0xED), b(0x80, 0x9F), tail()]),
        seq([b(0xEE, 0xEF), tail(), tail()]),
        seq([b(0xF0, 0xF0), b(0x90, 0xBF), tail(), tail()]),
        seq([b(0xF1, 0xF3), tail(), tail(), tail()]),
        seq([b(0xF4, 0xF4), b(0x80, 0x8F), tail(), tail()]),
        seq([
            lit("\\"),
            alt(["\"", "\\", "b", "f", "n", "r", "t"].map(lit)),
        ]),
    ])
}

/// The JSON text of one value of type `ty`.
pub fn value(ty: ParamType) -> Re {
    let integer = || {
        seq([
            opt(lit("-")),
            alt([lit("0"), seq([Re::Range(b'1', b'9'), star(digit())])]),
        ])
    };
    match ty {
        ParamType::String => seq([lit("\""), star(string_char()), lit("\"")]),
        ParamType::Integer => integer(),
        ParamType::Number => seq([
            integer(),
            opt(seq([lit("."), plus(digit())])),
            opt(seq([
                alt([lit("e"), lit("E")]),
                opt(alt([lit("+"), lit("-")])),
                plus(digit()),
            ])),
        ]),
        ParamType::Bool => alt([lit("true"), lit("false")]),
    }
}

/// Every complete tool call for `tools`, in the dialect above.
pub fn envelope(tools: &[ToolSpec]) -> Re {
    alt(tools
        .iter()
        .map(|t| {
            // The parameters: each present one after `, ` unless it is the first present.
            // Built from the last parameter back, as (rest when something came before, rest
            // when nothing did). `after_some` grows by one item per parameter and `after_none`
            // by one `after_some`, so the expression stays quadratic in the parameter count
            // (writing an optional item as `alt([seq([item, rest]), rest])` would double it).
            let (mut after_some, mut after_none) = (seq([]), seq([]));
            for p in t.params.iter().rev() {
                let item = |sep: &str| seq([lit(&format!("{sep}\"{}\": ", p.name)), value(p.ty)]);
                let none = seq([item(""), after_some.clone()]);
                (after_some, after_none) = if p.required {
                    (seq([item(", "), after_some]), none)
                } else {
                    (seq([opt(item(", ")), after_some]), alt([none, after_none]))
                };
            }
            seq([
                lit(&format!("{{\"tool\": \"{}\", \"params\": {{", t.name)),
                after_none,
                lit("}}"),
            ])
        })
        .collect::<Vec<_>>())
}

/// A state of the DFA. State 0 is dead: no continuation is valid.
pub type State = u32;
pub const DEAD: State = 0;

/// A deterministic automaton over bytes: one row of 256 next states per state.
#[derive(Debug, Clone)]
pub struct Dfa {
    next: Vec<[State; 256]>,
    accepting: Vec<bool>,
    /// Fewest bytes from each state to a complete call (`u32::MAX` for the dead state).
    to_accept: Vec<u32>,
    pub start: State,
}

/// Thompson NFA: byte edges and ε edges.
#[derive(Default)]
struct Nfa {
    bytes: Vec<Option<(u8, u8, usize)>>,
    eps: Vec<Vec<usize>>,
}

impl Nfa {
    fn add(&mut self, bytes: Option<(u8, u8, usize)>, eps: Vec<usize>) -> usize {
        self.bytes.push(bytes);
        self.eps.push(eps);
        self.bytes.len() - 1
    }

    /// A state that reads `re` and then continues at `next` (built back to front, so shared
    /// continuations are built once).
    fn compile(&mut self, re: &Re, next: usize) -> usize {
        match re {
            Re::Lit(bytes) => bytes
                .iter()
                .rev()
                .fold(next, |to, &b| self.add(Some((b, b, to)), vec![])),
            Re::Range(lo, hi) => self.add(Some((*lo, *hi, next)), vec![]),
            Re::Seq(items) => items.iter().rev().fold(next, |to, r| self.compile(r, to)),
            Re::Alt(items) => {
                let starts = items.iter().map(|r| self.compile(r, next)).collect();
                self.add(None, starts)
            }
            Re::Star(body) => {
                let lp = self.add(None, vec![]);
                let inner = self.compile(body, lp);
                self.eps[lp] = vec![inner, next];
                lp
            }
        }
    }

    fn closure(&self, states: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut seen = vec![false; self.eps.len()];
        let mut stack: Vec<usize> = states.into_iter().collect();
        let mut out = Vec::new();
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            out.push(s);
            stack.extend(&self.eps[s]);
        }
        out.sort_unstable();
        out
    }
}

impl Dfa {
    /// The subset construction: each DFA state is the set of NFA states reachable after the
    /// bytes read so far.
    pub fn new(re: &Re) -> Dfa {
        let mut nfa = Nfa::default();
        let accept = nfa.add(None, vec![]);
        let start = nfa.compile(re, accept);
        let mut ids: HashMap<Vec<usize>, State> = HashMap::new();
        let mut sets: Vec<Vec<usize>> = vec![Vec::new()]; // state 0: the empty set, dead
        ids.insert(Vec::new(), DEAD);
        let mut dfa = Dfa {
            next: vec![[DEAD; 256]],
            accepting: vec![false],
            to_accept: Vec::new(),
            start: 1,
        };
        let first = nfa.closure([start]);
        ids.insert(first.clone(), 1);
        sets.push(first);
        let mut todo = 1;
        while todo < sets.len() {
            let set = sets[todo].clone();
            let mut row = [DEAD; 256];
            for (byte, slot) in row.iter_mut().enumerate() {
                let moved = set.iter().filter_map(|&s| match nfa.bytes[s] {
                    Some((lo, hi, to)) if (lo..=hi).contains(&(byte as u8)) => Some(to),
                    _ => None,
                });
                let target = nfa.closure(moved);
                *slot = *ids.entry(target.clone()).or_insert_with(|| {
                    sets.push(target);
                    (sets.len() - 1) as State
                });
            }
            dfa.next.push(row);
            dfa.accepting.push(set.contains(&accept));
            todo += 1;
        }
        dfa.to_accept = dfa.distances_to_accept();
        dfa
    }

    /// Breadth-first search backwards from the accepting states: the fewest bytes that finish
    /// a call from each state.
    fn distances_to_accept(&self) -> Vec<u32> {
        let n = self.next.len();
        let mut into: Vec<Vec<State>> = vec![Vec::new(); n];
        for (from, row) in self.next.iter().enumerate() {
            for &to in row.iter().filter(|&&t| t != DEAD) {
                into[to as usize].push(from as State);
            }
        }
        let mut dist = vec![u32::MAX; n];
        let mut queue: std::collections::VecDeque<State> = (0..n as State)
            .filter(|&s| self.accepting[s as usize])
            .collect();
        queue.iter().for_each(|&s| dist[s as usize] = 0);
        while let Some(s) = queue.pop_front() {
            for &from in &into[s as usize] {
                if dist[from as usize] == u32::MAX {
                    dist[from as usize] = dist[s as usize] + 1;
                    queue.push_back(from);
                }
            }
        }
        dist
    }

    /// The fewest bytes that complete a call from `state`.
    pub fn bytes_to_accept(&self, state: State) -> u32 {
        self.to_accept[state as usize]
    }

    pub fn states(&self) -> usize {
        self.next.len()
    }

    #[inline]
    pub fn step(&self, state: State, byte: u8) -> State {
        self.next[state as usize][byte as usize]
    }

    /// The state after `bytes` (DEAD if they leave the language).
    pub fn walk(&self, state: State, bytes: &[u8]) -> State {
        bytes.iter().fold(state, |s, &b| self.step(s, b))
    }

    pub fn is_accepting(&self, state: State) -> bool {
        self.accepting[state as usize]
    }

    /// Whether any byte continues from `state`.
    pub fn can_continue(&self, state: State) -> bool {
        self.next[state as usize].iter().any(|&s| s != DEAD)
    }
}

/// One node of the token trie, in depth-first order: its children follow it, and the subtree
/// ends at `end`.
#[derive(Debug, Clone, Copy)]
struct TrieNode {
    byte: u8,
    token: Option<TokenId>,
    end: u32,
}

/// Every text token's bytes in a trie, stored flat in depth-first order so a walk is a loop
/// over an array that can jump over a subtree.
#[derive(Debug, Clone)]
pub struct TokenTrie {
    nodes: Vec<TrieNode>,
    vocab_size: usize,
}

impl TokenTrie {
    /// A trie over `(id, bytes)`; `vocab_size` bounds the ids.
    pub fn new(tokens: impl IntoIterator<Item = (TokenId, Vec<u8>)>, vocab_size: usize) -> Self {
        #[derive(Default)]
        struct Build {
            token: Option<TokenId>,
            children: std::collections::BTreeMap<u8, Build>,
        }
        let mut root = Build::default();
        for (id, bytes) in tokens {
            let node = bytes
                .iter()
                .fold(&mut root, |n, b| n.children.entry(*b).or_default());
            node.token = Some(id);
        }
        fn flatten(byte: u8, b: &Build, out: &mut Vec<TrieNode>) {
            let at = out.len();
            out.push(TrieNode {
                byte,
                token: b.token,
                end: 0,
            });
            for (&c, child) in &b.children {
                flatten(c, child, out);
            }
            out[at].end = out.len() as u32;
        }
        let mut nodes = Vec::new();
        flatten(0, &root, &mut nodes);
        TokenTrie { nodes, vocab_size }
    }

    /// The trie of `token_bytes` (indexed by id; empty for a token that is not text).
    pub fn from_token_bytes(token_bytes: &[Vec<u8>]) -> Self {
        let tokens = (token_bytes.iter().enumerate())
            .filter(|(_, b)| !b.is_empty())
            .map(|(id, b)| (id as TokenId, b.clone()));
        TokenTrie::new(tokens, token_bytes.len())
    }

    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Sets in `mask` every token whose bytes keep `dfa` alive from `state`, and in `within`
    /// those of them after which a call can still be finished in `max_bytes` bytes (none when
    /// `None`).
    fn allow_within(
        &self,
        dfa: &Dfa,
        state: State,
        max_bytes: Option<u32>,
        mask: &mut TokenMask,
        within: &mut TokenMask,
    ) {
        self.walk(dfa, state, |id, s| {
            mask.set(id);
            if max_bytes.is_some_and(|m| dfa.bytes_to_accept(s) <= m) {
                within.set(id);
            }
        });
    }

    /// Sets in `mask` every token whose bytes keep `dfa` alive from `state`.
    fn allow(&self, dfa: &Dfa, state: State, mask: &mut TokenMask) {
        self.walk(dfa, state, |id, _| mask.set(id));
    }

    /// Calls `found(token, state after it)` for every token that keeps `dfa` alive.
    fn walk(&self, dfa: &Dfa, state: State, mut found: impl FnMut(TokenId, State)) {
        let mut stack: Vec<(u32, State)> = vec![(self.nodes[0].end, state)];
        let mut i = 1u32;
        while (i as usize) < self.nodes.len() {
            while i >= stack.last().expect("root").0 {
                stack.pop();
            }
            let node = self.nodes[i as usize];
            let s = dfa.step(stack.last().expect("root").1, node.byte);
            if s == DEAD {
                i = node.end; // no token below this prefix can be valid
                continue;
            }
            if let Some(id) = node.token {
                found(id, s);
            }
            stack.push((node.end, s));
            i += 1;
        }
    }
}

/// A set of token ids, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMask {
    words: Vec<u64>,
}

impl TokenMask {
    pub fn empty(vocab_size: usize) -> Self {
        TokenMask {
            words: vec![0; vocab_size.div_ceil(64)],
        }
    }
    pub fn set(&mut self, id: TokenId) {
        self.words[id as usize / 64] |= 1 << (id % 64);
    }
    pub fn contains(&self, id: TokenId) -> bool {
        self.words
            .get(id as usize / 64)
            .is_some_and(|w| w >> (id % 64) & 1 == 1)
    }
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// The allowed ids, ascending.
    pub fn ids(&self) -> Vec<TokenId> {
        (0..self.words.len() * 64)
            .map(|i| i as TokenId)
            .filter(|&i| self.contains(i))
            .collect()
    }
    /// Sets the logit of every token not in the mask to −∞.
    pub fn apply(&self, logits: &mut [f32]) {
        for (i, l) in logits.iter_mut().enumerate() {
            if !self.contains(i as TokenId) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

/// A tool set's automaton, a vocabulary's trie and the token that ends the turn.
#[derive(Debug, Clone)]
pub struct ToolCallConstraint {
    pub dfa: Dfa,
    pub trie: TokenTrie,
    token_bytes: Vec<Vec<u8>>,
    pub stop: TokenId,
}

impl ToolCallConstraint {
    /// The tokenizer is decoded once: every id but the special tokens, which never stand for
    /// text and so are never allowed inside a call.
    pub fn new(tools: &[ToolSpec], tokenizer: &Tokenizer, stop: TokenId) -> Self {
        let specials = tokenizer.special_ids();
        let token_bytes: Vec<Vec<u8>> = (0..tokenizer.vocab_size() as TokenId)
            .map(|id| match specials.contains(&id) {
                true => Vec::new(),
                false => tokenizer.decode_bytes(&[id]).unwrap_or_default(),
            })
            .collect();
        ToolCallConstraint {
            dfa: Dfa::new(&envelope(tools)),
            trie: TokenTrie::from_token_bytes(&token_bytes),
            token_bytes,
            stop,
        }
    }

    /// The tokens allowed in `state`: those that keep the output a valid prefix, and the stop
    /// token once the call is complete.
    pub fn mask(&self, state: State) -> TokenMask {
        let mut mask = TokenMask::empty(self.trie.vocab_size);
        if state != DEAD {
            self.trie.allow(&self.dfa, state, &mut mask);
            if self.dfa.is_accepting(state) {
                mask.set(self.stop);
            }
        }
        mask
    }

    /// [`Self::mask`] under a token budget: `tokens_left` choices remain, this one included.
    /// A long string can run into `--max-new-tokens` and cut the call off; so once the budget
    /// gets short, only tokens after which the call (and the stop token) still fit are kept.
    /// Every byte is a token in a byte-level vocabulary, so `k` bytes need at most `k` tokens.
    /// If no token fits (a budget below the shortest call), the plain mask is returned.
    pub fn mask_within(&self, state: State, tokens_left: usize) -> TokenMask {
        let n = self.trie.vocab_size;
        let (mut mask, mut within) = (TokenMask::empty(n), TokenMask::empty(n));
        if state == DEAD {
            return mask;
        }
        // After this token: the call's remaining bytes, then the stop token.
        let max_bytes = tokens_left
            .checked_sub(2)
            .map(|b| b.min(u32::MAX as usize) as u32);
        self.trie
            .allow_within(&self.dfa, state, max_bytes, &mut mask, &mut within);
        if self.dfa.is_accepting(state) {
            mask.set(self.stop);
            within.set(self.stop);
        }
        if within.count() > 0 { within } else { mask }
    }

    /// The state after `token`; the stop token keeps an accepting state (the call is done).
    pub fn advance(&self, state: State, token: TokenId) -> State {
        if token == self.stop {
            return if self.dfa.is_accepting(state) {
                state
            } else {
                DEAD
            };
        }
        match self.token_bytes.get(token as usize) {
            Some(b) if !b.is_empty() => self.dfa.walk(state, b),
            _ => DEAD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParamType::*;

    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new("scale", &[("name", String, true), ("n", Integer, true)]),
            ToolSpec::new(
                "query",
                &[
                    ("m", String, true),
                    ("t", Number, false),
                    ("on", Bool, false),
                ],
            ),
        ]
    }

    fn accepts(dfa: &Dfa, text: &[u8]) -> bool {
        dfa.is_accepting(dfa.walk(dfa.start, text))
    }

    #[test]
    fn the_automaton_accepts_exactly_the_dialect() {
        let dfa = Dfa::new(&envelope(&tools()));
        let yes: [&[u8]; 7] = [
            br#"{"tool": "scale", "params": {"name": "api", "n": 3}}"#,
            br#"{"tool": "scale", "params": {"name": "", "n": -10}}"#,
            br#"{"tool": "query", "params": {"m": "p99"}}"#,
            br#"{"tool": "query", "params": {"m": "a\"b\\c\n", "t": 0.5e-3}}"#,
            br#"{"tool": "query", "params": {"m": "x", "on": false}}"#,
            br#"{"tool": "query", "params": {"m": "x", "t": 1, "on": true}}"#,
            "{\"tool\": \"query\", \"params\": {\"m\": \"서울 🚀\"}}".as_bytes(),
        ];
        for y in yes {
            assert!(
                accepts(&dfa, y),
                "{}",
                std::string::String::from_utf8_lossy(y)
            );
        }
        let no: [&[u8]; 12] = [
            br#"{"tool":"scale","params":{"name":"api","n":3}}"#, // other whitespace
            br#"{"tool": "scale", "params": {"n": 3, "name": "api"}}"#, // order
            br#"{"tool": "scale", "params": {"name": "api"}}"#,   // required missing
            br#"{"tool": "scale", "params": {"name": "api", "n": 03}}"#,
            br#"{"tool": "scale", "params": {"name": "api", "n": 3.0}}"#,
            br#"{"tool": "query", "params": {"m": "x", "on": true, "t": 1}}"#,
            br#"{"tool": "query", "params": {, "t": 1}}"#,
            br#"{"tool": "query", "params": {"m": "a\/b"}}"#, // escape outside the dialect
            br#"{"tool": "query", "params": {"m": "tab	"}}"#, // raw control
            b"{\"tool\": \"query\", \"params\": {\"m\": \"\xED\xA0\x80\"}}", // surrogate
            b"{\"tool\": \"query\", \"params\": {\"m\": \"\xC0\xAF\"}}", // overlong
            br#"{"tool": "delete", "params": {}}"#,
        ];
        for n in no {
            assert!(
                !accepts(&dfa, n),
                "{}",
                std::string::String::from_utf8_lossy(n)
            );
        }
        // A prefix that ends inside a UTF-8 character is alive; a bad continuation is dead.
        let s = dfa.walk(
            dfa.start,
            b"{\"tool\": \"query\", \"params\": {\"m\": \"\xEC",
        );
        assert_ne!(s, DEAD);
        assert_eq!(dfa.step(s, b'"'), DEAD);
    }

    fn nodes(re: &Re) -> usize {
        1 + match re {
            Re::Seq(v) | Re::Alt(v) => v.iter().map(nodes).sum(),
            Re::Star(r) => nodes(r),
            Re::Lit(_) | Re::Range(..) => 0,
        }
    }

    /// Optional parameters grow the expression quadratically, not exponentially: 64 of them
    /// (the most a schema may have) build in well under a second.
    #[test]
    fn many_optional_parameters_stay_small() {
        let size = |n: usize| {
            let names: Vec<std::string::String> = (0..n).map(|i| format!("p{i}")).collect();
            let params: Vec<(&str, ParamType, bool)> =
                names.iter().map(|p| (p.as_str(), Bool, false)).collect();
            nodes(&envelope(&[ToolSpec::new("many", &params)]))
        };
        // Quadratic: doubling the count at most quadruples the size (plus a constant).
        assert!(size(16) <= 4 * size(8) + 64, "{} vs {}", size(16), size(8));
        let names: Vec<std::string::String> = (0..64).map(|i| format!("p{i}")).collect();
        let params: Vec<(&str, ParamType, bool)> =
            names.iter().map(|p| (p.as_str(), Bool, false)).collect();
        let dfa = Dfa::new(&envelope(&[ToolSpec::new("many", &params)]));
        for (text, ok) in [
            (r#"{"tool": "many", "params": {}}"#, true),
            (r#"{"tool": "many", "params": {"p63": true}}"#, true),
            (
                r#"{"tool": "many", "params": {"p0": false, "p63": true}}"#,
                true,
            ),
            (
                r#"{"tool": "many", "params": {"p63": true, "p0": false}}"#,
                false,
            ),
            (r#"{"tool": "many", "params": {, "p1": true}}"#, false),
        ] {
            assert_eq!(accepts(&dfa, text.as_bytes()), ok, "{text}");
        }
    }

    #[test]
    fn a_token_budget_always_leaves_room_to_finish_the_call() {
        // Single bytes only: the slowest vocabulary to finish a call with.
        let words: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let stop = 256;
        let c = ToolCallConstraint {
            dfa: Dfa::new(&envelope(&tools())),
            trie: TokenTrie::new(
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (i as TokenId, w.clone())),
                257,
            ),
            token_bytes: words.iter().cloned().chain([Vec::new()]).collect(),
            stop,
        };
        let shortest = c.dfa.bytes_to_accept(c.dfa.start) as usize;
        assert_eq!(shortest, r#"{"tool": "query", "params": {"m": ""}}"#.len());
        let mut rng = ch02_attention::lookup::SplitMix64(3);
        for budget in [shortest + 1, shortest + 5, shortest + 40] {
            // A "model" that prefers to keep writing: the stop token last.
            let mut state = c.dfa.start;
            for used in 0..budget {
                let ids = c.mask_within(state, budget - used).ids();
                let keep_going: Vec<_> = ids.iter().filter(|&&i| i != stop).collect();
                let next = match keep_going.len() {
                    0 => stop,
                    n => *keep_going[(rng.next_f64() * n as f64) as usize],
                };
                if next == stop {
                    assert!(c.dfa.is_accepting(state));
                    break;
                }
                state = c.advance(state, next);
                assert!(used + 1 < budget, "budget {budget}: out of tokens mid-call");
            }
            assert!(c.dfa.is_accepting(state), "budget {budget}");
        }
    }

    #[test]
    fn the_trie_walk_equals_checking_every_token() {
        let dfa = Dfa::new(&envelope(&tools()));
        // A made-up vocabulary: every byte, and multi-byte pieces that cross boundaries.
        let mut words: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for w in [
            "{\"", "tool", "\": \"", "scale", "sc", "\", \"", "params", "\": {\"", "name", "\"}}",
            "}}", "12", "3}}", "-0", "true", "tr", ", \"on", "서울", "\\n", "\"\"",
        ] {
            words.push(w.as_bytes().to_vec());
        }
        words.push(vec![0xEC, 0x84]); // the first two bytes of 서
        let trie = TokenTrie::new(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| (i as TokenId, w.clone())),
            words.len(),
        );
        let texts = [
            "",
            "{\"tool\": \"s",
            "{\"tool\": \"scale\", \"params\": {\"name\": \"a",
            "{\"tool\": \"scale\", \"params\": {\"name\": \"a\", \"n\": 1",
            "{\"tool\": \"query\", \"params\": {\"m\": \"\\",
        ];
        for t in texts {
            let s = dfa.walk(dfa.start, t.as_bytes());
            assert_ne!(s, DEAD, "{t}");
            let mut mask = TokenMask::empty(words.len());
            trie.allow(&dfa, s, &mut mask);
            for (i, w) in words.iter().enumerate() {
                let alive = dfa.walk(s, w) != DEAD;
                assert_eq!(mask.contains(i as TokenId), alive, "{t:?} + {w:?}");
            }
        }
    }
}
