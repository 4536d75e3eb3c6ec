//! How close is our model to llama.cpp on the same file? Two measures against a recorded run
//! of llama.cpp (`data/reference/smollm2/greedy.json`: prompts, 32 greedy tokens each, the
//! top-5 logits and the gap between the best two at every step):
//!
//! - **teacher-forced**: feed llama.cpp's own sequence in one pass and ask, at every step,
//!   whether our arg-max is the token llama.cpp chose, and how far our logits for its top 5
//!   are from its own. One early disagreement cannot cascade.
//! - **free-running**: decode greedily ourselves and count how many tokens come out identical.
//!   Two computations that differ by rounding agree until a step where the best two
//!   candidates are closer than that rounding noise (a *near tie*); after it either choice is
//!   right, and the texts part ways.
//!
//! Chapter 07's model (f32 activations) and chapter 08's (8-bit activations, as llama.cpp) are
//! both measured here, each test with its own stated thresholds.

use crate::generate::{Sampling, generate};
use ch01_bpe::TokenId;
use ch03_transformer_block::train::{argmax, ids_tensor};
use ch03_transformer_block::{CausalLm, LlamaConfig, ModelError};
use ch04_kv_cache::{CacheError, Overflow, PreallocCache};
use serde_json::Value;

/// One recorded step: llama.cpp's token, its top-5 `(id, logit)` and the top-2 gap.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: u32,
    pub top5: Vec<(u32, f32)>,
    pub gap: f32,
}

/// One recorded prompt and llama.cpp's greedy continuation of it.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: String,
    pub prompt_ids: Vec<u32>,
    pub continuation_ids: Vec<u32>,
    pub steps: Vec<Step>,
    /// llama.cpp against itself: the largest logit difference between its batched and
    /// one-token evaluations of the same positions.
    pub own_noise: f32,
    /// llama.cpp's arg-max at each step when it evaluates the whole sequence in one batch; where
    /// it is not `continuation_ids`' token, llama.cpp disagrees with itself.
    pub own_argmax: Vec<u32>,
    /// The arg-max of the exact model at each step (f64 arithmetic on the `gguf` package's
    /// dequantized weights, no activation or cache rounding), when the fixture records it.
    pub exact_argmax: Option<Vec<u32>>,
}

/// Parses the `prompts` of a `greedy.json` fixture.
pub fn prompts(fixture: &Value) -> Result<Vec<Prompt>, String> {
    let ids = |v: &Value, what: &str| -> Result<Vec<u32>, String> {
        v.as_array()
            .ok_or(format!("`{what}` is not an array"))?
            .iter()
            .map(|x| {
                x.as_u64()
                    .map(|x| x as u32)
                    .ok_or(format!("`{what}` holds a non-id"))
            })
            .collect()
    };
    let float = |v: &Value| {
        v.as_f64()
            .map(|x| x as f32)
            .ok_or("not a number".to_string())
    };
    let list = |v: &Value, what: &str| {
        v.as_array()
            .cloned()
            .ok_or(format!("`{what}` is not an array"))
    };
    list(&fixture["prompts"], "prompts")?
        .iter()
        .map(|p| {
            let steps = list(&p["steps"], "steps")?
                .iter()
                .map(|s| {
                    let top5 = list(&s["top5"], "top5")?
                        .iter()
                        .map(|pair| {
                            Ok((
                                pair[0].as_u64().ok_or("top5 holds a non-id")? as u32,
                                float(&pair[1])?,
                            ))
                        })
                        .collect::<Result<_, String>>()?;
                    Ok(Step {
                        id: s["id"].as_u64().ok_or("step without an id")? as u32,
                        top5,
                        gap: float(&s["gap"])?,
                    })
                })
                .collect::<Result<_, String>>()?;
            let noise = list(
                &p["teacher_forced_max_abs_logit_diff"],
                "teacher_forced_max_abs_logit_diff",
            )?;
            let exact = &p["exact_f64"]["teacher_forced_argmax"];
            Ok(Prompt {
                own_argmax: ids(&p["teacher_forced_argmax"], "teacher_forced_argmax")?,
                exact_argmax: if exact.is_null() {
                    None
                } else {
                    Some(ids(exact, "exact_f64.teacher_forced_argmax")?)
                },
                name: p["name"].as_str().unwrap_or("?").to_string(),
                prompt_ids: ids(&p["prompt_ids"], "prompt_ids")?,
                continuation_ids: ids(&p["continuation_ids"], "continuation_ids")?,
                steps,
                own_noise: noise
                    .iter()
                    .map(float)
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .fold(0.0, f32::max),
            })
        })
        .collect()
}

/// Teacher-forced agreement over every step of every prompt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeacherForced {
    /// Steps where our arg-max is llama.cpp's token, of all steps.
    pub agree: usize,
    pub total: usize,
    /// The same, counting only steps whose top-2 gap is at least the near-tie threshold.
    pub clear_agree: usize,
    pub clear_total: usize,
    /// |our logit − llama.cpp's| over its top-5 tokens: mean and worst.
    pub mean_logit_diff: f32,
    pub worst_logit_diff: f32,
    /// llama.cpp's largest disagreement with itself (see [`Prompt::own_noise`]).
    pub own_noise: f32,
    /// Steps where llama.cpp's one-batch arg-max is its own greedy token, of all steps: the
    /// agreement llama.cpp reaches with itself.
    pub own_agree: usize,
    /// Our agreement counted only on those self-consistent steps.
    pub consistent_agree: usize,
    /// Steps where our arg-max is the exact model's, of the steps the fixture has it for.
    pub exact_agree: usize,
    pub exact_total: usize,
}

