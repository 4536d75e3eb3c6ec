//! How GGUF stores weights: in blocks, each with its own scale, so a few bits per weight carry
//! most of an f32's information. Dequantization is `value = scale × integer (+ offset)`,
//! block by block; the layouts below are ggml's (`ggml-common.h`, `ggml-quants.c`).
//!
//! ```text
//! type   values/block  bytes/block  bits/weight  layout                          value
//! F32          1            4          32       f32
//! F16          1            2          16       f16
//! BF16         1            2          16       bf16 (f32's top half)
//! Q8_0        32           34          8.5      d:f16, q:i8[32]                 d·q
//! Q4_0        32           18          4.5      d:f16, q:u4[32]                 d·(q − 8)
//! Q4_1        32           20          5.0      d:f16, m:f16, q:u4[32]          d·q + m
//! Q5_0        32           22          5.5      d:f16, qh:u32, q:u4[32]         d·(q5 − 16)
//! Q5_1        32           24          6.0      d:f16, m:f16, qh:u32, q:u4[32]  d·q5 + m
//! Q4_K       256          144          4.5      d, dmin:f16, 8×(6-bit sc, m), q:u4[256]
//!                                               sub-block j: d·sc_j·q − dmin·m_j
//! Q5_K       256          176          5.5      Q4_K + qh[32] (the fifth bit)
//! Q6_K       256          210          6.5625   ql[128], qh[64], sc:i8[16], d:f16
//!                                               sub-block j (16 values): d·sc_j·(q6 − 32)
//! ```
//!
//! 4-bit values are packed two per byte: byte `j` of a 32-value block holds value `j` in its
//! low nibble and value `j + 16` in its high nibble. The K-quants ("k" for the super-block)
//! group 256 values into 8 or 16 sub-blocks whose scales are themselves quantized (6 bits
//! against one f16 `d`), which is how Q4_K reaches 4.5 bits per weight with a scale and an
//! offset for every 32 values.

use half::{bf16, f16};

/// A tensor storage type, by its ggml id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    BF16,
}

impl GgmlType {
    /// Every type this reader can size; all but Q8_1, Q2_K, Q3_K and Q8_K dequantize.
    pub const ALL: [GgmlType; 15] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2K,
        GgmlType::Q3K,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
        GgmlType::Q8K,
        GgmlType::BF16,
    ];

    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q8_1 => 9,
            GgmlType::Q2K => 10,
            GgmlType::Q3K => 11,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
            GgmlType::Q8K => 15,
            GgmlType::BF16 => 30,
        }
    }

    pub fn from_id(id: u32) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.id() == id)
            .ok_or_else(|| format!("unknown or unsupported tensor type {id}"))
    }

    /// ggml's name (`Q4_K`, `BF16`…).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q8_1 => "Q8_1",
            GgmlType::Q2K => "Q2_K",
            GgmlType::Q3K => "Q3_K",
            GgmlType::Q4K => "Q4_K",
            GgmlType::Q5K => "Q5_K",
            GgmlType::Q6K => "Q6_K",
            GgmlType::Q8K => "Q8_K",
            GgmlType::BF16 => "BF16",
        }
    }

    /// `(values, bytes)` of one block.
    pub fn block(self) -> (u64, u64) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q8_1 => (32, 36),
            GgmlType::Q2K => (256, 84),
            GgmlType::Q3K => (256, 110),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q5K => (256, 176),
            GgmlType::Q6K => (256, 210),
            GgmlType::Q8K => (256, 292),
        }
    }

    pub fn bits_per_weight(self) -> f64 {
        let (values, bytes) = self.block();
        8.0 * bytes as f64 / values as f64
    }

    /// Bytes of `elements` values; an error when they are not whole blocks.
    pub fn bytes_for(self, elements: u64) -> Result<u64, String> {
        let (values, bytes) = self.block();
        if !elements.is_multiple_of(values) {
            return Err(format!(
                "{elements} values are not whole {} blocks of {values}",
                self.name()
            ));
        }
        (elements / values)
            .checked_mul(bytes)
            .ok_or_else(|| format!("{elements} values overflow a byte count"))
    }
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// `elements` values of type `ty` from `bytes`, in storage order.
pub fn dequantize(ty: GgmlType, bytes: &[u8], elements: u64) -> Result<Vec<f32>, String> {
    let expected = ty.bytes_for(elements)?;
    if bytes.len() as u64 != expected {
        return Err(format!(
            "{} bytes for {elements} {} values, expected {expected}",
            bytes.len(),
            ty.name()
        ));
    }
    let (_, block_bytes) = ty.block();
    let mut out = Vec::with_capacity(elements as usize);
    let blocks = bytes.chunks_exact(block_bytes as usize);
    match ty {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(|b| f16_at(b, 0))),
        GgmlType::BF16 => out.extend(blocks.map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())),
        GgmlType::Q8_0 => blocks.for_each(|b| q8_0(b, &mut out)),
        GgmlType::Q4_0 => blocks.for_each(|b| q4_0(b, &mut out)),
        GgmlType::Q4_1 => blocks.for_each(|b| q4_1(b, &mut out)),
        GgmlType::Q5_0 => blocks.for_each(|b| q5(b, false, &mut out)),
        GgmlType::Q5_1 => blocks.for_each(|b| q5(b, true, &mut out)),
        GgmlType::Q4K => blocks.for_each(|b| q4_k(b, &mut out)),
        GgmlType::Q5K => blocks.for_each(|b| q5_k(b, &mut out)),
        GgmlType::Q6K => blocks.for_each(|b| q6_k(b, &mut out)),
        GgmlType::Q8_1 | GgmlType::Q2K | GgmlType::Q3K | GgmlType::Q8K => {
            return Err(format!("dequantizing {} is not implemented", ty.name()));
        }
    }
    Ok(out)
}

