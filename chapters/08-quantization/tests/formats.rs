//! Quantization, byte for byte against the `gguf` Python package's `gguf.quants.quantize`
//! (fixture `data/reference/quantization/quantize.json`, made by the script beside it), and
//! the round trip through chapter 07's dequantizer within each format's step.

use ch07_real_model::{GgmlType, dequantize};
use ch08_quantization::formats::{QUANTIZABLE, quantize};

fn fixture() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/reference/quantization/quantize.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The fixture's inputs: big-endian f32 bit patterns.
fn floats(s: &str) -> Vec<f32> {
    hex(s)
        .chunks_exact(4)
        .map(|b| f32::from_bits(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

#[test]
fn every_case_and_type_matches_the_gguf_package_byte_for_byte() {
    let fixture = fixture();
    let mut checked = 0;
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let values = floats(case["values_f32_hex"].as_str().unwrap());
        for ty in QUANTIZABLE {
            let want = hex(case["quantized"][ty.name()].as_str().unwrap());
            let ours = quantize(ty, &values).unwrap();
            assert_eq!(ours.len(), want.len(), "{name} {}", ty.name());
            if let Some(i) = ours.iter().zip(&want).position(|(a, b)| a != b) {
                let (per_block, block_bytes) = ty.block();
                panic!(
                    "{name} {}: byte {i} (block {}) differs: ours {:02x}, gguf {:02x}",
                    ty.name(),
                    i as u64 / block_bytes * per_block / per_block,
                    ours[i],
                    want[i]
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 10 * QUANTIZABLE.len(), "every case × type");
}

/// Dequantized values are within half a step of the input (Q8_0, Q4_0 within one step of
/// their symmetric grid; Q4_1 half a step), where the step is the block's scale `d`.
#[test]
fn round_trip_error_is_within_the_block_step() {
    let values: Vec<f32> = (0..32 * 64)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i / 32) as f32))
        .collect();
    for (ty, steps, bound) in [
        (GgmlType::Q8_0, 127.0, 0.5),
        (GgmlType::Q4_0, 8.0, 1.0),
        (GgmlType::Q4_1, 15.0, 0.5),
        (GgmlType::Q5_0, 16.0, 1.0),
        (GgmlType::Q5_1, 31.0, 0.5),
    ] {
        let bytes = quantize(ty, &values).unwrap();
        let back = dequantize(ty, &bytes, values.len() as u64).unwrap();
        for (block, (x, y)) in values.chunks(32).zip(back.chunks(32)).enumerate() {
            let max = x.iter().fold(0f32, |a, v| a.max(v.abs()));
            let range = x.iter().copied().fold(f32::MIN, f32::max)
                - x.iter().copied().fold(f32::MAX, f32::min);
            let step = if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
                range / steps
            } else {
                max / steps
            };
            for (a, b) in x.iter().zip(y) {
                // f16 scales add a relative error of 2⁻¹¹ per step count.
                let tolerance = bound * step + max * 2e-3;
                assert!(
                    (a - b).abs() <= tolerance,
                    "{} block {block}: {a} → {b}, step {step}",
                    ty.name()
                );
            }
        }
    }
}

#[test]
fn a_partial_block_is_refused() {
    let err = quantize(GgmlType::Q4_1, &[1.0; 33]).unwrap_err();
    assert!(err.contains("not whole Q4_1 blocks of 32"), "{err}");
    assert!(
        quantize(GgmlType::Q4K, &[0.0; 256])
            .unwrap_err()
            .contains("not implemented")
    );
}
