//! Matmul on weights that stay quantized: `y = x · Wᵀ` read straight from the packed blocks.
//!
//! Decoding one token multiplies a single activation row by every weight matrix once, so the
//! time is the time to *read* the weights: bytes per weight decide tokens per second. burn 0.22
//! can hold block-quantized tensors, but its CPU backend (flex) multiplies them by first
//! dequantizing the whole matrix to f32 — 4 bytes per weight written and read again — so the
//! 4-bit form would be slower than plain f32. This kernel never builds the f32 matrix.
//!
//! Two ways to multiply, chosen by [`Activations`]:
//!
//! - **f32 activations** (exact): each block is expanded to 32 f32 weights in registers
//!   (`d·q + m`) and multiplied by the f32 activations — chapter 07's arithmetic, reading only
//!   the packed bytes.
//! - **8-bit activations**, as llama.cpp's CPU backend computes:
//!
//! 1. The activation row is quantized too, to 8 bits per block of 32 (`x ≈ dₓ · qₓ`).
//! 2. Each block's dot product is then a dot product of small integers, exact in i32:
//!    ```text
//!    Q8_0 weights  (w = d·q):      Σ w·x = d·dₓ · Σ q·qₓ
//!    Q4_1 weights  (w = d·q + m):  Σ w·x = d·dₓ · Σ q·qₓ  +  m · (dₓ · Σ qₓ)
//!    ```
//!    `dₓ · Σ qₓ` is computed once per activation block (`s` below), so the minimum costs one
//!    multiply-add per block, not per weight.
//! 3. On x86-64 with AVX2, `vpmaddubsw` multiplies 32 unsigned bytes by 32 signed bytes and
//!    adds neighbours into 16-bit lanes; `vpmaddwd` by ones widens to eight i32 sums. One block
//!    of 32 weights is a handful of instructions. Without AVX2, a scalar loop does the same
//!    arithmetic (and is the reference the SIMD version is tested against).
//! 4. Rows of the weight matrix are split across threads (rayon).
//!
//! Storage is ggml's bytes regrouped per row: all the block scales of a row first, then all its
//! quantized values (`[d × nb][m × nb][q × nb]` for Q4_1), the same number of bytes as the
//! GGUF file. Grouping the f16 scales lets eight of them convert to f32 in one instruction
//! (`vcvtph2ps`) instead of eight scalar conversions inside the hot loop — llama.cpp repacks
//! for the same reason (its `Q4_0x8` layouts).
//!
//! Rounding the activations to 8 bits is an approximation of its own: the result differs from
//! an f32 dot product of the same (dequantized) weights by about 0.4% of the row's scale.
//! llama.cpp makes the same approximation, which brings our logits closer to its own (the
//! parity tests), and integer products take fewer instructions per block than expanding it.

use ch07_real_model::GgmlType;
use half::f16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Values per block.
pub const BLOCK: usize = 32;

/// How a [`QMatrix`] stores its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    F32,
    F16,
    Q8_0,
    Q4_1,
}

impl Form {
    pub const ALL: [Form; 4] = [Form::F32, Form::F16, Form::Q8_0, Form::Q4_1];

    /// The name used on the command line and in records (`f32`, `f16`, `q8_0`, `q4_1`).
    pub fn name(self) -> &'static str {
        match self {
            Form::F32 => "f32",
            Form::F16 => "f16",
            Form::Q8_0 => "q8_0",
            Form::Q4_1 => "q4_1",
        }
    }

    /// The form that stores ggml type `t` as is, if the kernel reads it.
    pub fn from_ggml(t: GgmlType) -> Option<Form> {
        match t {
            GgmlType::F32 => Some(Form::F32),
            GgmlType::F16 => Some(Form::F16),
            GgmlType::Q8_0 => Some(Form::Q8_0),
            GgmlType::Q4_1 => Some(Form::Q4_1),
            _ => None,
        }
    }

    pub fn parse(name: &str) -> Option<Form> {
        Form::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Bytes of one block of 32 weights.
    pub fn block_bytes(self) -> usize {
        match self {
            Form::F32 => 4 * BLOCK,
            Form::F16 => 2 * BLOCK,
            Form::Q8_0 => 2 + BLOCK,         // d: f16, q: i8 × 32
            Form::Q4_1 => 2 + 2 + BLOCK / 2, // d, m: f16, q: u4 × 32
        }
    }

    pub fn bits_per_weight(self) -> f64 {
        8.0 * self.block_bytes() as f64 / BLOCK as f64
    }

    /// Whether this form stores integer blocks (which 8-bit activations can multiply).
    pub fn is_quantized(self) -> bool {
        matches!(self, Form::Q8_0 | Form::Q4_1)
    }
}

