//! The kernel against references it does not share code with: each form's product equals an
//! f64 dot product of chapter 07's dequantized weights (`ch07_real_model::dequantize`, itself
//! bit-exact with gguf-py) with the activations as the kernel quantized them, and the AVX2
//! kernel equals the scalar one.

use ch07_real_model::{GgmlType, dequantize};
use ch08_quantization::formats::quantize;
use ch08_quantization::{Activations, Form, Kernel, Q8Rows, QMatrix};

/// Deterministic values with a spread of magnitudes and signs.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                * if s.is_multiple_of(7) { 4.0 } else { 1.0 }
        })
        .collect()
}

/// The dequantized weights a form holds, by chapter 07's dequantizer (row-major `rows × cols`).
fn weights_as_f32(form: Form, w: &[f32]) -> Vec<f32> {
    let ty = match form {
        Form::F32 => return w.to_vec(),
        Form::F16 => return w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
        Form::Q8_0 => GgmlType::Q8_0,
        Form::Q4_1 => GgmlType::Q4_1,
    };
    dequantize(ty, &quantize(ty, w).unwrap(), w.len() as u64).unwrap()
}

#[test]
fn every_form_equals_an_f64_product_of_its_dequantized_weights() {
    let (rows, cols, n) = (37, 192, 3);
    let w = values(rows * cols, 1);
    let x = values(n * cols, 2);
    for (form, activations) in Form::ALL
        .into_iter()
        .flat_map(|f| Activations::ALL.map(|a| (f, a)))
    {
        let m = QMatrix::from_f32(form, &w, rows, cols).unwrap();
        let wf = weights_as_f32(form, &w);
        // The activations as the kernel sees them: f32, or 8-bit blocks `d · q`.
        let xf: Vec<f32> = if form.is_quantized() && activations == Activations::Q8 {
            let q = Q8Rows::quantize(&x, n, cols);
            q.q.iter()
                .enumerate()
                .map(|(i, &v)| q.d[i / 32] * f32::from(v))
                .collect()
        } else {
            x.clone()
        };
        for kernel in Kernel::available() {
            let y = m.matmul_with(kernel, &x, n, activations);
            for i in 0..n {
                for r in 0..rows {
                    let want: f64 = (0..cols)
                        .map(|c| f64::from(wf[r * cols + c]) * f64::from(xf[i * cols + c]))
                        .sum();
                    let got = f64::from(y[i * rows + r]);
                    // f32 accumulation over 192 terms. Q4_1 adds `m · s` per block with
                    // `s = dₓ·Σqₓ` stored as f16 (ggml's Q8_1): a relative error up to 2⁻¹¹ of
                    // each block's |m · Σx|.
                    let minimums: f64 = if form == Form::Q4_1 && activations == Activations::Q8 {
                        (0..cols / 32)
                            .map(|b| {
                                let block = r * cols + b * 32..r * cols + b * 32 + 32;
                                let m = wf[block].iter().copied().fold(f32::MAX, f32::min);
                                let sx: f32 =
                                    xf[i * cols + b * 32..i * cols + b * 32 + 32].iter().sum();
                                f64::from((m * sx).abs()) / 2048.0
                            })
                            .sum()
                    } else {
                        0.0
                    };
                    let tolerance = 1e-5 * want.abs().max(1.0) + minimums;
                    assert!(
                        (got - want).abs() <= tolerance,
                        "{form:?} {activations:?} {kernel:?} [{i}, {r}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_simd_kernel_equals_the_scalar_one() {
    if Kernel::detect() == Kernel::Scalar {
        eprintln!("no AVX2 on this CPU: only the scalar kernel runs");
        return;
    }
    // 18 blocks per row: two groups of eight and a tail of two, as SmolLM2's hidden size 576.
    let (rows, cols, n) = (64, 576, 5);
    let w = values(rows * cols, 3);
    let x = values(n * cols, 4);
    for form in Form::ALL {
        let m = QMatrix::from_f32(form, &w, rows, cols).unwrap();
        for activations in Activations::ALL {
            let a = m.matmul_with(Kernel::Scalar, &x, n, activations);
            let b = m.matmul_with(Kernel::Avx2, &x, n, activations);
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-4 * p.abs().max(1.0),
                    "{form:?} {activations:?} output {i}: scalar {p}, avx2 {q}"
                );
            }
        }
    }
}

#[test]
fn activation_quantization_is_ggml_q8() {
    let x = [0.5f32, -1.0, 0.25, 0.0].repeat(8);
    let q = Q8Rows::quantize(&x, 1, 32);
    // d = max|x| / 127, q = round(x / d): ±1 → ±127, 0.5 → 63.5 → 64 (ties to even), 0.25 → 31.75 → 32.
    assert_eq!(q.d, vec![half::f16::from_f32(1.0 / 127.0).to_f32()]);
    assert_eq!(&q.q[..4], &[64, -127, 32, 0]);
    let sum: i32 = q.q.iter().map(|&v| i32::from(v)).sum();
    assert_eq!(q.s, vec![half::f16::from_f32(sum as f32 / 127.0).to_f32()]);
    assert_eq!(Q8Rows::quantize(&[0.0; 32], 1, 32).q, vec![0; 32]);
}

#[test]
fn ggml_bytes_regroup_without_requantizing() {
    let (rows, cols) = (3, 96);
    let w = values(rows * cols, 5);
    for (form, ty) in [(Form::Q8_0, GgmlType::Q8_0), (Form::Q4_1, GgmlType::Q4_1)] {
        let bytes = quantize(ty, &w).unwrap();
        let m = QMatrix::from_ggml_bytes(form, &bytes, rows, cols).unwrap();
        assert_eq!(m.bytes(), bytes.len(), "same bytes as the file");
        let want = dequantize(ty, &bytes, w.len() as u64).unwrap();
        for r in 0..rows {
            assert_eq!(
                m.dequantize_row(r),
                want[r * cols..(r + 1) * cols],
                "{form:?} row {r}"
            );
        }
        let swapped = m.permute_rows(&[2, 0, 1]);
        assert_eq!(swapped.dequantize_row(0), m.dequantize_row(2));
    }
    assert!(
        QMatrix::from_ggml_bytes(Form::Q4_1, &[0; 10], 1, 32)
            .unwrap_err()
            .contains("expected 20")
    );
    assert!(
        QMatrix::from_f32(Form::Q8_0, &[0.0; 40], 1, 40)
            .unwrap_err()
            .contains("not whole blocks")
    );
}
