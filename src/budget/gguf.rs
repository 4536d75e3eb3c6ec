//! Reading a model's shape from a GGUF file's header and metadata, without loading tensors.
//!
//! GGUF (llama.cpp's format, version 2 and 3) is little-endian:
//! `"GGUF"`, version u32, tensor_count u64, metadata_kv_count u64, then the key/value pairs
//! (key: u64 length + UTF-8; value type u32; value), then one info per tensor (name, n_dims
//! u32, dims u64 each, type u32, offset u64), then the tensor data, which we never read.
//! Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
//! 9 array (element type u32, count u64, elements), 10 u64, 11 i64, 12 f64.

use super::arch::{Architecture, AttentionBias, Mla, Moe, SlidingWindow};
use crate::bail_input;
use crate::error::bad_input;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A metadata value. Arrays keep their length, and their elements when they are numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array { len: u64, numbers: Vec<f64> },
}

impl Value {
    fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Uint(v) => Some(*v),
            Value::Int(v) if *v >= 0 => Some(*v as u64),
            // Per-layer arrays (some models vary heads per layer): the widest layer.
            Value::Array { numbers, .. } if !numbers.is_empty() => {
                Some(numbers.iter().cloned().fold(0.0, f64::max) as u64)
            }
            _ => None,
        }
    }
}

/// The header and metadata of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub version: u32,
    pub values: BTreeMap<String, Value>,
    pub tensor_names: Vec<String>,
}

/// Largest string or array we accept: a corrupt length must not allocate gigabytes.
const MAX_LEN: u64 = 1 << 28;

struct Reader<R: Read> {
    inner: R,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b)?;
        Ok(b)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn len(&mut self) -> anyhow::Result<u64> {
        let n = self.u64()?;
        if n > MAX_LEN {
            anyhow::bail!("length {n} is implausibly large (corrupt file?)");
        }
        Ok(n)
    }
    fn string(&mut self) -> anyhow::Result<String> {
        let n = self.len()? as usize;
        let mut buf = vec![0u8; n];
        self.inner.read_exact(&mut buf)?;
        Ok(String::from_utf8(buf)?)
    }
    fn scalar(&mut self, ty: u32) -> anyhow::Result<Value> {
        Ok(match ty {
            0 => Value::Uint(u64::from(self.bytes::<1>()?[0])),
            1 => Value::Int(i64::from(i8::from_le_bytes(self.bytes()?))),
            2 => Value::Uint(u64::from(u16::from_le_bytes(self.bytes()?))),
            3 => Value::Int(i64::from(i16::from_le_bytes(self.bytes()?))),
            4 => Value::Uint(u64::from(self.u32()?)),
            5 => Value::Int(i64::from(i32::from_le_bytes(self.bytes()?))),
            6 => Value::Float(f64::from(f32::from_le_bytes(self.bytes()?))),
            7 => Value::Bool(self.bytes::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            10 => Value::Uint(self.u64()?),
            11 => Value::Int(i64::from_le_bytes(self.bytes()?)),
            12 => Value::Float(f64::from_le_bytes(self.bytes()?)),
            other => anyhow::bail!("unknown metadata value type {other}"),
        })
    }
    fn value(&mut self, ty: u32) -> anyhow::Result<Value> {
        if ty != 9 {
            return self.scalar(ty);
        }
        let elem = self.u32()?;
        if elem == 9 {
            anyhow::bail!("nested arrays are not supported");
        }
        let len = self.len()?;
        let mut numbers = Vec::new();
        for _ in 0..len {
            match self.scalar(elem)? {
                Value::Uint(v) => numbers.push(v as f64),
                Value::Int(v) => numbers.push(v as f64),
                Value::Float(v) => numbers.push(v),
                _ => {}
            }
        }
        Ok(Value::Array { len, numbers })
    }
}

