//! A model's shape from a GGUF file's metadata, for the budget. The file is read by chapter
//! 07's GGUF reader (`ch07_real_model::gguf`: header, metadata, tensor index, every length
//! checked); tensor data is never touched here.

use super::arch::{Architecture, AttentionBias, Mla, Moe, SlidingWindow};
use crate::bail_input;
use crate::error::bad_input;
use ch07_real_model::gguf::{Gguf, MetaValue};
use std::path::Path;

/// A count in the metadata; for per-layer arrays (some models vary heads per layer) the
/// widest layer.
fn count(v: &MetaValue) -> Option<u64> {
    match v {
        MetaValue::Array(items) if !items.is_empty() => {
            items.iter().map(MetaValue::as_u64).max().flatten()
        }
        other => other.as_u64(),
    }
}

/// The architecture a GGUF file describes (llama.cpp key names: `{arch}.block_count`,
/// `{arch}.attention.head_count_kv`, `{arch}.attention.key_length`, `{arch}.expert_count`, …),
/// read with chapter 07's GGUF reader; an unreadable or malformed file is bad input naming it.
pub fn read_architecture(path: &Path) -> anyhow::Result<Architecture> {
    let gguf = Gguf::open_metadata(path).map_err(|e| crate::error::BadInput(e.to_string()))?;
    to_architecture(&gguf, &path.display().to_string())
}

