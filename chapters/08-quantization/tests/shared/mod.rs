//! What `parity.rs` (the tensor path) and `decoder.rs` (the decoder) both check: the bars the
//! file's native weights with 8-bit activations meet against llama.cpp, and how far two sets of
//! logits are apart.

use ch07_real_model::parity::TeacherForced;

/// llama.cpp's token at every clear step and ≥ 95% of all 13 × 32 steps, top-5 logits within
/// 0.20 on average and, at worst, within llama.cpp's own batched-vs-single spread.
pub fn assert_native_q8_parity(t: &TeacherForced) {
    assert_eq!(t.total, 13 * 32);
    assert!(t.agree as f64 >= 0.95 * t.total as f64, "{t}");
    assert_eq!(t.clear_agree, t.clear_total, "{t}");
    assert!(t.mean_logit_diff <= 0.20, "{t}");
    assert!(t.worst_logit_diff <= t.own_noise, "{t}");
}

/// The largest |a − b| over two logit sets of the same shape.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "logits of different shapes");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
