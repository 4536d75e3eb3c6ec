//! The end-to-end proof: a tiny Llama-style model, trained from scratch on the shipped English
//! corpus, learns to continue it.
//!
//! The corpus is tokenized with a BPE tokenizer trained by chapter 01 on the same text
//! (256 bytes + merges). Training: next-token cross-entropy on random windows of the token
//! stream, Adam, burn's autodiff. Everything random — initial weights (the device's seed) and
//! the windows (a SplitMix64 stream) — derives from one seed, so a run is reproducible.
//!
//! A few kilobytes of text is far too little to learn English: the model memorises its corpus.
//! That is the point of the demo — only a model whose norm, RoPE, attention, FFN and residuals
//! all work can drive the loss down and then recite the corpus from a prompt; break any of
//! them and the loss stalls.
//!
//! "Down" is measured against baselines computed from the same tokens: n-gram conditional
//! entropies ([`ngram_entropy`]). A model that sees only the current token — a transformer
//! with attention switched off, or trained on windows of one token — is a bigram model and
//! cannot train below the bigram entropy; going below it is what attention buys. The last
//! tenth of the corpus is held out: its loss shows how much of the training loss is memory.

use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::model::LlamaModel;
use crate::params::param_counts;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ch01_bpe::{FastTrainer, Pattern, TokenId, Tokenizer, TrainConfig};
use serde::Serialize;
use std::collections::HashMap;

/// Settings of the demo run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainDemoConfig {
    /// BPE vocabulary (256 bytes + merges); 256 means plain bytes.
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    /// Tokens per training window.
    pub seq_len: usize,
    /// Windows per step.
    pub batch: usize,
    pub steps: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

/// The demo's prompt: a passage from the middle of the training text, so a model that memorised
/// it continues it word for word (the corpus's first words are in few training windows).
pub const DEMO_PROMPT: &str = "After a few thousand merges";

/// The last tenth of the corpus's tokens is held out of training and scored after it.
pub const HELD_OUT_FRACTION: f64 = 0.1;

impl Default for TrainDemoConfig {
    fn default() -> Self {
        TrainDemoConfig {
            vocab_size: 512,
            hidden_size: 64,
            intermediate_size: 176,
            layers: 2,
            heads: 4,
            seq_len: 64,
            batch: 16,
            steps: 300,
            learning_rate: 3e-3,
            seed: 42,
        }
    }
}

impl TrainDemoConfig {
    pub fn model_config(&self) -> LlamaConfig {
        LlamaConfig {
            tie_word_embeddings: true,
            max_position_embeddings: self.seq_len.max(256),
            ..LlamaConfig::new(
                self.hidden_size,
                self.intermediate_size,
                self.layers,
                self.heads,
                self.vocab_size,
            )
        }
    }
}

/// What the run did and what the model then writes.
#[derive(Debug, Clone, Serialize)]
pub struct TrainDemo {
    pub config: TrainDemoConfig,
    pub parameters: usize,
    pub corpus_bytes: usize,
    pub corpus_tokens: usize,
    /// Tokens training windows are drawn from (the corpus less the held-out tail).
    pub train_tokens: usize,
    pub held_out_tokens: usize,
    /// Mean cross-entropy (nats per token) of each step's batch.
    pub losses: Vec<f32>,
    /// `ln(vocab_size)`: the loss of a model that guesses uniformly.
    pub uniform_loss: f64,
    /// [`ngram_entropy`] of the training tokens for n = 1, 2, 3 (nats/token): the best training
    /// loss of a model that sees no context, one token (no attention), two tokens.
    pub unigram_entropy: f64,
    pub bigram_entropy: f64,
    pub trigram_entropy: f64,
    /// The trained model's mean cross-entropy on the held-out tokens.
    pub held_out_loss: f64,
    /// [`held_out_unigram_loss`]: a context-free model fit to the training tokens, on the
    /// held-out tokens.
    pub held_out_unigram_loss: f64,
    pub prompt: String,
    /// The prompt followed by greedily generated tokens.
    pub generated: String,
}

static RUN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Mean next-token cross-entropy of `logits: [b, s, vocab]` against `targets: [b, s]`.
pub fn cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    let [b, s, v] = logits.dims();
    let log_probs = log_softmax(logits.reshape([b * s, v]), 1);
    log_probs
        .gather(1, targets.reshape([b * s, 1]))
        .mean()
        .neg()
}

