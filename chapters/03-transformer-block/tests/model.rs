//! The decoder model: parameter counts by formula equal the instantiated module's own count
//! (burn's `num_params`), a real HF `config.json` parses, bad configs name their field, and the
//! positions interface computes the same logits token by token as in one pass.

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ch03_transformer_block::reference::{self, array3, max_abs_diff};
use ch03_transformer_block::{
    ConfigError, LlamaConfig, LlamaModel, ModelError, Rope, param_counts, presets,
};

const SMOLLM2_CONFIG: &str = include_str!("../../../data/configs/smollm2-135m.config.json");

fn device() -> Device {
    Device::flex()
}

/// Formula and module agree for tied and untied, MHA and GQA, explicit and derived head_dim,
/// including full-sized GPT-2-small and SmolLM2-135M shapes (burn initialises parameters
/// lazily, so counting a 135M-parameter model allocates nothing).
#[test]
fn parameter_count_formula_equals_module() {
    let configs = [
        ("tiny", presets::tiny(512)),
        ("small", presets::small(8192)),
        ("gpt2-small-sized", presets::gpt2_small_sized()),
        ("smollm2-135m", presets::smollm2_135m()),
        (
            "untied, gqa, head_dim ≠ hidden/heads",
            LlamaConfig {
                num_key_value_heads: Some(2),
                head_dim: Some(24),
                ..LlamaConfig::new(64, 100, 3, 4, 300)
            },
        ),
    ];
    for (name, config) in configs {
        let model = LlamaModel::new(&config, &device()).unwrap();
        assert_eq!(model.num_params(), param_counts(&config).total(), "{name}");
    }
}

/// SmolLM2-135M's published size is 134.5M parameters (134,515,008 in its safetensors).
#[test]
fn smollm2_135m_has_its_published_size() {
    let config = LlamaConfig::from_json(SMOLLM2_CONFIG).unwrap();
    // The file leaves head_dim to be derived (576 / 9 = 64); the preset states it.
    assert_eq!(config.head_dim(), 64);
    assert_eq!(config.kv_heads(), 3);
    assert_eq!(
        param_counts(&config),
        param_counts(&presets::smollm2_135m())
    );
    let counts = param_counts(&config);
    assert_eq!(counts.total(), 134_515_008);
    assert_eq!(counts.lm_head, 0, "tied");
    // The embedding is 21% of this small model.
    let share = counts.embedding as f64 / counts.total() as f64;
    assert!((0.20..0.22).contains(&share), "{share}");
}

fn error(json: &str) -> ConfigError {
    LlamaConfig::from_json(json).unwrap_err()
}

const BASE: &str = r#""model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "vocab_size": 100"#;

#[test]
fn bad_configs_name_the_field() {
    let e = error(&format!(r#"{{{BASE}, "num_hidden_layers": 0}}"#));
    assert_eq!(
        e,
        ConfigError::Zero {
            field: "num_hidden_layers"
        }
    );
    assert!(e.to_string().contains("num_hidden_layers"));

    let e = error(
        r#"{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 5, "vocab_size": 100, "num_hidden_layers": 2}"#,
    );
    assert!(matches!(
        e,
        ConfigError::HeadsDivideHidden {
            hidden: 64,
            heads: 5
        }
    ));
    assert!(e.to_string().contains("num_attention_heads") && e.to_string().contains("head_dim"));
    // …but with head_dim given, 5 heads of 16 on a 64-wide model are fine (as in Gemma).
    LlamaConfig::from_json(r#"{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 5, "head_dim": 16, "vocab_size": 100, "num_hidden_layers": 2}"#).unwrap();

    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "num_key_value_heads": 3}}"#
    ));
    assert!(matches!(
        e,
        ConfigError::KvHeadsDivide {
            heads: 4,
            kv_heads: 3
        }
    ));
    assert!(e.to_string().contains("num_key_value_heads"));

    let e = error(&format!(r#"{{{BASE}, "num_hidden_layer": 2}}"#));
    assert!(
        matches!(&e, ConfigError::UnknownField { field, .. } if field == "num_hidden_layer"),
        "{e}"
    );

    let e = error(&format!(r#"{{{BASE}}}"#));
    assert!(
        e.to_string().contains("missing field `num_hidden_layers`"),
        "{e}"
    );

    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "hidden_act": "gelu"}}"#
    ));
    assert!(e.to_string().contains("hidden_act"));
    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "rms_norm_eps": -1}}"#
    ));
    assert!(e.to_string().contains("rms_norm_eps"));
    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "head_dim": 15}}"#
    ));
    assert_eq!(e, ConfigError::OddHeadDim(15));
    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "rope_scaling": {{"rope_type": "yarn", "factor": 4.0}}}}"#
    ));
    assert!(
        e.to_string().contains("rope_scaling") && e.to_string().contains("llama3"),
        "{e}"
    );
    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "rope_scaling": {{"rope_type": "llama3", "factor": 8.0}}}}"#
    ));
    assert_eq!(
        e,
        ConfigError::Missing {
            field: "rope_scaling.low_freq_factor"
        }
    );
    let e = error(&format!(
        r#"{{{BASE}, "num_hidden_layers": 2, "sliding_window": 4096}}"#
    ));
    assert!(e.to_string().contains("sliding_window"), "{e}");
    assert!(matches!(error("{not json"), ConfigError::Json(_)));
}

