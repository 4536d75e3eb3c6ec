//! The GGUF reader on files written from the format description: values of every kind read
//! back without shifting the stream, tensors are found where they are, and a damaged file
//! (wrong magic, truncation anywhere, a huge count, a tensor past the end, an unknown type)
//! is one error naming the problem — never a panic or a huge allocation.

use ch07_real_model::gguf::{Gguf, MetaValue, write_gguf};
use ch07_real_model::{GgmlType, dequantize};

fn sample() -> Vec<u8> {
    let tokens = MetaValue::Array(vec![MetaValue::Str("a".into()), MetaValue::Str("b".into())]);
    let f32s: Vec<u8> = [1.5f32, -2.0, 0.25, 8.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_gguf(
        &[
            ("general.architecture", MetaValue::Str("llama".into())),
            ("llama.rope.freq_base", MetaValue::Float(10_000.0)),
            ("tokenizer.ggml.tokens", tokens),
            ("llama.block_count", MetaValue::Uint(9)),
            ("flag", MetaValue::Bool(true)),
            ("offset", MetaValue::Int(-3)),
        ],
        &[
            ("a.weight", vec![2, 2], GgmlType::F32, f32s),
            ("b.weight", vec![32], GgmlType::Q8_0, vec![0u8; 34]),
        ],
    )
}

#[test]
fn values_and_tensors_read_back() {
    let g = Gguf::from_bytes(sample(), "sample.gguf").unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.require_u64("llama.block_count").unwrap(), 9);
    assert_eq!(
        g.get("llama.rope.freq_base").unwrap().as_f64(),
        Some(10_000.0)
    );
    assert_eq!(
        g.require_strings("tokenizer.ggml.tokens").unwrap(),
        ["a", "b"]
    );
    assert_eq!(g.get("flag").unwrap().as_bool(), Some(true));
    assert_eq!(g.get("offset"), Some(&MetaValue::Int(-3)));
    assert_eq!(g.dequantize("a.weight").unwrap(), [1.5, -2.0, 0.25, 8.0]);
    assert_eq!(g.tensor("b.weight").unwrap().n_bytes, 34);
    let e = g.tensor("c.weight").unwrap_err().to_string();
    assert!(e.contains("sample.gguf") && e.contains("c.weight"), "{e}");
}

fn error(bytes: Vec<u8>) -> String {
    Gguf::from_bytes(bytes, "bad.gguf").unwrap_err().to_string()
}

#[test]
fn damaged_files_are_one_clear_error() {
    let good = sample();
    let mut magic = good.clone();
    magic[..4].copy_from_slice(b"GGML");
    assert!(error(magic).contains("not a GGUF file"));
    // Cut anywhere before the last tensor's last byte: an error, never a panic.
    let parsed = Gguf::from_bytes(good.clone(), "good.gguf").unwrap();
    let last = parsed.tensor("b.weight").unwrap();
    for cut in 0..last.start + last.n_bytes {
        let e = error(good[..cut].to_vec());
        assert!(e.starts_with("bad.gguf: "), "cut at {cut}: {e}");
    }
    let mut huge = b"GGUF".to_vec();
    huge.extend(3u32.to_le_bytes());
    huge.extend(u64::MAX.to_le_bytes());
    huge.extend(0u64.to_le_bytes());
    assert!(error(huge).contains("tensor_count"));
    let mut version = good.clone();
    version[4] = 9;
    assert!(error(version).contains("version 9"));
    let unknown_type = write_gguf(&[], &[("x", vec![4], GgmlType::F32, vec![0; 16])]);
    // The type id follows the header (24 bytes), the name (8 + 1), n_dims (4) and ne (8).
    let mut patched = unknown_type.clone();
    let type_at = 24 + 9 + 4 + 8;
    patched[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    assert!(error(patched).contains("unknown or unsupported tensor type 99"));
}

#[test]
fn dequantize_checks_the_byte_count() {
    assert!(dequantize(GgmlType::Q4_0, &[0u8; 17], 32).is_err());
    assert!(dequantize(GgmlType::Q4K, &[0u8; 144], 100).is_err());
    assert_eq!(
        dequantize(GgmlType::Q4_0, &[0u8; 18], 32).unwrap(),
        vec![-0.0; 32]
    );
}
