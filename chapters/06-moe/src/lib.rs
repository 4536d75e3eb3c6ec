//! Chapter 06 — Mixture of Experts: a router picks `top_k` of `experts` SwiGLU feed-forwards
//! for each token, so the layer holds many experts' parameters but spends a few experts' FLOPs.
//!
//! Read in this order:
//! 1. [`routing`]: scoring conventions, capacity, the dispatch plan (tokens grouped by expert,
//!    first come first served), load statistics, the Switch balance loss — plain numbers.
//! 2. [`layer`]: the burn module — route, dispatch (one gather), one SwiGLU call per expert,
//!    combine (one scatter-add), shared experts, aux and z losses, a per-phase timing.
//! 3. [`reference`]: the same layer as independent per-token loops in ndarray (f64).
//! 4. [`demo`]: constructed balanced and skewed routers, MoE vs dense timing.
//!
//! The experts are chapter 03's [`ch03_transformer_block::SwiGluFfn`], unchanged.

pub mod demo;
pub mod error;
pub mod layer;
pub mod reference;
pub mod routing;

pub use error::MoeError;
pub use layer::{MoeConfig, MoeLayer, MoeOutput, PhaseTimes, dense_ffn};
pub use routing::{
    DispatchPlan, LoadStats, Scoring, capacity, plan_dispatch, switch_aux_loss, top_k_per_row,
};
