//! The MoE feed-forward layer: a drop-in replacement for chapter 03's SwiGLU FFN.
//!
//! ```text
//! x [b, s, d] ─ flatten ─▶ [n, d]
//!   route:    logits = x · W_router [n, E]; probs = softmax(logits); top-k experts and weights
//!   dispatch: group the n·k assignments by expert (first come first served up to capacity),
//!             gather x's rows in that order: one contiguous block of rows per expert
//!   experts:  expert e runs ONE SwiGLU over its block (three matmuls of [tokens_e, d])
//!   combine:  scale each row by its weight, scatter-add back to its token's row
//!   + shared experts on every token (DeepSeek / Qwen style)
//! ```
//!
//! A token activates `top_k` of the `experts` SwiGLUs (plus the shared ones): the layer holds
//! `experts`× the parameters of one expert but spends only `top_k`× its FLOPs per token.

use crate::error::MoeError;
use crate::routing::{DispatchPlan, LoadStats, Scoring, capacity, fractions, plan_dispatch};
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ch03_transformer_block::{SwiGluFfn, SwiGluFfnConfig};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoeConfig {
    pub hidden: usize,
    /// Intermediate width of each routed expert.
    pub intermediate: usize,
    pub experts: usize,
    pub top_k: usize,
    pub scoring: Scoring,
    /// `None`: every expert takes every token routed to it (inference engines do this).
    pub capacity_factor: Option<f64>,
    /// Shared experts (each `intermediate` wide) that every token passes through. Several
    /// shared SwiGLUs summed equal one SwiGLU of the summed width, so they are stored as one.
    pub shared_experts: usize,
    pub init_std: f64,
}

impl MoeConfig {
    /// Softmax-then-top-k with renormalisation (Mixtral), no capacity limit, no shared experts.
    pub fn new(hidden: usize, intermediate: usize, experts: usize, top_k: usize) -> Self {
        MoeConfig {
            hidden,
            intermediate,
            experts,
            top_k,
            scoring: Scoring::SoftmaxThenTopK { renormalize: true },
            capacity_factor: None,
            shared_experts: 0,
            init_std: 0.02,
        }
    }
    pub fn with_scoring(mut self, scoring: Scoring) -> Self {
        self.scoring = scoring;
        self
    }
    pub fn with_capacity_factor(mut self, factor: Option<f64>) -> Self {
        self.capacity_factor = factor;
        self
    }
    pub fn with_shared_experts(mut self, n: usize) -> Self {
        self.shared_experts = n;
        self
    }

    pub fn validate(&self) -> Result<(), MoeError> {
        for (field, v) in [("hidden", self.hidden), ("intermediate", self.intermediate)] {
            if v == 0 {
                return Err(MoeError::Zero { field });
            }
        }
        if self.experts == 0 {
            return Err(MoeError::NoExperts);
        }
        if self.top_k == 0 {
            return Err(MoeError::ZeroTopK);
        }
        if self.top_k > self.experts {
            return Err(MoeError::TopKExceedsExperts {
                top_k: self.top_k,
                experts: self.experts,
            });
        }
        if let Some(factor) = self.capacity_factor
            && !(factor.is_finite() && factor > 0.0)
        {
            return Err(MoeError::CapacityFactor { factor });
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Result<MoeLayer, MoeError> {
        self.validate()?;
        let expert = |width| {
            SwiGluFfnConfig::new(self.hidden, width)
                .with_init_std(self.init_std)
                .init(device)
        };
        Ok(MoeLayer {
            router: LinearConfig::new(self.hidden, self.experts)
                .with_bias(false)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.init_std,
                })
                .init(device),
            experts: (0..self.experts)
                .map(|_| expert(self.intermediate))
                .collect(),
            shared: (self.shared_experts > 0)
                .then(|| expert(self.shared_experts * self.intermediate)),
            config: self.clone(),
        })
    }

    /// Parameters a token passes through: router, `top_k` experts, shared experts.
    pub fn active_params(&self) -> usize {
        let expert = 3 * self.hidden * self.intermediate;
        self.hidden * self.experts + (self.top_k + self.shared_experts) * expert
    }

