//! Normalisation: keep each token's vector at a steady scale as it passes through many layers.
//!
//! ```text
//! LayerNorm(x) = (x − mean(x)) / √(var(x) + ε) · γ + β      centre, then scale
//! RMSNorm(x)   =  x / √(mean(x²) + ε) · γ                    scale only
//! ```
//!
//! RMSNorm (Zhang & Sennrich, 2019) drops the mean subtraction and the bias: one reduction
//! instead of two, one parameter vector instead of two, and in practice the same quality. The
//! re-centring turned out not to matter; the re-scaling is what keeps activations in range.
//! Llama, Mistral, Qwen and SmolLM2 all use RMSNorm; GPT-2 used LayerNorm.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

#[derive(Config, Debug)]
pub struct RmsNormConfig {
    pub width: usize,
    #[config(default = 1e-6)]
    pub eps: f64,
}

impl RmsNormConfig {
    pub fn init(&self, device: &Device) -> RmsNorm {
        RmsNorm {
            weight: Param::from_tensor(Tensor::ones([self.width], device)),
            eps: self.eps,
        }
    }
}

/// `x / √(mean(x²) + ε) · weight` over the last axis.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// γ, one gain per channel (HF name: `weight`), initialised to 1.
    pub weight: Param<Tensor<1>>,
    pub eps: f64,
}

impl RmsNorm {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mean_square = x.clone().square().mean_dim(D - 1); // [.., 1]
        let inv_rms = (mean_square + self.eps).sqrt().recip();
        x * inv_rms * self.weight.val().unsqueeze()
    }
}

#[derive(Config, Debug)]
pub struct LayerNormConfig {
    pub width: usize,
    #[config(default = 1e-5)]
    pub eps: f64,
}

impl LayerNormConfig {
    pub fn init(&self, device: &Device) -> LayerNorm {
        LayerNorm {
            weight: Param::from_tensor(Tensor::ones([self.width], device)),
            bias: Param::from_tensor(Tensor::zeros([self.width], device)),
            eps: self.eps,
        }
    }
}

/// `(x − mean) / √(var + ε) · weight + bias` over the last axis (biased variance, as PyTorch).
/// Here for contrast: the models of this chapter use [`RmsNorm`].
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let centred = x.clone() - x.mean_dim(D - 1);
        let var = centred.clone().square().mean_dim(D - 1);
        centred / (var + self.eps).sqrt() * self.weight.val().unsqueeze()
            + self.bias.val().unsqueeze()
    }
}
