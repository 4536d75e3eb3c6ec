//! Model architectures: the shipped catalog (`data/architectures.yaml`), a Hugging Face
//! `config.json`, or a GGUF file's metadata, all read into one [`Architecture`].
//!
//! Parsing lives here, at the edge; the calculators in [`super::calc`] only see the typed
//! struct. `head_dim` is always a field of its own: deriving it as `hidden / heads` is wrong for
//! Gemma 2/3, Qwen3-MoE and gpt-oss, and a budget built on the derived value is wrong by 2×.

use crate::bail_input;
use crate::error::bad_input;
use ch03_transformer_block::HfConfig;
use ch03_transformer_block::hf;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The catalog shipped with the binary (so the budget works from any directory).
pub const CATALOG_YAML: &str = include_str!("../../data/architectures.yaml");

/// Feed-forward shape: gated (SwiGLU/GeGLU, three matrices) or plain (GELU, two matrices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MlpKind {
    #[default]
    Gated,
    Plain,
}

/// RMSNorm (a weight) or LayerNorm (a weight and a bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    #[default]
    Rms,
    Layer,
}

/// Which attention projections carry a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionBias {
    #[default]
    None,
    /// q, k and v (Qwen2).
    Qkv,
    /// q, k, v and o (GPT-2, gpt-oss).
    All,
}

/// Sliding-window attention: `tokens` is the window; `pattern` repeats over the layers, `L` a
/// local (sliding) layer and `G` a global one (`LLLLLG` = Gemma 3's 5 local : 1 global).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindow {
    pub tokens: u64,
    pub pattern: String,
}

/// Mixture of experts. Counts are per MoE layer; `dense_layers` leading layers use a dense MLP
/// of width `intermediate` instead (DeepSeek-V3's `first_k_dense_replace`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moe {
    pub experts: u64,
    pub active_experts: u64,
    pub expert_intermediate: u64,
    #[serde(default)]
    pub shared_experts: u64,
    /// Width of each shared expert.
    #[serde(default)]
    pub shared_intermediate: u64,
    #[serde(default)]
    pub dense_layers: u64,
}

/// Multi-head latent attention (DeepSeek-V2/V3): the cache holds one compressed latent of
/// `kv_lora_rank` plus one shared RoPE key of `qk_rope_head_dim` per token and layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mla {
    pub kv_lora_rank: u64,
    pub qk_rope_head_dim: u64,
    pub qk_nope_head_dim: u64,
    pub v_head_dim: u64,
    #[serde(default)]
    pub q_lora_rank: Option<u64>,
}

/// How an official checkpoint stores its weights, e.g. gpt-oss: MXFP4 experts, bf16 rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeWeights {
    pub dtype: super::calc::WeightDtype,
    pub scope: super::calc::QuantScope,
}

/// Parameter counts the model's authors publish, to check our counts against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    pub params_total: f64,
    #[serde(default)]
    pub params_active: Option<f64>,
    /// gpt-oss counts "active" without the input embedding (a lookup, no FLOPs).
    #[serde(default)]
    pub active_excludes_input_embedding: bool,
    pub source: String,
}

/// One model's shape: everything the budget needs, nothing derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    pub id: String,
    pub name: String,
    /// Hugging Face repository, used for the `vllm serve` line.
    #[serde(default)]
    pub hf_repo: Option<String>,
    /// Where the numbers come from (config.json URL, paper, or the file read).
    pub source: String,
    /// Release date of the config.
    pub date: String,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub intermediate: u64,
    pub vocab: u64,
    pub tied_embeddings: bool,
    /// Longest context the model supports, tokens (`max_position_embeddings`).
    pub max_context: u64,
    #[serde(default)]
    pub mlp: MlpKind,
    #[serde(default)]
    pub norm: NormKind,
    #[serde(default = "two")]
    pub norms_per_layer: u64,
    #[serde(default)]
    pub attention_bias: AttentionBias,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub qk_norm: bool,
    #[serde(default)]
    pub learned_positions: bool,
    #[serde(default)]
    pub sliding_window: Option<SlidingWindow>,
    #[serde(default)]
    pub moe: Option<Moe>,
    #[serde(default)]
    pub mla: Option<Mla>,
    #[serde(default)]
    pub native_weights: Option<NativeWeights>,
    #[serde(default)]
    pub published: Option<Published>,
    #[serde(default)]
    pub notes: Option<String>,
}

