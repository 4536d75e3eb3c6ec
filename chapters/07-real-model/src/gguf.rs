//! GGUF, llama.cpp's model file: one file holds the hyper-parameters, the tokenizer and every
//! tensor, laid out so the tensors can be memory-mapped and used in place.
//!
//! ```text
//! "GGUF"  version u32  tensor_count u64  metadata_count u64        little-endian throughout
//! metadata_count × (key: u64 len + UTF-8, value type u32, value)
//! tensor_count   × (name, n_dims u32, ne[0..n_dims] u64, ggml type u32, offset u64)
//! padding to `general.alignment` (default 32)
//! tensor data: each tensor at data_start + offset, offsets aligned
//! ```
//!
//! Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
//! 9 array (element type u32, count u64, elements), 10 u64, 11 i64, 12 f64. `ne[0]` is the
//! fastest-moving dimension: a weight that multiplies a `hidden`-wide input has `ne = [hidden,
//! out]`, stored as `out` rows of `hidden` values — the transpose of burn's `[in, out]`.
//!
//! The file is mapped, not read: opening a 98 MB model costs the parse of its header, and a
//! tensor's bytes are a slice of the mapping. Every length and offset is checked against the
//! bytes that exist before anything is allocated, so a truncated or corrupt file is an error
//! naming the problem, never a panic or a huge allocation.

use crate::quants::GgmlType;
use memmap2::Mmap;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// What is wrong with a GGUF file; always names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct GgufError {
    pub path: String,
    pub message: String,
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<MetaValue>),
}

impl MetaValue {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            MetaValue::Uint(v) => Some(*v),
            MetaValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            MetaValue::Float(v) => Some(*v),
            MetaValue::Uint(v) => Some(*v as f64),
            MetaValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            MetaValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// Where one tensor lives and how it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// `ne`, fastest-moving first.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Absolute position of the first byte in the file.
    pub start: usize,
    pub n_bytes: usize,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// The bytes of a GGUF file: a mapping of a file, or a buffer (tests, small files).
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file: metadata and a tensor index over its (mapped) bytes.
pub struct Gguf {
    bytes: Bytes,
    pub path: String,
    pub version: u32,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensors: Vec<TensorInfo>,
}

impl fmt::Debug for Gguf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gguf")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Gguf {
    /// Maps and parses a file; every tensor must lie within it.
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        Self::open_with(path, true)
    }

    /// Maps and parses a file for its metadata and tensor index only: tensors may lie beyond
    /// its end (a header saved on its own, for the serving budget); reading one that does is
    /// an error then, not before.
    pub fn open_metadata(path: &Path) -> Result<Self, GgufError> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, check_data: bool) -> Result<Self, GgufError> {
        let shown = path.display().to_string();
        let error = |message: String| GgufError {
            path: shown.clone(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
        // SAFETY: the mapping is read-only and private to this process; the model cache is
        // written by renaming a finished file into place, never modified in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| error(format!("cannot map: {e}")))?;
        Self::parse(Bytes::Mapped(map), shown, check_data)
    }

    /// Parses a file already in memory.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self, GgufError> {
        Self::parse(Bytes::Owned(bytes), name.to_string(), true)
    }

    fn parse(bytes: Bytes, path: String, check_data: bool) -> Result<Self, GgufError> {
        let (version, metadata, tensors) =
            parse_index(bytes.as_slice(), check_data).map_err(|message| GgufError {
                path: path.clone(),
                message,
            })?;
        Ok(Gguf {
            bytes,
            path,
            version,
            metadata,
            tensors,
        })
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    fn error(&self, message: String) -> GgufError {
        GgufError {
            path: self.path.clone(),
            message,
        }
    }

    /// A metadata value that must be present.
    pub fn require(&self, key: &str) -> Result<&MetaValue, GgufError> {
        self.get(key)
            .ok_or_else(|| self.error(format!("missing metadata key `{key}`")))
    }

    pub fn require_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.require(key)?
            .as_u64()
            .ok_or_else(|| self.error(format!("metadata `{key}` is not an unsigned integer")))
    }

    pub fn require_str(&self, key: &str) -> Result<&str, GgufError> {
        self.require(key)?
            .as_str()
            .ok_or_else(|| self.error(format!("metadata `{key}` is not a string")))
    }

    /// An array of strings (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    pub fn require_strings(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let not = || self.error(format!("metadata `{key}` is not an array of strings"));
        self.require(key)?
            .as_array()
            .ok_or_else(not)?
            .iter()
            .map(|v| v.as_str().ok_or_else(not))
            .collect()
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| self.error(format!("no tensor named `{name}`")))
    }

    /// A tensor's stored bytes (a slice of the mapping).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        self.bytes
            .as_slice()
            .get(info.start..info.start + info.n_bytes)
            .ok_or_else(|| {
                self.error(format!(
                    "tensor `{}` lies beyond the end of the file: truncated?",
                    info.name
                ))
            })
    }

    /// A tensor dequantized to f32, in storage order.
    pub fn dequantize(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        let info = self.tensor(name)?;
        crate::quants::dequantize(info.ggml_type, self.tensor_bytes(info)?, info.n_elements())
            .map_err(|e| self.error(format!("tensor `{name}`: {e}")))
    }
}