/// `d · q` for 32 signed bytes.
fn q8_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    out.extend(b[2..34].iter().map(|&q| d * f32::from(q as i8)));
}

/// `d · (q − 8)`: low nibbles are values 0..16, high nibbles 16..32.
fn q4_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    out.extend(qs.iter().map(|&q| d * f32::from((q & 0x0F) as i8 - 8)));
    out.extend(qs.iter().map(|&q| d * f32::from((q >> 4) as i8 - 8)));
}

/// `d · q + m`, unsigned nibbles.
fn q4_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qs = &b[4..20];
    out.extend(qs.iter().map(|&q| d * f32::from(q & 0x0F) + m));
    out.extend(qs.iter().map(|&q| d * f32::from(q >> 4) + m));
}

/// Q5_0 (`d · (q5 − 16)`) and Q5_1 (`d · q5 + m`): bit `j` of `qh` is value `j`'s fifth bit.
fn q5(b: &[u8], with_min: bool, out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let (m, at) = if with_min {
        (f16_at(b, 2), 4)
    } else {
        (0.0, 2)
    };
    let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let qs = &b[at + 4..at + 20];
    let value = |q: u8| -> f32 {
        if with_min {
            d * f32::from(q) + m
        } else {
            d * f32::from(q as i8 - 16)
        }
    };
    for (j, &q) in qs.iter().enumerate() {
        out.push(value((q & 0x0F) | ((((qh >> j) & 1) as u8) << 4)));
    }
    for (j, &q) in qs.iter().enumerate() {
        out.push(value((q >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4)));
    }
}

/// Sub-block `j`'s 6-bit scale and min from the 12 packed bytes of Q4_K/Q5_K: the first four
/// pairs sit in the low 6 bits of bytes 0–7; the last four in bytes 8–11's nibbles, with their
/// top two bits in the spare high bits of bytes 0–7.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    for (chunk, q) in b[16..144].chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, min1) = (d * f32::from(sc1), dmin * f32::from(m1));
        let (d2, min2) = (d * f32::from(sc2), dmin * f32::from(m2));
        out.extend(q.iter().map(|&v| d1 * f32::from(v & 0x0F) - min1));
        out.extend(q.iter().map(|&v| d2 * f32::from(v >> 4) - min2));
    }
}

fn q5_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    for (chunk, ql) in b[48..176].chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, min1) = (d * f32::from(sc1), dmin * f32::from(m1));
        let (d2, min2) = (d * f32::from(sc2), dmin * f32::from(m2));
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        let high = |h: u8, bit: u8| if h & bit != 0 { 16 } else { 0 };
        out.extend(
            ql.iter()
                .zip(qh)
                .map(|(&v, &h)| d1 * f32::from((v & 0x0F) + high(h, u1)) - min1),
        );
        out.extend(
            ql.iter()
                .zip(qh)
                .map(|(&v, &h)| d2 * f32::from((v >> 4) + high(h, u2)) - min2),
        );
    }
}

fn q6_k(b: &[u8], out: &mut Vec<f32>) {
    let (ql_all, rest) = b.split_at(128);
    let (qh_all, rest) = rest.split_at(64);
    let (sc_all, d) = rest.split_at(16);
    let d = f16_at(d, 0);
    for half in 0..2 {
        let (ql, qh) = (&ql_all[64 * half..], &qh_all[32 * half..]);
        let sc = &sc_all[8 * half..];
        let mut y = [0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            let scale = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = scale(0) * f32::from(q1);
            y[l + 32] = scale(2) * f32::from(q2);
            y[l + 64] = scale(4) * f32::from(q3);
            y[l + 96] = scale(6) * f32::from(q4);
        }
        out.extend(y);
    }
}
