//! The end-to-end proof: the seeded demo trains a 2-layer model on the shipped English corpus
//! and its loss falls below the bigram entropy, which no model without attention can do (the
//! same model on one-token windows stays above it); a second run with the same seed is
//! identical. The n-gram baselines are checked against a hand count.

use burn::tensor::Device;
use ch01_bpe::TokenId;
use ch03_transformer_block::{
    DEMO_PROMPT, TrainDemoConfig, held_out_unigram_loss, ngram_entropy, train_demo,
};

const CORPUS: &str = include_str!("../../../data/corpora/english.txt");

/// Stated target: a mean below 1.0 nat/token over the last 10 of 200 steps (the lesson's run
/// has 300), from ln(512) ≈ 6.24 at the start, and below the bigram entropy of the training
/// tokens (≈ 1.9): the floor of a model that sees only the current token.
const TARGET_LOSS: f32 = 1.0;

#[test]
fn loss_falls_below_target_and_model_recites() {
    let config = TrainDemoConfig {
        steps: 200,
        ..TrainDemoConfig::default()
    };
    let start = std::time::Instant::now();
    let demo = train_demo(
        CORPUS,
        &config,
        &Device::flex(),
        DEMO_PROMPT,
        40,
        |step, loss| {
            if step % 25 == 0 {
                eprintln!("step {step:4} loss {loss:.3}");
            }
        },
    )
    .unwrap();
    eprintln!(
        "{:.1} s; generated: {:?}",
        start.elapsed().as_secs_f64(),
        demo.generated
    );
    let first = demo.losses[0];
    let last10 = demo.losses[demo.losses.len() - 10..].iter().sum::<f32>() / 10.0;
    assert!(
        (first as f64 - demo.uniform_loss).abs() < 0.5,
        "starts near uniform: {first}"
    );
    assert!(last10 < TARGET_LOSS, "mean of the last 10 steps: {last10}");
    assert!(
        (last10 as f64) < demo.bigram_entropy,
        "bigram entropy {}",
        demo.bigram_entropy
    );
    eprintln!(
        "held out: {:.3} nats/token (unigram fit on training tokens: {:.3})",
        demo.held_out_loss, demo.held_out_unigram_loss
    );
    assert!(demo.held_out_loss.is_finite() && demo.held_out_loss > 0.0);
    // Reciting: the continuation reproduces the corpus, not just any text of some length.
    let continuation = demo
        .generated
        .strip_prefix(DEMO_PROMPT)
        .expect("the prompt comes first");
    let recited = longest_run_in(continuation, CORPUS);
    assert!(
        recited >= RECITED_CHARS,
        "only {recited} characters of {continuation:?} are verbatim corpus text"
    );
}

/// Characters of the continuation that must appear verbatim, in one run, in the corpus.
const RECITED_CHARS: usize = 30;

/// Length in characters of the longest substring of `text` that occurs in `corpus`.
fn longest_run_in(text: &str, corpus: &str) -> usize {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut best = 0;
    for (i, &(start, _)) in chars.iter().enumerate() {
        let mut len = best + 1;
        while i + len <= chars.len() {
            let end = chars.get(i + len).map_or(text.len(), |c| c.0);
            if !corpus.contains(&text[start..end]) {
                break;
            }
            best = len;
            len += 1;
        }
    }
    best
}

#[test]
fn same_seed_same_run() {
    let config = TrainDemoConfig {
        steps: 5,
        ..TrainDemoConfig::default()
    };
    let a = train_demo(CORPUS, &config, &Device::flex(), "The", 5, |_, _| {}).unwrap();
    let b = train_demo(CORPUS, &config, &Device::flex(), "The", 5, |_, _| {}).unwrap();
    assert_eq!(a.losses, b.losses);
    assert_eq!(a.generated, b.generated);
    let c = train_demo(
        CORPUS,
        &TrainDemoConfig { seed: 7, ..config },
        &Device::flex(),
        "The",
        5,
        |_, _| {},
    )
    .unwrap();
    assert_ne!(a.losses, c.losses, "another seed, another run");
}

/// Attention off, by construction: on one-token windows every position sees only itself, so
/// the model is a bigram table and its training loss cannot go below the bigram entropy (it
/// is a cross-entropy against the same pairs), however long it trains. It does learn: it ends
/// below the unigram entropy, the no-context floor.
#[test]
fn one_token_windows_stay_above_the_bigram_entropy() {
    let config = TrainDemoConfig {
        seq_len: 1,
        batch: 64,
        steps: 300,
        learning_rate: 1e-2,
        ..TrainDemoConfig::default()
    };
    let demo = train_demo(CORPUS, &config, &Device::flex(), "The", 1, |_, _| {}).unwrap();
    let last50 = demo.losses[demo.losses.len() - 50..].iter().sum::<f32>() as f64 / 50.0;
    eprintln!(
        "one-token windows: last 50 steps {last50:.3}; unigram {:.3}, bigram {:.3}",
        demo.unigram_entropy, demo.bigram_entropy
    );
    // 3,200 sampled pairs: the mean's noise is a few hundredths of a nat.
    assert!(last50 > demo.bigram_entropy - 0.1);
    assert!(last50 < demo.unigram_entropy);
}

/// The n-gram entropies against a hand count on `a b a b a c` (ids 0 1 0 1 0 2).
#[test]
fn ngram_entropies_match_a_hand_count() {
    let t: [TokenId; 6] = [0, 1, 0, 1, 0, 2];
    // Unigram: p(0) = 3/6, p(1) = 2/6, p(2) = 1/6.
    let h1 = -(0.5f64 * 0.5f64.ln()
        + (2.0 / 6.0) * (2.0f64 / 6.0).ln()
        + (1.0 / 6.0) * (1.0f64 / 6.0).ln());
    // Bigrams: (0,1) ×2, (1,0) ×2, (0,2) ×1; after 0 the next is 1 twice and 2 once, after 1
    // always 0: H = −(2/5 ln 2/3 + 1/5 ln 1/3).
    let h2 = -(0.4f64 * (2.0f64 / 3.0).ln() + 0.2 * (1.0f64 / 3.0).ln());
    // Trigrams: (0,1,0) ×2, (1,0,1), (1,0,2): after (1,0) the next is 1 or 2.
    let h3 = -(0.5f64 * 0.5f64.ln());
    for (n, want) in [(1, h1), (2, h2), (3, h3)] {
        let got = ngram_entropy(&t, n);
        assert!((got - want).abs() < 1e-12, "n = {n}: {got} vs {want}");
    }
    // Add-one unigram on held-out [0, 3] with vocabulary 4: p(0) = 4/10, p(3) = 1/10.
    let want = -((0.4f64).ln() + (0.1f64).ln()) / 2.0;
    assert!((held_out_unigram_loss(&t, &[0, 3], 4) - want).abs() < 1e-12);
}
