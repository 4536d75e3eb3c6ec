//! The host-side bookkeeping of routing, as pure functions over plain numbers: which tokens
//! each expert takes (in token order) and which it drops at capacity, the load statistics of a
//! batch, and the Switch-Transformer balance loss. The layer ([`crate::layer`]) computes the
//! router's logits with tensors, picks each token's experts here ([`top_k_per_row`]) and plans
//! the dispatch here; tests call these directly too.

use serde::Serialize;
use std::cmp::Ordering;

/// How the router's scores become the weights of the chosen experts.
///
/// * `SoftmaxThenTopK`: softmax over all experts, keep the k largest probabilities (Mixtral in
///   HF `transformers`, Switch, DeepSeek, Qwen-MoE). With `renormalize` the kept k are divided
///   by their sum so they add to 1 (Mixtral; Qwen's `norm_topk_prob = true`); without it they
///   keep their share of the full softmax (Switch with k = 1; Qwen2-MoE's default).
/// * `TopKThenSoftmax`: keep the k largest logits, softmax over those k only (Mixtral's
///   original reference code). This equals `SoftmaxThenTopK` *with* renormalisation — the
///   softmax's normaliser cancels in the ratio — which the tests check; the two differ only
///   when the softmax-first form is not renormalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scoring {
    SoftmaxThenTopK { renormalize: bool },
    TopKThenSoftmax,
}

/// Slots per expert: `ceil(capacity_factor · tokens · top_k / experts)`. A factor of 1 gives
/// each expert exactly its fair share of the `tokens · top_k` assignments; Switch trained with
/// 1.0–1.25, GShard with 2.0.
pub fn capacity(tokens: usize, top_k: usize, experts: usize, capacity_factor: f64) -> usize {
    (capacity_factor * (tokens * top_k) as f64 / experts as f64).ceil() as usize
}

/// For each row of `scores` (`[tokens, experts]`, row-major), the indices of its `k` largest
/// scores, largest first (ties: the lower index first, as a stable sort would give):
/// `[tokens, k]`, row-major. One pass per row keeping the best `k` so far sorted (an insertion
/// sort of `k` entries): a score below the k-th costs one comparison, so a row costs about `E`
/// comparisons instead of a sort of all `E`. (A row holding NaN has no order; its picks are
/// unspecified.)
pub fn top_k_per_row(scores: &[f32], experts: usize, k: usize) -> Vec<usize> {
    assert!(k <= experts && experts > 0 && scores.len().is_multiple_of(experts));
    if k == 0 {
        return Vec::new();
    }
    let mut chosen = Vec::with_capacity(scores.len() / experts * k);
    let (mut best, mut best_score) = (vec![0usize; k], vec![f32::NEG_INFINITY; k]);
    for row in scores.chunks_exact(experts) {
        let mut len = 0;
        for (i, &v) in row.iter().enumerate() {
            if len == k {
                if v.partial_cmp(&best_score[k - 1]) != Some(Ordering::Greater) {
                    continue;
                }
                len -= 1;
            }
            let mut at = len;
            while at > 0 && v.partial_cmp(&best_score[at - 1]) == Some(Ordering::Greater) {
                best[at] = best[at - 1];
                best_score[at] = best_score[at - 1];
                at -= 1;
            }
            best[at] = i;
            best_score[at] = v;
            len += 1;
        }
        chosen.extend_from_slice(&best[..len]);
    }
    chosen
}

/// One token's claim on one expert: `slot` is `token · top_k + j` for its j-th choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assignment {
    pub token: usize,
    pub slot: usize,
    pub expert: usize,
    pub weight: f32,
}

/// Tokens grouped by expert: `kept[e]` is expert e's work list in token order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispatchPlan {
    pub experts: usize,
    pub top_k: usize,
    pub tokens: usize,
    /// Slots per expert, `None` for no limit.
    pub capacity: Option<usize>,
    pub kept: Vec<Vec<Assignment>>,
    /// Assignments over capacity, in token order. Their expert contributes nothing to the token
    /// (its other experts still do, with their weights unchanged), so a token dropped by all its
    /// experts leaves the layer as zero and passes through the block's residual unchanged.
    pub dropped: Vec<Assignment>,
}

