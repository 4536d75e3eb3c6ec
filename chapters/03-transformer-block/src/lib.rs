//! Chapter 03 — the transformer block: RMSNorm, RoPE, SwiGLU, pre-norm residuals, and a small
//! Llama-style decoder built from them on chapter 02's attention.
//!
//! Read in this order:
//! 1. [`norm`]: RMSNorm (and LayerNorm for contrast).
//! 2. [`rope`]: rotary position embedding in both conventions, and the permutation between them.
//! 3. [`ffn`]: the SwiGLU feed-forward. Its products, like every projection's, go through
//!    [`linear`], which splits a decode step's one-row products across the backend's threads.
//! 4. [`attention`]: causal self-attention with RoPE at absolute positions, split into
//!    `project` and `attend` so a KV cache can sit between them.
//! 5. [`block`]: the pre-norm decoder block.
//! 6. [`hf`], [`config`] and [`model`]: a decoder from a HF `config.json`.
//! 7. [`params`]: parameters and FLOPs per token by formula.
//! 8. [`train`]: the seeded training demo that proves the pieces work together.
//! 9. [`reference`]: independent ndarray loops the tests compare against.

pub mod attention;
pub mod block;
pub mod config;
pub mod error;
pub mod ffn;
pub mod hf;
pub mod linear;
pub mod model;
pub mod norm;
pub mod params;
pub mod reference;
pub mod rope;
pub mod train;

pub use attention::{Qkv, SelfAttention, SelfAttentionConfig};
pub use block::DecoderBlock;
pub use config::{LlamaConfig, presets};
pub use error::{ConfigError, ModelError};
pub use ffn::{SwiGluFfn, SwiGluFfnConfig};
pub use hf::HfConfig;
pub use model::{CausalLm, LlamaModel};
pub use norm::{LayerNorm, LayerNormConfig, RmsNorm, RmsNormConfig};
pub use params::{FlopsPerToken, ParamCounts, flops_per_token, param_counts, prefill_flops};
pub use rope::{Llama3RopeScaling, Rope, RopeStyle, apply_rope, interleaved_to_halves};
pub use train::{
    DEMO_PROMPT, HELD_OUT_FRACTION, TrainDemo, TrainDemoConfig, Trained, held_out_unigram_loss,
    mean_loss, ngram_entropy, train_demo, train_demo_keeping_model,
};