/// A config names its family, and a family's defaults are not another's: an unknown or
/// missing `model_type` is refused with the supported list, a known family this chapter cannot
/// build (Gemma: four norms per block, GeGLU) is refused naming the ones it can.
#[test]
fn model_type_is_required_and_checked() {
    let shape = r#""hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "vocab_size": 100, "num_hidden_layers": 2"#;
    let e = error(&format!("{{{shape}}}"));
    assert!(matches!(e, ConfigError::MissingModelType { .. }), "{e}");
    assert!(e.to_string().contains("llama, mistral"), "{e}");
    let e = error(&format!(r#"{{"model_type": "falcon", {shape}}}"#));
    assert!(
        matches!(&e, ConfigError::UnknownModelType { model_type, supported }
            if model_type == "falcon" && supported.contains("qwen2_moe")),
        "{e}"
    );
    let e = error(&format!(r#"{{"model_type": "gemma2", {shape}}}"#));
    assert!(e.to_string().contains("llama, mistral"), "{e}");
    // Mistral's family defaults are Llama's: untied unless the file says otherwise.
    let c = LlamaConfig::from_json(&format!(r#"{{"model_type": "mistral", {shape}}}"#)).unwrap();
    assert!(!c.tie_word_embeddings);
}

/// Llama 3.2 1B's config, as published (meta-llama/Llama-3.2-1B): tied embeddings and Llama
/// 3.1's RoPE rescaling.
const LLAMA_3_2_1B: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256
}"#;

/// Llama 3.2 1B reads, counts to its safetensors' 1,235,814,400 parameters, and its RoPE
/// frequencies follow the three bands of the llama3 rule: pairs with a wavelength under
/// 8192/4 = 2048 positions keep `θ_i`, pairs over 8192 turn 32× slower, and the pairs between
/// move monotonically from one to the other.
#[test]
fn llama3_rope_scaling_is_read_and_applied() {
    let config = LlamaConfig::from_json(LLAMA_3_2_1B).unwrap();
    assert_eq!(param_counts(&config).total(), 1_235_814_400);
    let scaling = config.rope_scaling.expect("llama3 scaling read");
    assert_eq!(scaling.factor, 32.0);
    let plain = Rope::plain(config.rope_theta).inv_freq(64);
    let scaled = Rope {
        theta: config.rope_theta,
        llama3: Some(scaling),
    }
    .inv_freq(64);
    let wavelength = |f: f64| 2.0 * std::f64::consts::PI / f;
    let mut bands = [0; 3];
    let mut last_ratio = 1.0;
    for (&p, &s) in plain.iter().zip(&scaled) {
        let ratio = s / p;
        if wavelength(p) < 2048.0 {
            assert_eq!(s, p);
            bands[0] += 1;
        } else if wavelength(p) > 8192.0 {
            assert!((ratio - 1.0 / 32.0).abs() < 1e-15, "{ratio}");
            bands[2] += 1;
        } else {
            assert!(ratio < 1.0 && ratio > 1.0 / 32.0, "{ratio}");
            bands[1] += 1;
        }
        // Slower pairs are never scaled less than faster ones.
        assert!(ratio <= last_ratio + 1e-15);
        last_ratio = ratio;
    }
    assert!(bands.iter().all(|&n| n > 0), "{bands:?}");
    // The blend at the boundary wavelength 8192/4 equals the unscaled θ, and at 8192 the
    // θ/32: the bands meet without a jump. Checked on a synthetic θ at each edge.
    let edge = |wavelength: f64| 2.0 * std::f64::consts::PI / wavelength;
    assert!((scaling.scale(edge(2048.0)) - edge(2048.0)).abs() < 1e-15);
    assert!((scaling.scale(edge(8192.0)) - edge(8192.0) / 32.0).abs() < 1e-15);

    // A 2-layer cut of the model runs with the rescaled frequencies, and they matter: the
    // same weights with plain RoPE give different logits.
    let small = LlamaConfig {
        num_hidden_layers: 2,
        vocab_size: 256,
        ..config.clone()
    };
    let device = device();
    device.seed(11);
    let model = LlamaModel::new(&small, &device).unwrap();
    let plain_model = LlamaModel::new(
        &LlamaConfig {
            rope_scaling: None,
            ..small
        },
        &device,
    )
    .unwrap()
    .load_record(model.clone().into_record());
    let tokens = ids(&[1, 5, 9, 200, 3, 77]);
    let diff = max_abs_diff(
        &array3(&model.forward(tokens.clone()).unwrap()),
        &array3(&plain_model.forward(tokens).unwrap()),
    );
    assert!(diff > 1e-4, "rope scaling changed nothing: {diff}");
}

fn ids(v: &[i64]) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), &device())
}

/// Feeding the tokens one at a time — each at its absolute position, attending to the
/// post-RoPE keys and values kept from the earlier steps — gives the same logits as one pass
/// over the whole sequence. This is the interface chapter 04's KV cache builds on.
#[test]
fn positions_interface_supports_incremental_decoding() {
    let device = device();
    device.seed(3);
    let config = LlamaConfig {
        num_key_value_heads: Some(2),
        ..presets::tiny(97)
    };
    let model = LlamaModel::new(&config, &device).unwrap();
    let tokens = [5i64, 17, 3, 3, 60, 92, 1, 44, 8, 20];
    let full = model.forward(ids(&tokens)).unwrap(); // [1, 10, 97]

    let mut cache: Vec<Option<(Tensor<4>, Tensor<4>)>> = vec![None; config.num_hidden_layers];
    for (pos, &t) in tokens.iter().enumerate() {
        let step = model
            .forward_with(ids(&[t]), pos, |layer, k, v| {
                let (k, v) = match cache[layer].take() {
                    Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                    None => (k, v),
                };
                assert_eq!(k.dims()[1], 2, "the cache holds only the KV heads");
                cache[layer] = Some((k.clone(), v.clone()));
                (k, v)
            })
            .unwrap();
        let want = full.clone().narrow(1, pos, 1);
        let diff = (step - want).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-4, "position {pos}: {diff}");
    }
}

#[test]
fn tied_head_is_the_embedding_and_shapes_are_checked() {
    let config = presets::tiny(50);
    let model = LlamaModel::new(&config, &device()).unwrap();
    assert!(config.tie_word_embeddings && model.lm_head.is_none());
    let untied = LlamaModel::new(
        &LlamaConfig {
            tie_word_embeddings: false,
            ..config.clone()
        },
        &device(),
    )
    .unwrap();
    assert!(untied.lm_head.is_some());
    assert_eq!(untied.num_params(), model.num_params() + 50 * 64);

    // The tied head computes `(E · xᵀ)ᵀ` so that `E` is read as stored; it must equal the
    // textbook `x · Eᵀ`, written here with the transposed embedding.
    let x = Tensor::<3>::random(
        [2, 3, 64],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device(),
    );
    let e_t = model.embed_tokens.weight.val().transpose().unsqueeze::<3>();
    let textbook = x.clone().matmul(e_t);
    let diff: f32 = (model.head(x) - textbook).abs().max().into_scalar();
    assert!(diff < 1e-5, "tied head differs from x·Eᵀ by {diff}");

    assert_eq!(model.forward(ids(&[1, 2, 3])).unwrap().dims(), [1, 3, 50]);
    let too_long = model.forward_with(
        ids(&[1, 2]),
        config.max_position_embeddings - 1,
        |_, k, v| (k, v),
    );
    assert!(matches!(too_long, Err(ModelError::PositionsTooLong { .. })));
}

/// The whole model (embedding, two blocks, final norm, tied or untied head) against the
/// ndarray f64 forward written from the equations in `reference::model_logits`.
#[test]
fn whole_model_matches_ndarray_reference_tied_and_untied() {
    let tokens = [3usize, 41, 7, 7, 0, 29, 18, 5];
    let id_tensor = ids(&tokens.map(|t| t as i64));
    for tie in [true, false] {
        let config = LlamaConfig {
            num_key_value_heads: Some(2),
            tie_word_embeddings: tie,
            ..LlamaConfig::new(32, 80, 2, 4, 50)
        };
        let device = device();
        device.seed(11);
        let mut model = LlamaModel::new(&config, &device).unwrap();
        // Gains away from 1 so that a norm applied without its weight would show.
        let gain = || {
            Param::from_tensor(Tensor::<1>::random(
                [32],
                burn::tensor::Distribution::Uniform(0.5, 1.5),
                &device,
            ))
        };
        for b in &mut model.layers {
            b.input_layernorm.weight = gain();
            b.post_attention_layernorm.weight = gain();
        }
        model.norm.weight = gain();
        let weights = reference::model_weights(&model, &config);
        assert_eq!(weights.lm_head.is_none(), tie);
        let got =
            array3(&model.forward(id_tensor.clone()).unwrap()).index_axis_move(ndarray::Axis(0), 0);
        let want = reference::model_logits(&tokens, &weights);
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = max_abs_diff(&got, &want);
        assert!(
            err < 1e-4 * scale.max(1.0),
            "tied {tie}: {err} (logits up to {scale})"
        );
        if !tie {
            // The check can fail: reading the untied model as if its head were tied is far off.
            let as_tied = reference::ModelWeights {
                lm_head: None,
                ..weights
            };
            let wrong = reference::model_logits(&tokens, &as_tied);
            assert!(max_abs_diff(&got, &wrong) > 100.0 * err.max(1e-7));
        }
    }
}
