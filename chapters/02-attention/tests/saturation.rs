//! The lesson's claim about `√d_k`, measured: unscaled scores saturate the softmax as `d_k`
//! grows; scaled ones keep the same spread at every `d_k`.

use burn::tensor::Device;
use ch02_attention::saturation::measure;

#[test]
fn unscaled_softmax_saturates_as_head_dim_grows() {
    let device = Device::flex();
    device.seed(7);
    let small = measure(4, 256, &device);
    let large = measure(1024, 256, &device);
    // Unscaled: at d_k = 1024 the scores have std 32, so rows are almost one-hot.
    assert!(large.max_weight_unscaled > 0.9, "{large:?}");
    assert!(large.entropy_unscaled < 0.1, "{large:?}");
    assert!(large.max_weight_unscaled > small.max_weight_unscaled);
    // Scaled: the same spread whatever d_k (unit-variance scores), far from one-hot.
    for s in [small, large] {
        assert!(s.max_weight_scaled < 0.2, "{s:?}");
        assert!(s.entropy_scaled > 0.8, "{s:?}");
    }
    assert!(
        (small.entropy_scaled - large.entropy_scaled).abs() < 0.05,
        "{small:?} {large:?}"
    );
}

/// The lookup picture: with Q = K = a fixed vector per token, a repeated token puts most of
/// its weight on its earlier occurrence and itself, and no row looks into the future.
#[test]
fn repeated_tokens_find_each_other() {
    use ch02_attention::lookup::lookup_weights;
    let ids = [5, 9, 13, 5, 21];
    let w = lookup_weights(&ids, 64, &Device::flex()).unwrap();
    for (i, row) in w.iter().enumerate() {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
        assert!(
            row[i + 1..].iter().all(|&x| x == 0.0),
            "row {i} sees the future"
        );
    }
    assert!(
        w[3][0] + w[3][3] > 0.99,
        "token 5 at position 3 looks at itself and position 0: {:?}",
        w[3]
    );
    assert!(
        (w[3][0] - w[3][3]).abs() < 1e-5,
        "both occurrences are equally good matches"
    );
}