/// Empirical conditional entropy `H(next | previous n − 1 tokens)` of `tokens`, nats/token:
/// `−Σ c(ctx, x)/N · ln(c(ctx, x)/c(ctx))` over every n-gram in the text. It is the loss, on
/// this same text, of the best model that sees only the last `n − 1` tokens (a table of counts
/// fit to it), so no such model trains below it. `n = 1` is the unigram entropy.
pub fn ngram_entropy(tokens: &[TokenId], n: usize) -> f64 {
    assert!(n >= 1, "an n-gram has at least one token");
    let mut joint = HashMap::<&[TokenId], usize>::new();
    let mut context = HashMap::<&[TokenId], usize>::new();
    for gram in tokens.windows(n) {
        *joint.entry(gram).or_default() += 1;
        *context.entry(&gram[..n - 1]).or_default() += 1;
    }
    let total = tokens.len().saturating_sub(n - 1) as f64;
    joint
        .iter()
        .map(|(gram, &c)| {
            let c = c as f64;
            -(c / total) * (c / context[&gram[..n - 1]] as f64).ln()
        })
        .sum()
}

/// Cross-entropy (nats/token) on `held_out` of a unigram model fit to `train` with add-one
/// (Laplace) smoothing over `vocab_size` tokens, so a token never seen in training costs
/// `ln(N + V)`, not infinity: the held-out loss of knowing only how common each token is.
pub fn held_out_unigram_loss(train: &[TokenId], held_out: &[TokenId], vocab_size: usize) -> f64 {
    let mut counts = HashMap::<TokenId, usize>::new();
    for &t in train {
        *counts.entry(t).or_default() += 1;
    }
    let denominator = (train.len() + vocab_size) as f64;
    let nats: f64 = held_out
        .iter()
        .map(|t| -((counts.get(t).copied().unwrap_or(0) + 1) as f64 / denominator).ln())
        .sum();
    nats / held_out.len() as f64
}

/// Mean next-token cross-entropy of `model` over `tokens`, each token after the first a target
/// once: consecutive windows of up to `seq_len` inputs, weighted by their length.
pub fn mean_loss(
    model: &LlamaModel,
    tokens: &[TokenId],
    seq_len: usize,
) -> Result<f64, ModelError> {
    let device = model.embed_tokens.weight.val().device();
    let (mut nats, mut targets) = (0.0, 0usize);
    for start in (0..tokens.len().saturating_sub(1)).step_by(seq_len) {
        let end = (start + seq_len).min(tokens.len() - 1);
        let logits = model.forward(ids_tensor(&tokens[start..end], 1, &device))?;
        let loss = cross_entropy(logits, ids_tensor(&tokens[start + 1..end + 1], 1, &device));
        nats += f64::from(loss.into_scalar::<f32>()) * (end - start) as f64;
        targets += end - start;
    }
    Ok(nats / targets as f64)
}

/// Trains chapter 01's BPE on `text` (or uses bytes when `vocab_size` is 256).
pub fn train_tokenizer(text: &str, vocab_size: usize) -> Result<Tokenizer, ch01_bpe::Error> {
    Ok(ch01_bpe::train(
        &FastTrainer,
        text,
        &TrainConfig::new(vocab_size, Pattern::Gpt2),
    )?
    .tokenizer)
}

/// Token ids as the model's input: `ids` holds `rows` sequences of equal length back to back,
/// giving `[rows, ids.len() / rows]`. Chapter 04's decoding loops build their inputs here too.
pub fn ids_tensor(ids: &[TokenId], rows: usize, device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(flat, [rows, ids.len() / rows]), device)
}

/// Trains the demo model on `text` on `device` (gradients are taken on its autodiff form);
/// `on_step(step, loss)` is called after every step.
pub fn train_demo(
    text: &str,
    config: &TrainDemoConfig,
    device: &Device,
    prompt: &str,
    generate_tokens: usize,
    on_step: impl FnMut(usize, f32),
) -> anyhow::Result<TrainDemo> {
    Ok(train_demo_keeping_model(text, config, device, prompt, generate_tokens, on_step)?.0)
}

/// The trained model and the tokens it never trained on, for measuring it further (chapter 08
/// rounds its weights to 8 and 4 bits and measures the held-out loss again).
pub struct Trained {
    pub model: LlamaModel,
    pub train: Vec<TokenId>,
    pub held_out: Vec<TokenId>,
}