/// What the activations are multiplied as, for the quantized forms (f32 and f16 weights always
/// take f32 activations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activations {
    /// Exact: each block is expanded to f32 in registers (`d·q + m`) and multiplied by the f32
    /// activations — the arithmetic of chapter 07's model, reading only the packed bytes.
    F32,
    /// llama.cpp's way: activations quantized to 8 bits per block, integer dot products.
    Q8,
}

impl Activations {
    pub const ALL: [Activations; 2] = [Activations::F32, Activations::Q8];

    pub fn name(self) -> &'static str {
        match self {
            Activations::F32 => "f32",
            Activations::Q8 => "q8",
        }
    }

    pub fn parse(name: &str) -> Option<Activations> {
        Activations::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Which implementation of the block dot products runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust loops: the reference.
    Scalar,
    /// AVX2 + FMA + F16C intrinsics (x86-64 only).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs, detected once at run time.
    pub fn detect() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                return Kernel::Avx2;
            }
            Kernel::Scalar
        })
    }

    /// The kernels this CPU can run (the scalar one always).
    pub fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Scalar];
        if Kernel::detect() == Kernel::Avx2 {
            all.push(Kernel::Avx2);
        }
        all
    }
}

/// A weight matrix of `rows` outputs × `cols` inputs (the GGUF/PyTorch orientation: one row
/// per output), each row stored in `form`.
#[derive(Clone)]
pub struct QMatrix {
    pub form: Form,
    pub rows: usize,
    pub cols: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QMatrix({} × {}, {})",
            self.rows,
            self.cols,
            self.form.name()
        )
    }
}

