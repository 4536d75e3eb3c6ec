//! Serving budget, checked against figures published by others: KV bytes per token, KV sizes
//! at long context, parameter counts from the model cards, vLLM's own weight-load log line,
//! the DeepSeek-V2 paper's MLA cache size, and checkpoint sizes the model cards state.

use llm_workbench::budget::arch::{self, Architecture};
use llm_workbench::budget::calc::*;
use llm_workbench::budget::hardware;
use llm_workbench::budget::{Settings, plan, self_hosted_usd_per_mtok};

fn model(id: &str) -> Architecture {
    arch::resolve(id).unwrap()
}

fn h100() -> hardware::Hardware {
    hardware::resolve("h100-sxm", std::path::Path::new("/nonexistent")).unwrap()
}

#[test]
fn llama_3_1_8b_bf16_kv_is_128_kib_per_token() {
    // Published everywhere for Llama 3 8B: 2 × 32 layers × 8 KV heads × 128 × 2 bytes.
    assert_eq!(
        kv_bytes_per_token(&model("llama-3.1-8b"), KvDtype::Bf16, 1),
        128.0 * 1024.0
    );
}

#[test]
fn thirty_two_layer_mha_vs_gqa_at_32k_tokens() {
    // Published: 32 layers, 32 heads, head_dim 128, 32,768 tokens, bf16: 17.18 GB with MHA,
    // 4.29 GB with 8 KV heads.
    let mut a = model("llama-3.1-8b");
    a.kv_heads = 32;
    let mha = kv_bytes_for_tokens(&a, KvDtype::Bf16, 1, 32768);
    a.kv_heads = 8;
    let gqa = kv_bytes_for_tokens(&a, KvDtype::Bf16, 1, 32768);
    assert_eq!(format!("{:.2}", mha / 1e9), "17.18");
    assert_eq!(format!("{:.2}", gqa / 1e9), "4.29");
}

#[test]
fn deepseek_v3_mla_cache_matches_the_papers_formula() {
    // DeepSeek-V2 paper, Table 1: MLA caches (d_c + d_h^R) · l ≈ (9/2) · d_h · l elements per
    // token, with d_c = 4 d_h and d_h^R = d_h / 2; V3 keeps d_h = 128 with 61 layers.
    let a = model("deepseek-v3");
    let d_h = 128.0;
    let elements = 4.5 * d_h * 61.0;
    assert_eq!(kv_bytes_per_token(&a, KvDtype::Bf16, 1), elements * 2.0);
    assert_eq!(kv_bytes_per_token(&a, KvDtype::Bf16, 1), 70_272.0);
    // Against MHA with the same 128 heads of 128 (2 · n_h · d_h · l elements): 56.9× smaller.
    let mha_elements = 2.0 * 128.0 * d_h * 61.0;
    assert!((mha_elements / elements - 56.9).abs() < 0.05);
    // The latent is not split across tensor-parallel ranks.
    assert_eq!(
        kv_bytes_per_token(&a, KvDtype::Bf16, 8),
        kv_bytes_per_token(&a, KvDtype::Bf16, 1)
    );
}

#[test]
fn gemma_3_sliding_window_layers_cap_the_cache() {
    // Gemma 3 27B: 62 layers, sliding_window_pattern 6 → layers 5, 11, …, 59 are global (10),
    // the other 52 attend to the last 1,024 tokens.
    let a = model("gemma-3-27b");
    assert_eq!(a.sliding_layers(), 52);
    let per_layer = 2.0 * 16.0 * 128.0 * 2.0;
    let context = 32768;
    let by_hand = per_layer * (10.0 * 32768.0 + 52.0 * 1024.0);
    assert_eq!(kv_bytes_for_tokens(&a, KvDtype::Bf16, 1, context), by_hand);
    let all_global = per_layer * 62.0 * 32768.0;
    // 81% less KV at 32k than if every layer were global.
    let saving = 1.0 - by_hand / all_global;
    assert!((saving - 0.8125).abs() < 1e-9, "{saving}");
    // Below the window nothing is saved.
    assert_eq!(
        kv_bytes_for_tokens(&a, KvDtype::Bf16, 1, 512),
        per_layer * 62.0 * 512.0
    );
}

#[test]
fn mistral_sliding_window_stops_growth_at_4096() {
    let a = model("mistral-7b");
    let at = |c| kv_bytes_per_request(&a, KvDtype::Bf16, 1, c, 16);
    assert_eq!(at(4096), at(32768));
    assert!(at(2048) < at(4096));
}