    pub fn total_params(&self) -> usize {
        let expert = 3 * self.hidden * self.intermediate;
        self.hidden * self.experts + (self.experts + self.shared_experts) * expert
    }
}

#[derive(Module, Debug)]
pub struct MoeLayer {
    /// HF: `mlp.gate` (Mixtral: `block_sparse_moe.gate`), no bias.
    pub router: Linear,
    /// HF: `mlp.experts.{i}.{gate,up,down}_proj` (Mixtral calls them w1, w3, w2).
    pub experts: Vec<SwiGluFfn>,
    /// HF: `mlp.shared_expert(s)`.
    pub shared: Option<SwiGluFfn>,
    #[module(skip)]
    pub config: MoeConfig,
}

/// Wall time of each phase of one forward (the flex CPU backend runs eagerly, so the clock
/// around each phase measures that phase's work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseTimes {
    /// Router matmul, softmax, top-k, the choices to the host, the balance losses.
    pub route_s: f64,
    /// Grouping by expert and the gather of token rows.
    pub dispatch_s: f64,
    /// The routed experts' SwiGLUs and the shared experts.
    pub experts_s: f64,
    /// Weighting and the scatter-add back to token order.
    pub combine_s: f64,
}

impl PhaseTimes {
    pub fn total_s(&self) -> f64 {
        self.route_s + self.dispatch_s + self.experts_s + self.combine_s
    }
    /// Share of the layer's time not spent in expert matmuls.
    pub fn overhead_share(&self) -> f64 {
        (self.route_s + self.dispatch_s + self.combine_s) / self.total_s().max(f64::MIN_POSITIVE)
    }
}

pub struct MoeOutput {
    /// `[b, s, hidden]`: the FFN's contribution (the block adds the residual).
    pub output: Tensor<3>,
    /// Switch balance loss `N · Σ fᵢ·Pᵢ`, differentiable through `Pᵢ`.
    pub aux_loss: Tensor<1>,
    /// Router z-loss (ST-MoE): mean over tokens of `logsumexp(logits)²`; keeps logits small so
    /// the softmax stays out of its saturated, round-off-prone range.
    pub z_loss: Tensor<1>,
    pub plan: DispatchPlan,
    pub load: LoadStats,
    pub times: PhaseTimes,
}

impl MoeLayer {
    /// Replaces the router weight (`[hidden, experts]`): for constructed routing in tests and
    /// demonstrations.
    pub fn with_router_weight(mut self, weight: Tensor<2>) -> Result<Self, MoeError> {
        let expected = [self.config.hidden, self.config.experts];
        if weight.dims() != expected {
            return Err(MoeError::RouterShape {
                got: weight.dims(),
                expected,
            });
        }
        self.router.weight = Param::from_tensor(weight);
        Ok(self)
    }

