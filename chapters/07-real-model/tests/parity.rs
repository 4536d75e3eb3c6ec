//! Parity with llama.cpp on the same GGUF file (fixture `greedy.json`, 13 prompts: English,
//! Korean, Arabic, code, chat-formatted; 32 greedy steps each, with llama.cpp's top-5 logits),
//! measured by [`ch07_real_model::parity`].
//!
//! This model keeps activations in f32; llama.cpp multiplies Q4_1 weights with activations
//! quantized to 8 bits (Q8_1), and so does not compute the same logits: even llama.cpp's own
//! logits for a position differ by up to ~1.9 between a batched and a one-token evaluation
//! (the fixture records it). So exact token equality can only hold while the two best
//! candidates are further apart than that noise. Chapter 08's model, with llama.cpp's 8-bit
//! activations, is held to tighter thresholds.

mod common;

use ch07_real_model::parity::{free_running, prompts, teacher_forced};
use common::{GGUF, MODEL, fixture};

/// Our logits for llama.cpp's top-5 tokens at every step are within this many units of its
/// own. llama.cpp disagrees with itself by up to 1.9 (batched vs one-token evaluation of the
/// same positions, in the fixture); ours, with f32 activations, by up to 3.0 (measured 2.95).
const LOGIT_TOLERANCE: f32 = 3.0;
/// On average the top-5 logits are much closer than the worst case.
const MEAN_LOGIT_TOLERANCE: f32 = 0.25;
/// A step whose top two llama.cpp logits are closer than this is a near tie: the two
/// computations may pick either (llama.cpp's own two evaluation orders flip 11 of 416
/// choices, all of them near ties).
const NEAR_TIE: f32 = 1.0;

/// Teacher-forced on llama.cpp's sequence (prompt + its 32 greedy tokens), one pass each:
/// - our arg-max equals llama.cpp's next token at ≥ 98% of the positions where llama.cpp
///   agrees with itself (its one-batch arg-max is the token it chose one step at a time:
///   405 of 416; elsewhere the reference itself has two answers) — measured 398/405;
/// - at every position where llama.cpp's top two are further apart than the near-tie
///   tolerance (259/259), and ≥ 95% of all positions (403/416; llama.cpp with itself 405);
/// - our arg-max equals the exact model's (f64 arithmetic on the `gguf` package's dequantized
///   weights, in the fixture) at every position: this chapter computes the model's own math,
///   and the differences from llama.cpp are llama.cpp's rounding (8-bit activations, f16 cache);
/// - the top-5 logits agree within the tolerances above.
#[test]
fn teacher_forced_next_tokens_and_logits_match_llama_cpp() {
    let prompts = prompts(&fixture("greedy.json")).unwrap();
    let t = teacher_forced(&*MODEL, &prompts, NEAR_TIE).unwrap();
    println!("{t}");
    assert_eq!(t.total, 13 * 32, "every step of every prompt");
    assert!(
        t.own_noise < LOGIT_TOLERANCE,
        "llama.cpp's own spread {}",
        t.own_noise
    );
    assert!(t.mean_logit_diff <= MEAN_LOGIT_TOLERANCE, "{t}");
    assert!(t.clear_agree as f64 >= 0.98 * t.clear_total as f64, "{t}");
    assert!(t.agree as f64 >= 0.95 * t.total as f64, "{t}");
    assert!(
        t.consistent_agree as f64 >= 0.98 * t.own_agree as f64,
        "{t}"
    );
    assert_eq!(
        t.exact_total, t.total,
        "the fixture's exact model covers every step"
    );
    assert_eq!(t.exact_agree, t.exact_total, "{t}");
    assert!(t.worst_logit_diff <= LOGIT_TOLERANCE, "{t}");
}

/// Free-running greedy decoding through chapter 04's pre-allocated cache: our tokens equal
/// llama.cpp's up to the first step where llama.cpp's top two logits are closer than the
/// tolerance (after that either choice is within the noise of the two computations), and for
/// at least 16 tokens on 6 of 13 prompts. Takes ~35 s on 2 cores: 13 prompts × 32 decode
/// steps of a 135M-parameter model in f32, the smallest run that checks every fixture prompt.
#[test]
fn free_running_greedy_tokens_match_llama_cpp_until_a_near_tie() {
    let prompts = prompts(&fixture("greedy.json")).unwrap();
    let config = ch07_real_model::config_from_gguf(&GGUF).unwrap();
    let runs = free_running(&*MODEL, &config, &prompts, NEAR_TIE).unwrap();
    for r in &runs {
        println!(
            "{}: {} identical tokens, first near-tie at step {}",
            r.name, r.identical, r.first_near_tie
        );
        assert!(
            r.identical >= r.first_near_tie,
            "{}: diverged at {} before a near-tie at {}",
            r.name,
            r.identical,
            r.first_near_tie
        );
    }
    // Measured: 6 of 13 prompts stay identical for ≥ 16 tokens; the others meet a near tie
    // (gap < 1) within their first 3 steps. Chapter 08's 8-bit activations close most of it.
    let long = runs.iter().filter(|r| r.identical >= 16).count();
    assert!(
        long >= 6,
        "{long} of {} prompts match ≥ 16 tokens",
        runs.len()
    );
}
