//! One decode step as one parallel region: how llama.cpp keeps every core busy.
//!
//! [`QuantizedLlama`] runs a step as chapter 03 wrote it: a burn tensor per operation and one
//! parallel product per weight matrix — 121 products per SmolLM2 token (four per block × 30,
//! and the LM head). Each product hands its rows to rayon's threads and waits for them;
//! between products the workers go back to sleep, and waking a sleeping thread costs the
//! operating system tens of microseconds — about as long as a single-token product of this
//! small model takes. On two threads that path decoded only 1.4× faster than on one.
//!
//! This decoder computes the same step (the same kernel, RMSNorm, RoPE angles and grouped
//! attention as the earlier chapters, on plain `f32` slices) with its threads started once per
//! call and kept busy to the end: every thread walks the whole step; the rows of each product,
//! and the (position, head) pairs of attention, are handed out in chunks from one atomic
//! counter; the small serial work between them (RMSNorm, RoPE, residual adds, quantizing the
//! activations) is done by thread 0 while the others wait at a barrier they spin on, which
//! costs well under a microsecond where waking a thread costs tens. ggml's `ggml_graph_compute`
//! works the same way: one team of threads for the whole graph, a barrier between nodes.
//!
//! ```text
//! per block: [0] RMSNorm, quantize │ all: W_qkv rows │ [0] RoPE, append K/V │ all: attention
//!            [0] quantize │ all: W_o rows │ [0] residual, RMSNorm, quantize │ all: W_gate_up
//!            [0] SiLU(gate)·up, quantize │ all: W_down rows │ [0] residual          │ = barrier
//! ```
//!
//! The K/V cache is chapter 04's pre-allocated layout, `[kv_heads, capacity, head_dim]` per
//! layer, written in place as `f32`.

use crate::kernel::{Activations, Input, Kernel, Q8Rows, QMatrix, TILE, dot_rows, prefetch};
use crate::model::QuantizedLlama;
use ch03_transformer_block::ModelError;
use ch04_kv_cache::CacheError;
use ch07_real_model::Decode;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// Weight rows per chunk handed to a thread, at least: small enough to balance the threads on
/// the 576-row products. Larger matrices are handed out in larger chunks (about 16 per
/// thread), so the shared counter is touched rarely.
const CHUNK_ROWS: usize = 16;

/// Rows ahead of the one being multiplied whose bytes are prefetched.
const PREFETCH_AHEAD: usize = 2;

/// Chapter 08's model decoding through a cache of its own, a whole step per parallel region.
pub struct Decoder<'m> {
    model: &'m QuantizedLlama,
    kernel: Kernel,
    threads: usize,
    /// Per layer: the gains of the attention and the FFN RMSNorms.
    gains: Vec<[Vec<f32>; 2]>,
    final_gain: Vec<f32>,
    inv_freq: Vec<f64>,
    /// Per layer: keys and values, `[kv_heads, capacity, head_dim]`.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    capacity: usize,
    /// Positions filled.
    len: usize,
}

impl<'m> Decoder<'m> {
    /// A decoder with room for `capacity` positions, on as many threads as rayon's pool has
    /// (`RAYON_NUM_THREADS`).
    pub fn new(model: &'m QuantizedLlama, capacity: usize) -> Self {
        let c = &model.config;
        let gain = |n: &ch03_transformer_block::RmsNorm| {
            n.weight
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 gains")
        };
        let kv_len = c.kv_heads() * capacity * c.head_dim();
        Decoder {
            model,
            kernel: Kernel::detect(),
            threads: rayon::current_num_threads().max(1),
            gains: model
                .layers
                .iter()
                .map(|b| [gain(&b.attn_norm), gain(&b.ffn_norm)])
                .collect(),
            final_gain: gain(&model.norm),
            inv_freq: model.rope.inv_freq(c.head_dim()),
            keys: vec![vec![0.0; kv_len]; c.num_hidden_layers],
            values: vec![vec![0.0; kv_len]; c.num_hidden_layers],
            capacity,
            len: 0,
        }
    }

