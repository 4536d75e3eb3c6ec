//! Dequantization, bit for bit against the `gguf` Python package's `gguf.quants.dequantize`
//! (fixture `data/reference/smollm2/dequant.json`): blocks of real SmolLM2 tensors (Q8_0,
//! Q4_1, F32), found at the offsets the package reports, and random blocks of every other
//! type (F16, BF16, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).

mod common;

use ch07_real_model::{GgmlType, dequantize};
use common::{GGUF, fixture, hex};

fn values(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Equal as bit patterns (so -0.0 ≠ 0.0 and every rounding is checked).
fn assert_bits(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{what} value {i}: {a} vs {b}");
    }
}

#[test]
fn random_blocks_of_every_type_match_the_gguf_package() {
    let d = fixture("dequant.json");
    let mut checked = Vec::new();
    for case in d["random"].as_array().unwrap() {
        let ty = GgmlType::from_id(case["type_id"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(ty.name(), case["type"].as_str().unwrap());
        for block in case["blocks"].as_array().unwrap() {
            let bytes = hex(block["hex"].as_str().unwrap());
            let want = values(&block["values"]);
            let ours = dequantize(ty, &bytes, want.len() as u64).unwrap();
            assert_bits(&ours, &want, ty.name());
        }
        checked.push(ty.name());
    }
    assert_eq!(
        checked,
        [
            "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"
        ]
    );
}

#[test]
fn real_smollm2_tensors_match_the_gguf_package() {
    let d = fixture("dequant.json");
    assert_eq!(
        GGUF.tensors.len() as u64,
        d["file"]["tensor_count"].as_u64().unwrap()
    );
    for case in d["real"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let info = GGUF.tensor(name).unwrap();
        assert_eq!(
            info.ggml_type.name(),
            case["type"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.start as u64,
            case["offset"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.n_bytes as u64,
            case["n_bytes"].as_u64().unwrap(),
            "{name}"
        );
        let all = GGUF.dequantize(name).unwrap();
        let (block_values, block_bytes) = (
            case["block_values"].as_u64().unwrap() as usize,
            case["block_bytes"].as_u64().unwrap() as usize,
        );
        let stored = GGUF.tensor_bytes(info).unwrap();
        for block in case["blocks"].as_array().unwrap() {
            let i = block["index"].as_u64().unwrap() as usize;
            assert_eq!(
                &stored[i * block_bytes..(i + 1) * block_bytes],
                &hex(block["hex"].as_str().unwrap())[..],
                "{name} block {i}: the same bytes"
            );
            assert_bits(
                &all[i * block_values..(i + 1) * block_values],
                &values(&block["values"]),
                &format!("{name} block {i}"),
            );
        }
    }
}

/// Every one of the file's 272 tensors, whole: the SHA-256 of our dequantized f32 values
/// (little-endian, storage order) equals that of the package's.
#[test]
fn every_tensor_is_bit_identical_to_the_gguf_package() {
    use sha2::{Digest, Sha256};
    let d = fixture("dequant.json");
    let tensors = d["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), GGUF.tensors.len());
    for t in tensors {
        let name = t["name"].as_str().unwrap();
        let mut hasher = Sha256::new();
        for v in GGUF.dequantize(name).unwrap() {
            hasher.update(v.to_le_bytes());
        }
        let ours: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(ours, t["dequant_sha256"].as_str().unwrap(), "{name}");
    }
}