/// Maps GGUF metadata to an [`Architecture`]; a missing key the budget needs is bad input.
pub fn to_architecture(meta: &Gguf, origin: &str) -> anyhow::Result<Architecture> {
    let arch = match meta.get("general.architecture").and_then(MetaValue::as_str) {
        Some(s) => s.to_string(),
        None => bail_input!("{origin}: missing metadata key `general.architecture`"),
    };
    let get = |key: &str| meta.get(&format!("{arch}.{key}")).and_then(count);
    let need = |key: &str| -> anyhow::Result<u64> {
        get(key).ok_or_else(|| bad_input(origin, format!("missing metadata key `{arch}.{key}`")))
    };
    let layers = need("block_count")?;
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    if heads == 0 || layers == 0 {
        bail_input!(
            "{origin}: `{arch}.attention.head_count` and `{arch}.block_count` must be at least 1"
        );
    }
    let kv_heads = get("attention.head_count_kv").unwrap_or(heads);
    let kv_lora = get("attention.kv_lora_rank");
    let mla = match kv_lora {
        Some(kv_lora_rank) => {
            let rope = need("rope.dimension_count")?;
            let key = need("attention.key_length")?;
            // An MLA key is a no-RoPE part and a RoPE part: the RoPE part cannot be the larger.
            let Some(nope) = key.checked_sub(rope) else {
                bail_input!(
                    "{origin}: `{arch}.rope.dimension_count` {rope} exceeds `{arch}.attention.key_length` {key}"
                );
            };
            Some(Mla {
                kv_lora_rank,
                qk_rope_head_dim: rope,
                qk_nope_head_dim: nope,
                v_head_dim: get("attention.value_length").unwrap_or(nope),
                q_lora_rank: get("attention.q_lora_rank"),
            })
        }
        None => None,
    };
    let head_dim = match get("attention.key_length") {
        Some(d) => d,
        None => {
            const DECOUPLED: [&str; 5] = ["gemma2", "gemma3", "qwen3", "qwen3moe", "gpt-oss"];
            if DECOUPLED.contains(&arch.as_str()) || hidden % heads.max(1) != 0 {
                bail_input!(
                    "{origin}: missing metadata key `{arch}.attention.key_length` (head_dim)"
                );
            }
            hidden / heads
        }
    };
    let vocab = match get("vocab_size") {
        Some(v) => v,
        None => match meta
            .get("tokenizer.ggml.tokens")
            .and_then(MetaValue::as_array)
        {
            Some(tokens) => tokens.len() as u64,
            None => {
                bail_input!("{origin}: missing `{arch}.vocab_size` and `tokenizer.ggml.tokens`")
            }
        },
    };
    let moe = match get("expert_count").filter(|&e| e > 1) {
        Some(experts) => {
            let expert_intermediate = get("expert_feed_forward_length")
                .or_else(|| get("feed_forward_length"))
                .ok_or_else(|| {
                    bad_input(
                        origin,
                        format!("missing `{arch}.expert_feed_forward_length`"),
                    )
                })?;
            let shared = get("expert_shared_count").unwrap_or(0);
            Some(Moe {
                experts,
                active_experts: need("expert_used_count")?,
                expert_intermediate,
                shared_experts: shared,
                shared_intermediate: if shared > 0 {
                    get("expert_shared_feed_forward_length").unwrap_or(expert_intermediate)
                } else {
                    0
                },
                dense_layers: get("leading_dense_block_count").unwrap_or(0),
            })
        }
        None => None,
    };
    let intermediate = match (get("feed_forward_length"), &moe) {
        (Some(v), _) => v,
        (None, Some(m)) => m.expert_intermediate,
        (None, None) => need("feed_forward_length")?,
    };
    let max_context = need("context_length")?;
    let sliding_window = get("attention.sliding_window")
        .filter(|&w| w > 0 && w < max_context)
        .map(|tokens| {
            let pattern = match arch.as_str() {
                "gemma2" | "gpt-oss" => "LG".to_string(),
                "gemma3" => {
                    // One global layer every n: n beyond the layer count means none.
                    let n = get("attention.sliding_window_pattern")
                        .unwrap_or(6)
                        .clamp(1, layers) as usize;
                    format!("{}G", "L".repeat(n - 1))
                }
                _ => "L".to_string(),
            };
            SlidingWindow { tokens, pattern }
        });
    let is_gpt2 = arch == "gpt2";
    let name = meta
        .get("general.name")
        .and_then(MetaValue::as_str)
        .unwrap_or(origin)
        .to_string();
    let family = super::arch::family_traits(&arch);
    let a = Architecture {
        id: Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "gguf".into()),
        name: format!("{name} (GGUF {arch})"),
        hf_repo: None,
        source: origin.to_string(),
        date: "from file".to_string(),
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim: mla
            .as_ref()
            .map_or(head_dim, |m| m.qk_nope_head_dim + m.qk_rope_head_dim),
        intermediate,
        vocab,
        tied_embeddings: meta.tensor("output.weight").is_err(),
        max_context,
        mlp: family.mlp,
        norm: family.norm,
        norms_per_layer: family.norms_per_layer,
        attention_bias: if is_gpt2 || arch == "gpt-oss" {
            AttentionBias::All
        } else if arch == "qwen2" {
            AttentionBias::Qkv
        } else {
            AttentionBias::None
        },
        mlp_bias: family.mlp_bias,
        qk_norm: family.qk_norm,
        learned_positions: family.learned_positions,
        sliding_window,
        moe,
        mla,
        native_weights: None,
        published: None,
        notes: None,
    };
    a.validate(origin)?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ch07_real_model::GgmlType;
    use ch07_real_model::gguf::write_gguf;

    fn uint(v: u64) -> MetaValue {
        MetaValue::Uint(v)
    }
    fn text(v: &str) -> MetaValue {
        MetaValue::Str(v.into())
    }

    /// A small Llama-shaped GGUF: 4 layers, hidden 64, 4 heads, 2 KV heads, head_dim 16
    /// (implicit), 100 tokens in the vocabulary (only the token list says so).
    fn small_llama(untied: bool) -> Gguf {
        let tokens = MetaValue::Array((0..100).map(|i| text(&format!("t{i}"))).collect());
        let metadata = [
            ("general.architecture", text("llama")),
            ("general.name", text("tiny")),
            ("llama.block_count", uint(4)),
            ("llama.embedding_length", uint(64)),
            ("llama.feed_forward_length", uint(176)),
            ("llama.attention.head_count", uint(4)),
            ("llama.attention.head_count_kv", uint(2)),
            ("llama.context_length", uint(2048)),
            ("tokenizer.ggml.tokens", tokens),
        ];
        let matrix = |name| (name, vec![64, 100], GgmlType::F16, vec![0u8; 12_800]);
        let mut tensors = vec![matrix("token_embd.weight")];
        if untied {
            tensors.push(matrix("output.weight"));
        }
        Gguf::from_bytes(write_gguf(&metadata, &tensors), "tiny.gguf").unwrap()
    }

    #[test]
    fn reads_a_small_gguf() {
        let gguf = small_llama(true);
        let a = to_architecture(&gguf, "tiny.gguf").unwrap();
        assert_eq!(
            (
                a.layers,
                a.hidden,
                a.heads,
                a.kv_heads,
                a.head_dim,
                a.intermediate,
                a.vocab
            ),
            (4, 64, 4, 2, 16, 176, 100)
        );
        assert!(!a.tied_embeddings);
        assert_eq!(a.max_context, 2048);
        assert!(
            to_architecture(&small_llama(false), "t.gguf")
                .unwrap()
                .tied_embeddings
        );
    }

    #[test]
    fn an_mla_rope_part_wider_than_the_key_is_refused() {
        let meta = |rope: u64| {
            let gguf = write_gguf(
                &[
                    ("general.architecture", text("deepseek2")),
                    ("deepseek2.block_count", uint(2)),
                    ("deepseek2.embedding_length", uint(64)),
                    ("deepseek2.attention.head_count", uint(4)),
                    ("deepseek2.attention.kv_lora_rank", uint(16)),
                    ("deepseek2.rope.dimension_count", uint(rope)),
                    ("deepseek2.attention.key_length", uint(32)),
                ],
                &[],
            );
            Gguf::from_bytes(gguf, "d.gguf").unwrap()
        };
        let err = to_architecture(&meta(64), "d.gguf").unwrap_err();
        assert!(
            err.to_string()
                .contains("`deepseek2.rope.dimension_count` 64 exceeds"),
            "{err}"
        );
        // Within the key, the same file reads on to the next missing key.
        let err = to_architecture(&meta(8), "d.gguf").unwrap_err();
        assert!(!err.to_string().contains("exceeds"), "{err}");
    }

    #[test]
    fn missing_key_is_named() {
        let gguf = Gguf::from_bytes(
            write_gguf(
                &[
                    ("general.architecture", text("qwen3")),
                    ("qwen3.block_count", uint(2)),
                ],
                &[],
            ),
            "q.gguf",
        )
        .unwrap();
        let err = to_architecture(&gguf, "q.gguf").unwrap_err();
        assert!(err.to_string().contains("qwen3.embedding_length"), "{err}");
    }
}