#[test]
fn parameter_counts_match_the_published_totals() {
    // Tolerance 2%: published figures are rounded (8.2B, 30.5B) and some omit small tensors.
    for a in arch::catalog() {
        let Some(p) = &a.published else { continue };
        let c = param_counts(&a);
        let total_err = (c.total() - p.params_total).abs() / p.params_total;
        assert!(
            total_err < 0.02,
            "{}: computed {:.4e} vs published {:.4e}",
            a.id,
            c.total(),
            p.params_total
        );
        if let Some(active) = p.params_active {
            let ours = if p.active_excludes_input_embedding {
                c.active_without_input_embedding()
            } else {
                c.active()
            };
            let err = (ours - active).abs() / active;
            assert!(
                err < 0.03,
                "{}: active {:.4e} vs published {:.4e}",
                a.id,
                ours,
                active
            );
        }
    }
}

#[test]
fn every_catalog_entry_has_a_source_and_a_date() {
    let list = arch::catalog();
    assert!(list.len() >= 14);
    for a in &list {
        assert!(a.source.starts_with("https://"), "{}", a.id);
        assert!(
            a.date.len() == 10 && a.date.starts_with("20"),
            "{}: {}",
            a.id,
            a.date
        );
    }
    for h in hardware::catalog() {
        assert!(h.spec_source.starts_with("https://"), "{}", h.id);
        assert!(
            h.price_as_of.is_some() && h.price_source.is_some(),
            "{}",
            h.id
        );
    }
}

#[test]
fn head_dim_is_not_hidden_over_heads_for_the_decoupled_families() {
    for id in ["gemma-2-9b", "gemma-3-27b", "qwen3-30b-a3b", "gpt-oss-20b"] {
        let a = model(id);
        assert_ne!(a.head_dim * a.heads, a.hidden, "{id}");
    }
}

#[test]
fn weight_bytes_match_vllms_load_log_for_llama_8b() {
    // vLLM: "Loading model weights took 14.99 GiB" for a Llama-3.1-8B-shaped model in bf16
    // (AWS data-on-eks guide, DeepSeek-R1-Distill-Llama-8B). vLLM's figure also holds small
    // buffers (rotary tables), so allow 0.5%.
    let a = model("llama-3.1-8b");
    let w = weight_bytes(&param_counts(&a), WeightScheme::plain(WeightDtype::Bf16)).total();
    let gib = w / (1u64 << 30) as f64;
    assert!((gib - 14.99).abs() / 14.99 < 0.005, "{gib}");
}

#[test]
fn gpt_oss_checkpoints_fit_where_the_model_card_says() {
    // Model card: gpt-oss-120b "runs on a single 80GB GPU", gpt-oss-20b "within 16GB of memory"
    // — with MXFP4 experts and bf16 everything else.
    let big = model("gpt-oss-120b");
    let native = WeightScheme {
        dtype: WeightDtype::Mxfp4,
        scope: QuantScope::Experts,
        group_size: 32,
    };
    assert!(weight_bytes(&param_counts(&big), native).total() < 80e9);
    assert!(weight_bytes(&param_counts(&model("gpt-oss-20b")), native).total() < 16e9);
    // And the plan on one H100 succeeds with the native scheme.
    let b = plan(&big, &h100(), &Settings::default()).unwrap();
    assert!(b.max_concurrency > 1.0);
    // In bf16 it would not.
    let s = Settings {
        weights: Some(WeightScheme::plain(WeightDtype::Bf16)),
        ..Settings::default()
    };
    assert!(plan(&big, &h100(), &s).is_err());
}

#[test]
fn int4_group_scales_cost_a_fraction_of_a_bit() {
    assert_eq!(bits_per_weight(WeightDtype::Int4, 128), 4.0 + 20.0 / 128.0);
    assert_eq!(bits_per_weight(WeightDtype::Mxfp4, 32), 4.25);
    let p = param_counts(&model("llama-3.1-70b"));
    let int4 = weight_bytes(&p, WeightScheme::plain(WeightDtype::Int4)).total();
    let bf16 = weight_bytes(&p, WeightScheme::plain(WeightDtype::Bf16)).total();
    // Embeddings, LM head and norms stay bf16, so a bit more than a quarter.
    let small = p.embedding + p.lm_head + p.norms;
    let by_hand = ((p.total() - small) * 4.15625 / 8.0 + small * 2.0) / (p.total() * 2.0);
    assert!((int4 / bf16 - by_hand).abs() < 1e-12, "{}", int4 / bf16);
    assert!(int4 / bf16 > 0.25 && int4 / bf16 < 0.3);
}