/// Groups the router's choices by expert. `chosen` and `weights` are `[tokens, top_k]` row-major.
///
/// Dropping is **first come, first served in token order**: expert e keeps the first
/// `capacity` tokens (lowest token index) that chose it and drops the rest, whatever their
/// weight — what Switch/GShard-style implementations do with a cumulative sum over the token
/// axis. (Dropping by priority — lowest weight first — is the alternative of "Batch
/// Prioritized Routing" in V-MoE.)
pub fn plan_dispatch(
    chosen: &[usize],
    weights: &[f32],
    top_k: usize,
    experts: usize,
    capacity: Option<usize>,
) -> DispatchPlan {
    assert_eq!(chosen.len(), weights.len());
    let tokens = chosen.len() / top_k.max(1);
    let mut kept: Vec<Vec<Assignment>> = vec![Vec::new(); experts];
    let mut dropped = Vec::new();
    for (slot, (&expert, &weight)) in chosen.iter().zip(weights).enumerate() {
        let a = Assignment {
            token: slot / top_k,
            slot,
            expert,
            weight,
        };
        if capacity.is_some_and(|c| kept[expert].len() >= c) {
            dropped.push(a);
        } else {
            kept[expert].push(a);
        }
    }
    DispatchPlan {
        experts,
        top_k,
        tokens,
        capacity,
        kept,
        dropped,
    }
}

impl DispatchPlan {
    /// Assignments each expert received from the router, before capacity.
    pub fn routed_per_expert(&self) -> Vec<usize> {
        let mut routed: Vec<usize> = self.kept.iter().map(Vec::len).collect();
        for a in &self.dropped {
            routed[a.expert] += 1;
        }
        routed
    }

    pub fn load(&self) -> LoadStats {
        LoadStats::new(
            self.routed_per_expert(),
            self.kept.iter().map(Vec::len).collect(),
            self.capacity,
        )
    }
}

/// Load of one batch. The mean load is `tokens · top_k / experts` assignments per expert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadStats {
    /// Assignments the router sent to each expert (before capacity).
    pub tokens_per_expert: Vec<usize>,
    /// Assignments each expert processed (after capacity).
    pub kept_per_expert: Vec<usize>,
    pub capacity: Option<usize>,
    /// Standard deviation / mean of `tokens_per_expert` (0 = perfectly even).
    pub coefficient_of_variation: f64,
    /// `max load / mean load − 1`: how much longer the busiest expert works than an even split
    /// would need. In expert-parallel serving every device waits for the busiest one.
    pub max_violation: f64,
    /// Dropped assignments / all assignments.
    pub drop_rate: f64,
}

impl LoadStats {
    pub fn new(routed: Vec<usize>, kept: Vec<usize>, capacity: Option<usize>) -> LoadStats {
        let total: usize = routed.iter().sum();
        let mean = total as f64 / routed.len().max(1) as f64;
        let var = routed
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / routed.len().max(1) as f64;
        let max = routed.iter().copied().max().unwrap_or(0) as f64;
        let kept_total: usize = kept.iter().sum();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        LoadStats {
            coefficient_of_variation: ratio(var.sqrt(), mean),
            max_violation: ratio(max, mean) - if mean > 0.0 { 1.0 } else { 0.0 },
            drop_rate: ratio((total - kept_total) as f64, total as f64),
            tokens_per_expert: routed,
            kept_per_expert: kept,
            capacity,
        }
    }
}

/// The Switch Transformer's load-balancing loss, `N · Σᵢ fᵢ · Pᵢ`: `fᵢ` the fraction of
/// assignments routed to expert i (counted, so it carries no gradient), `Pᵢ` the mean router
/// probability of expert i (differentiable). With `fᵢ` normalised over `tokens · top_k`
/// assignments it is 1 when routing is uniform and at most N when one expert takes everything
/// with certainty; its gradient pushes probability away from over-loaded experts.
pub fn switch_aux_loss(fractions: &[f64], mean_probs: &[f64]) -> f64 {
    let n = fractions.len() as f64;
    n * fractions
        .iter()
        .zip(mean_probs)
        .map(|(f, p)| f * p)
        .sum::<f64>()
}

/// `fᵢ` of [`switch_aux_loss`] from the routed counts.
pub fn fractions(tokens_per_expert: &[usize]) -> Vec<f64> {
    let total = tokens_per_expert.iter().sum::<usize>().max(1) as f64;
    tokens_per_expert
        .iter()
        .map(|&c| c as f64 / total)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a stable sort of every row by descending score, on rows full of ties (scores
    /// drawn from 5 values) so the lower-index rule is exercised.
    #[test]
    fn top_k_per_row_equals_a_stable_sort() {
        let (experts, rows) = (64, 200);
        let mut state = 7u64;
        let scores: Vec<f32> = (0..experts * rows)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 5) as f32 - 2.0
            })
            .collect();
        for k in [1, 2, 8, 64] {
            let got = top_k_per_row(&scores, experts, k);
            let want: Vec<usize> = scores
                .chunks_exact(experts)
                .flat_map(|row| {
                    let mut order: Vec<usize> = (0..experts).collect();
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                    order.truncate(k);
                    order
                })
                .collect();
            assert_eq!(got, want, "k = {k}");
        }
    }
}