fn f16_bits(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

impl QMatrix {
    /// Quantizes row-major f32 `values` (`rows × cols`, `cols` a multiple of 32) into `form`,
    /// with chapter 08's quantizers for Q8_0 and Q4_1.
    pub fn from_f32(form: Form, values: &[f32], rows: usize, cols: usize) -> Result<Self, String> {
        check_shape(values.len(), rows, cols)?;
        let bytes = match form {
            Form::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Form::F16 => values
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
            Form::Q8_0 => crate::formats::quantize(GgmlType::Q8_0, values)?,
            Form::Q4_1 => crate::formats::quantize(GgmlType::Q4_1, values)?,
        };
        Self::from_ggml_bytes(form, &bytes, rows, cols)
    }

    /// From bytes in ggml's layout for `form` (as a GGUF file stores them), regrouped per row.
    pub fn from_ggml_bytes(
        form: Form,
        bytes: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Self, String> {
        check_shape(rows * cols, rows, cols)?;
        let nb = cols / BLOCK;
        let row_bytes = nb * form.block_bytes();
        if bytes.len() != rows * row_bytes {
            return Err(format!(
                "{} bytes for a {rows} × {cols} {} matrix, expected {}",
                bytes.len(),
                form.name(),
                rows * row_bytes
            ));
        }
        let data = match form {
            Form::F32 | Form::F16 => bytes.to_vec(),
            // [d q…][d q…]… → [d d …][q… q…]; Q4_1: [d m q…]… → [d …][m …][q …]
            Form::Q8_0 | Form::Q4_1 => {
                let scales = if form == Form::Q8_0 { 2 } else { 4 };
                let mut data = Vec::with_capacity(bytes.len());
                for row in bytes.chunks_exact(row_bytes) {
                    let blocks = || row.chunks_exact(form.block_bytes());
                    for s in (0..scales).step_by(2) {
                        blocks().for_each(|b| data.extend_from_slice(&b[s..s + 2]));
                    }
                    blocks().for_each(|b| data.extend_from_slice(&b[scales..]));
                }
                data
            }
        };
        Ok(QMatrix {
            form,
            rows,
            cols,
            data,
        })
    }

    /// Bytes of one row (what a matrix-vector product reads per output).
    pub fn row_bytes(&self) -> usize {
        self.cols / BLOCK * self.form.block_bytes()
    }

    /// Bytes of the whole matrix.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn row(&self, r: usize) -> &[u8] {
        let n = self.row_bytes();
        &self.data[r * n..(r + 1) * n]
    }

    /// Matrices of one form and width, their rows one after another: the product of the stack
    /// is the products of the parts side by side, in one pass over the input.
    pub fn stack(parts: &[QMatrix]) -> Result<QMatrix, String> {
        let first = parts.first().ok_or("nothing to stack")?;
        if let Some(odd) = parts
            .iter()
            .find(|p| p.form != first.form || p.cols != first.cols)
        {
            return Err(format!("cannot stack {odd:?} under {first:?}"));
        }
        Ok(QMatrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            data: parts.iter().flat_map(|p| p.data.iter().copied()).collect(),
            ..*first
        })
    }

    /// The matrix with its rows reordered: row `i` of the result is row `order[i]` of this one.
    /// Rows are whole blocks, so reordering moves bytes and never requantizes.
    pub fn permute_rows(&self, order: &[usize]) -> QMatrix {
        let data = order
            .iter()
            .flat_map(|&r| self.row(r).iter().copied())
            .collect();
        QMatrix { data, ..*self }
    }

    /// Row `r` as f32 (an embedding lookup).
    pub fn dequantize_row(&self, r: usize) -> Vec<f32> {
        let row = self.row(r);
        let nb = self.cols / BLOCK;
        match self.form {
            Form::F32 => row
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Form::F16 => (0..self.cols).map(|i| f16_bits(row, 2 * i)).collect(),
            Form::Q8_0 => {
                let (d, q) = row.split_at(2 * nb);
                (0..self.cols)
                    .map(|i| f16_bits(d, 2 * (i / BLOCK)) * f32::from(q[i] as i8))
                    .collect()
            }
            Form::Q4_1 => {
                let (d, rest) = row.split_at(2 * nb);
                let (m, q) = rest.split_at(2 * nb);
                (0..self.cols)
                    .map(|i| {
                        let (b, j) = (i / BLOCK, i % BLOCK);
                        let byte = q[b * 16 + j % 16];
                        let nibble = if j < 16 { byte & 0x0F } else { byte >> 4 };
                        f16_bits(d, 2 * b) * f32::from(nibble) + f16_bits(m, 2 * b)
                    })
                    .collect()
            }
        }
    }

    /// `y = x · Wᵀ` for `x: [n, cols]` (row-major) → `[n, rows]`, with the fastest kernel.
    pub fn matmul(&self, x: &[f32], n: usize, activations: Activations) -> Vec<f32> {
        self.matmul_with(Kernel::detect(), x, n, activations)
    }

    /// [`QMatrix::matmul`] with a chosen kernel (tests compare them).
    pub fn matmul_with(
        &self,
        kernel: Kernel,
        x: &[f32],
        n: usize,
        activations: Activations,
    ) -> Vec<f32> {
        assert_eq!(x.len(), n * self.cols, "x is not [{n}, {}]", self.cols);
        let q8;
        let acts = if self.form.is_quantized() && activations == Activations::Q8 {
            q8 = Q8Rows::quantize(x, n, self.cols);
            Input::Q8(&q8)
        } else {
            Input::F32(x)
        };
        // Output transposed, [rows, n]: each task owns whole weight rows and reads each once
        // for all n activation rows.
        let mut out_t = vec![0f32; self.rows * n];
        let chunk_rows = (self.rows / (8 * rayon::current_num_threads())).clamp(1, 256);
        out_t
            .par_chunks_mut(chunk_rows * n)
            .enumerate()
            .for_each(|(c, out)| {
                for (j, o) in out.chunks_mut(n).enumerate() {
                    let w = self.row(c * chunk_rows + j);
                    for (t, tile) in o.chunks_mut(TILE).enumerate() {
                        dot_rows(kernel, self.form, w, &acts, t * TILE, tile);
                    }
                }
            });
        if n == 1 {
            return out_t;
        }
        let mut out = vec![0f32; n * self.rows];
        for r in 0..self.rows {
            for i in 0..n {
                out[i * self.rows + r] = out_t[r * n + i];
            }
        }
        out
    }
}

