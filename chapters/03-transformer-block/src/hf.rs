//! One reader for a Hugging Face `config.json`, shared by this chapter's model and the serving
//! budget: the shape fields every decoder family has, with each family's own defaults.
//!
//! A field a config leaves out takes the default of its family's `*Config` class in
//! transformers, and those differ: an omitted `tie_word_embeddings` means *tied* for Gemma and
//! GPT-2 but *untied* for Llama, Mistral, Qwen and DeepSeek. Reading every file with one
//! family's defaults silently changes a model's size by `vocab × hidden` (525M parameters for
//! Llama 3.1 8B), so a `model_type` this reader does not know is refused, not guessed.

use crate::error::ConfigError;
use serde_json::Value;

/// A `model_type` and what transformers assumes when its config omits a field.
#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    pub model_type: &'static str,
    /// The default of an omitted `tie_word_embeddings` (`PretrainedConfig`'s is true; most
    /// decoder families override it to false).
    pub tie_word_embeddings: bool,
    /// `head_dim` is a hyper-parameter of its own, not `hidden_size / num_attention_heads`
    /// (Gemma 7B: 3072 / 16 = 192 but 256-wide heads), so the file must state it.
    pub head_dim_decoupled: bool,
}

const fn family(model_type: &'static str, tied: bool, decoupled: bool) -> Family {
    Family {
        model_type,
        tie_word_embeddings: tied,
        head_dim_decoupled: decoupled,
    }
}

/// The families this reader knows, with transformers' defaults (`configuration_*.py`).
pub const FAMILIES: &[Family] = &[
    family("llama", false, false),
    family("mistral", false, false),
    family("mixtral", false, false),
    family("qwen2", false, false),
    family("qwen2_moe", false, false),
    family("qwen3", false, true),
    family("qwen3_moe", false, true),
    family("gemma", true, true),
    family("gemma2", true, true),
    family("gemma3", true, true),
    family("gemma3_text", true, true),
    family("gpt_oss", false, true),
    family("deepseek_v2", false, false),
    family("deepseek_v3", false, false),
    family("gpt2", true, false),
];

/// The known `model_type`s, comma-separated (for error messages).
pub fn supported_model_types() -> String {
    FAMILIES
        .iter()
        .map(|f| f.model_type)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The object holding the language model's fields: `text_config` in multimodal configs
/// (Gemma 3), the root otherwise.
pub fn text_config(root: &Value) -> &Value {
    root.get("text_config").unwrap_or(root)
}

/// The family a config names in `model_type` (in `text_config` or at the root).
pub fn family_of(root: &Value) -> Result<&'static Family, ConfigError> {
    let model_type = text_config(root)
        .get("model_type")
        .or_else(|| root.get("model_type"))
        .and_then(Value::as_str)
        .ok_or_else(|| ConfigError::MissingModelType {
            supported: supported_model_types(),
        })?;
    FAMILIES
        .iter()
        .find(|f| f.model_type == model_type)
        .ok_or_else(|| ConfigError::UnknownModelType {
            model_type: model_type.to_string(),
            supported: supported_model_types(),
        })
}

/// The shape of a decoder as its `config.json` states it, defaults resolved per family.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    pub family: &'static Family,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// `num_attention_heads` when omitted (multi-head attention).
    pub num_key_value_heads: usize,
    /// As written; `None` when the file leaves it to be derived (see [`HfConfig::head_dim`]).
    pub head_dim: Option<usize>,
    pub vocab_size: usize,
    /// As written: transformers' defaults here are per family and never what a checkpoint
    /// was trained with, so each caller decides what a missing value means.
    pub max_position_embeddings: Option<usize>,
    pub tie_word_embeddings: bool,
}

impl HfConfig {
    /// Reads the shape fields of a parsed `config.json` (GPT-2's `n_embd`, `n_layer`… too).
    pub fn from_value(root: &Value) -> Result<Self, ConfigError> {
        let c = text_config(root);
        let family = family_of(root)?;
        let int = |keys: &[&'static str]| -> Result<Option<usize>, ConfigError> {
            for &key in keys {
                if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
                    return match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                        Some(n) => Ok(Some(n)),
                        None => Err(ConfigError::NotAnInteger {
                            field: key,
                            value: v.to_string(),
                        }),
                    };
                }
            }
            Ok(None)
        };
        let need =
            |keys: &[&'static str]| int(keys)?.ok_or(ConfigError::Missing { field: keys[0] });
        let num_hidden_layers = need(&["num_hidden_layers", "n_layer"])?;
        let hidden_size = need(&["hidden_size", "n_embd"])?;
        let num_attention_heads = need(&["num_attention_heads", "n_head"])?;
        let intermediate_size = match int(&["intermediate_size", "n_inner"])? {
            Some(width) => width,
            // GPT-2's MLP is 4 × wide when `n_inner` is null.
            None if family.model_type == "gpt2" => 4 * hidden_size,
            None => {
                return Err(ConfigError::Missing {
                    field: "intermediate_size",
                });
            }
        };
        let tie_word_embeddings = match c
            .get("tie_word_embeddings")
            .or_else(|| root.get("tie_word_embeddings"))
        {
            None | Some(Value::Null) => family.tie_word_embeddings,
            Some(v) => v.as_bool().ok_or_else(|| ConfigError::NotABool {
                field: "tie_word_embeddings",
                value: v.to_string(),
            })?,
        };
        Ok(HfConfig {
            family,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: int(&["num_key_value_heads"])?.unwrap_or(num_attention_heads),
            head_dim: int(&["head_dim"])?,
            vocab_size: need(&["vocab_size"])?,
            max_position_embeddings: int(&["max_position_embeddings", "n_positions"])?,
            tie_word_embeddings,
        })
    }

    /// The width of one head: as written, or `hidden_size / num_attention_heads` for the
    /// families that define it so; a decoupled family's file must state it.
    pub fn head_dim(&self) -> Result<usize, ConfigError> {
        match self.head_dim {
            Some(d) => Ok(d),
            None if self.family.head_dim_decoupled => Err(ConfigError::HeadDimRequired {
                model_type: self.family.model_type,
            }),
            None if self.num_attention_heads == 0 => Err(ConfigError::Zero {
                field: "num_attention_heads",
            }),
            None if !self.hidden_size.is_multiple_of(self.num_attention_heads) => {
                Err(ConfigError::HeadsDivideHidden {
                    hidden: self.hidden_size,
                    heads: self.num_attention_heads,
                })
            }
            None => Ok(self.hidden_size / self.num_attention_heads),
        }
    }
}
