//! Chapter 07's real model against the serving budget: the GGUF file read by the budget is the
//! catalog's `smollm2-135m`, and the K/V bytes a cache really holds after a real generation
//! equal the budget's prediction for that many tokens.

use burn::tensor::Device;
use ch04_kv_cache::ConcatCache;
use ch07_real_model::fetch::{SMOLLM2, ensure};
use ch07_real_model::{Gguf, GgufTokenizer, Sampling, chat_prompt, generate, load_model};
use llm_workbench::budget::arch;
use llm_workbench::budget::calc::{KvDtype, kv_bytes_for_tokens, param_counts};

#[test]
fn the_gguf_is_the_catalog_model_and_its_kv_bytes_are_the_budgets() {
    let path = ensure(&SMOLLM2).unwrap_or_else(|e| panic!("{e}"));
    let from_file = arch::resolve(path.path().to_str().unwrap()).unwrap();
    let catalog = arch::resolve(SMOLLM2.budget_id).unwrap();
    assert_eq!(
        param_counts(&from_file).total(),
        param_counts(&catalog).total()
    );
    assert_eq!(
        (
            from_file.layers,
            from_file.kv_heads,
            from_file.head_dim,
            from_file.tied_embeddings
        ),
        (
            catalog.layers,
            catalog.kv_heads,
            catalog.head_dim,
            catalog.tied_embeddings
        )
    );

    let gguf = Gguf::open(path.path()).unwrap();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let model = load_model(&gguf, &Device::flex()).unwrap();
    let prompt = tokenizer.encode_chat(
        &chat_prompt(
            tokenizer.chat_template.as_deref().unwrap(),
            "Name three colours.",
        )
        .unwrap(),
    );
    // A concatenating cache holds exactly the positions it stored, nothing pre-allocated.
    let mut cache = ConcatCache::new(catalog.layers as usize);
    let g = generate(
        &model,
        Some(&mut cache),
        &prompt,
        12,
        &Sampling::greedy(),
        &[],
        |_| {},
    )
    .unwrap();
    assert_eq!(g.cached_positions, prompt.len() + 11);
    let predicted = kv_bytes_for_tokens(&catalog, KvDtype::F32, 1, g.cached_positions as u64);
    assert_eq!(g.kv_bytes as f64, predicted);
}

/// The budget's weight bytes for each of chapter 08's forms equal, byte for byte, what chapter
/// 08's loader really holds for SmolLM2 in that form (every matrix converted), once the 61 norm
/// vectors are counted as the loader keeps them: f32 (the budget prices them in the form).
#[test]
fn the_budgets_weight_forms_are_the_bytes_chapter_08_holds() {
    use ch08_quantization::{Activations, Form, Weights, load_quantized};
    use llm_workbench::budget::calc::{WeightDtype, WeightScheme, weight_bytes};
    let path = ensure(&SMOLLM2).unwrap_or_else(|e| panic!("{e}"));
    let gguf = Gguf::open(path.path()).unwrap();
    let catalog = arch::resolve(SMOLLM2.budget_id).unwrap();
    for (form, dtype) in [
        (Form::F32, WeightDtype::F32),
        (Form::F16, WeightDtype::F16),
        (Form::Q8_0, WeightDtype::Q8_0),
        (Form::Q4_1, WeightDtype::Q4_1),
    ] {
        let held = load_quantized(&gguf, Weights::All(form), Activations::F32, &Device::flex())
            .unwrap()
            .weight_bytes() as f64;
        let params = param_counts(&catalog);
        let predicted = weight_bytes(&params, WeightScheme::plain(dtype)).total();
        let norms_as_f32 = params.norms * (4.0 - form.bits_per_weight() / 8.0);
        assert_eq!(predicted + norms_as_f32, held, "{}", form.name());
    }
}
