//! Constructed routers for the demonstrations: a *balanced* one (random weights on isotropic
//! inputs: every expert equally likely) and a *skewed* one, where the hidden states share a
//! common direction (as real ones do) and the router's columns align with it by
//! `−skew · ln(e + 1)`, so low-numbered experts win most tokens — the picture of an untrained
//! or collapsing router that the balance loss exists to prevent.

use crate::error::MoeError;
use crate::layer::{MoeConfig, MoeLayer, PhaseTimes, dense_ffn};
use crate::routing::LoadStats;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use ch02_attention::timing::{median_run, median_time};
use serde::Serialize;
use std::time::Duration;

/// Inputs `N(0, 1) + u`, with `u = (1, …, 1)/√hidden` a direction shared by all tokens.
pub fn demo_inputs(tokens: usize, hidden: usize, device: &Device) -> Tensor<3> {
    let z = Tensor::<3>::random([1, tokens, hidden], Distribution::Normal(0.0, 1.0), device);
    z + (1.0 / (hidden as f64).sqrt())
}

/// Router weight `N(0, 1/hidden) + u ⊗ β`, `β_e = −skew · ln(e + 1)`; skew 0 is balanced.
pub fn demo_router(hidden: usize, experts: usize, skew: f64, device: &Device) -> Tensor<2> {
    let std = 1.0 / (hidden as f64).sqrt();
    let w = Tensor::<2>::random([hidden, experts], Distribution::Normal(0.0, std), device);
    let beta: Vec<f32> = (0..experts)
        .map(|e| (-skew * ((e + 1) as f64).ln()) as f32)
        .collect();
    let beta = Tensor::<2>::from_data(TensorData::new(beta, [1, experts]), device);
    let u = Tensor::<2>::ones([hidden, 1], device) * std;
    w + u.matmul(beta)
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadDemo {
    pub router: String,
    pub experts: usize,
    pub top_k: usize,
    pub tokens: usize,
    pub capacity_factor: Option<f64>,
    pub load: LoadStats,
    pub aux_loss: f32,
    pub z_loss: f32,
}

/// Routes `tokens` demo inputs through a layer with a constructed router of the given skew.
pub fn load_demo(
    config: &MoeConfig,
    tokens: usize,
    skew: f64,
    device: &Device,
) -> Result<LoadDemo, MoeError> {
    let layer = config.init(device)?.with_router_weight(demo_router(
        config.hidden,
        config.experts,
        skew,
        device,
    ))?;
    let out = layer.forward(demo_inputs(tokens, config.hidden, device))?;
    Ok(LoadDemo {
        router: if skew == 0.0 {
            "balanced".into()
        } else {
            format!("skewed ({skew})")
        },
        experts: config.experts,
        top_k: config.top_k,
        tokens,
        capacity_factor: config.capacity_factor,
        aux_loss: out.aux_loss().into_scalar::<f32>(),
        z_loss: out.z_loss().into_scalar::<f32>(),
        load: out.load,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SpeedDemo {
    pub experts: usize,
    pub top_k: usize,
    pub hidden: usize,
    /// Width of each expert.
    pub intermediate: usize,
    pub tokens: usize,
    pub active_params: usize,
    pub total_params: usize,
    pub moe_s: f64,
    /// Dense SwiGLU `top_k · intermediate` wide: the same active parameters.
    pub dense_active_s: f64,
    /// Dense SwiGLU `experts · intermediate` wide: the same total parameters.
    pub dense_total_s: f64,
    /// Phase times of the median MoE run.
    pub phases: PhaseTimes,
    /// Share of that run spent routing, dispatching and combining (`phases.overhead_share()`).
    pub routing_share: f64,
}

/// Median of `runs` timings of the MoE layer (balanced router) and both dense baselines.
pub fn speed_demo(
    config: &MoeConfig,
    tokens: usize,
    runs: usize,
    device: &Device,
) -> Result<SpeedDemo, MoeError> {
    let layer: MoeLayer = config.init(device)?;
    let x = demo_inputs(tokens, config.hidden, device);
    let (moe_time, phases) = median_run(
        || {
            layer.forward(x.clone()).map(|out| {
                let _ = out.output.into_data();
                out.times
            })
        },
        runs,
        Duration::ZERO,
    );
    let (moe_s, phases) = (moe_time.as_secs_f64(), phases?);
    let time_dense = |width: usize| {
        let ffn = dense_ffn(config.hidden, width, device);
        median_time(|| ffn.forward(x.clone()).into_data(), runs, Duration::ZERO).as_secs_f64()
    };
    let shared = config.shared_experts * config.intermediate;
    Ok(SpeedDemo {
        experts: config.experts,
        top_k: config.top_k,
        hidden: config.hidden,
        intermediate: config.intermediate,
        tokens,
        active_params: config.active_params(),
        total_params: config.total_params(),
        moe_s,
        dense_active_s: time_dense(config.top_k * config.intermediate + shared),
        dense_total_s: time_dense(config.experts * config.intermediate + shared),
        routing_share: phases.overhead_share(),
        phases,
    })
}