#[test]
fn concurrency_is_pool_tokens_over_request_tokens_like_vllm() {
    let a = model("llama-3.1-8b");
    let s = Settings {
        context_tokens: 8000,
        ..Settings::default()
    };
    let b = plan(&a, &h100(), &s).unwrap();
    // 8000 tokens occupy 500 blocks of 16 = 8000 tokens; pool tokens are whole blocks.
    let by_tokens = b.pool_tokens as f64 / round_up_to_block(8000, 16) as f64;
    assert!(
        (b.max_concurrency - by_tokens).abs() < 16.0 / 8000.0,
        "{} vs {by_tokens}",
        b.max_concurrency
    );
    assert_eq!(round_up_to_block(1000, 16), 1008);
    // Pool = 0.9 × memory − weights − overhead.
    let pool = 0.9 * b.memory_bytes_per_gpu - b.weight_bytes_per_gpu - b.overhead_bytes_per_gpu;
    assert_eq!(b.kv_pool_bytes_per_gpu, pool);
}

#[test]
fn tensor_parallel_splits_kv_heads_and_replicates_below_one_per_rank() {
    let a = model("llama-3.1-70b");
    let one = kv_bytes_per_token(&a, KvDtype::Bf16, 1);
    assert_eq!(kv_bytes_per_token(&a, KvDtype::Bf16, 4), one / 4.0);
    assert_eq!(kv_bytes_per_token(&a, KvDtype::Bf16, 8), one / 8.0);
    // 8 KV heads on 16 ranks: each rank keeps one (replicated), not half of one.
    assert_eq!(kv_bytes_per_token(&a, KvDtype::Bf16, 16), one / 8.0);
    // 70B in bf16 needs TP; the error says which TP fits.
    let err = plan(&a, &h100(), &Settings::default())
        .unwrap_err()
        .to_string();
    // 141 GB of weights: two H100s hold them (with little room for KV), or one in fp8.
    assert!(
        err.contains("does not fit") && err.contains("--tp 2") && err.contains("fp8"),
        "{err}"
    );
    let s = Settings {
        tp: 4,
        ..Settings::default()
    };
    let b = plan(&a, &h100(), &s).unwrap();
    assert!((b.weight_bytes_per_gpu - b.weight_bytes / 4.0).abs() < 1.0);
}

#[test]
fn expert_parallel_places_whole_experts() {
    let a = model("mixtral-8x7b");
    let w = weight_bytes(&param_counts(&a), WeightScheme::plain(WeightDtype::Bf16));
    // 8 experts on 3 ranks: a rank holds 3 of them (⌈8/3⌉), more than the 8/3 of pure TP.
    let ep = weight_bytes_per_gpu(&w, &a, 3, true);
    let tp = weight_bytes_per_gpu(&w, &a, 3, false);
    assert!(
        (ep - tp - w.routed_experts_bytes * (3.0 / 8.0 - 1.0 / 3.0)).abs() < 1.0,
        "{ep} {tp}"
    );
}

#[test]
fn decode_roofline_by_hand_for_llama_8b_at_batch_1() {
    let a = model("llama-3.1-8b");
    let s = Settings {
        batch: Some(1),
        context_tokens: 1024,
        ..Settings::default()
    };
    let b = plan(&a, &h100(), &s).unwrap();
    // Bytes per step: every weight except the input embedding table + one request's KV.
    let p = param_counts(&a);
    let bytes = (p.total() - p.embedding) * 2.0 + 131072.0 * 1024.0;
    let by_hand = 3.35e12 * 0.8 / bytes;
    assert_eq!(b.decode_bound, "memory");
    assert!((b.decode_tokens_per_s_per_request - by_hand).abs() / by_hand < 1e-9);
    // $/1M output tokens = $/hour / 3600 / tokens per s × 1e6.
    let usd = 2.69 / 3600.0 / by_hand * 1e6;
    assert!((b.usd_per_mtok_output.unwrap() - usd).abs() < 1e-9);
    assert_eq!(usd_per_mtok(3600.0, 1.0), 1e6);
}

#[test]
fn moe_decode_reads_only_the_experts_a_batch_touches() {
    let a = model("qwen3-30b-a3b");
    assert!((experts_touched_fraction(&a, 1) - 8.0 / 128.0).abs() < 1e-12);
    assert!(experts_touched_fraction(&a, 256) > 0.99);
    assert_eq!(experts_touched_fraction(&model("llama-3.1-8b"), 1), 1.0);
}

