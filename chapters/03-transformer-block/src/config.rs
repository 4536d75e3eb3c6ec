//! The model's shape, read from a Hugging Face `config.json` of the Llama family (`model_type`
//! `llama`: Llama 2/3/3.1/3.2, SmolLM2, TinyLlama; `mistral` without a sliding window).
//!
//! The shape fields and their per-family defaults come from [`crate::hf`], the reader the
//! serving budget uses too, so `block params` and `budget` count the same file alike. Fields
//! that change the computation are read and checked; fields that only describe training or
//! serving (token ids, dtype, `use_cache`…) are accepted and ignored; anything else is an error
//! naming the field, so a typo such as `num_hidden_layer` cannot silently fall back to a default.

use crate::error::ConfigError;
use crate::hf::{self, HfConfig};
use crate::rope::Llama3RopeScaling;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `model_type`s this chapter's decoder can run.
pub const BUILDABLE_MODEL_TYPES: &[&str] = &["llama", "mistral"];

/// A Llama-family decoder's shape (HF `LlamaConfig` names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    /// Width of the SwiGLU feed-forward's hidden layer.
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Heads of K and V; fewer than `num_attention_heads` is grouped-query attention (each KV
    /// head serves `num_attention_heads / num_key_value_heads` query heads). Default: all.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of one head. Default `hidden_size / num_attention_heads`, but stored explicitly by
    /// models where it differs (Gemma, Qwen3), so never assume it.
    #[serde(default)]
    pub head_dim: Option<usize>,
    pub vocab_size: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// The LM head reuses the embedding matrix (SmolLM2, Gemma) instead of its own.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Must be `silu` (SwiGLU) if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// Must be false if present: Llama's projections have no biases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// Llama 3.1's long-context RoPE (`rope_type: "llama3"`); other scalings (YaRN, linear,
    /// dynamic) are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Llama3RopeScaling>,
}

fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_max_positions() -> usize {
    2048
}

/// Fields read by [`LlamaConfig`].
pub const READ_FIELDS: &[&str] = &[
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "rope_theta",
    "rms_norm_eps",
    "tie_word_embeddings",
    "max_position_embeddings",
    "hidden_act",
    "attention_bias",
    "mlp_bias",
    "rope_scaling",
    "model_type",
    "sliding_window",
];

/// HF fields that do not change the forward pass: accepted and ignored.
pub const IGNORED_FIELDS: &[&str] = &[
    "architectures",
    "torch_dtype",
    "dtype",
    "transformers_version",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "initializer_range",
    "use_cache",
    "pretraining_tp",
    "attention_dropout",
    "_name_or_path",
    "is_llama_config",
    "rope_interleaved",
    "transformers.js_config",
];

impl LlamaConfig {
    /// A config with the required fields and HF's defaults for the rest.
    pub fn new(
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        vocab_size: usize,
    ) -> Self {
        LlamaConfig {
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: None,
            head_dim: None,
            vocab_size,
            rope_theta: default_rope_theta(),
            rms_norm_eps: default_rms_norm_eps(),
            tie_word_embeddings: false,
            max_position_embeddings: default_max_positions(),
            hidden_act: None,
            attention_bias: None,
            mlp_bias: None,
            rope_scaling: None,
        }
    }

