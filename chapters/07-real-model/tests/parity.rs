//! Parity with llama.cpp on the same GGUF file (fixture `greedy.json`, 13 prompts: English,
//! Korean, Arabic, code, chat-formatted; 32 greedy steps each, with llama.cpp's top-5 logits).
//!
//! Our model keeps activations in f32; llama.cpp multiplies Q4_1 weights with activations
//! quantized to 8 bits (Q8_1), and so do not compute the same logits: even llama.cpp's own
//! logits for a position differ by up to ~1.0 between a batched and a one-token evaluation
//! (the fixture records it). So exact token equality can only hold while the two best
//! candidates are further apart than that noise.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use ch04_kv_cache::{Overflow, PreallocCache};
use ch07_real_model::{Sampling, generate};
use common::{GGUF, MODEL, fixture};

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// All positions' logits of one pass over `seq`: `[s, vocab]` as rows.
fn logits_of(seq: &[u32]) -> Vec<Vec<f32>> {
    let device = MODEL.embed_tokens.weight.val().device();
    let data: Vec<i64> = seq.iter().map(|&t| i64::from(t)).collect();
    let input: Tensor<2, Int> = Tensor::from_data(TensorData::new(data, [1, seq.len()]), &device);
    let logits = MODEL.forward(input).unwrap(); // [1, s, vocab]
    let [_, s, vocab] = logits.dims();
    let flat = logits
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    (0..s)
        .map(|i| flat[i * vocab..(i + 1) * vocab].to_vec())
        .collect()
}

fn argmax(v: &[f32]) -> u32 {
    ch03_transformer_block::train::argmax(v)
}

/// Our logits for llama.cpp's top-5 tokens at every step are within this many units of its
/// own. llama.cpp disagrees with itself by up to 1.9 (batched vs one-token evaluation of the
/// same positions, in the fixture); ours, with f32 activations, by up to 3.0 (measured 2.95).
const LOGIT_TOLERANCE: f32 = 3.0;
/// On average the top-5 logits are much closer than the worst case.
const MEAN_LOGIT_TOLERANCE: f32 = 0.25;
/// A step whose top two llama.cpp logits are closer than this is a near tie: the two
/// computations may pick either (llama.cpp's own two evaluation orders flip 13 of 416 such
/// choices).
const NEAR_TIE: f32 = 1.0;

/// Teacher-forced on llama.cpp's sequence (prompt + its 32 greedy tokens), one pass each:
/// our arg-max equals llama.cpp's next token at ≥ 98% of positions where llama.cpp's top
/// two are further apart than the tolerance, ≥ 95% of all (llama.cpp agrees with itself at 97%), and the top-5 logits agree.
#[test]
fn teacher_forced_next_tokens_and_logits_match_llama_cpp() {
    let g = fixture("greedy.json");
    let (mut agree, mut total, mut clear_agree, mut clear_total) = (0, 0, 0, 0);
    let (mut worst, mut sum, mut n) = (0f32, 0f64, 0usize);
    let mut own_noise = 0f32;
    for p in g["prompts"].as_array().unwrap() {
        let prompt = ids(&p["prompt_ids"]);
        let continuation = ids(&p["continuation_ids"]);
        let seq: Vec<u32> = prompt.iter().chain(&continuation).copied().collect();
        let rows = logits_of(&seq);
        for (step, s) in p["steps"].as_array().unwrap().iter().enumerate() {
            let ours = &rows[prompt.len() - 1 + step];
            let theirs = s["id"].as_u64().unwrap() as u32;
            let gap = s["gap"].as_f64().unwrap() as f32;
            total += 1;
            agree += usize::from(argmax(ours) == theirs);
            if gap > NEAR_TIE {
                clear_total += 1;
                clear_agree += usize::from(argmax(ours) == theirs);
            }
            for pair in s["top5"].as_array().unwrap() {
                let (id, logit) = (
                    pair[0].as_u64().unwrap() as usize,
                    pair[1].as_f64().unwrap() as f32,
                );
                worst = worst.max((ours[id] - logit).abs());
                sum += f64::from((ours[id] - logit).abs());
                n += 1;
            }
        }
        for d in p["teacher_forced_max_abs_logit_diff"].as_array().unwrap() {
            own_noise = own_noise.max(d.as_f64().unwrap() as f32);
        }
    }
    let mean = (sum / n as f64) as f32;
    println!(
        "agree {agree}/{total}; where top-2 gap > {NEAR_TIE}: {clear_agree}/{clear_total}; top-5 logit diff mean {mean:.3}, worst {worst:.3} (llama.cpp vs itself: {own_noise:.3})"
    );
    assert!(
        own_noise < LOGIT_TOLERANCE,
        "llama.cpp's own spread {own_noise}"
    );
    assert!(
        mean <= MEAN_LOGIT_TOLERANCE,
        "mean top-5 logit difference {mean}"
    );
    assert!(
        clear_agree as f64 >= 0.98 * clear_total as f64,
        "{clear_agree}/{clear_total}"
    );
    assert!(agree as f64 >= 0.95 * total as f64, "{agree}/{total}");
    assert!(
        worst <= LOGIT_TOLERANCE,
        "worst top-5 logit difference {worst}"
    );
    assert_eq!(GGUF.require_str("general.architecture").unwrap(), "llama");
}

/// Free-running greedy decoding through chapter 04's pre-allocated cache: our tokens equal
/// llama.cpp's up to the first step where llama.cpp's top two logits are closer than the
/// tolerance (after that either choice is within the noise of the two computations), and for
/// at least 16 tokens on most prompts. Takes ~35 s on 2 cores: 13 prompts × 32 decode steps of
/// a 135M-parameter model in f32, the smallest run that checks every fixture prompt.
#[test]
fn free_running_greedy_tokens_match_llama_cpp_until_a_near_tie() {
    let g = fixture("greedy.json");
    let config = ch07_real_model::config_from_gguf(&GGUF).unwrap();
    let device = MODEL.embed_tokens.weight.val().device();
    let prompts = g["prompts"].as_array().unwrap();
    let mut long_matches = 0;
    for p in prompts {
        let name = p["name"].as_str().unwrap();
        let prompt = ids(&p["prompt_ids"]);
        let theirs = ids(&p["continuation_ids"]);
        let mut cache = PreallocCache::new(
            config.num_hidden_layers,
            1,
            config.kv_heads(),
            config.head_dim(),
            prompt.len() + theirs.len(),
            Overflow::Error,
            &device,
        )
        .unwrap();
        let ours = generate(
            &MODEL,
            Some(&mut cache),
            &prompt,
            theirs.len(),
            &Sampling::greedy(),
            &[],
            |_| {},
        )
        .unwrap()
        .new_tokens;
        let same = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        let steps = p["steps"].as_array().unwrap();
        let first_near_tie = steps
            .iter()
            .position(|s| s["gap"].as_f64().unwrap() < f64::from(NEAR_TIE))
            .unwrap_or(steps.len());
        println!("{name}: {same} identical tokens, first near-tie at step {first_near_tie}");
        assert!(
            same >= first_near_tie,
            "{name}: diverged at {same} before a near-tie at {first_near_tie}"
        );
        long_matches += usize::from(same >= 16);
    }
    // Measured: 6 of 13 prompts stay identical for ≥ 16 tokens; the others meet a near tie
    // (gap < 1) within their first 3 steps. Closing that needs llama.cpp's 8-bit activations
    // (chapter 08's subject), not a different model.
    assert!(
        long_matches >= 6,
        "{long_matches} of {} prompts match ≥ 16 tokens",
        prompts.len()
    );
}
