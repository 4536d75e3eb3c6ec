//! Generation: chapter 04's cached decoding with a choice of the next token, stop tokens, a
//! chat template, and text streamed as it is produced.
//!
//! **Sampling.** Greedy decoding takes the arg-max every step; sampling draws from the softmax
//! of the logits instead, reshaped by three knobs, applied in this order (as llama.cpp and HF do):
//! - `temperature` T divides the logits: T < 1 sharpens the distribution, T > 1 flattens it,
//!   and T → 0 is greedy (`--temperature 0` *is* greedy here);
//! - `top_k` keeps the k most likely tokens;
//! - `top_p` (nucleus) keeps the smallest set of most likely tokens whose probabilities sum to
//!   at least p.
//!
//! The draw uses a seeded SplitMix64 (chapter 02's), so a seed reproduces a sample.
//!
//! **Streaming.** A token is bytes, not characters: an emoji or a Korean syllable may arrive
//! split across two tokens. [`TextStream`] holds back an incomplete UTF-8 sequence until the
//! token that completes it arrives.

use ch01_bpe::{TokenId, Tokenizer};
use ch02_attention::lookup::SplitMix64;
use ch03_transformer_block::CausalLm;
use ch03_transformer_block::train::{argmax, ids_tensor};
use ch04_kv_cache::decode::{check_request_within, forward_cached, last_logits};
use ch04_kv_cache::{CacheError, KvCache};
use serde::Serialize;
use std::time::Instant;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    pub temperature: f32,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub seed: u64,
}

impl Sampling {
    pub fn greedy() -> Self {
        Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
        }
    }

    /// Names the first setting out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!(
                "--temperature {} must be a finite number ≥ 0 (0 is greedy)",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return Err("--top-k 0 keeps no token: give at least 1".into());
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("--top-p {p} must be in (0, 1]"));
        }
        Ok(())
    }
}

/// The next token under `sampling`; greedy when the temperature is 0.
pub fn sample(logits: &[f32], sampling: &Sampling, rng: &mut SplitMix64) -> TokenId {
    if sampling.temperature == 0.0 {
        return argmax(logits);
    }
    let t = f64::from(sampling.temperature);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = sampling.top_k {
        order.truncate(k.max(1));
    }
    let max = f64::from(logits[order[0]]);
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| ((f64::from(logits[i]) - max) / t).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(top_p) = sampling.top_p {
        let mut sum = 0.0;
        let keep = probs
            .iter()
            .position(|&p| {
                sum += p;
                sum >= f64::from(top_p)
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
    }
    let kept: f64 = probs.iter().sum();
    let mut draw = rng.next_f64() * kept;
    for (i, p) in probs.iter().enumerate() {
        draw -= p;
        if draw < 0.0 {
            return order[i] as TokenId;
        }
    }
    order[probs.len() - 1] as TokenId
}

/// A finished generation with its timings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    pub prompt_tokens: Vec<TokenId>,
    /// New tokens, the stop token (if one ended it) excluded.
    pub new_tokens: Vec<TokenId>,
    pub stopped_by: Option<TokenId>,
    pub prefill_s: f64,
    /// Time of the single-token steps after the first token.
    pub decode_s: f64,
    pub time_to_first_token_s: f64,
    /// Positions whose K/V the cache holds at the end (0 without a cache).
    pub cached_positions: usize,
    pub kv_bytes: usize,
}

impl Generated {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens.len() as f64 / self.prefill_s
    }
    /// Tokens per second of the decode steps (each one token through the whole model).
    pub fn decode_tokens_per_s(&self) -> f64 {
        let steps = self.new_tokens.len() + usize::from(self.stopped_by.is_some());
        (steps.saturating_sub(1)) as f64 / self.decode_s
    }
}

/// Prefills `prompt` through `cache`, then generates up to `max_new_tokens`, stopping at any of
/// `stop`; `on_token` sees each new token as it is chosen (the stop token not included).
/// Without a cache every step runs the whole sequence again (chapter 04's baseline).
pub fn generate(
    model: &dyn CausalLm,
    cache: Option<&mut dyn KvCache>,
    prompt: &[TokenId],
    max_new_tokens: usize,
    sampling: &Sampling,
    stop: &[TokenId],
    on_token: impl FnMut(TokenId),
) -> Result<Generated, CacheError> {
    generate_masked(
        model,
        cache,
        prompt,
        max_new_tokens,
        sampling,
        stop,
        &mut |_, _| {},
        on_token,
    )
}

/// [`generate`] with a say in every choice: before each token is chosen, `mask` sees the new
/// tokens so far and may change the logits (constrained decoding sets the forbidden ones to
/// −∞, see [`crate::constrain`]).
#[allow(clippy::too_many_arguments)]
pub fn generate_masked(
    model: &dyn CausalLm,
    cache: Option<&mut dyn KvCache>,
    prompt: &[TokenId],
    max_new_tokens: usize,
    sampling: &Sampling,
    stop: &[TokenId],
    mask: &mut dyn FnMut(&[TokenId], &mut [f32]),
    on_token: impl FnMut(TokenId),
) -> Result<Generated, CacheError> {
    let mut decoder = Cached {
        model,
        cache,
        sequence: Vec::new(),
    };
    generate_with(
        &mut decoder,
        prompt,
        max_new_tokens,
        sampling,
        stop,
        mask,
        on_token,
    )
}