    /// The same decoder on `threads` threads (the scalar kernel too, when `kernel` says so).
    pub fn with(mut self, threads: usize, kernel: Kernel) -> Self {
        self.threads = threads.max(1);
        self.kernel = kernel;
        self
    }

    /// Positions the cache holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the cache (its memory is kept).
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Bytes of K and V storage held: the whole capacity, filled or not, as chapter 04's
    /// pre-allocated cache counts it.
    pub fn kv_bytes(&self) -> usize {
        let c = &self.model.config;
        2 * c.num_hidden_layers * c.kv_heads() * c.head_dim() * self.capacity * 4
    }

    /// Feeds `ids` at the next positions; returns the logits `[rows, vocab]` of the last
    /// position, or of every position when `all_positions`.
    pub fn forward(&mut self, ids: &[u32], all_positions: bool) -> Result<Vec<f32>, CacheError> {
        let (start, n) = (self.len, ids.len());
        if n == 0 {
            return Err(CacheError::EmptyPrompt);
        }
        let c = &self.model.config;
        if start + n > c.max_position_embeddings {
            return Err(ModelError::PositionsTooLong {
                start,
                end: start + n,
                max: c.max_position_embeddings,
            }
            .into());
        }
        if start + n > self.capacity {
            return Err(CacheError::CapacityExceeded {
                capacity: self.capacity,
                requested: start + n,
            });
        }
        let x: Vec<f32> = ids
            .iter()
            .flat_map(|&id| self.model.embed.dequantize_row(id as usize))
            .collect();
        let logit_rows = if all_positions { n } else { 1 };
        let widest = self.model.layers.iter().fold(0, |w, b| {
            let rows = |m: &[QMatrix]| m.iter().map(|m| m.rows).sum::<usize>();
            w.max(rows(b.qkv.groups()))
                .max(rows(b.gate_up.groups()))
                .max(b.o.rows)
                .max(b.down.rows)
        });
        let head = self.model.head.as_ref().unwrap_or(&self.model.embed);
        let out_len = (n * widest).max(logit_rows * head.rows);
        let (keys, values) = (&mut self.keys, &mut self.values);
        let team = Team {
            barrier: Padded(SpinBarrier::new(self.threads)),
            next: Padded(AtomicUsize::new(0)),
            out: (0..out_len).map(|_| AtomicU32::new(0)).collect(),
            state: RwLock::new(State {
                x,
                input: Vec::new(),
                q8: None,
                q: Vec::new(),
                keys,
                values,
            }),
        };
        // Chapter 03's RoPE angles (`Rope::tables`: f64, then f32) for the new positions.
        let (cos, sin) = (start..start + n)
            .flat_map(|m| self.inv_freq.iter().map(move |f| m as f64 * f))
            .map(|angle| (angle.cos() as f32, angle.sin() as f32))
            .unzip();
        let step = Step {
            model: self.model,
            kernel: self.kernel,
            threads: self.threads,
            gains: &self.gains,
            final_gain: &self.final_gain,
            cos,
            sin,
            capacity: self.capacity,
            start,
            n,
            logit_rows,
            team: &team,
        };
        std::thread::scope(|scope| {
            for t in 1..self.threads {
                let step = &step;
                scope.spawn(move || step.run(t));
            }
            step.run(0);
        });
        self.len += n;
        Ok(team.read(0..logit_rows * head.rows))
    }
}

impl Decode for Decoder<'_> {
    fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, CacheError> {
        self.forward(ids, false)
    }

    fn max_positions(&self) -> usize {
        self.model.config.max_position_embeddings
    }

    fn cached(&self) -> (usize, usize) {
        (self.len, self.kv_bytes())
    }
}

/// A barrier the threads spin on: the waits inside a step last microseconds, less than the
/// operating system takes to put a thread to sleep and wake it. After a while spinning a
/// waiter yields its core, so a machine with more threads than cores still moves on.
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// Set when a thread panics, so the others stop waiting for it instead of spinning forever.
    abandoned: AtomicBool,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        SpinBarrier {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Returns once every thread has called it; what a thread wrote before it is visible to
    /// every thread after it.
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if self.abandoned.load(Ordering::Relaxed) {
                panic!("another decoder thread panicked");
            }
            if spins < 4_000 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Marks the barrier abandoned if its thread unwinds from a panic.
struct AbandonOnPanic<'a>(&'a AtomicBool);