/// Reads the header, metadata and tensor names from any reader.
pub fn read_metadata(input: impl Read) -> anyhow::Result<Metadata> {
    let mut r = Reader { inner: input };
    if &r.bytes::<4>()? != b"GGUF" {
        anyhow::bail!("not a GGUF file (magic is not \"GGUF\")");
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        anyhow::bail!("GGUF version {version} is not supported (2 and 3 are)");
    }
    let tensors = r.len()?;
    let kvs = r.len()?;
    let mut values = BTreeMap::new();
    for _ in 0..kvs {
        let key = r.string()?;
        let ty = r.u32()?;
        let v = r.value(ty)?;
        values.insert(key, v);
    }
    let mut tensor_names = Vec::new();
    for _ in 0..tensors {
        tensor_names.push(r.string()?);
        let dims = r.u32()?;
        if dims > 8 {
            anyhow::bail!("tensor with {dims} dimensions (corrupt file?)");
        }
        for _ in 0..dims {
            r.u64()?;
        }
        r.u32()?; // type
        r.u64()?; // offset
    }
    Ok(Metadata {
        version,
        values,
        tensor_names,
    })
}

/// Reads a GGUF file's metadata; an unreadable or malformed file is bad input naming it.
pub fn read_file(path: &Path) -> anyhow::Result<Metadata> {
    let file = std::fs::File::open(path).map_err(|e| bad_input(path.display(), e))?;
    read_metadata(std::io::BufReader::new(file)).map_err(|e| bad_input(path.display(), e))
}

/// The architecture a GGUF file describes (llama.cpp key names: `{arch}.block_count`,
/// `{arch}.attention.head_count_kv`, `{arch}.attention.key_length`, `{arch}.expert_count`, …).
pub fn read_architecture(path: &Path) -> anyhow::Result<Architecture> {
    let meta = read_file(path)?;
    to_architecture(&meta, &path.display().to_string())
}