/// What the generation loop needs from a model and its cache: feed the next tokens, get the
/// logits of the last one. A [`CausalLm`] with one of chapter 04's caches is one ([`Cached`]);
/// chapter 08's decoder, which runs a whole step in one parallel region over a cache of its
/// own, is another.
pub trait Decode {
    /// The logits of the last of `ids`, which sit at the positions after those fed before.
    fn feed(&mut self, ids: &[TokenId]) -> Result<Vec<f32>, CacheError>;
    /// The context length: a request beyond it is refused before any work.
    fn max_positions(&self) -> usize;
    /// Positions the cache holds and its K/V bytes ((0, 0) without a cache).
    fn cached(&self) -> (usize, usize);
}

/// A [`CausalLm`] decoding through one of chapter 04's caches, or, without one, running the
/// whole sequence again every step (chapter 04's baseline).
pub struct Cached<'m, 'c> {
    pub model: &'m dyn CausalLm,
    pub cache: Option<&'c mut dyn KvCache>,
    /// Every token fed so far (what a step without a cache runs again).
    pub sequence: Vec<TokenId>,
}

impl Decode for Cached<'_, '_> {
    fn feed(&mut self, ids: &[TokenId]) -> Result<Vec<f32>, CacheError> {
        self.sequence.extend_from_slice(ids);
        let logits = match self.cache.as_deref_mut() {
            Some(cache) => {
                let mut logits = None;
                for chunk in ids.chunks(cache.max_tokens_per_step().min(ids.len()).max(1)) {
                    logits = Some(forward_cached(self.model, cache, chunk)?);
                }
                logits.ok_or(CacheError::EmptyPrompt)?
            }
            None => {
                let ids = ids_tensor(&self.sequence, 1, &self.model.device());
                self.model.forward_kv(ids, 0, &mut |_, k, v| (k, v))?
            }
        };
        Ok(last_logits(logits))
    }

    fn max_positions(&self) -> usize {
        self.model.max_positions()
    }

    fn cached(&self) -> (usize, usize) {
        self.cache
            .as_deref()
            .map_or((0, 0), |c| (c.tokens(), c.kv_bytes()))
    }
}

/// The generation loop over any [`Decode`]: prefill `prompt`, then choose (after `mask`), stop
/// or feed one token per step, timing both phases.
pub fn generate_with(
    decoder: &mut dyn Decode,
    prompt: &[TokenId],
    max_new_tokens: usize,
    sampling: &Sampling,
    stop: &[TokenId],
    mask: &mut dyn FnMut(&[TokenId], &mut [f32]),
    mut on_token: impl FnMut(TokenId),
) -> Result<Generated, CacheError> {
    check_request_within(decoder.max_positions(), prompt.len(), max_new_tokens)?;
    let mut rng = SplitMix64(sampling.seed);
    let start = Instant::now();
    let mut last = decoder.feed(prompt)?;
    let mut out = Generated {
        prompt_tokens: prompt.to_vec(),
        new_tokens: Vec::new(),
        stopped_by: None,
        prefill_s: start.elapsed().as_secs_f64(),
        decode_s: 0.0,
        time_to_first_token_s: 0.0,
        cached_positions: 0,
        kv_bytes: 0,
    };
    let decode_start = Instant::now();
    for i in 0..max_new_tokens {
        mask(&out.new_tokens, &mut last);
        let next = sample(&last, sampling, &mut rng);
        if i == 0 {
            out.time_to_first_token_s = start.elapsed().as_secs_f64();
        }
        if stop.contains(&next) {
            out.stopped_by = Some(next);
            break;
        }
        out.new_tokens.push(next);
        on_token(next);
        if i + 1 < max_new_tokens {
            last = decoder.feed(&[next])?;
        }
    }
    out.decode_s = decode_start.elapsed().as_secs_f64();
    (out.cached_positions, out.kv_bytes) = decoder.cached();
    Ok(out)
}

/// The prompt in the model's chat format, for a single user turn with the assistant to answer.
///
/// SmolLM2's template is ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), with a default
/// system turn when the conversation has none. This renders that template family: the
/// default system message is read from the template text itself. Other templates are refused
/// rather than approximated.
pub fn chat_prompt(template: &str, user: &str) -> Result<String, String> {
    const START: &str = "<|im_start|>";
    if !template.contains(START) || !template.contains("<|im_end|>") {
        return Err("only ChatML chat templates (<|im_start|>…<|im_end|>) are supported".into());
    }
    let system_open = "<|im_start|>system\n";
    let system = template.find(system_open).and_then(|at| {
        let rest = &template[at + system_open.len()..];
        rest.find("<|im_end|>").map(|end| &rest[..end])
    });
    let mut out = String::new();
    if let Some(system) = system {
        out.push_str(&format!("{system_open}{system}<|im_end|>\n"));
    }
    out.push_str(&format!(
        "{START}user\n{user}<|im_end|>\n{START}assistant\n"
    ));
    Ok(out)
}

/// Decodes tokens to text as they arrive, holding back an incomplete UTF-8 character.
pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    pending: Vec<u8>,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        TextStream {
            tokenizer,
            pending: Vec::new(),
        }
    }

    /// The text that `id` completes (possibly empty).
    pub fn push(&mut self, id: TokenId) -> String {
        if let Ok(bytes) = self.tokenizer.decode_bytes(&[id]) {
            self.pending.extend(bytes);
        }
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // Invalid bytes (not just an unfinished character): emit them as U+FFFD.
            Err(e) if e.error_len().is_some() => self.pending.len(),
            Err(e) => e.valid_up_to(),
        };
        let done: Vec<u8> = self.pending.drain(..valid).collect();
        String::from_utf8_lossy(&done).into_owned()
    }

    /// Whatever is left (an unfinished character becomes U+FFFD).
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}