#[test]
fn prefill_attention_pairs() {
    assert_eq!(causal_pairs(4, 4), 10.0);
    assert_eq!(causal_pairs(10, 4), 10.0 + 6.0 * 4.0);
}

#[test]
fn context_distributions_and_tenants() {
    let d =
        ContextDistribution::from_percentiles(&[(50.0, 2048), (90.0, 8192), (99.0, 32768)], 65536);
    let w: Vec<f64> = d.points.iter().map(|p| p.0).collect();
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(d.points.last().unwrap().1, 65536);
    assert!((w[0] - 0.5).abs() < 1e-12 && (w[1] - 0.4).abs() < 1e-12);

    let a = model("llama-3.1-8b");
    let s = Settings {
        context_tokens: 32768,
        distribution: Some(ContextDistribution::from_list(&[1024, 1024, 4096, 32768])),
        tenants: vec![
            Tenant {
                name: "chat".into(),
                context_cap_tokens: 8192,
                share: 0.6,
            },
            Tenant {
                name: "rag".into(),
                context_cap_tokens: 32768,
                share: 0.4,
            },
        ],
        ..Settings::default()
    };
    let b = plan(&a, &h100(), &s).unwrap();
    let d = b.distribution.unwrap();
    assert!(d.max_concurrency_mean > d.max_concurrency_at_longest * 3.0);
    assert!(b.tenants.iter().all(|t| t.problem.is_none()));
    let chat = &b.tenants[0];
    assert_eq!(
        chat.max_concurrency,
        (0.6 * b.kv_pool_bytes_per_gpu / kv_bytes_per_request(&a, KvDtype::Bf16, 1, 8192, 16))
            .floor() as u64
    );
    let over = tenant_budgets(
        1e9,
        &[
            Tenant {
                name: "x".into(),
                context_cap_tokens: 1024,
                share: 0.7,
            },
            Tenant {
                name: "y".into(),
                context_cap_tokens: 1 << 20,
                share: 0.5,
            },
        ],
        131072,
        |c| c as f64,
    );
    assert!(
        over[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("oversubscribed")
    );
    assert!(over[1].problem.as_deref().unwrap().contains("exceeds"));
}

#[test]
fn vllm_flags_follow_the_budget() {
    let a = model("qwen3-8b");
    let s = Settings {
        context_tokens: 32768,
        kv_dtype: Some(KvDtype::Fp8),
        ..Settings::default()
    };
    let b = plan(&a, &h100(), &s).unwrap();
    assert_eq!(b.vllm.max_model_len, 32768);
    assert_eq!(b.vllm.kv_cache_dtype, "fp8");
    assert_eq!(
        b.vllm.max_num_seqs,
        (b.max_concurrency.floor() as u64).min(256)
    );
    assert!(
        b.vllm_command
            .starts_with("vllm serve Qwen/Qwen3-8B --max-model-len 32768")
    );
    assert!(b.vllm_command.contains("--block-size 16"));
}

#[test]
fn hf_configs_read_like_the_catalog() {
    // Field names and values as in the published config.json files.
    let llama = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "intermediate_size": 14336, "max_position_embeddings": 131072,
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
        "tie_word_embeddings": false, "vocab_size": 128256, "rope_theta": 500000.0
    });
    let a = arch::from_hf_config(&llama, "llama.json").unwrap();
    let c = model("llama-3.1-8b");
    assert_eq!(
        (
            a.layers,
            a.hidden,
            a.heads,
            a.kv_heads,
            a.head_dim,
            a.intermediate,
            a.vocab,
            a.tied_embeddings
        ),
        (
            c.layers,
            c.hidden,
            c.heads,
            c.kv_heads,
            c.head_dim,
            c.intermediate,
            c.vocab,
            c.tied_embeddings
        )
    );
    assert_eq!(param_counts(&a).total(), param_counts(&c).total());

    let gemma3 = serde_json::json!({
        "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
        "text_config": {"model_type": "gemma3_text", "head_dim": 128, "hidden_size": 5376,
            "intermediate_size": 21504, "num_attention_heads": 32, "num_hidden_layers": 62,
            "num_key_value_heads": 16, "sliding_window": 1024, "sliding_window_pattern": 6,
            "max_position_embeddings": 131072, "vocab_size": 262208}
    });
    let g = arch::from_hf_config(&gemma3, "gemma3.json").unwrap();
    assert_eq!(g.sliding_layers(), 52);
    assert_eq!(
        kv_bytes_for_tokens(&g, KvDtype::Bf16, 1, 65536),
        kv_bytes_for_tokens(&model("gemma-3-27b"), KvDtype::Bf16, 1, 65536)
    );

    let oss = serde_json::json!({
        "model_type": "gpt_oss", "hidden_size": 2880, "head_dim": 64, "intermediate_size": 2880,
        "num_attention_heads": 64, "num_key_value_heads": 8, "num_hidden_layers": 4,
        "num_local_experts": 32, "num_experts_per_tok": 4, "experts_per_token": 4,
        "sliding_window": 128, "max_position_embeddings": 131072, "vocab_size": 201088,
        "tie_word_embeddings": false, "attention_bias": true,
        "quantization_config": {"quant_method": "mxfp4"},
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
    });
    let o = arch::from_hf_config(&oss, "oss.json").unwrap();
    assert_eq!(o.sliding_window.as_ref().unwrap().pattern, "LGLG");
    assert_eq!(o.moe.as_ref().unwrap().experts, 32);
    assert_eq!(o.native_weights, model("gpt-oss-20b").native_weights);

    let ds = serde_json::json!({
        "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
        "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
        "v_head_dim": 128, "moe_intermediate_size": 2048, "n_routed_experts": 256,
        "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
        "num_attention_heads": 128, "num_key_value_heads": 128, "num_hidden_layers": 61,
        "max_position_embeddings": 163840, "vocab_size": 129280, "tie_word_embeddings": false
    });
    let d = arch::from_hf_config(&ds, "ds.json").unwrap();
    assert_eq!(
        param_counts(&d).total(),
        param_counts(&model("deepseek-v3")).total()
    );
    assert_eq!(kv_bytes_per_token(&d, KvDtype::Bf16, 1), 70_272.0);

    // Qwen3 decouples head_dim: a config without it is refused, not guessed.
    let qwen3 = serde_json::json!({
        "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288,
        "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 36,
        "max_position_embeddings": 40960, "vocab_size": 151936
    });
    let err = arch::from_hf_config(&qwen3, "q.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("head_dim"), "{err}");
}