    /// Parses a `config.json` text and validates it.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let json = |e: serde_json::Error| ConfigError::Json(e.to_string());
        let root: Value = serde_json::from_str(text).map_err(json)?;
        let Some(map) = root.as_object() else {
            return Err(ConfigError::Json("expected a JSON object".into()));
        };
        let family = hf::family_of(&root)?;
        if !BUILDABLE_MODEL_TYPES.contains(&family.model_type) {
            return Err(ConfigError::Unsupported {
                field: "model_type",
                value: family.model_type.into(),
                supported: "llama, mistral",
            });
        }
        let known =
            |k: &String| READ_FIELDS.contains(&k.as_str()) || IGNORED_FIELDS.contains(&k.as_str());
        if let Some(field) = map.keys().find(|k| !known(k)) {
            return Err(ConfigError::UnknownField {
                field: field.clone(),
                known: READ_FIELDS.join(", "),
            });
        }
        let shape = HfConfig::from_value(&root)?;
        let rest: ComputeFields = serde_json::from_value(root).map_err(json)?;
        if let Some(window) = rest.sliding_window.filter(|w| !w.is_null()) {
            return Err(ConfigError::Unsupported {
                field: "sliding_window",
                value: window.to_string(),
                supported: "null (every layer attends to all positions)",
            });
        }
        let config = LlamaConfig {
            hidden_size: shape.hidden_size,
            intermediate_size: shape.intermediate_size,
            num_hidden_layers: shape.num_hidden_layers,
            num_attention_heads: shape.num_attention_heads,
            num_key_value_heads: Some(shape.num_key_value_heads),
            head_dim: shape.head_dim,
            vocab_size: shape.vocab_size,
            rope_theta: rest.rope_theta,
            rms_norm_eps: rest.rms_norm_eps,
            tie_word_embeddings: shape.tie_word_embeddings,
            max_position_embeddings: shape
                .max_position_embeddings
                .unwrap_or_else(default_max_positions),
            hidden_act: rest.hidden_act,
            attention_bias: rest.attention_bias,
            mlp_bias: rest.mlp_bias,
            rope_scaling: rope_scaling(rest.rope_scaling.as_ref())?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks that the fields describe a model this crate can build.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("num_key_value_heads", self.num_key_value_heads.unwrap_or(1)),
            ("head_dim", self.head_dim.unwrap_or(2)),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        // Bounds far past any published model, so that parameter and FLOP counts (products of
        // these) cannot overflow.
        for (field, value, max) in [
            ("hidden_size", self.hidden_size, 1 << 20),
            ("intermediate_size", self.intermediate_size, 1 << 22),
            ("num_hidden_layers", self.num_hidden_layers, 1 << 12),
            ("num_attention_heads", self.num_attention_heads, 1 << 12),
            (
                "num_key_value_heads",
                self.num_key_value_heads.unwrap_or(1),
                1 << 12,
            ),
            ("head_dim", self.head_dim.unwrap_or(2), 1 << 12),
            ("vocab_size", self.vocab_size, 1 << 24),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1 << 26,
            ),
        ] {
            if value > max {
                return Err(ConfigError::TooLarge { field, value, max });
            }
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(ConfigError::HeadsDivideHidden {
                hidden: self.hidden_size,
                heads: self.num_attention_heads,
            });
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err(ConfigError::KvHeadsDivide {
                heads: self.num_attention_heads,
                kv_heads: self.kv_heads(),
            });
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(ConfigError::OddHeadDim(self.head_dim()));
        }
        for (field, value) in [
            ("rope_theta", self.rope_theta),
            ("rms_norm_eps", self.rms_norm_eps),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NotPositive { field, value });
            }
        }
        if let Some(act) = self.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(ConfigError::Unsupported {
                field: "hidden_act",
                value: act.into(),
                supported: "silu",
            });
        }
        for (field, value) in [
            ("attention_bias", self.attention_bias),
            ("mlp_bias", self.mlp_bias),
        ] {
            if value == Some(true) {
                return Err(ConfigError::Unsupported {
                    field,
                    value: "true".into(),
                    supported: "false",
                });
            }
        }
        if let Some(s) = &self.rope_scaling {
            for (field, value) in [
                ("rope_scaling.factor", s.factor),
                ("rope_scaling.low_freq_factor", s.low_freq_factor),
                (
                    "rope_scaling.original_max_position_embeddings",
                    s.original_max_position_embeddings as f64,
                ),
            ] {
                if !(value.is_finite() && value > 0.0) {
                    return Err(ConfigError::NotPositive { field, value });
                }
            }
            if s.high_freq_factor.partial_cmp(&s.low_freq_factor)
                != Some(std::cmp::Ordering::Greater)
            {
                return Err(ConfigError::Unsupported {
                    field: "rope_scaling.high_freq_factor",
                    value: s.high_freq_factor.to_string(),
                    supported: "a value above low_freq_factor",
                });
            }
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
}