/// A cursor over the header that never reads past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.at,
                self.bytes.len()
            )
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        Ok(self.take(N, what)?.try_into().expect("took N bytes"))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    /// A count of items of at least `min_item_bytes` each: never more than the bytes left
    /// could hold, so a corrupt count cannot cause a huge allocation.
    fn count(&mut self, what: &str, min_item_bytes: usize) -> Result<usize, String> {
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(min_item_bytes as u64) > left {
            return Err(format!(
                "{what} = {n} cannot fit in the {left} bytes left (corrupt or truncated file)"
            ));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.count(what, 1)?;
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
    fn scalar(&mut self, ty: u32, what: &str) -> Result<MetaValue, String> {
        Ok(match ty {
            0 => MetaValue::Uint(u64::from(self.array::<1>(what)?[0])),
            1 => MetaValue::Int(i64::from(i8::from_le_bytes(self.array(what)?))),
            2 => MetaValue::Uint(u64::from(u16::from_le_bytes(self.array(what)?))),
            3 => MetaValue::Int(i64::from(i16::from_le_bytes(self.array(what)?))),
            4 => MetaValue::Uint(u64::from(self.u32(what)?)),
            5 => MetaValue::Int(i64::from(i32::from_le_bytes(self.array(what)?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.array(what)?))),
            7 => MetaValue::Bool(self.array::<1>(what)?[0] != 0),
            8 => MetaValue::Str(self.string(what)?),
            10 => MetaValue::Uint(self.u64(what)?),
            11 => MetaValue::Int(i64::from_le_bytes(self.array(what)?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.array(what)?)),
            other => return Err(format!("{what}: unknown value type {other}")),
        })
    }
    fn value(&mut self, ty: u32, what: &str) -> Result<MetaValue, String> {
        if ty != 9 {
            return self.scalar(ty, what);
        }
        let elem = self.u32(what)?;
        if elem == 9 {
            return Err(format!("{what}: nested arrays are not supported"));
        }
        let n = self.count(what, 1)?;
        (0..n)
            .map(|_| self.scalar(elem, what))
            .collect::<Result<Vec<_>, _>>()
            .map(MetaValue::Array)
    }
}

type Index = (u32, BTreeMap<String, MetaValue>, Vec<TensorInfo>);

fn parse_index(bytes: &[u8], check_data: bool) -> Result<Index, String> {
    let mut c = Cursor { bytes, at: 0 };
    if c.take(4, "the magic")? != b"GGUF" {
        return Err("not a GGUF file (the first four bytes are not \"GGUF\")".into());
    }
    let version = c.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version} is not supported (2 and 3 are)"
        ));
    }
    // A tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes, a key/value pair at least 8 + 4 + 1.
    let n_tensors = c.count("tensor_count", 32)?;
    let n_kv = c.count("metadata_kv_count", 13)?;
    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = c.string(&format!("metadata key {i}"))?;
        let ty = c.u32(&key)?;
        let value = c.value(ty, &key)?;
        metadata.insert(key, value);
    }
    let mut infos = Vec::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let name = c.string(&format!("tensor name {i}"))?;
        let n_dims = c.u32(&name)?;
        if !(1..=4).contains(&n_dims) {
            return Err(format!(
                "tensor `{name}` has {n_dims} dimensions (1 to 4 exist)"
            ));
        }
        let dims = (0..n_dims)
            .map(|_| c.u64(&name))
            .collect::<Result<Vec<_>, _>>()?;
        let type_id = c.u32(&name)?;
        let ggml_type = GgmlType::from_id(type_id).map_err(|e| format!("tensor `{name}`: {e}"))?;
        let offset = c.u64(&name)?;
        infos.push((name, dims, ggml_type, offset));
    }
    let alignment = match metadata.get("general.alignment") {
        None => 32,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a as usize,
            _ => return Err(format!("general.alignment = {v:?} is not a power of two")),
        },
    };
    let data_start = c.at.div_ceil(alignment) * alignment;
    let mut tensors = Vec::with_capacity(infos.len());
    for (name, dims, ggml_type, offset) in infos {
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor `{name}`: dimensions {dims:?} overflow"))?;
        let n_bytes = ggml_type
            .bytes_for(elements)
            .map_err(|e| format!("tensor `{name}`: {e}"))?;
        let start = (data_start as u64).checked_add(offset);
        let end = start.and_then(|s| s.checked_add(n_bytes));
        match (start, end) {
            (Some(start), Some(end))
                if (end <= bytes.len() as u64 || !check_data) && end <= usize::MAX as u64 =>
            {
                tensors.push(TensorInfo {
                    name,
                    dims,
                    ggml_type,
                    start: start as usize,
                    n_bytes: n_bytes as usize,
                })
            }
            _ => {
                return Err(format!(
                    "tensor `{name}` ({n_bytes} bytes at offset {offset}) lies beyond the end of the file ({} bytes): truncated?",
                    bytes.len()
                ));
            }
        }
    }
    Ok((version, metadata, tensors))
}

