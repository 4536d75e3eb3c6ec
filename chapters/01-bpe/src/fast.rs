//! The fast trainer: count once, then update only what a merge touches.
//!
//! Three structures replace the recount:
//! * `counts`: the count of every pair, kept exact;
//! * `holders`: for every pair, the words that contain it — a merge of `(a, b)` visits only
//!   those words, not the corpus;
//! * a max-heap of `(count, pair)` candidates, ordered like the naive trainer's choice
//!   ([`PairKey`]). A merge lowers the counts of the pairs around each occurrence; rather than
//!   search the heap for them, the heap keeps stale entries and checks an entry against
//!   `counts` when it reaches the top: stale, it goes back with its true count. Counts of old
//!   pairs only ever fall, and every pair that grew (it contains the merged token) is pushed
//!   with its new count, so the first entry that matches its true count is the true maximum.
//!
//! Each merge then costs the words it touches, and the trainer makes the same choices as the
//! naive one, merge for merge (`tests/trainers.rs`).

use crate::base::{Learner, Merge, Pair, PairKey, TieBreak, Vocab, Word, merge_pair};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Pair counts + inverted index + lazy max-heap.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastTrainer;

struct Candidate<'k> {
    count: u64,
    pair: Pair,
    key: &'k PairKey,
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate<'_> {}
impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher count first; on a tie the smaller key is "greater" so it pops first.
        self.count
            .cmp(&other.count)
            .then_with(|| self.key.key(other.pair).cmp(&self.key.key(self.pair)))
    }
}

impl Learner for FastTrainer {
    fn learn(
        &self,
        mut words: Vec<Word>,
        vocab: &mut Vocab,
        vocab_size: usize,
        tie: TieBreak,
    ) -> Vec<Merge> {
        let key = PairKey::new(tie);
        let mut counts: FxHashMap<Pair, u64> = FxHashMap::default();
        let mut holders: FxHashMap<Pair, FxHashSet<u32>> = FxHashMap::default();
        for (wi, w) in words.iter().enumerate() {
            for p in w.ids.windows(2) {
                let pair = (p[0], p[1]);
                *counts.entry(pair).or_insert(0) += w.count;
                holders.entry(pair).or_default().insert(wi as u32);
            }
        }
        let mut heap: BinaryHeap<Candidate> = counts
            .iter()
            .map(|(&pair, &count)| Candidate {
                count,
                pair,
                key: &key,
            })
            .collect();

        let mut merges = Vec::new();
        let mut grown: FxHashSet<Pair> = FxHashSet::default();
        while vocab.len() < vocab_size {
            let Some(top) = heap.pop() else { break };
            let now = counts.get(&top.pair).copied().unwrap_or(0);
            if now == 0 {
                continue;
            }
            if now != top.count {
                heap.push(Candidate { count: now, ..top });
                continue;
            }
            let pair = top.pair;
            let id = vocab.add_merge(pair);
            let mut touched: Vec<u32> = holders
                .remove(&pair)
                .unwrap_or_default()
                .into_iter()
                .collect();
            touched.sort_unstable();
            grown.clear();
            for wi in touched {
                let w = &mut words[wi as usize];
                if !w.ids.windows(2).any(|p| (p[0], p[1]) == pair) {
                    continue; // the index is a superset: an earlier merge took the pair away
                }
                for p in w.ids.windows(2) {
                    *counts.get_mut(&(p[0], p[1])).expect("counted") -= w.count;
                }
                merge_pair(&mut w.ids, pair, id);
                for p in w.ids.windows(2) {
                    let q = (p[0], p[1]);
                    *counts.entry(q).or_insert(0) += w.count;
                    if q.0 == id || q.1 == id {
                        holders.entry(q).or_default().insert(wi);
                        grown.insert(q);
                    }
                }
            }
            counts.remove(&pair);
            for &q in &grown {
                let count = counts[&q];
                if count > 0 {
                    heap.push(Candidate {
                        count,
                        pair: q,
                        key: &key,
                    });
                }
            }
            merges.push(Merge {
                pair,
                id,
                count: now,
            });
        }
        merges
    }
}