fn two() -> u64 {
    2
}

impl Architecture {
    /// Whether layer `i` (0-based) is a sliding-window layer, and its window in tokens.
    pub fn window_of_layer(&self, i: u64) -> Option<u64> {
        let sw = self.sliding_window.as_ref()?;
        let p = sw.pattern.as_bytes();
        (p[(i % p.len() as u64) as usize] == b'L').then_some(sw.tokens)
    }

    /// Number of sliding-window layers.
    pub fn sliding_layers(&self) -> u64 {
        (0..self.layers)
            .filter(|&i| self.window_of_layer(i).is_some())
            .count() as u64
    }

    /// Attention kind in words: MHA, GQA, MQA or MLA.
    pub fn attention_kind(&self) -> &'static str {
        if self.mla.is_some() {
            "MLA"
        } else if self.kv_heads == self.heads {
            "MHA"
        } else if self.kv_heads == 1 {
            "MQA"
        } else {
            "GQA"
        }
    }

    /// Checks the invariants the calculators rely on; a violation names the field.
    pub fn validate(&self, origin: &str) -> anyhow::Result<()> {
        let positive = [
            ("layers", self.layers),
            ("hidden", self.hidden),
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("intermediate", self.intermediate),
            ("vocab", self.vocab),
            ("max_context", self.max_context),
        ];
        for (field, v) in positive {
            if v == 0 {
                bail_input!(
                    "{origin}: model {}: field `{field}` must be positive",
                    self.id
                );
            }
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            bail_input!(
                "{origin}: model {}: heads ({}) must be a multiple of kv_heads ({})",
                self.id,
                self.heads,
                self.kv_heads
            );
        }
        if let Some(sw) = &self.sliding_window
            && (sw.tokens == 0
                || sw.pattern.is_empty()
                || !sw.pattern.bytes().all(|b| b == b'L' || b == b'G'))
        {
            bail_input!(
                "{origin}: model {}: sliding_window needs tokens > 0 and a pattern of L/G letters, got {:?}",
                self.id,
                sw
            );
        }
        if let Some(m) = &self.moe {
            if m.experts == 0 || m.active_experts == 0 || m.active_experts > m.experts {
                bail_input!(
                    "{origin}: model {}: moe needs 0 < active_experts ({}) <= experts ({})",
                    self.id,
                    m.active_experts,
                    m.experts
                );
            }
            if m.dense_layers > self.layers {
                bail_input!(
                    "{origin}: model {}: moe.dense_layers exceeds layers",
                    self.id
                );
            }
        }
        Ok(())
    }
}

/// Parses a YAML catalog (a list of architectures); errors name the file, line and column.
pub fn parse_catalog(yaml: &str, origin: &str) -> anyhow::Result<Vec<Architecture>> {
    let list: Vec<Architecture> = serde_yaml_ng::from_str(yaml).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        bad_input(format!("{origin}{at}"), one_line(&e.to_string()))
    })?;
    for a in &list {
        a.validate(origin)?;
    }
    Ok(list)
}