fn check_shape(len: usize, rows: usize, cols: usize) -> Result<(), String> {
    if cols == 0 || !cols.is_multiple_of(BLOCK) {
        return Err(format!("{cols} columns are not whole blocks of {BLOCK}"));
    }
    if rows.checked_mul(cols) != Some(len) {
        return Err(format!("{len} values are not {rows} × {cols}"));
    }
    Ok(())
}

/// Activation rows quantized to 8 bits per block (ggml's Q8_0/Q8_1 for activations).
#[derive(Debug, Clone, PartialEq)]
pub struct Q8Rows {
    pub cols: usize,
    /// Per block: the scale `dₓ` (rounded through f16, as ggml stores it).
    pub d: Vec<f32>,
    /// Per block: `dₓ · Σ qₓ` (through f16), what a Q4_1 minimum multiplies.
    pub s: Vec<f32>,
    /// The values, −127..=127.
    pub q: Vec<i8>,
}

impl Q8Rows {
    /// `dₓ = max|x| / 127`, `qₓ = round(x / dₓ)`, ties to even as the AVX2 quantizer in
    /// llama.cpp rounds (`_mm256_round_ps` with `_MM_ROUND_NEAREST`).
    pub fn quantize(x: &[f32], n: usize, cols: usize) -> Q8Rows {
        let blocks = n * cols / BLOCK;
        let mut out = Q8Rows {
            cols,
            d: Vec::with_capacity(blocks),
            s: Vec::with_capacity(blocks),
            q: Vec::with_capacity(n * cols),
        };
        for block in x.chunks_exact(BLOCK) {
            let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let start = out.q.len();
            out.q
                .extend(block.iter().map(|&v| round_ties_even(v * id) as i8));
            let sum: i32 = out.q[start..].iter().map(|&q| i32::from(q)).sum();
            out.d.push(f16::from_f32(d).to_f32());
            out.s.push(f16::from_f32(d * sum as f32).to_f32());
        }
        out
    }

    /// Row `i`'s per-block scales, sums and values.
    #[inline]
    fn row(&self, i: usize) -> (&[f32], &[f32], &[i8]) {
        let nb = self.cols / BLOCK;
        (
            &self.d[i * nb..(i + 1) * nb],
            &self.s[i * nb..(i + 1) * nb],
            &self.q[i * self.cols..(i + 1) * self.cols],
        )
    }
}

/// Round to nearest, ties to even, for |v| ≤ 2²²: adding and removing 1.5 · 2²³ leaves no
/// fraction bits, and the FPU rounds the addition ties-to-even. (`f32::round_ties_even` is a
/// library call on a baseline x86-64 build, slower than the rest of the quantizer.)
fn round_ties_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// The activation rows a product reads: as f32, or quantized to 8 bits.
pub(crate) enum Input<'a> {
    F32(&'a [f32]),
    Q8(&'a Q8Rows),
}

/// Asks the CPU to start loading `bytes` into cache now, so a product reading them a row later
/// does not wait for memory. Decode streams every weight once per token, mostly from beyond
/// the L2 cache; the hardware prefetcher follows the stream, but not far enough ahead for
/// rows that take ~40 ns each.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: prefetching is a hint; it reads nothing and the address is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch(line.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0)
        };
    }
}

/// Activation rows processed together against one weight row.
pub(crate) const TILE: usize = 4;