impl Drop for AbandonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// What the threads of one call share.
struct Team<'a> {
    barrier: Padded<SpinBarrier>,
    /// The next chunk of the current parallel phase.
    next: Padded<AtomicUsize>,
    /// The current phase's output, `f32` bits, `[rows, width]`: written by every thread
    /// (each chunk its own elements), read by thread 0 after the barrier.
    out: Vec<AtomicU32>,
    /// Written by thread 0 between barriers, read by every thread in the parallel phases.
    state: RwLock<State<'a>>,
}

/// A value alone on its cache lines. The counter and the barrier are written by every thread;
/// sharing a line with fields that are only read (the output's address) would make every
/// read of those miss the cache each time another thread claims a chunk ("false sharing").
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Team<'_> {
    fn read(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        self.out[range]
            .iter()
            .map(|v| f32::from_bits(v.load(Ordering::Relaxed)))
            .collect()
    }

    fn write(&self, at: usize, value: f32) {
        self.out[at].store(value.to_bits(), Ordering::Relaxed);
    }
}

struct State<'a> {
    /// The residual stream, `[n, hidden]`.
    x: Vec<f32>,
    /// The next product's input, `[rows, cols]`, and the same rows quantized to 8 bits when the
    /// model multiplies 8-bit activations.
    input: Vec<f32>,
    q8: Option<Q8Rows>,
    /// Queries after RoPE, `[n, heads, head_dim]`.
    q: Vec<f32>,
    keys: &'a mut [Vec<f32>],
    values: &'a mut [Vec<f32>],
}

/// One call's work, run by every thread of the team.
struct Step<'a> {
    model: &'a QuantizedLlama,
    kernel: Kernel,
    threads: usize,
    gains: &'a [[Vec<f32>; 2]],
    final_gain: &'a [f32],
    /// `cos(mθᵢ)` and `sin(mθᵢ)` for the new positions, `[n, head_dim / 2]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
    capacity: usize,
    start: usize,
    n: usize,
    logit_rows: usize,
    team: &'a Team<'a>,
}

