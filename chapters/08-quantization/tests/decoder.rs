//! Chapter 08's one-region decoder against the packed model it runs ([`QuantizedLlama`] on
//! burn tensors and chapter 04's cache, itself checked against llama.cpp in `parity.rs`), and
//! against llama.cpp's fixture directly, since it is what `generate` decodes with.

#[path = "../../07-real-model/tests/common/mod.rs"]
mod common;
mod shared;

use burn::tensor::Device;
use ch03_transformer_block::train::argmax;
use ch07_real_model::parity::{
    Prompt, all_logits, free_running_with, prompts, teacher_forced_with,
};
use ch07_real_model::{Sampling, generate_with};
use ch08_quantization::{Activations, Decoder, Kernel, QuantizedLlama, Weights, load_quantized};
use common::{GGUF, fixture};
use std::sync::LazyLock;

const NEAR_TIE: f32 = 1.0;

static PROMPTS: LazyLock<Vec<Prompt>> = LazyLock::new(|| prompts(&fixture("greedy.json")).unwrap());

fn load(activations: Activations) -> QuantizedLlama {
    load_quantized(&GGUF, Weights::Native, activations, &Device::flex())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The prompt fed at once, then its continuation one token per step (through the cache),
/// collecting every position's logits.
fn decoder_logits(decoder: &mut Decoder, prompt: &[u32], continuation: &[u32]) -> Vec<f32> {
    let mut all = decoder.forward(prompt, true).unwrap();
    for &id in continuation {
        all.extend(decoder.forward(&[id], false).unwrap());
    }
    all
}

/// With f32 activations nothing is rounded along the way, so the decoder (its own RMSNorm,
/// RoPE and attention on slices, its cache) and the tensor path (burn's ops, full recompute)
/// differ only in summation order: measured worst 3.4e-5 over logits of size ~20.
#[test]
fn the_decoder_computes_the_tensor_paths_logits() {
    let model = load(Activations::F32);
    let mut worst = 0f32;
    for p in PROMPTS.iter().take(3) {
        let continuation = &p.continuation_ids[..8];
        let seq: Vec<u32> = p.prompt_ids.iter().chain(continuation).copied().collect();
        let theirs = all_logits(&model, &seq).unwrap();
        let mut decoder = Decoder::new(&model, seq.len());
        let ours = decoder_logits(&mut decoder, &p.prompt_ids, continuation);
        worst = worst.max(shared::max_abs_diff(&ours, &theirs));
        assert_eq!(decoder.len(), seq.len());
    }
    println!("worst logit difference from the tensor path: {worst}");
    assert!(worst <= 5e-4, "{worst}");
}

/// Which thread computes which row never changes a row's arithmetic, so the logits are the
/// same bits on one thread, on two, and on more threads than this machine has cores. State a
/// thread carries from one claim to the next, or a chunk skipped when threads race for the
/// counter, would show here (a chunk handed out twice writes the same bits: it would not).
#[test]
fn the_decoder_gives_the_same_bits_on_any_number_of_threads() {
    let model = load(Activations::Q8);
    let p = &PROMPTS[0];
    let continuation = &p.continuation_ids[..4];
    let run = |threads| {
        let capacity = p.prompt_ids.len() + continuation.len();
        let mut decoder = Decoder::new(&model, capacity).with(threads, Kernel::detect());
        decoder_logits(&mut decoder, &p.prompt_ids, continuation)
    };
    let one = run(1);
    for threads in [2, 5] {
        assert!(run(threads) == one, "{threads} threads differ from one");
    }
}

/// The file's weights with 8-bit activations through the decoder (what `generate` runs): the
/// bars of `parity.rs`'s tensor-path test. Measured: 401/416 (96.4%), 259/259 clear, top-5
/// mean 0.167, worst 1.035 (the tensor path: 404/416, 0.176, 1.19 — near ties fall either way
/// with the summation order of attention).
#[test]
fn the_decoder_matches_llama_cpp_teacher_forced() {
    let model = load(Activations::Q8);
    let t = teacher_forced_with(
        &mut |seq| {
            let mut decoder = Decoder::new(&model, seq.len());
            decoder.forward(seq, true)
        },
        &PROMPTS,
        NEAR_TIE,
    )
    .unwrap();
    println!("decoder, native + q8: {t}");
    shared::assert_native_q8_parity(&t);
}

/// Greedy generation through the decoder and chapter 07's loop: llama.cpp's tokens up to the
/// first near tie on every prompt, and for ≥ 16 tokens on at least 3 of 13 (measured 6; 11 of
/// the 13 meet a near tie, gap < 1 logit, within two steps, which can fall either way).
#[test]
fn the_decoder_decodes_llama_cpp_tokens() {
    let model = load(Activations::Q8);
    let runs = free_running_with(&PROMPTS, NEAR_TIE, &mut |p| {
        let new = p.continuation_ids.len();
        let mut decoder = Decoder::new(&model, p.prompt_ids.len() + new);
        let greedy = Sampling::greedy();
        let g = generate_with(
            &mut decoder,
            &p.prompt_ids,
            new,
            &greedy,
            &[],
            &mut |_, _| {},
            |_| {},
        )?;
        assert_eq!(
            decoder.len(),
            p.prompt_ids.len() + new - 1,
            "the last token is not fed"
        );
        Ok(g.new_tokens)
    })
    .unwrap();
    for r in &runs {
        println!(
            "{}: {} identical, first near tie at {}",
            r.name, r.identical, r.first_near_tie
        );
        assert!(r.identical >= r.first_near_tie, "{r:?}");
    }
    let long = runs.iter().filter(|r| r.identical >= 16).count();
    assert!(
        long >= 3,
        "{long} of {} prompts match ≥ 16 tokens",
        runs.len()
    );
}

/// A step beyond the decoder's capacity, or an empty one, is refused before any work, and the
/// cache is left as it was.
#[test]
fn the_decoder_refuses_steps_it_has_no_room_for() {
    let model = load(Activations::Q8);
    let mut decoder = Decoder::new(&model, 4);
    let logits = decoder.forward(&[1, 2, 3], false).unwrap();
    assert_eq!(logits.len(), model.config.vocab_size);
    assert!(argmax(&logits) < model.config.vocab_size as u32);
    let error = decoder.forward(&[4, 5], false).unwrap_err().to_string();
    assert!(error.contains("4 positions, 5 needed"), "{error}");
    assert!(decoder.forward(&[], false).is_err());
    assert_eq!(decoder.len(), 3);
    decoder.forward(&[4], false).unwrap();
    assert_eq!(decoder.len(), 4);
}