    pub fn forward(&self, x: Tensor<3>) -> Result<MoeOutput, MoeError> {
        let [b, s, d] = x.dims();
        if d != self.config.hidden {
            return Err(MoeError::Width {
                got: d,
                expected: self.config.hidden,
            });
        }
        let (n, k, e) = (b * s, self.config.top_k, self.config.experts);
        if n == 0 {
            return Err(MoeError::Empty);
        }
        let device = x.device();
        let mut times = PhaseTimes::default();
        let mut clock = Instant::now();
        let mut lap = |slot: &mut f64| {
            *slot = clock.elapsed().as_secs_f64();
            clock = Instant::now();
        };

        // Route.
        let x2 = x.reshape([n, d]);
        let logits = self.router.forward(x2.clone());
        let probs = softmax(logits.clone(), 1);
        let (weights, chosen) = match self.config.scoring {
            Scoring::SoftmaxThenTopK { renormalize } => {
                let (top, idx) = probs.clone().topk_with_indices(k, 1);
                let top = if renormalize {
                    top.clone() / top.sum_dim(1)
                } else {
                    top
                };
                (top, idx)
            }
            Scoring::TopKThenSoftmax => {
                let (top, idx) = logits.clone().topk_with_indices(k, 1);
                (softmax(top, 1), idx)
            }
        };
        let chosen_host: Vec<usize> = chosen
            .into_data()
            .iter::<i64>()
            .map(|v| v as usize)
            .collect();
        let weights_host: Vec<f32> = weights.to_data().iter::<f32>().collect();
        lap(&mut times.route_s);

        // Dispatch.
        let cap = self.config.capacity_factor.map(|f| capacity(n, k, e, f));
        let plan = plan_dispatch(&chosen_host, &weights_host, k, e, cap);
        // Row of each slot in the expert-sorted order; dropped slots point one past the end.
        let m: usize = plan.kept.iter().map(Vec::len).sum();
        let mut slot_to_row = vec![m as i64; n * k];
        let tokens: Vec<i64> = (plan.kept.iter().flatten().enumerate())
            .map(|(row, a)| {
                slot_to_row[a.slot] = row as i64;
                a.token as i64
            })
            .collect();
        let index = |v: Vec<i64>| {
            let len = v.len();
            Tensor::<1, Int>::from_data(TensorData::new(v, [len]), &device)
        };
        let (token_idx, slot_to_row) = (index(tokens), index(slot_to_row));
        let x_sorted = x2.clone().select(0, token_idx);
        lap(&mut times.dispatch_s);

        // Experts: one SwiGLU call per expert over its contiguous block of rows.
        let mut parts = Vec::with_capacity(e);
        let mut start = 0;
        for (expert, kept) in self.experts.iter().zip(&plan.kept) {
            if kept.is_empty() {
                continue;
            }
            let rows = x_sorted.clone().slice([start..start + kept.len(), 0..d]);
            parts.push(expert.forward(rows.unsqueeze::<3>()).squeeze_dim::<2>(0));
            start += kept.len();
        }
        let shared = self
            .shared
            .as_ref()
            .map(|f| f.forward(x2.clone().unsqueeze::<3>()).squeeze_dim::<2>(0));
        lap(&mut times.experts_s);

        // Combine: un-permute the expert outputs back to slot order with one gather (a dropped
        // slot reads an appended zero row), weight each token's k rows and sum them.
        let mut y_sorted = if m > 0 {
            Tensor::cat(parts, 0)
        } else {
            Tensor::zeros([0, d], &device)
        };
        if !plan.dropped.is_empty() {
            y_sorted = Tensor::cat(vec![y_sorted, Tensor::zeros([1, d], &device)], 0);
        }
        let y_slots = y_sorted.select(0, slot_to_row).reshape([n, k, d]);
        let routed = (y_slots * weights.reshape([n, k, 1]))
            .sum_dim(1)
            .reshape([n, d]);
        let out = match shared {
            Some(shared) => shared + routed,
            None => routed,
        };
        let output = out.reshape([b, s, d]);
        lap(&mut times.combine_s);

        // Balance losses (reported with routing).
        let clock_losses = Instant::now();
        let load = plan.load();
        let f: Vec<f32> = fractions(&load.tokens_per_expert)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let f = Tensor::<1>::from_data(TensorData::new(f, [e]), &device).reshape([1, e]);
        let aux_loss = (probs.mean_dim(0) * f).sum() * e as f32;
        let max = logits.clone().max_dim(1);
        let lse = (logits - max.clone()).exp().sum_dim(1).log() + max;
        let z_loss = lse.powi_scalar(2).mean();
        times.route_s += clock_losses.elapsed().as_secs_f64();

        Ok(MoeOutput {
            output,
            aux_loss,
            z_loss,
            plan,
            load,
            times,
        })
    }
}

/// A dense SwiGLU baseline of a given width (e.g. `top_k · intermediate` for the same active
/// parameters, `experts · intermediate` for the same total).
pub fn dense_ffn(hidden: usize, intermediate: usize, device: &Device) -> SwiGluFfn {
    SwiGluFfnConfig::new(hidden, intermediate).init(device)
}
