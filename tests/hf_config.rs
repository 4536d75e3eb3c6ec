//! One reader of HF `config.json` for chapter 03 and the budget: both count a model alike,
//! follow each family's transformers defaults, and agree with the module chapter 03 builds.

use burn::module::Module;
use burn::tensor::Device;
use ch03_transformer_block::{LlamaConfig, LlamaModel, param_counts as ch03_counts};
use llm_workbench::budget::arch::{self, Architecture, AttentionBias, MlpKind, NormKind};
use llm_workbench::budget::calc::param_counts as budget_counts;

/// Chapter 03's config for a catalog architecture, or why chapter 03 cannot build it.
fn as_llama(a: &Architecture) -> Result<LlamaConfig, &'static str> {
    if a.mlp != MlpKind::Gated || a.norm != NormKind::Rms || a.learned_positions {
        return Err("GPT-2 layout: LayerNorm, GELU MLP, learned positions");
    }
    if a.attention_bias != AttentionBias::None || a.mlp_bias {
        return Err("biases");
    }
    if a.qk_norm || a.norms_per_layer != 2 {
        return Err("extra norms");
    }
    Ok(LlamaConfig {
        num_key_value_heads: Some(a.kv_heads as usize),
        head_dim: Some(a.head_dim as usize),
        tie_word_embeddings: a.tied_embeddings,
        max_position_embeddings: a.max_context as usize,
        ..LlamaConfig::new(
            a.hidden as usize,
            a.intermediate as usize,
            a.layers as usize,
            a.heads as usize,
            a.vocab as usize,
        )
    })
}

/// Every dense architecture in the catalog: chapter 03's formula == the budget's count, and
/// the module chapter 03 builds (full size and cut to 2 layers; burn initialises lazily, so
/// counting allocates nothing) has exactly that many parameters. The architectures chapter 03
/// cannot build are listed, so a new catalog entry is either checked or named here.
#[test]
fn chapter_03_budget_and_module_count_every_dense_catalog_model_alike() {
    let device = Device::flex();
    let (mut checked, mut skipped) = (Vec::new(), Vec::new());
    let catalog = arch::catalog();
    for a in catalog
        .iter()
        .filter(|a| a.moe.is_none() && a.mla.is_none())
    {
        let config = match as_llama(a) {
            Ok(config) => config,
            Err(why) => {
                skipped.push((a.id.as_str(), why));
                continue;
            }
        };
        for layers in [a.layers, 2] {
            let cut = Architecture {
                layers,
                ..a.clone()
            };
            let config = LlamaConfig {
                num_hidden_layers: layers as usize,
                ..config.clone()
            };
            let formula = ch03_counts(&config).total();
            assert_eq!(
                formula as f64,
                budget_counts(&cut).total(),
                "{} at {layers} layers",
                a.id
            );
            let module = LlamaModel::new(&config, &device).unwrap();
            assert_eq!(module.num_params(), formula, "{} at {layers} layers", a.id);
        }
        checked.push(a.id.as_str());
    }
    assert_eq!(
        checked,
        [
            "smollm2-135m",
            "llama-3.1-8b",
            "llama-3.1-70b",
            "mistral-7b"
        ]
    );
    let skipped: Vec<&str> = skipped.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        skipped,
        [
            "gpt2-small",
            "qwen2.5-7b",
            "qwen3-8b",
            "gemma-2-9b",
            "gemma-3-27b"
        ]
    );
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// The same file through `block params` (chapter 03) and `budget`: equal counts. A Llama file
/// that omits `tie_word_embeddings` is untied in both (LlamaConfig's default); a Gemma file that
/// omits it is tied (GemmaConfig's default).
#[test]
fn an_omitted_tie_word_embeddings_follows_the_family_default() {
    let llama = r#"{"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
        "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
        "vocab_size": 128256, "max_position_embeddings": 131072, "rope_theta": 500000.0}"#;
    let ours = LlamaConfig::from_json(llama).unwrap();
    let budget = arch::from_hf_config(&json(llama), "llama.json").unwrap();
    assert!(!ours.tie_word_embeddings && !budget.tied_embeddings);
    assert_eq!(
        ch03_counts(&ours).total() as f64,
        budget_counts(&budget).total()
    );
    // …and it is Llama 3.1 8B as the catalog has it.
    assert_eq!(
        budget_counts(&budget).total(),
        budget_counts(&arch::resolve("llama-3.1-8b").unwrap()).total()
    );

    let gemma = json(
        r#"{"model_type": "gemma2", "hidden_size": 3584, "head_dim": 256,
        "intermediate_size": 14336, "num_attention_heads": 16, "num_key_value_heads": 8,
        "num_hidden_layers": 42, "vocab_size": 256000, "max_position_embeddings": 8192,
        "sliding_window": 4096}"#,
    );
    let g = arch::from_hf_config(&gemma, "gemma.json").unwrap();
    assert!(g.tied_embeddings);
    assert_eq!(
        budget_counts(&g).total(),
        budget_counts(&arch::resolve("gemma-2-9b").unwrap()).total()
    );
}

#[test]
fn an_unknown_model_type_is_refused_with_the_supported_list() {
    let falcon = json(
        r#"{"model_type": "falcon", "hidden_size": 4544, "num_attention_heads": 71,
        "num_hidden_layers": 32, "vocab_size": 65024}"#,
    );
    let e = arch::from_hf_config(&falcon, "falcon.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("falcon.json") && e.contains("\"falcon\"") && e.contains("llama, mistral"),
        "{e}"
    );
    let untyped = json(r#"{"hidden_size": 64}"#);
    let e = arch::from_hf_config(&untyped, "x.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("model_type"), "{e}");
}

/// Qwen1.5-MoE-A2.7B (Qwen/Qwen1.5-MoE-A2.7B `config.json`, `model_type` qwen2_moe): 60 routed
/// experts of 1408, 4 active, one shared expert of 5632, q/k/v biases. The model card states
/// 14.3B parameters and 2.7B activated.
#[test]
fn qwen2_moe_reads_its_shared_expert_and_qkv_bias() {
    let qwen = json(
        r#"{"model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
        "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
        "num_experts": 60, "num_experts_per_tok": 4, "num_attention_heads": 16,
        "num_key_value_heads": 16, "num_hidden_layers": 24, "vocab_size": 151936,
        "max_position_embeddings": 8192, "tie_word_embeddings": false}"#,
    );
    let a = arch::from_hf_config(&qwen, "qwen-moe.json").unwrap();
    assert_eq!(a.attention_bias, AttentionBias::Qkv);
    let moe = a.moe.as_ref().unwrap();
    assert_eq!((moe.shared_experts, moe.shared_intermediate), (1, 5632));
    let p = budget_counts(&a);
    assert!((p.total() / 1e9 - 14.3).abs() < 0.05, "{}", p.total());
    assert!((p.active() / 1e9 - 2.7).abs() < 0.05, "{}", p.active());
}
