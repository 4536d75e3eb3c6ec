//! The SwiGLU feed-forward (Shazeer, 2020, "GLU Variants Improve Transformer").
//!
//! ```text
//! FFN(x) = W_down · ( SiLU(W_gate · x) ⊙ (W_up · x) )        SiLU(z) = z · σ(z)
//! ```
//!
//! GPT-2's feed-forward is `W₂ · GELU(W₁ · x)`: one matrix in, one out. A gated linear unit
//! multiplies two projections, one passed through the activation: the gate decides, per
//! channel and per token, how much of the other passes. With the same parameter budget (three
//! matrices of width ≈ (8/3)·d instead of two of width 4·d) the gated form trains to a lower
//! loss; Llama, Mistral, Qwen and SmolLM2 all use it. Here: `3 · hidden · intermediate`
//! parameters, and about two thirds of a block's parameters and FLOPs.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use crate::linear::linear;

#[derive(Config, Debug)]
pub struct SwiGluFfnConfig {
    pub hidden: usize,
    pub intermediate: usize,
    /// Standard deviation of the weights' normal initialisation.
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl SwiGluFfnConfig {
    pub fn init(&self, device: &Device) -> SwiGluFfn {
        let linear = |i, o| {
            LinearConfig::new(i, o)
                .with_bias(false)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.init_std,
                })
                .init(device)
        };
        SwiGluFfn {
            gate_proj: linear(self.hidden, self.intermediate),
            up_proj: linear(self.hidden, self.intermediate),
            down_proj: linear(self.intermediate, self.hidden),
        }
    }
}

/// HF names: `mlp.gate_proj`, `mlp.up_proj`, `mlp.down_proj`.
#[derive(Module, Debug)]
pub struct SwiGluFfn {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl SwiGluFfn {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(linear(&self.gate_proj, x.clone()));
        linear(&self.down_proj, gate * linear(&self.up_proj, x))
    }
}