/// [`train_demo`], keeping the model.
pub fn train_demo_keeping_model(
    text: &str,
    config: &TrainDemoConfig,
    device: &Device,
    prompt: &str,
    generate_tokens: usize,
    mut on_step: impl FnMut(usize, f32),
) -> anyhow::Result<(TrainDemo, Trained)> {
    let tokenizer = train_tokenizer(text, config.vocab_size)?;
    let tokens = tokenizer.encode_ordinary(text);
    let held_out_tokens = (tokens.len() as f64 * HELD_OUT_FRACTION).round() as usize;
    let (train, held_out) = tokens.split_at(tokens.len() - held_out_tokens);
    anyhow::ensure!(
        train.len() > config.seq_len + 1 && held_out.len() >= 2,
        "the corpus has {} tokens: too few for a window of {} + 1 after holding out {:.0}%",
        tokens.len(),
        config.seq_len,
        100.0 * HELD_OUT_FRACTION
    );
    let model_config = config.model_config();
    // burn's flex backend keeps one random generator per process and initialises parameters
    // lazily (on first use), so two runs at once would interleave their draws: hold a lock for
    // the whole run to keep it reproducible.
    let _one_run_at_a_time = RUN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let mut model = LlamaModel::new(&model_config, &device)?;
    let mut optimizer = AdamConfig::new().init();
    let mut rng = ch02_attention::lookup::SplitMix64(config.seed);

    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let (inputs, targets): (Vec<_>, Vec<_>) = (0..config.batch)
            .map(|_| {
                let at = (rng.next_u64() % (train.len() - config.seq_len) as u64) as usize;
                (
                    train[at..at + config.seq_len].to_vec(),
                    train[at + 1..at + config.seq_len + 1].to_vec(),
                )
            })
            .unzip();
        let logits = model.forward(ids_tensor(&inputs.concat(), inputs.len(), &device))?;
        let loss = cross_entropy(
            logits,
            ids_tensor(&targets.concat(), targets.len(), &device),
        );
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(config.learning_rate, model, grads);
        losses.push(value);
        on_step(step, value);
    }

    let model = model.valid();
    let held_out_loss = mean_loss(&model, held_out, config.seq_len)?;
    let prompt_ids = tokenizer.encode_ordinary(prompt);
    let ids = generate_greedy(&model, &prompt_ids, generate_tokens)?;
    let generated = String::from_utf8_lossy(&tokenizer.decode_bytes(&ids)?).into_owned();
    let demo = TrainDemo {
        config: config.clone(),
        parameters: param_counts(&model_config).total(),
        corpus_bytes: text.len(),
        corpus_tokens: tokens.len(),
        train_tokens: train.len(),
        held_out_tokens: held_out.len(),
        losses,
        uniform_loss: (config.vocab_size as f64).ln(),
        unigram_entropy: ngram_entropy(train, 1),
        bigram_entropy: ngram_entropy(train, 2),
        trigram_entropy: ngram_entropy(train, 3),
        held_out_loss,
        held_out_unigram_loss: held_out_unigram_loss(train, held_out, config.vocab_size),
        prompt: prompt.to_string(),
        generated,
    };
    let (train, held_out) = (train.to_vec(), held_out.to_vec());
    Ok((
        demo,
        Trained {
            model,
            train,
            held_out,
        },
    ))
}

/// The last position's logits of `[1, s, vocab]`.
pub fn last_logits(logits: Tensor<3>) -> Vec<f32> {
    let [_, s, vocab] = logits.dims();
    logits
        .narrow(1, s - 1, 1)
        .reshape([vocab])
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float logits")
}

/// Index of the largest logit; ties go to the lowest id.
pub fn argmax(logits: &[f32]) -> TokenId {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as TokenId
}

/// Greedy decoding without a cache: each step runs `forward` over the whole sequence so far
/// (the last `max_positions` tokens once it is longer) and appends the arg-max of the last
/// position. Returns each new token with the logits that chose it. `forward` is the model's
/// own pass, or a variant of it (chapter 04's sliding-window reference).
pub fn greedy_recomputing<E: From<ModelError>>(
    model: &LlamaModel,
    prompt: &[TokenId],
    new_tokens: usize,
    mut forward: impl FnMut(Tensor<2, Int>) -> Result<Tensor<3>, E>,
) -> Result<Vec<(TokenId, Vec<f32>)>, E> {
    let device = model.embed_tokens.weight.val().device();
    let mut ids = prompt.to_vec();
    let mut steps = Vec::with_capacity(new_tokens);
    for _ in 0..new_tokens {
        let window = &ids[ids.len().saturating_sub(model.max_positions)..];
        let last = last_logits(forward(ids_tensor(window, 1, &device))?); // [vocab]
        let next = argmax(&last);
        ids.push(next);
        steps.push((next, last));
    }
    Ok(steps)
}

/// Appends `new_tokens` greedy (arg-max) tokens to `prompt`, recomputing the whole window each
/// step — no cache yet; that is chapter 04. The window slides when it reaches the model's
/// `max_positions`.
pub fn generate_greedy(
    model: &LlamaModel,
    prompt: &[TokenId],
    new_tokens: usize,
) -> Result<Vec<TokenId>, ModelError> {
    let steps = greedy_recomputing(model, prompt, new_tokens, |ids| model.forward(ids))?;
    Ok(prompt
        .iter()
        .copied()
        .chain(steps.into_iter().map(|(token, _)| token))
        .collect())
}