impl Step<'_> {
    /// The whole step as thread `t` sees it: serial parts on thread 0, a barrier after each.
    fn run(&self, t: usize) {
        let _abandon_on_panic = AbandonOnPanic(&self.team.barrier.abandoned);
        let c = &self.model.config;
        let (hidden, heads, d) = (c.hidden_size, c.num_attention_heads, c.head_dim());
        let (n, leader) = (self.n, t == 0);
        let mut scratch = vec![0f32; self.start + n];
        for (l, block) in self.model.layers.iter().enumerate() {
            if leader {
                self.serial(|s| {
                    let normed = rms_norm(&s.x, &self.gains[l][0], c.rms_norm_eps);
                    self.set_input(s, normed, hidden);
                });
            }
            self.parallel(|| self.product(block.qkv.groups(), n));
            if leader {
                self.serial(|s| self.rope_and_append(s, l));
            }
            self.parallel(|| self.attention(l, &mut scratch));
            if leader {
                self.serial(|s| {
                    let context = self.team.read(0..n * heads * d);
                    self.set_input(s, context, heads * d);
                });
            }
            self.parallel(|| self.product(std::slice::from_ref(&block.o), n));
            if leader {
                self.serial(|s| {
                    add(&mut s.x, &self.team.read(0..n * hidden));
                    let normed = rms_norm(&s.x, &self.gains[l][1], c.rms_norm_eps);
                    self.set_input(s, normed, hidden);
                });
            }
            self.parallel(|| self.product(block.gate_up.groups(), n));
            if leader {
                self.serial(|s| {
                    let ffn = c.intermediate_size;
                    let both = self.team.read(0..n * 2 * ffn);
                    let gated = both
                        .chunks_exact(2 * ffn)
                        .flat_map(|row| {
                            let (gate, up) = row.split_at(ffn);
                            gate.iter().zip(up).map(|(&g, &u)| silu(g) * u)
                        })
                        .collect();
                    self.set_input(s, gated, ffn);
                });
            }
            self.parallel(|| self.product(std::slice::from_ref(&block.down), n));
            if leader {
                self.serial(|s| add(&mut s.x, &self.team.read(0..n * hidden)));
            }
        }
        if leader {
            self.serial(|s| {
                let rows = &s.x[(n - self.logit_rows) * hidden..];
                let normed = rms_norm(rows, self.final_gain, c.rms_norm_eps);
                self.set_input(s, normed, hidden);
            });
        }
        let head = self.model.head.as_ref().unwrap_or(&self.model.embed);
        self.parallel(|| self.product(std::slice::from_ref(head), self.logit_rows));
    }

    /// Thread 0's part between two parallel phases: it alone holds the state, and it resets
    /// the chunk counter for the next phase.
    fn serial(&self, work: impl FnOnce(&mut State)) {
        work(&mut self.team.state.write().expect("no thread panicked"));
        self.team.next.store(0, Ordering::Relaxed);
    }

    /// A parallel phase between two barriers: the first publishes thread 0's serial work,
    /// the second waits for every chunk.
    fn parallel(&self, work: impl FnOnce()) {
        self.team.barrier.wait();
        work();
        self.team.barrier.wait();
    }

    /// The next product's input, and its 8-bit form when the model multiplies 8-bit
    /// activations.
    fn set_input(&self, s: &mut State, input: Vec<f32>, cols: usize) {
        s.q8 = (self.model.activations == Activations::Q8)
            .then(|| Q8Rows::quantize(&input, input.len() / cols, cols));
        s.input = input;
    }

    /// `input · Wᵀ` for the matrices `mats` side by side (a stacked projection): output
    /// `[rows, Σ mats' rows]`. Chunks of weight rows are claimed from the counter until none
    /// is left, so a thread that finishes early takes more.
    fn product(&self, mats: &[QMatrix], rows: usize) {
        let s = self.team.state.read().expect("no thread panicked");
        let width: usize = mats.iter().map(|m| m.rows).sum();
        let chunk_rows = CHUNK_ROWS.max(width / (16 * self.threads));
        loop {
            let mut chunk = self.team.next.fetch_add(1, Ordering::Relaxed);
            let mut offset = 0;
            let Some(m) = mats.iter().find(|m| {
                let chunks = m.rows.div_ceil(chunk_rows);
                let here = chunk < chunks;
                if !here {
                    chunk -= chunks;
                    offset += m.rows;
                }
                here
            }) else {
                return;
            };
            let input = match &s.q8 {
                Some(q8) if m.form.is_quantized() => Input::Q8(q8),
                _ => Input::F32(&s.input),
            };
            let first_row = chunk * chunk_rows;
            let end = (first_row + chunk_rows).min(m.rows);
            for r in first_row..end {
                let w = m.row(r);
                if r + PREFETCH_AHEAD < end {
                    prefetch(m.row(r + PREFETCH_AHEAD));
                }
                for first in (0..rows).step_by(TILE) {
                    let mut y = [0f32; TILE];
                    let y = &mut y[..TILE.min(rows - first)];
                    dot_rows(self.kernel, m.form, w, &input, first, y);
                    for (i, &v) in y.iter().enumerate() {
                        self.team.write((first + i) * width + offset + r, v);
                    }
                }
            }
        }
    }

    /// Splits the stacked `[q | k | v]` output, rotates q and k (chapter 03's split-halves
    /// RoPE, the rows already permuted to it at load) and appends k and v to the cache.
    fn rope_and_append(&self, s: &mut State, layer: usize) {
        let c = &self.model.config;
        let (heads, kv_heads, d) = (c.num_attention_heads, c.kv_heads(), c.head_dim());
        let width = (heads + 2 * kv_heads) * d;
        let qkv = self.team.read(0..self.n * width);
        s.q.clear();
        s.q.resize(self.n * heads * d, 0.0);
        for (i, row) in qkv.chunks_exact(width).enumerate() {
            let pos = self.start + i;
            let (cos, sin) = (
                &self.cos[i * d / 2..][..d / 2],
                &self.sin[i * d / 2..][..d / 2],
            );
            let (q, kv) = row.split_at(heads * d);
            let (k, v) = kv.split_at(kv_heads * d);
            let q_out = &mut s.q[i * heads * d..(i + 1) * heads * d];
            for (head, out) in q.chunks_exact(d).zip(q_out.chunks_exact_mut(d)) {
                rope(head, cos, sin, out);
            }
            for (j, (k, v)) in k.chunks_exact(d).zip(v.chunks_exact(d)).enumerate() {
                let at = (j * self.capacity + pos) * d;
                rope(k, cos, sin, &mut s.keys[layer][at..at + d]);
                s.values[layer][at..at + d].copy_from_slice(v);
            }
        }
    }

    /// Causal grouped attention of the new positions over the cache (chapter 03's
    /// `grouped_attention`: query head h reads KV head h / group), one (position, head) pair
    /// per claim. Output `[n, heads · head_dim]`.
    fn attention(&self, layer: usize, scores: &mut [f32]) {
        let s = self.team.state.read().expect("no thread panicked");
        let c = &self.model.config;
        let (heads, d) = (c.num_attention_heads, c.head_dim());
        let group = heads / c.kv_heads();
        let scale = 1.0 / (d as f32).sqrt();
        let mut context = vec![0f32; d];
        loop {
            let unit = self.team.next.fetch_add(1, Ordering::Relaxed);
            if unit >= self.n * heads {
                return;
            }
            let (i, h) = (unit / heads, unit % heads);
            let seen = self.start + i + 1;
            let q = &s.q[(i * heads + h) * d..][..d];
            let kv = (h / group) * self.capacity * d;
            let (keys, values) = (&s.keys[layer][kv..], &s.values[layer][kv..]);
            let scores = &mut scores[..seen];
            for (j, score) in scores.iter_mut().enumerate() {
                *score = dot(q, &keys[j * d..(j + 1) * d]) * scale;
            }
            softmax(scores);
            context.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                for (o, &v) in context.iter_mut().zip(&values[j * d..(j + 1) * d]) {
                    *o += p * v;
                }
            }
            for (e, &v) in context.iter().enumerate() {
                self.team.write((i * heads + h) * d + e, v);
            }
        }
    }
}