/// Weight row `w` · activation rows `first..first + out.len()`.
pub(crate) fn dot_rows(
    kernel: Kernel,
    form: Form,
    w: &[u8],
    input: &Input,
    first: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        // SAFETY: `Kernel::Avx2` is only produced after detecting avx2, fma and f16c.
        return unsafe { avx2::dot_rows(form, w, input, first, out) };
    }
    for (r, y) in out.iter_mut().enumerate() {
        *y = match input {
            Input::F32(x) => scalar::dot_f(form, w, row_of(x, first + r, w, form)),
            Input::Q8(q) => scalar::dot_q(form, w, q.row(first + r)),
        };
    }
}

/// Row `i` of an f32 activation matrix whose rows match weight row `w` in length.
fn row_of<'a>(x: &'a [f32], i: usize, w: &[u8], form: Form) -> &'a [f32] {
    let cols = w.len() / form.block_bytes() * BLOCK;
    &x[i * cols..(i + 1) * cols]
}

/// The reference: the same sums in plain loops.
mod scalar {
    use super::{BLOCK, Form, f16_bits};

    pub fn dot_f(form: Form, w: &[u8], x: &[f32]) -> f32 {
        match form {
            Form::F32 => w
                .chunks_exact(4)
                .zip(x)
                .map(|(b, &x)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * x)
                .sum(),
            Form::F16 => (0..x.len()).map(|i| f16_bits(w, 2 * i) * x[i]).sum(),
            Form::Q8_0 => {
                let nb = x.len() / BLOCK;
                let (d, q) = w.split_at(2 * nb);
                (0..x.len())
                    .map(|i| f16_bits(d, 2 * (i / BLOCK)) * f32::from(q[i] as i8) * x[i])
                    .sum()
            }
            Form::Q4_1 => {
                let nb = x.len() / BLOCK;
                let (d, rest) = w.split_at(2 * nb);
                let (m, q) = rest.split_at(2 * nb);
                (0..x.len())
                    .map(|i| {
                        let (b, j) = (i / BLOCK, i % BLOCK);
                        let byte = q[b * 16 + j % 16];
                        let nibble = if j < 16 { byte & 0x0F } else { byte >> 4 };
                        (f16_bits(d, 2 * b) * f32::from(nibble) + f16_bits(m, 2 * b)) * x[i]
                    })
                    .sum()
            }
        }
    }