/// The shipped catalog.
pub fn catalog() -> Vec<Architecture> {
    match parse_catalog(CATALOG_YAML, "data/architectures.yaml") {
        Ok(list) => list,
        // The file is compiled in and checked by the tests; reaching this is a build defect.
        Err(e) => unreachable!("the shipped architecture catalog is invalid: {e}"),
    }
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Ids that contain `wanted` (or share its first four letters) first, then those within a
/// small edit distance of it, closest first.
pub fn close_matches<'a>(wanted: &str, ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let w = wanted.to_lowercase();
    let prefix: String = w.chars().take(4).collect();
    let mut scored: Vec<(u8, usize, &str)> = ids
        .into_iter()
        .filter_map(|id| {
            let d = edit_distance(&w, id);
            let class = if id.contains(&w) || w.contains(id) {
                0
            } else if id.starts_with(&prefix) {
                1
            } else if d <= (id.len() / 3).max(3) {
                2
            } else {
                return None;
            };
            Some((class, d, id))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, _, id)| id).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Looks up a catalog id, or reads a file (`.json` = HF config, `.gguf` = GGUF metadata).
pub fn resolve(spec: &str) -> anyhow::Result<Architecture> {
    let path = Path::new(spec);
    let lower = spec.to_lowercase();
    if lower.ends_with(".gguf") {
        return super::gguf::read_architecture(path);
    }
    if lower.ends_with(".json") {
        let text = crate::error::read_user_file(path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad_input(format!("{}:{}:{}", spec, e.line(), e.column()), e))?;
        return from_hf_config(&value, spec);
    }
    let list = catalog();
    if let Some(a) = list.iter().find(|a| a.id == lower) {
        return Ok(a.clone());
    }
    let close = close_matches(&lower, list.iter().map(|a| a.id.as_str()));
    if close.is_empty() {
        let all: Vec<&str> = list.iter().map(|a| a.id.as_str()).collect();
        bail_input!(
            "--model: unknown model `{spec}`; catalog ids: {} (or pass a config.json / .gguf file)",
            all.join(", ")
        );
    }
    bail_input!(
        "--model: unknown model `{spec}`; did you mean {}?",
        close.join(", ")
    )
}

/// The checkpoint's own quantization, from `quantization_config.quant_method`: gpt-oss ships
/// MXFP4 experts, DeepSeek-V3 fp8 linear layers.
fn native_weights(root: &serde_json::Value) -> Option<NativeWeights> {
    use super::calc::{QuantScope, WeightDtype};
    let method = root
        .get("quantization_config")?
        .get("quant_method")?
        .as_str()?;
    match method {
        "mxfp4" => Some(NativeWeights {
            dtype: WeightDtype::Mxfp4,
            scope: QuantScope::Experts,
        }),
        "fp8" => Some(NativeWeights {
            dtype: WeightDtype::Fp8,
            scope: QuantScope::Blocks,
        }),
        _ => None,
    }
}

/// Reads an architecture from a Hugging Face `config.json` (the `model_type`s of
/// [`hf::FAMILIES`]: Llama, Mistral, Mixtral, Qwen2/2-MoE/3/3-MoE, Gemma 1–3, gpt-oss,
/// DeepSeek-V2/V3, GPT-2). The shape fields and their per-family defaults are chapter 03's
/// reader, so the budget and `block params` count a file alike; MoE, MLA and sliding-window
/// fields are read here. A missing field the budget needs is bad input naming it.
pub fn from_hf_config(root: &serde_json::Value, origin: &str) -> anyhow::Result<Architecture> {
    let shape = HfConfig::from_value(root).map_err(|e| bad_input(origin, e))?;
    let model_type = shape.family.model_type;
    let c = hf::text_config(root);
    let num = |keys: &[&str]| -> Option<u64> {
        keys.iter()
            .find_map(|k| c.get(*k).and_then(serde_json::Value::as_u64))
    };
    let need = |keys: &[&str]| -> anyhow::Result<u64> {
        num(keys).ok_or_else(|| {
            bad_input(
                origin,
                format!("missing field `{}` (a positive integer)", keys[0]),
            )
        })
    };
    let is_gpt2 = model_type == "gpt2";
    let (layers, hidden, heads, kv_heads) = (
        shape.num_hidden_layers as u64,
        shape.hidden_size as u64,
        shape.num_attention_heads as u64,
        shape.num_key_value_heads as u64,
    );
    let mla = c
        .get("kv_lora_rank")
        .and_then(|v| v.as_u64())
        .map(|kv_lora_rank| Mla {
            kv_lora_rank,
            qk_rope_head_dim: num(&["qk_rope_head_dim"]).unwrap_or(64),
            qk_nope_head_dim: num(&["qk_nope_head_dim"]).unwrap_or(128),
            v_head_dim: num(&["v_head_dim"]).unwrap_or(128),
            q_lora_rank: num(&["q_lora_rank"]),
        });
    let head_dim = match &mla {
        Some(m) => m.qk_nope_head_dim + m.qk_rope_head_dim,
        None => shape.head_dim().map_err(|e| bad_input(origin, e))? as u64,
    };
    let intermediate = shape.intermediate_size as u64;
    let vocab = shape.vocab_size as u64;
    let max_context = match shape.max_position_embeddings {
        Some(tokens) => tokens as u64,
        None => need(&["max_position_embeddings", "n_positions"])?,
    };
    let tied_embeddings = shape.tie_word_embeddings;

    let experts = num(&["num_local_experts", "num_experts", "n_routed_experts"]).filter(|&e| e > 1);
    let moe = match experts {
        Some(experts) => Some(Moe {
            experts,
            active_experts: need(&["num_experts_per_tok", "experts_per_token"])?,
            expert_intermediate: num(&["moe_intermediate_size"]).unwrap_or(intermediate),
            // DeepSeek: `n_shared_experts` as wide as a routed one; Qwen2-MoE: one shared
            // expert of `shared_expert_intermediate_size`.
            shared_experts: match num(&["shared_expert_intermediate_size"]) {
                Some(w) if w > 0 => 1,
                _ => num(&["n_shared_experts"]).unwrap_or(0),
            },
            shared_intermediate: match num(&["shared_expert_intermediate_size"]) {
                Some(w) if w > 0 => w,
                _ => {
                    num(&["moe_intermediate_size"]).unwrap_or(0)
                        * u64::from(num(&["n_shared_experts"]).unwrap_or(0) > 0)
                }
            },
            dense_layers: num(&["first_k_dense_replace"]).unwrap_or(0),
        }),
        None => None,
    };

    let window = c.get("sliding_window").and_then(|v| v.as_u64());
    let use_sw = c
        .get("use_sliding_window")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let pattern = if let Some(types) = c.get("layer_types").and_then(|v| v.as_array()) {
        let p: String = types
            .iter()
            .map(|t| {
                if t.as_str() == Some("sliding_attention") {
                    'L'
                } else {
                    'G'
                }
            })
            .collect();
        p.contains('L').then_some(p)
    } else {
        match model_type {
            "gemma2" => Some("LG".to_string()),
            "gemma3" | "gemma3_text" => {
                // One global layer every n: n beyond the layer count means none.
                let n = num(&["sliding_window_pattern"])
                    .unwrap_or(6)
                    .clamp(1, layers.max(1)) as usize;
                Some(format!("{}G", "L".repeat(n - 1)))
            }
            _ => Some("L".to_string()),
        }
    };
    let sliding_window = match (window, use_sw, pattern) {
        (Some(tokens), true, Some(pattern)) if tokens < max_context => {
            Some(SlidingWindow { tokens, pattern })
        }
        _ => None,
    };

    let attention_bias =
        if is_gpt2 || c.get("attention_bias").and_then(|v| v.as_bool()) == Some(true) {
            AttentionBias::All
        } else if model_type == "qwen2" || model_type == "qwen2_moe" {
            AttentionBias::Qkv
        } else {
            AttentionBias::None
        };
    let name = root
        .get("_name_or_path")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(origin)
        .to_string();
    let family = family_traits(model_type);
    let arch = Architecture {
        id: Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "config".into()),
        name: format!("{name} ({model_type})"),
        hf_repo: root
            .get("_name_or_path")
            .and_then(|v| v.as_str())
            .filter(|s| s.contains('/'))
            .map(str::to_string),
        source: origin.to_string(),
        date: "from file".to_string(),
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab,
        tied_embeddings,
        max_context,
        mlp: family.mlp,
        norm: family.norm,
        norms_per_layer: family.norms_per_layer,
        attention_bias,
        mlp_bias: family.mlp_bias,
        qk_norm: family.qk_norm,
        learned_positions: family.learned_positions,
        sliding_window,
        moe,
        mla,
        native_weights: native_weights(root),
        published: None,
        notes: None,
    };
    arch.validate(origin)?;
    Ok(arch)
}

/// What follows from the model family alone, the same whether it is named by a HF
/// `model_type` or a GGUF `general.architecture` (`gpt_oss` and `gpt-oss` read alike).
pub(crate) struct FamilyTraits {
    pub mlp: MlpKind,
    pub norm: NormKind,
    pub norms_per_layer: u64,
    pub mlp_bias: bool,
    pub qk_norm: bool,
    pub learned_positions: bool,
}

pub(crate) fn family_traits(family: &str) -> FamilyTraits {
    let f = family.replace('-', "_");
    let gpt2 = f == "gpt2";
    FamilyTraits {
        mlp: if gpt2 { MlpKind::Plain } else { MlpKind::Gated },
        norm: if gpt2 { NormKind::Layer } else { NormKind::Rms },
        // Gemma 2 and 3 norm before and after both attention and MLP.
        norms_per_layer: if f.starts_with("gemma") && f != "gemma" {
            4
        } else {
            2
        },
        mlp_bias: gpt2 || f == "gpt_oss",
        qk_norm: f.starts_with("qwen3") || f.starts_with("gemma3"),
        learned_positions: gpt2,
    }
}
