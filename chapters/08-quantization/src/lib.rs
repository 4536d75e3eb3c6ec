//! Chapter 08 — quantization and decode speed.
//!
//! Decoding one token reads every weight once, so its speed is memory bandwidth ÷ weight
//! bytes. Keeping weights in 8 or 4 bits per value (plus a scale per block) and computing on
//! them directly is how llama.cpp decodes several times faster than f32 weights allow.
//!
//! Read in this order:
//! 1. [`formats`]: block quantization (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, BF16), symmetric and
//!    asymmetric.
//! 2. [`kernel`]: a matmul that reads the packed blocks, with 8-bit activations and integer dot
//!    products (AVX2 when the CPU has it, a scalar reference beside it).
//! 3. [`model`]: chapter 07's model with every matrix packed, decoding through chapter 04's caches.
//! 4. [`decoder`]: the same model decoding a whole step in one parallel region, over a cache of
//!    its own — how llama.cpp keeps every core busy.
//! 5. [`eval`]: what rounding costs — perplexity on a text, and a trained f32 model's weights
//!    rounded through a block format and back.

pub mod decoder;
pub mod eval;
pub mod formats;
pub mod kernel;
pub mod model;

pub use decoder::Decoder;
pub use kernel::{Activations, Form, Kernel, Q8Rows, QMatrix};
pub use model::{QuantizedLlama, Weights, load_quantized};
