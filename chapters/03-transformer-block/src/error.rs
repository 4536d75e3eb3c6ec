//! What can go wrong: a config that describes no valid model, or an input the model cannot
//! take. Each error names the config field (HF `config.json` spelling) or the input at fault.

use ch02_attention::AttentionError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid JSON for a Llama-family model: {0}")]
    Json(String),
    #[error("unknown config field `{field}` (a typo? the fields read are: {known})")]
    UnknownField { field: String, known: String },
    #[error("missing field `model_type` (supported: {supported})")]
    MissingModelType { supported: String },
    #[error(
        "`model_type` = \"{model_type}\" is not a family this reader knows (supported: {supported})"
    )]
    UnknownModelType {
        model_type: String,
        supported: String,
    },
    #[error("missing field `{field}`")]
    Missing { field: &'static str },
    #[error("`{field}` = {value} must be a non-negative integer")]
    NotAnInteger { field: &'static str, value: String },
    #[error("`{field}` = {value} must be true or false")]
    NotABool { field: &'static str, value: String },
    #[error(
        "missing field `head_dim`: {model_type} does not use hidden_size / num_attention_heads"
    )]
    HeadDimRequired { model_type: &'static str },
    #[error("`{field}` must be at least 1")]
    Zero { field: &'static str },
    #[error("`{field}` = {value} is larger than any model's (at most {max})")]
    TooLarge {
        field: &'static str,
        value: usize,
        max: usize,
    },
    #[error("`{field}` = {value} must be a positive number")]
    NotPositive { field: &'static str, value: f64 },
    #[error(
        "`num_attention_heads` = {heads} does not divide `hidden_size` = {hidden}; give `head_dim` explicitly"
    )]
    HeadsDivideHidden { hidden: usize, heads: usize },
    #[error("`num_key_value_heads` = {kv_heads} does not divide `num_attention_heads` = {heads}")]
    KvHeadsDivide { heads: usize, kv_heads: usize },
    #[error("`head_dim` = {0} must be even: RoPE rotates pairs of dimensions")]
    OddHeadDim(usize),
    #[error("`{field}` = {value} is not supported by this model (it supports {supported})")]
    Unsupported {
        field: &'static str,
        value: String,
        supported: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Attention(#[from] AttentionError),
    #[error("positions {start}..{end} exceed `max_position_embeddings` = {max}")]
    PositionsTooLong {
        start: usize,
        end: usize,
        max: usize,
    },
    #[error("input has width {got}, the model expects `hidden_size` = {expected}")]
    Width { got: usize, expected: usize },
    #[error("the sequence is empty")]
    Empty,
}