/// Chapter 03's RMSNorm over each row of `x`: `x / √(mean(x²) + ε) · gain`.
fn rms_norm(x: &[f32], gain: &[f32], eps: f64) -> Vec<f32> {
    x.chunks_exact(gain.len())
        .flat_map(|row| {
            let mean_square = dot(row, row) / row.len() as f32;
            let inv_rms = 1.0 / (mean_square + eps as f32).sqrt();
            row.iter().zip(gain).map(move |(&v, &g)| v * inv_rms * g)
        })
        .collect()
}

/// Chapter 03's split-halves RoPE of one head's vector, with its position's `cos` and `sin`.
fn rope(x: &[f32], cos: &[f32], sin: &[f32], out: &mut [f32]) {
    let half = x.len() / 2;
    let (x1, x2) = x.split_at(half);
    let (out1, out2) = out.split_at_mut(half);
    for i in 0..half {
        out1[i] = x1[i] * cos[i] - x2[i] * sin[i];
        out2[i] = x2[i] * cos[i] + x1[i] * sin[i];
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// `Σ aᵢ·bᵢ` in sixteen running sums: a single sum is one long chain of dependent additions
/// (floating-point addition is not reassociated by the compiler), sixteen independent lanes
/// become vector instructions.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut sums = [0f32; LANES];
    let (a_body, b_body) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_body
        .remainder()
        .iter()
        .zip(b_body.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_body.zip(b_body) {
        for i in 0..LANES {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    x.iter_mut().for_each(|v| *v /= sum);
}
