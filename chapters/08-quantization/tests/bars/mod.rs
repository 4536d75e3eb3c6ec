//! The bars the file's native weights with 8-bit activations meet against llama.cpp, on either
//! path (the tensor path in `parity.rs`, the decoder in `decoder.rs`).

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
