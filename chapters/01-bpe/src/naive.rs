//! The naive trainer: the algorithm as it is first explained.
//!
//! Each merge recounts every pair in every word, picks the most frequent, and rewrites every
//! word. With `M` merges over a corpus of `W` distinct words of average length `L`, that is
//! O(M × W × L): a 50,000-merge vocabulary re-reads the whole corpus 50,000 times. It is
//! here because it is obviously right; `tests/trainers.rs` holds the fast trainer to it.

use crate::base::{Learner, Merge, PairKey, TieBreak, Vocab, Word, count_pairs, merge_pair};
use rustc_hash::FxHashMap;

/// Recount everything, merge the best pair, repeat.
#[derive(Debug, Clone, Copy, Default)]
pub struct NaiveTrainer;

impl Learner for NaiveTrainer {
    fn learn(
        &self,
        mut words: Vec<Word>,
        vocab: &mut Vocab,
        vocab_size: usize,
        tie: TieBreak,
    ) -> Vec<Merge> {
        let key = PairKey::new(tie);
        let mut merges = Vec::new();
        let mut counts = FxHashMap::default();
        while vocab.len() < vocab_size {
            counts.clear();
            for w in &words {
                count_pairs(&w.ids, w.count, &mut counts);
            }
            let Some((&pair, &count)) = counts.iter().reduce(|a, b| {
                if key.better(*b.1, *b.0, *a.1, *a.0) {
                    b
                } else {
                    a
                }
            }) else {
                break; // every word is a single token
            };
            let id = vocab.add_merge(pair);
            for w in &mut words {
                merge_pair(&mut w.ids, pair, id);
            }
            merges.push(Merge { pair, id, count });
        }
        merges
    }
}