/// Writes a GGUF file in memory: for tests and examples of the format (no tensor data
/// conversion: `tensors` are stored bytes with their type and `ne`).
pub fn write_gguf(
    metadata: &[(&str, MetaValue)],
    tensors: &[(&str, Vec<u64>, GgmlType, Vec<u8>)],
) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    fn type_of(v: &MetaValue) -> u32 {
        match v {
            MetaValue::Uint(_) => 10,
            MetaValue::Int(_) => 11,
            MetaValue::Float(_) => 12,
            MetaValue::Bool(_) => 7,
            MetaValue::Str(_) => 8,
            MetaValue::Array(_) => 9,
        }
    }
    fn value(out: &mut Vec<u8>, v: &MetaValue) {
        match v {
            MetaValue::Uint(x) => out.extend(x.to_le_bytes()),
            MetaValue::Int(x) => out.extend(x.to_le_bytes()),
            MetaValue::Float(x) => out.extend(x.to_le_bytes()),
            MetaValue::Bool(x) => out.push(u8::from(*x)),
            MetaValue::Str(s) => string(out, s),
            MetaValue::Array(items) => {
                out.extend(items.first().map_or(10, type_of).to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for item in items {
                    value(out, item);
                }
            }
        }
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (key, v) in metadata {
        string(&mut out, key);
        out.extend(type_of(v).to_le_bytes());
        value(&mut out, v);
    }
    let mut offset = 0u64;
    for (name, dims, ty, data) in tensors {
        string(&mut out, name);
        out.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(ty.id().to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += (data.len() as u64).div_ceil(32) * 32;
    }
    out.resize(out.len().div_ceil(32) * 32, 0);
    for (_, _, _, data) in tensors {
        out.extend(data);
        out.resize(out.len().div_ceil(32) * 32, 0);
    }
    out
}