impl std::fmt::Display for TeacherForced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "agree {}/{} ({:.1}%; llama.cpp with itself {}/{}); where llama.cpp agrees with itself {}/{} ({:.1}%); clear steps {}/{}; with the exact model {}/{}; top-5 logit diff mean {:.3}, worst {:.3} (llama.cpp vs itself: {:.3})",
            self.agree,
            self.total,
            100.0 * self.agree as f64 / self.total.max(1) as f64,
            self.own_agree,
            self.total,
            self.consistent_agree,
            self.own_agree,
            100.0 * self.consistent_agree as f64 / self.own_agree.max(1) as f64,
            self.clear_agree,
            self.clear_total,
            self.exact_agree,
            self.exact_total,
            self.mean_logit_diff,
            self.worst_logit_diff,
            self.own_noise
        )
    }
}

/// Runs each prompt + continuation through `model` in one pass and compares every step.
pub fn teacher_forced(
    model: &dyn CausalLm,
    prompts: &[Prompt],
    near_tie: f32,
) -> Result<TeacherForced, ModelError> {
    teacher_forced_with(&mut |seq| all_logits(model, seq), prompts, near_tie)
}

/// Every position's logits of `ids` in one pass without a cache, `[ids.len(), vocab]`.
pub fn all_logits(model: &dyn CausalLm, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
    let logits = model.forward_kv(ids_tensor(ids, 1, &model.device()), 0, &mut |_, k, v| {
        (k, v)
    })?;
    Ok(logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 logits"))
}

/// Every position's logits of a sequence, `[seq.len(), vocab]` row-major.
pub type LogitsOf<'a, E> = dyn FnMut(&[u32]) -> Result<Vec<f32>, E> + 'a;

/// [`teacher_forced`] over any way of computing logits.
pub fn teacher_forced_with<E>(
    logits_of: &mut LogitsOf<E>,
    prompts: &[Prompt],
    near_tie: f32,
) -> Result<TeacherForced, E> {
    let mut t = TeacherForced::default();
    let mut sum = 0f64;
    let mut n = 0usize;
    for p in prompts {
        let seq: Vec<u32> = p
            .prompt_ids
            .iter()
            .chain(&p.continuation_ids)
            .copied()
            .collect();
        let flat = logits_of(&seq)?;
        assert!(
            !flat.is_empty() && flat.len().is_multiple_of(seq.len()),
            "logits_of gave {} values for {} positions: every position's logits are needed",
            flat.len(),
            seq.len()
        );
        let (s, vocab) = (seq.len(), flat.len() / seq.len());
        for (step, record) in p.steps.iter().enumerate() {
            let at = p.prompt_ids.len() - 1 + step;
            if at >= s {
                break;
            }
            let ours = &flat[at * vocab..(at + 1) * vocab];
            let our_id = argmax(ours);
            let hit = our_id == record.id;
            t.total += 1;
            t.agree += usize::from(hit);
            if p.own_argmax.get(step) == Some(&record.id) {
                t.own_agree += 1;
                t.consistent_agree += usize::from(hit);
            }
            if let Some(&exact) = p.exact_argmax.as_ref().and_then(|e| e.get(step)) {
                t.exact_total += 1;
                t.exact_agree += usize::from(our_id == exact);
            }
            if record.gap >= near_tie {
                t.clear_total += 1;
                t.clear_agree += usize::from(hit);
            }
            for &(id, logit) in &record.top5 {
                let d = (ours[id as usize] - logit).abs();
                t.worst_logit_diff = t.worst_logit_diff.max(d);
                sum += f64::from(d);
                n += 1;
            }
        }
        t.own_noise = t.own_noise.max(p.own_noise);
    }
    t.mean_logit_diff = (sum / n.max(1) as f64) as f32;
    Ok(t)
}

/// One prompt decoded freely: identical tokens before the first difference, and the first
/// step where llama.cpp's top two were a near tie.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeRun {
    pub name: String,
    pub identical: usize,
    pub first_near_tie: usize,
}

/// Greedy decoding of every prompt through chapter 04's pre-allocated cache.
pub fn free_running(
    model: &dyn CausalLm,
    config: &LlamaConfig,
    prompts: &[Prompt],
    near_tie: f32,
) -> Result<Vec<FreeRun>, CacheError> {
    free_running_with(prompts, near_tie, &mut |p| {
        let new = p.continuation_ids.len();
        let mut cache = PreallocCache::new(
            config.num_hidden_layers,
            1,
            config.kv_heads(),
            config.head_dim(),
            p.prompt_ids.len() + new,
            Overflow::Error,
            &model.device(),
        )?;
        let greedy = Sampling::greedy();
        Ok(generate(
            model,
            Some(&mut cache),
            &p.prompt_ids,
            new,
            &greedy,
            &[],
            |_| {},
        )?
        .new_tokens)
    })
}

/// [`free_running`] over any way of decoding: `decode(prompt)` gives the greedy tokens after
/// `prompt.prompt_ids`, as many as llama.cpp's continuation.
pub fn free_running_with(
    prompts: &[Prompt],
    near_tie: f32,
    decode: &mut dyn FnMut(&Prompt) -> Result<Vec<TokenId>, CacheError>,
) -> Result<Vec<FreeRun>, CacheError> {
    prompts
        .iter()
        .map(|p| {
            let ours = decode(p)?;
            Ok(FreeRun {
                name: p.name.clone(),
                identical: ours
                    .iter()
                    .zip(&p.continuation_ids)
                    .take_while(|(a, b)| a == b)
                    .count(),
                first_near_tie: p
                    .steps
                    .iter()
                    .position(|s| s.gap < near_tie)
                    .unwrap_or(p.steps.len()),
            })
        })
        .collect()
}
