//! The MoE feed-forward layer: a drop-in replacement for chapter 03's SwiGLU FFN.
//!
//! ```text
//! x [b, s, d] ─ flatten ─▶ [n, d]
//!   route:    logits = x · W_router [n, E]; top-k of each row (on the host); weights from
//!             the chosen logits (softmax over the k, or their share of the full softmax)
//!   plan:     group the n·k assignments by expert (first come first served up to capacity)
//!   experts:  for each expert e: gather its tokens' rows [tokens_e, d], ONE SwiGLU over them
//!             (three matmuls), scale each row by its weight, scatter-add into the token's row
//!   + shared experts on every token (DeepSeek / Qwen style)
//! ```
//!
//! A token activates `top_k` of the `experts` SwiGLUs (plus the shared ones): the layer holds
//! `experts`× the parameters of one expert but spends only `top_k`× its FLOPs per token.

use crate::error::MoeError;
use crate::routing::{
    DispatchPlan, LoadStats, Scoring, capacity, fractions, plan_dispatch, top_k_per_row,
};
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};
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
    /// Router matmul, the logits to the host, top-k, the chosen weights.
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
    /// `[n, E]`, kept for the training losses.
    pub router_logits: Tensor<2>,
    pub plan: DispatchPlan,
    pub load: LoadStats,
    pub times: PhaseTimes,
}

/// The balance losses are computed when asked for, as HF's Mixtral computes its load-balancing
/// loss only with `output_router_logits`: training adds them to the task loss, inference (and
/// the layer's timed forward) never pays for them.
impl MoeOutput {
    /// Switch balance loss `N · Σ fᵢ·Pᵢ`, differentiable through `Pᵢ` (the mean router
    /// probability of expert i; `fᵢ` is counted from the plan).
    pub fn aux_loss(&self) -> Tensor<1> {
        let e = self.plan.experts;
        let f: Vec<f32> = fractions(&self.load.tokens_per_expert)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let device = self.router_logits.device();
        let f = Tensor::<1>::from_data(TensorData::new(f, [e]), &device).reshape([1, e]);
        let probs = softmax(self.router_logits.clone(), 1);
        (probs.mean_dim(0) * f).sum() * e as f32
    }

    /// Router z-loss (ST-MoE): mean over tokens of `logsumexp(logits)²`; keeps logits small so
    /// the softmax stays out of its saturated, round-off-prone range.
    pub fn z_loss(&self) -> Tensor<1> {
        logsumexp(&self.router_logits).powi_scalar(2).mean()
    }
}

/// `[n, E]` → `[n, 1]`: `max + ln Σ e^{l − max}`, which cannot overflow.
fn logsumexp(logits: &Tensor<2>) -> Tensor<2> {
    let max = logits.clone().max_dim(1);
    (logits.clone() - max.clone()).exp().sum_dim(1).log() + max
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
            *slot += clock.elapsed().as_secs_f64();
            clock = Instant::now();
        };

        // Route: logits on the device, the top-k choice on the host (softmax is monotonic, so
        // the k largest logits are the k largest probabilities; a few comparisons per token),
        // the chosen weights computed from the chosen logits as a tensor, so the router still
        // gets the task loss's gradient through them.
        let x2 = x.reshape([n, d]); // [n, d]
        let logits = self.router.forward(x2.clone()); // [n, E]
        let logits_host: Vec<f32> = logits.to_data().iter::<f32>().collect();
        let chosen_host = top_k_per_row(&logits_host, e, k);
        let index = |v: Vec<i64>| {
            let len = v.len();
            Tensor::<1, Int>::from_data(TensorData::new(v, [len]), &device)
        };
        let chosen = index(chosen_host.iter().map(|&c| c as i64).collect()).reshape([n, k]);
        let top = logits.clone().gather(1, chosen); // [n, k]
        let weights = match self.config.scoring {
            // Renormalised chosen probabilities = a softmax over the chosen logits alone.
            Scoring::SoftmaxThenTopK { renormalize: true } | Scoring::TopKThenSoftmax => {
                softmax(top, 1)
            }
            // Their share of the full softmax: e^{l - logsumexp(all logits)}.
            Scoring::SoftmaxThenTopK { renormalize: false } => (top - logsumexp(&logits)).exp(),
        };
        let weights_host: Vec<f32> = weights.to_data().iter::<f32>().collect();
        let weights = weights.reshape([n * k]); // one weight per slot
        lap(&mut times.route_s);

        // Dispatch plan: the slots grouped by expert (a counting sort on the host).
        let cap = self.config.capacity_factor.map(|f| capacity(n, k, e, f));
        let plan = plan_dispatch(&chosen_host, &weights_host, k, e, cap);
        lap(&mut times.dispatch_s);

        // Each expert in turn: gather its tokens' rows, ONE SwiGLU over them, scale each row by
        // its weight and add it into the token's output row. Working expert by expert keeps
        // every buffer `tokens_e × d`: no `n·k × d` copy of the input or of the outputs is ever
        // made (a dropped slot is simply in no expert's list, and adds nothing). The index
        // tensors are built once, in expert order; each expert reads its range of them.
        let kept = plan.kept.iter().flatten();
        let m = plan.kept.iter().map(Vec::len).sum::<usize>();
        let tokens = index(kept.clone().map(|a| a.token as i64).collect());
        let slots = index(kept.map(|a| a.slot as i64).collect());
        let row_weights = weights.select(0, slots).reshape([m, 1]); // [m, 1], expert order
        let mut routed = Tensor::<2>::zeros([n, d], &device);
        let mut start = 0;
        lap(&mut times.dispatch_s);
        for (expert, kept) in self.experts.iter().zip(&plan.kept) {
            if kept.is_empty() {
                continue;
            }
            let range = start..start + kept.len();
            start = range.end;
            let tokens = tokens.clone().slice(range.clone());
            let rows = x2.clone().select(0, tokens.clone()); // [tokens_e, d]
            lap(&mut times.dispatch_s);
            let y = expert.forward(rows.unsqueeze::<3>()).squeeze_dim::<2>(0);
            lap(&mut times.experts_s);
            let w = row_weights.clone().slice([range, 0..1]);
            routed = routed.select_assign(0, tokens, y * w, IndexingUpdateOp::Add);
            lap(&mut times.combine_s);
        }
        let out = match &self.shared {
            Some(f) => {
                let shared = f.forward(x2.unsqueeze::<3>()).squeeze_dim::<2>(0);
                lap(&mut times.experts_s);
                shared + routed
            }
            None => routed,
        };
        let output = out.reshape([b, s, d]);
        lap(&mut times.combine_s);

        let load = plan.load();
        Ok(MoeOutput {
            output,
            router_logits: logits,
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