#[test]
fn close_matches_suggest_the_intended_id() {
    let ids = arch::catalog();
    let ids: Vec<&str> = ids.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        arch::close_matches("llama-3.1-8", ids.iter().copied())[0],
        "llama-3.1-8b"
    );
    assert!(arch::close_matches("qwen3-30b", ids.iter().copied()).contains(&"qwen3-30b-a3b"));
}

#[test]
fn self_hosted_price_for_the_router() {
    let p = self_hosted_usd_per_mtok("llama-3.1-8b", "h100-sxm", 1).unwrap();
    assert!(p.input_usd_per_mtok > 0.0 && p.output_usd_per_mtok > p.input_usd_per_mtok);
    assert_eq!(p.usd_per_hour_total, 2.69);
    assert!(!p.assumptions.is_empty());
    let two = self_hosted_usd_per_mtok("llama-3.1-70b", "h100-sxm", 4).unwrap();
    assert_eq!(two.usd_per_hour_total, 4.0 * 2.69);
    assert!(self_hosted_usd_per_mtok("llama-3.1-70b", "h100-sxm", 1).is_err());
    assert!(self_hosted_usd_per_mtok("nope", "h100-sxm", 1).is_err());
}

/// A deployment vLLM would refuse to start (the weights fit, one request's KV does not) has no
/// price: the router must not route to it. The same model and GPU still get a budget, with
/// the warning that says why.
#[test]
fn a_deployment_that_would_not_start_is_not_priced() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("unstartable");
    std::fs::create_dir_all(&dir).unwrap();
    // MHA with 64 layers of width 5120: ~17 GB of bf16 weights, 1.3 MB of KV per token.
    let config = serde_json::json!({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": 5120, "intermediate_size": 2048, "num_hidden_layers": 64,
        "num_attention_heads": 40, "num_key_value_heads": 40, "vocab_size": 32000,
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16"});
    let path = dir.join("wide-mha.config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let path = path.to_str().unwrap();
    let a = arch::resolve(path).unwrap();
    let hw = hardware::resolve("rtx-4090", std::path::Path::new("/nonexistent")).unwrap();
    let settings = Settings {
        context_tokens: llm_workbench::budget::PRICE_CONTEXT_TOKENS,
        ..Settings::default()
    };
    let b = plan(&a, &hw, &settings).unwrap();
    assert!(b.max_concurrency < 1.0, "{}", b.max_concurrency);
    assert!(b.warnings[0].contains("vLLM would refuse to start"));
    let err = self_hosted_usd_per_mtok(path, "rtx-4090", 1).unwrap_err();
    assert!(
        err.to_string().contains("vLLM would refuse to start"),
        "{err}"
    );
}
