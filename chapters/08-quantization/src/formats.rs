//! Block quantization, from first principles.
//!
//! A weight matrix is cut into blocks of 32 consecutive values; each block keeps its own
//! scale, so one outlier only coarsens its own 32 neighbours. Two ways to map a block onto
//! small integers:
//!
//! ```text
//! symmetric  (Q8_0, Q4_0):  x ≈ d · q            d from the largest |x|; 0 is exact
//! asymmetric (Q4_1):        x ≈ d · q + m        m = min(x), d = (max − min) / 15:
//!                                                all 16 levels span the block's range
//! ```
//!
//! Q5_0 and Q5_1 are Q4_0 and Q4_1 with a fifth bit per value, kept apart in a 32-bit mask so
//! the low four bits still pack two per byte (5.5 and 6 bits per weight).
//!
//! Q8_0 keeps 8 bits per value: `d = max|x| / 127`, `q = round(x / d)` in −127..=127. Q4_0 keeps
//! 4 bits: the value with the largest magnitude maps to −8 (`d = that value / −8`), so the
//! other sign reaches +7 — a signed range used in full. Q4_1 spends a second f16 on the
//! minimum and gets 16 levels across the actual range instead of a range centred on zero,
//! which halves the step for a block whose values are all on one side. Either way the scale is
//! stored as f16: 2 bytes per 32 values.
//!
//! These functions are the `gguf` Python package's quantizers (`gguf/quants.py`, which in turn
//! follows ggml-quants.c) written out in Rust, and are tested bit for bit against its output.
//! Dequantization is chapter 07's [`ch07_real_model::dequantize`].

use ch07_real_model::GgmlType;
use half::{bf16, f16};

/// The types [`quantize`] writes.
pub const QUANTIZABLE: [GgmlType; 6] = [
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::BF16,
];

/// Values per block of the 32-value formats.
pub const BLOCK: usize = 32;

/// `values` (a whole number of blocks) in `ty`'s storage format.
pub fn quantize(ty: GgmlType, values: &[f32]) -> Result<Vec<u8>, String> {
    let (per_block, block_bytes) = ty.block();
    let per_block = per_block as usize;
    if !values.len().is_multiple_of(per_block) {
        return Err(format!(
            "{} values are not whole {} blocks of {per_block}",
            values.len(),
            ty.name()
        ));
    }
    let mut out = Vec::with_capacity(values.len() / per_block * block_bytes as usize);
    let blocks = values.chunks_exact(per_block);
    match ty {
        GgmlType::BF16 => blocks.for_each(|v| out.extend(bf16::from_f32(v[0]).to_le_bytes())),
        GgmlType::Q8_0 => blocks.for_each(|b| q8_0(b, &mut out)),
        GgmlType::Q4_0 => blocks.for_each(|b| symmetric(b, 4, &mut out)),
        GgmlType::Q4_1 => blocks.for_each(|b| asymmetric(b, 4, &mut out)),
        GgmlType::Q5_0 => blocks.for_each(|b| symmetric(b, 5, &mut out)),
        GgmlType::Q5_1 => blocks.for_each(|b| asymmetric(b, 5, &mut out)),
        other => return Err(format!("quantizing to {} is not implemented", other.name())),
    }
    Ok(out)
}

/// `1 / d`, or 0 for an all-zero block (every q is then 0).
fn inverse(d: f32) -> f32 {
    if d == 0.0 { 0.0 } else { 1.0 / d }
}

/// Two 4-bit values per byte: value `j` in the low nibble of byte `j`, value `j + 16` in its high one.
fn pack_nibbles(q: &[u8; BLOCK], out: &mut Vec<u8>) {
    out.extend((0..BLOCK / 2).map(|j| q[j] | (q[j + BLOCK / 2] << 4)));
}

fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    let d = x.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
    let id = inverse(d);
    out.extend(f16::from_f32(d).to_le_bytes());
    // Round half away from zero (numpy's `np_roundf` in gguf-py, C's roundf in ggml).
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

/// Q4_0 (`bits` = 4) and Q5_0 (5): the value of largest magnitude maps to the most negative
/// level, −2^(bits−1), so `d = that value / −2^(bits−1)` and the other sign reaches +2^(bits−1)−1.
fn symmetric(x: &[f32], bits: u32, out: &mut Vec<u8>) {
    let half = (1u32 << (bits - 1)) as f32;
    // The value of largest magnitude, with its sign (the first one on a tie, as argmax).
    let max = x[1..]
        .iter()
        .fold(x[0], |m, &v| if v.abs() > m.abs() { v } else { m });
    let d = max / -half;
    let id = inverse(d);
    out.extend(f16::from_f32(d).to_le_bytes());
    let top = (1u8 << bits) - 1;
    let q: [u8; BLOCK] = std::array::from_fn(|j| ((x[j] * id + half + 0.5).trunc() as u8).min(top));
    pack_low_bits(&q, bits, out);
}

/// Q4_1 (`bits` = 4) and Q5_1 (5): `m = min`, `d = (max − min) / (2^bits − 1)`.
fn asymmetric(x: &[f32], bits: u32, out: &mut Vec<u8>) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
    let top = (1u8 << bits) - 1;
    let d = (max - min) / f32::from(top);
    let id = inverse(d);
    out.extend(f16::from_f32(d).to_le_bytes());
    out.extend(f16::from_f32(min).to_le_bytes());
    let q: [u8; BLOCK] =
        std::array::from_fn(|j| (((x[j] - min) * id + 0.5).trunc() as u8).min(top));
    pack_low_bits(&q, bits, out);
}

/// 4-bit values as two nibbles per byte; 5-bit ones first put their fifth bits in a
/// little-endian u32 (`qh`, bit `j` for value `j`), then their low four bits as nibbles.
fn pack_low_bits(q: &[u8; BLOCK], bits: u32, out: &mut Vec<u8>) {
    if bits == 5 {
        let qh = (0..BLOCK).fold(0u32, |h, j| h | (u32::from(q[j] >> 4) << j));
        out.extend(qh.to_le_bytes());
    }
    pack_nibbles(&q.map(|v| v & 0x0F), out);
}