    pub fn dot_q(form: Form, w: &[u8], (xd, xs, xq): (&[f32], &[f32], &[i8])) -> f32 {
        let nb = xd.len();
        let mut sum = 0f32;
        match form {
            Form::Q8_0 => {
                let (d, q) = w.split_at(2 * nb);
                for b in 0..nb {
                    let qw = &q[b * BLOCK..(b + 1) * BLOCK];
                    let qx = &xq[b * BLOCK..(b + 1) * BLOCK];
                    let int: i32 = qw
                        .iter()
                        .zip(qx)
                        .map(|(&a, &b)| i32::from(a as i8) * i32::from(b))
                        .sum();
                    sum += f16_bits(d, 2 * b) * xd[b] * int as f32;
                }
            }
            Form::Q4_1 => {
                let (d, rest) = w.split_at(2 * nb);
                let (m, q) = rest.split_at(2 * nb);
                for b in 0..nb {
                    let qw = &q[b * 16..(b + 1) * 16];
                    let qx = &xq[b * BLOCK..(b + 1) * BLOCK];
                    let int: i32 = (0..16)
                        .map(|j| {
                            i32::from(qw[j] & 0x0F) * i32::from(qx[j])
                                + i32::from(qw[j] >> 4) * i32::from(qx[j + 16])
                        })
                        .sum();
                    sum += f16_bits(d, 2 * b) * xd[b] * int as f32 + f16_bits(m, 2 * b) * xs[b];
                }
            }
            Form::F32 | Form::F16 => unreachable!("float forms take f32 activations"),
        }
        sum
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! One weight row against up to [`TILE`](super::TILE) activation rows at once: each block of
    //! 32 weights is loaded and expanded once, then used for every row of the tile (prefill
    //! reuses it; decode has one row). Independent accumulators per row hide the latency of
    //! the fused multiply-adds, which would otherwise bound a single row's dot product.
    use super::{BLOCK, Form, Input, row_of};
    use std::arch::x86_64::*;

    /// Rows `first..first + out.len()` of the activations times weight row `w`, into `out`.
    ///
    /// # Safety
    /// The CPU must support avx2, fma and f16c.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows(form: Form, w: &[u8], input: &Input, first: usize, out: &mut [f32]) {
        match out.len() {
            1 => rows::<1, 4>(form, w, input, first, out),
            2 => rows::<2, 2>(form, w, input, first, out),
            3 => rows::<3, 2>(form, w, input, first, out),
            _ => rows::<4, 2>(form, w, input, first, out),
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// The f16 scales of blocks `g..g + 8` (or of the tail, one by one) as f32.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn scales(bytes: &[u8], g: usize, count: usize) -> [f32; 8] {
        let mut out = [0f32; 8];
        if count == 8 {
            let at = &bytes[2 * g..2 * g + 16];
            // SAFETY: `at` holds the 16 bytes loaded; `out` holds 8 floats.
            unsafe {
                _mm256_storeu_ps(
                    out.as_mut_ptr(),
                    _mm256_cvtph_ps(_mm_loadu_si128(at.as_ptr().cast())),
                )
            };
        } else {
            for (k, o) in out.iter_mut().enumerate().take(count) {
                *o = f16_at(bytes, 2 * (g + k));
            }
        }
        out
    }

    /// The f16 at byte `at` of `b` as f32, with F16C (`half`'s portable conversion is a call).
    #[target_feature(enable = "avx2,fma,f16c")]
    fn f16_at(b: &[u8], at: usize) -> f32 {
        let bits = i32::from(u16::from_le_bytes([b[at], b[at + 1]]));
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)))
    }

    /// 16 bytes at `at` of `b`.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn load16(b: &[u8], at: usize) -> __m128i {
        let s = &b[at..at + 16];
        // SAFETY: `s` holds the 16 bytes loaded.
        unsafe { _mm_loadu_si128(s.as_ptr().cast()) }
    }

    /// Eight floats at `at` of `x`.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn load8(x: &[f32], at: usize) -> __m256 {
        let s = &x[at..at + 8];
        // SAFETY: `s` holds the 8 floats loaded.
        unsafe { _mm256_loadu_ps(s.as_ptr()) }
    }

    /// A Q4_1 block's 32 values as unsigned bytes in value order (low nibbles are 0..16).
    #[target_feature(enable = "avx2,fma,f16c")]
    fn nibbles(q: &[u8], b: usize) -> (__m128i, __m128i) {
        let packed = load16(q, 16 * b);
        let low = _mm_set1_epi8(0x0F);
        (
            _mm_and_si128(packed, low),
            _mm_and_si128(_mm_srli_epi16(packed, 4), low),
        )
    }

    /// Sixteen bytes as two vectors of eight f32.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn widen(v: __m128i, signed: bool) -> [__m256; 2] {
        let cvt = |v| {
            _mm256_cvtepi32_ps(if signed {
                _mm256_cvtepi8_epi32(v)
            } else {
                _mm256_cvtepu8_epi32(v)
            })
        };
        [cvt(v), cvt(_mm_unpackhi_epi64(v, v))]
    }

    /// Σ over 32 lanes of u8 × i8, as eight f32 partial sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn mul_sum_u8_i8(u: __m256i, s: __m256i) -> __m256 {
        let pairs = _mm256_maddubs_epi16(u, s); // 16 × i16: u₂ₖ·s₂ₖ + u₂ₖ₊₁·s₂ₖ₊₁
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1))) // 8 × i32 → f32
    }

    /// The activation rows as f32 or as 8-bit blocks, `R` of them from `first`.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn rows<const R: usize, const A: usize>(
        form: Form,
        w: &[u8],
        input: &Input,
        first: usize,
        out: &mut [f32],
    ) {
        let nb = w.len() / form.block_bytes();
        match input {
            Input::F32(x) => {
                let x: [&[f32]; R] = std::array::from_fn(|r| row_of(x, first + r, w, form));
                match form {
                    Form::F32 => rows_f32::<R, A>(form, w, &x, out, |b, _, _| {
                        std::array::from_fn(|k| {
                            let at = &w[128 * b + 32 * k..128 * b + 32 * k + 32];
                            // SAFETY: `at` holds the 32 bytes (8 floats) loaded.
                            unsafe { _mm256_loadu_ps(at.as_ptr().cast()) }
                        })
                    }),
                    Form::F16 => rows_f32::<R, A>(form, w, &x, out, |b, _, _| {
                        std::array::from_fn(|k| _mm256_cvtph_ps(load16(w, 64 * b + 16 * k)))
                    }),
                    Form::Q8_0 => {
                        let q = &w[2 * nb..];
                        rows_f32::<R, A>(form, w, &x, out, |b, d, _| {
                            let [v0, v1] = widen(load16(q, 32 * b), true);
                            let [v2, v3] = widen(load16(q, 32 * b + 16), true);
                            [v0, v1, v2, v3].map(|v| _mm256_mul_ps(v, _mm256_set1_ps(d)))
                        })
                    }
                    Form::Q4_1 => {
                        let q = &w[4 * nb..];
                        rows_f32::<R, A>(form, w, &x, out, |b, d, m| {
                            let (lo, hi) = nibbles(q, b);
                            let ([v0, v1], [v2, v3]) = (widen(lo, false), widen(hi, false));
                            let (d, m) = (_mm256_set1_ps(d), _mm256_set1_ps(m));
                            [v0, v1, v2, v3].map(|v| _mm256_fmadd_ps(v, d, m))
                        })
                    }
                }
            }
            Input::Q8(q) => {
                let x: [(&[f32], &[f32], &[i8]); R] = std::array::from_fn(|r| q.row(first + r));
                match form {
                    Form::Q8_0 => {
                        let q = &w[2 * nb..];
                        rows_q8::<R>(form, w, &x, out, |b| {
                            let v = _mm256_set_m128i(load16(q, 32 * b + 16), load16(q, 32 * b));
                            // vpmaddubsw wants one unsigned operand: |w|, and x takes w's sign.
                            (_mm256_sign_epi8(v, v), Some(v))
                        })
                    }
                    _ => {
                        let q = &w[4 * nb..];
                        rows_q8::<R>(form, w, &x, out, |b| {
                            let (lo, hi) = nibbles(q, b);
                            (_mm256_set_m128i(hi, lo), None)
                        })
                    }
                }
            }
        }
    }

    /// Scales `d` (and `m` for Q4_1) of the blocks, converted eight at a time, then
    /// `block(b, d, m)` for each block `b`.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn for_blocks(w: &[u8], nb: usize, has_min: bool, mut block: impl FnMut(usize, f32, f32)) {
        let (d_bytes, m_bytes) = (w, &w[2 * nb..]);
        let mut g = 0;
        while g < nb {
            let count = (nb - g).min(8);
            let d = scales(d_bytes, g, count);
            let m = if has_min {
                scales(m_bytes, g, count)
            } else {
                [0.0; 8]
            };
            for k in 0..count {
                block(g + k, d[k], m[k]);
            }
            g += count;
        }
    }

    /// f32 activations: each block expanded to 32 f32 weights once, then one FMA per 8 values
    /// per row.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn rows_f32<const R: usize, const A: usize>(
        form: Form,
        w: &[u8],
        x: &[&[f32]; R],
        out: &mut [f32],
        expand: impl Fn(usize, f32, f32) -> [__m256; 4],
    ) {
        let mut acc = [[_mm256_setzero_ps(); A]; R];
        let mut block = |b: usize, d: f32, m: f32| {
            let wv = expand(b, d, m);
            for (acc, x) in acc.iter_mut().zip(x) {
                let x = &x[BLOCK * b..BLOCK * b + BLOCK];
                for (j, wv) in wv.iter().enumerate() {
                    acc[j % A] = _mm256_fmadd_ps(*wv, load8(x, 8 * j), acc[j % A]);
                }
            }
        };
        let nb = w.len() / form.block_bytes();
        if form.is_quantized() {
            for_blocks(w, nb, form == Form::Q4_1, block);
        } else {
            (0..nb).for_each(|b| block(b, 0.0, 0.0)); // f32 and f16 rows have no scales
        }
        finish(&acc, &[0.0; R], out);
    }

    /// 8-bit activations: integer products of each block with every row, then one FMA by the
    /// two scales; Q4_1's minimum adds `m · s` per block. Per group of eight blocks the
    /// products `d · dₓ` and the minimums `m · s` are formed eight at a time, so the per-block
    /// loop is loads, integer work and one FMA per row.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn rows_q8<const R: usize>(
        form: Form,
        w: &[u8],
        x: &[(&[f32], &[f32], &[i8]); R],
        out: &mut [f32],
        load: impl Fn(usize) -> (__m256i, Option<__m256i>),
    ) {
        let nb = w.len() / form.block_bytes();
        let has_min = form == Form::Q4_1;
        for (xd, xs, xq) in x {
            assert!(xd.len() == nb && xs.len() == nb && xq.len() == nb * BLOCK);
        }
        let mut acc = [_mm256_setzero_ps(); R];
        let mut mins = [_mm256_setzero_ps(); R];
        let mut tail_mins = [0f32; R];
        let mut block = |b: usize, scale: [f32; R]| {
            let (wq, sign) = load(b);
            for (r, (acc, (_, _, xq))) in acc.iter_mut().zip(x).enumerate() {
                // SAFETY: xq holds nb · 32 bytes (asserted above) and b < nb.
                let xv = unsafe { _mm256_loadu_si256(xq.as_ptr().add(BLOCK * b).cast()) };
                let xv = match sign {
                    Some(s) => _mm256_sign_epi8(xv, s),
                    None => xv,
                };
                *acc = _mm256_fmadd_ps(_mm256_set1_ps(scale[r]), mul_sum_u8_i8(wq, xv), *acc);
            }
        };
        let mut g = 0;
        while g < nb {
            if g + 8 <= nb {
                let d = _mm256_cvtph_ps(load16(w, 2 * g));
                let m = if has_min {
                    _mm256_cvtph_ps(load16(w, 2 * nb + 2 * g))
                } else {
                    _mm256_setzero_ps()
                };
                // `d · dₓ` of the eight blocks, per row: scale[k][r].
                let mut scale = [[0f32; R]; 8];
                for (r, (xd, xs, _)) in x.iter().enumerate() {
                    let mut row = [0f32; 8];
                    // SAFETY: `row` holds 8 floats.
                    unsafe { _mm256_storeu_ps(row.as_mut_ptr(), _mm256_mul_ps(d, load8(xd, g))) };
                    for (s, v) in scale.iter_mut().zip(row) {
                        s[r] = v;
                    }
                    mins[r] = _mm256_fmadd_ps(m, load8(xs, g), mins[r]);
                }
                for (k, s) in scale.into_iter().enumerate() {
                    block(g + k, s);
                }
                g += 8;
            } else {
                let d = f16_at(w, 2 * g);
                let m = if has_min {
                    f16_at(w, 2 * nb + 2 * g)
                } else {
                    0.0
                };
                for (r, (_, xs, _)) in x.iter().enumerate() {
                    tail_mins[r] += m * xs[g];
                }
                block(g, std::array::from_fn(|r| d * x[r].0[g]));
                g += 1;
            }
        }
        for (r, o) in out.iter_mut().enumerate() {
            *o = hsum(acc[r]) + hsum(mins[r]) + tail_mins[r];
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn finish<const R: usize, const A: usize>(
        acc: &[[__m256; A]; R],
        mins: &[f32; R],
        out: &mut [f32],
    ) {
        for ((acc, min), o) in acc.iter().zip(mins).zip(out) {
            let total = acc
                .iter()
                .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
            *o = hsum(total) + min;
        }
    }
}