/// Maps GGUF metadata to an [`Architecture`]; a missing key the budget needs is bad input.
pub fn to_architecture(meta: &Metadata, origin: &str) -> anyhow::Result<Architecture> {
    let arch = match meta.values.get("general.architecture") {
        Some(Value::Str(s)) => s.clone(),
        _ => bail_input!("{origin}: missing metadata key `general.architecture`"),
    };
    let get = |key: &str| {
        meta.values
            .get(&format!("{arch}.{key}"))
            .and_then(Value::as_u64)
    };
    let need = |key: &str| -> anyhow::Result<u64> {
        get(key).ok_or_else(|| bad_input(origin, format!("missing metadata key `{arch}.{key}`")))
    };
    let layers = need("block_count")?;
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    let kv_heads = get("attention.head_count_kv").unwrap_or(heads);
    let kv_lora = get("attention.kv_lora_rank");
    let mla = match kv_lora {
        Some(kv_lora_rank) => {
            let rope = need("rope.dimension_count")?;
            let key = need("attention.key_length")?;
            Some(Mla {
                kv_lora_rank,
                qk_rope_head_dim: rope,
                qk_nope_head_dim: key.saturating_sub(rope),
                v_head_dim: get("attention.value_length").unwrap_or(key - rope),
                q_lora_rank: get("attention.q_lora_rank"),
            })
        }
        None => None,
    };
    let head_dim = match get("attention.key_length") {
        Some(d) => d,
        None => {
            const DECOUPLED: [&str; 5] = ["gemma2", "gemma3", "qwen3", "qwen3moe", "gpt-oss"];
            if DECOUPLED.contains(&arch.as_str()) || hidden % heads.max(1) != 0 {
                bail_input!(
                    "{origin}: missing metadata key `{arch}.attention.key_length` (head_dim)"
                );
            }
            hidden / heads
        }
    };
    let vocab = match get("vocab_size") {
        Some(v) => v,
        None => match meta.values.get("tokenizer.ggml.tokens") {
            Some(Value::Array { len, .. }) => *len,
            _ => bail_input!("{origin}: missing `{arch}.vocab_size` and `tokenizer.ggml.tokens`"),
        },
    };
    let moe = match get("expert_count").filter(|&e| e > 1) {
        Some(experts) => {
            let expert_intermediate = get("expert_feed_forward_length")
                .or_else(|| get("feed_forward_length"))
                .ok_or_else(|| {
                    bad_input(
                        origin,
                        format!("missing `{arch}.expert_feed_forward_length`"),
                    )
                })?;
            let shared = get("expert_shared_count").unwrap_or(0);
            Some(Moe {
                experts,
                active_experts: need("expert_used_count")?,
                expert_intermediate,
                shared_experts: shared,
                shared_intermediate: if shared > 0 {
                    get("expert_shared_feed_forward_length").unwrap_or(expert_intermediate)
                } else {
                    0
                },
                dense_layers: get("leading_dense_block_count").unwrap_or(0),
            })
        }
        None => None,
    };
    let intermediate = match (get("feed_forward_length"), &moe) {
        (Some(v), _) => v,
        (None, Some(m)) => m.expert_intermediate,
        (None, None) => need("feed_forward_length")?,
    };
    let max_context = need("context_length")?;
    let sliding_window = get("attention.sliding_window")
        .filter(|&w| w > 0 && w < max_context)
        .map(|tokens| {
            let pattern = match arch.as_str() {
                "gemma2" | "gpt-oss" => "LG".to_string(),
                "gemma3" => {
                    let n = get("attention.sliding_window_pattern").unwrap_or(6).max(1) as usize;
                    format!("{}G", "L".repeat(n - 1))
                }
                _ => "L".to_string(),
            };
            SlidingWindow { tokens, pattern }
        });
    let is_gpt2 = arch == "gpt2";
    let name = match meta.values.get("general.name") {
        Some(Value::Str(s)) => s.clone(),
        _ => origin.to_string(),
    };
    let family = super::arch::family_traits(&arch);
    let a = Architecture {
        id: Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "gguf".into()),
        name: format!("{name} (GGUF {arch})"),
        hf_repo: None,
        source: origin.to_string(),
        date: "from file".to_string(),
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim: mla
            .as_ref()
            .map_or(head_dim, |m| m.qk_nope_head_dim + m.qk_rope_head_dim),
        intermediate,
        vocab,
        tied_embeddings: !meta.tensor_names.iter().any(|n| n == "output.weight"),
        max_context,
        mlp: family.mlp,
        norm: family.norm,
        norms_per_layer: family.norms_per_layer,
        attention_bias: if is_gpt2 || arch == "gpt-oss" {
            AttentionBias::All
        } else if arch == "qwen2" {
            AttentionBias::Qkv
        } else {
            AttentionBias::None
        },
        mlp_bias: family.mlp_bias,
        qk_norm: family.qk_norm,
        learned_positions: family.learned_positions,
        sliding_window,
        moe,
        mla,
        native_weights: None,
        published: None,
        notes: None,
    };
    a.validate(origin)?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal GGUF v3 writer, written from the format description, for the tests.
    struct Writer(Vec<u8>);
    impl Writer {
        fn string(&mut self, s: &str) {
            self.0.extend((s.len() as u64).to_le_bytes());
            self.0.extend(s.as_bytes());
        }
        fn kv_u32(&mut self, k: &str, v: u32) {
            self.string(k);
            self.0.extend(4u32.to_le_bytes());
            self.0.extend(v.to_le_bytes());
        }
        fn kv_str(&mut self, k: &str, v: &str) {
            self.string(k);
            self.0.extend(8u32.to_le_bytes());
            self.string(v);
        }
        fn kv_f32(&mut self, k: &str, v: f32) {
            self.string(k);
            self.0.extend(6u32.to_le_bytes());
            self.0.extend(v.to_le_bytes());
        }
        fn kv_tokens(&mut self, k: &str, n: usize) {
            self.string(k);
            self.0.extend(9u32.to_le_bytes());
            self.0.extend(8u32.to_le_bytes());
            self.0.extend((n as u64).to_le_bytes());
            for i in 0..n {
                self.string(&format!("t{i}"));
            }
        }
        fn tensor(&mut self, name: &str, dims: &[u64]) {
            self.string(name);
            self.0.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                self.0.extend(d.to_le_bytes());
            }
            self.0.extend(1u32.to_le_bytes()); // f16
            self.0.extend(0u64.to_le_bytes());
        }
    }

    /// A small Llama-shaped GGUF: 4 layers, hidden 64, 4 heads, 2 KV heads, head_dim 16
    /// (implicit), 100 tokens in the vocabulary (only the token list says so), untied.
    fn small_llama(untied: bool) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.0.extend(b"GGUF");
        w.0.extend(3u32.to_le_bytes());
        w.0.extend((1 + u64::from(untied)).to_le_bytes());
        w.0.extend(9u64.to_le_bytes());
        w.kv_str("general.architecture", "llama");
        w.kv_str("general.name", "tiny");
        w.kv_u32("llama.block_count", 4);
        w.kv_u32("llama.embedding_length", 64);
        w.kv_u32("llama.feed_forward_length", 176);
        w.kv_u32("llama.attention.head_count", 4);
        w.kv_u32("llama.attention.head_count_kv", 2);
        w.kv_u32("llama.context_length", 2048);
        w.kv_tokens("tokenizer.ggml.tokens", 100);
        w.tensor("token_embd.weight", &[64, 100]);
        if untied {
            w.tensor("output.weight", &[64, 100]);
        }
        w.0
    }

    #[test]
    fn reads_a_small_gguf() {
        let bytes = small_llama(true);
        let meta = read_metadata(&bytes[..]).unwrap();
        assert_eq!(meta.version, 3);
        assert_eq!(meta.tensor_names, ["token_embd.weight", "output.weight"]);
        let a = to_architecture(&meta, "tiny.gguf").unwrap();
        assert_eq!(
            (
                a.layers,
                a.hidden,
                a.heads,
                a.kv_heads,
                a.head_dim,
                a.intermediate,
                a.vocab
            ),
            (4, 64, 4, 2, 16, 176, 100)
        );
        assert!(!a.tied_embeddings);
        assert_eq!(a.max_context, 2048);
        let tied =
            to_architecture(&read_metadata(&small_llama(false)[..]).unwrap(), "t.gguf").unwrap();
        assert!(tied.tied_embeddings);
    }

    #[test]
    fn float_and_array_values_do_not_shift_the_stream() {
        let mut w = Writer(Vec::new());
        w.0.extend(b"GGUF");
        w.0.extend(3u32.to_le_bytes());
        w.0.extend(0u64.to_le_bytes());
        w.0.extend(3u64.to_le_bytes());
        w.kv_tokens("tokenizer.ggml.tokens", 7);
        w.kv_f32("x.rope.freq_base", 10000.0);
        w.kv_u32("x.block_count", 9);
        let meta = read_metadata(&w.0[..]).unwrap();
        assert_eq!(meta.values["x.block_count"], Value::Uint(9));
        assert_eq!(meta.values["x.rope.freq_base"], Value::Float(10000.0));
        assert!(matches!(
            meta.values["tokenizer.ggml.tokens"],
            Value::Array { len: 7, .. }
        ));
    }

    #[test]
    fn rejects_bad_magic_truncation_and_huge_lengths() {
        assert!(read_metadata(&b"GGML\x03\0\0\0"[..]).is_err());
        let bytes = small_llama(true);
        assert!(read_metadata(&bytes[..bytes.len() - 3]).is_err());
        let mut huge = b"GGUF".to_vec();
        huge.extend(3u32.to_le_bytes());
        huge.extend(u64::MAX.to_le_bytes());
        assert!(read_metadata(&huge[..]).is_err());
    }

    #[test]
    fn missing_key_is_named() {
        let mut w = Writer(Vec::new());
        w.0.extend(b"GGUF");
        w.0.extend(3u32.to_le_bytes());
        w.0.extend(0u64.to_le_bytes());
        w.0.extend(2u64.to_le_bytes());
        w.kv_str("general.architecture", "qwen3");
        w.kv_u32("qwen3.block_count", 2);
        let err = to_architecture(&read_metadata(&w.0[..]).unwrap(), "q.gguf").unwrap_err();
        assert!(err.to_string().contains("qwen3.embedding_length"), "{err}");
    }
}