/// The fields that change the computation but not the shape (Llama's defaults).
#[derive(Deserialize)]
struct ComputeFields {
    #[serde(default = "default_rope_theta")]
    rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    rms_norm_eps: f64,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    attention_bias: Option<bool>,
    #[serde(default)]
    mlp_bias: Option<bool>,
    #[serde(default)]
    rope_scaling: Option<Value>,
    #[serde(default)]
    sliding_window: Option<Value>,
}

/// `rope_scaling` as HF writes it: null, `{"rope_type": "default"}` (plain RoPE), or Llama
/// 3.1's `{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, …}` (older files
/// spell the key `type`).
fn rope_scaling(value: Option<&Value>) -> Result<Option<Llama3RopeScaling>, ConfigError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let kind = v.get("rope_type").or_else(|| v.get("type"));
    match kind.and_then(Value::as_str) {
        Some("default") => Ok(None),
        Some("llama3") => {
            let number = |field: &'static str, key: &str| {
                v.get(key)
                    .and_then(Value::as_f64)
                    .ok_or(ConfigError::Missing { field })
            };
            Ok(Some(Llama3RopeScaling {
                factor: number("rope_scaling.factor", "factor")?,
                low_freq_factor: number("rope_scaling.low_freq_factor", "low_freq_factor")?,
                high_freq_factor: number("rope_scaling.high_freq_factor", "high_freq_factor")?,
                original_max_position_embeddings: number(
                    "rope_scaling.original_max_position_embeddings",
                    "original_max_position_embeddings",
                )? as usize,
            }))
        }
        _ => Err(ConfigError::Unsupported {
            field: "rope_scaling",
            value: v.to_string(),
            supported: "null, rope_type default, or rope_type llama3",
        }),
    }
}

/// Shapes used in the lesson, tests and benches.
pub mod presets {
    use super::LlamaConfig;

    /// SmolLM2-135M's `config.json` shape (HuggingFaceTB/SmolLM2-135M): 30 layers of width 576,
    /// 9 query heads sharing 3 KV heads, tied embeddings. Published size: 134.5M parameters.
    pub fn smollm2_135m() -> LlamaConfig {
        LlamaConfig {
            num_key_value_heads: Some(3),
            head_dim: Some(64),
            rope_theta: 100_000.0,
            rms_norm_eps: 1e-5,
            tie_word_embeddings: true,
            max_position_embeddings: 8192,
            ..LlamaConfig::new(576, 1536, 30, 9, 49_152)
        }
    }

    /// GPT-2-small-sized, as a Llama: 12 layers of width 768, 12 heads, GPT-2's vocabulary and
    /// context, tied embeddings. The SwiGLU width 2048 ≈ (8/3)·768 keeps the feed-forward's
    /// parameters near GPT-2's 4·768 two-matrix MLP.
    pub fn gpt2_small_sized() -> LlamaConfig {
        LlamaConfig {
            tie_word_embeddings: true,
            max_position_embeddings: 1024,
            ..LlamaConfig::new(768, 2048, 12, 12, 50_257)
        }
    }

    /// The tiny model of the training demo and the smaller bench size.
    pub fn tiny(vocab_size: usize) -> LlamaConfig {
        LlamaConfig {
            tie_word_embeddings: true,
            max_position_embeddings: 512,
            ..LlamaConfig::new(64, 176, 2, 4, vocab_size)
        }
    }

    /// A mid-sized model for the bench: 4 layers of width 256.
    pub fn small(vocab_size: usize) -> LlamaConfig {
        LlamaConfig {
            max_position_embeddings: 4096,
            ..LlamaConfig::new(256, 688, 4, 4, vocab_size)
        }
    }
}
