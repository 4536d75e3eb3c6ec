//! Every attention variant agrees with two references nobody here wrote the same way:
//! the ndarray f64 loops in `reference` and burn's own fused `attention` (plus its
//! `attention_fallback`). Tolerance: 2e-5 absolute on outputs of magnitude ≤ ~1 — f32 rounding
//! over sums of up to a few hundred terms, far below any real difference (a wrong mask or scale
//! changes outputs by 1e-2 or more).

use burn::tensor::module::{attention as burn_attention, attention_fallback};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Distribution, Tensor};
use ch02_attention::reference::{attention_f64, mask_to_array, max_abs_diff, to_array};
use ch02_attention::{attention, padding_mask, tiled_attention};

const TOL: f64 = 2e-5;

fn device() -> Device {
    Device::flex()
}

fn qkv(b: usize, h: usize, sq: usize, sk: usize, d: usize) -> [Tensor<4>; 3] {
    let dev = device();
    let n = Distribution::Normal(0.0, 1.0);
    [
        Tensor::random([b, h, sq, d], n, &dev),
        Tensor::random([b, h, sk, d], n, &dev),
        Tensor::random([b, h, sk, d], n, &dev),
    ]
}

/// Shapes: ordinary, seq 1, head_dim 1, head_dim 128, seq not a multiple of any tile, and
/// decoding-shaped (fewer queries than keys).
const SHAPES: &[(usize, usize, usize, usize, usize)] = &[
    (2, 3, 17, 17, 8),
    (1, 2, 1, 1, 4),
    (1, 1, 33, 33, 1),
    (1, 2, 40, 40, 128),
    (2, 2, 5, 9, 16),
    (1, 4, 70, 70, 32),
];

fn check_all(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    causal: bool,
    mask: Option<Tensor<4, Bool>>,
) {
    let reference = attention_f64(
        to_array(&q).view(),
        to_array(&k).view(),
        to_array(&v).view(),
        causal,
        mask.as_ref().map(mask_to_array).as_ref().map(|m| m.view()),
    );
    let label = format!(
        "q {:?} k {:?} causal {causal} mask {}",
        q.dims(),
        k.dims(),
        mask.is_some()
    );

    let steps = attention(q.clone(), k.clone(), v.clone(), causal, mask.clone()).unwrap();
    let err = max_abs_diff(&steps, &reference);
    assert!(err < TOL, "steps vs reference: {err:e} ({label})");

    for tile in [1, 7, 16, 64] {
        let tiled =
            tiled_attention(q.clone(), k.clone(), v.clone(), causal, mask.clone(), tile).unwrap();
        let err = max_abs_diff(&tiled, &reference);
        assert!(err < TOL, "tiled({tile}) vs reference: {err:e} ({label})");
    }

    // burn's fused op wants the mask at full shape.
    let [b, h, sq, _] = q.dims();
    let sk = k.dims()[2];
    let full_mask = mask.map(|m| m.expand([b, h, sq, sk]));
    // burn's causal option assumes queries and keys start together, so decoding shapes
    // (s_q < s_k) are compared with the explicit bottom-right causal mask instead.
    let (burn_mask, is_causal) = if causal && sq != sk {
        let c = ch02_attention::causal_mask(sq, sk, &q.device()).expand([b, h, sq, sk]);
        (Some(full_mask.map_or(c.clone(), |m| m.bool_or(c))), false)
    } else {
        (full_mask, causal)
    };
    let options = AttentionModuleOptions {
        is_causal,
        ..Default::default()
    };
    let fused = burn_attention(
        q.clone(),
        k.clone(),
        v.clone(),
        burn_mask.clone(),
        None,
        options,
    );
    let fallback = attention_fallback(q, k, v, burn_mask, None, options);
    for (name, theirs) in [
        ("burn attention", fused),
        ("burn attention_fallback", fallback),
    ] {
        let err = max_abs_diff(&theirs, &reference);
        assert!(err < TOL, "{name} vs reference: {err:e} ({label})");
        let diff = (steps.clone() - theirs).abs().max().into_scalar::<f32>() as f64;
        assert!(diff < TOL, "steps vs {name}: {diff:e} ({label})");
    }
}

#[test]
fn all_variants_agree_without_masks() {
    for &(b, h, sq, sk, d) in SHAPES {
        let [q, k, v] = qkv(b, h, sq, sk, d);
        check_all(q, k, v, false, None);
    }
}

#[test]
fn all_variants_agree_causal() {
    for &(b, h, sq, sk, d) in SHAPES {
        let [q, k, v] = qkv(b, h, sq, sk, d);
        check_all(q, k, v, true, None);
    }
}

#[test]
fn all_variants_agree_with_padding_masks() {
    for &(b, h, sq, sk, d) in SHAPES {
        let [q, k, v] = qkv(b, h, sq, sk, d);
        // Each sequence of the batch has a different true length, at least 1.
        let lengths: Vec<usize> = (0..b).map(|i| (sk - i * sk / 3).max(1)).collect();
        let mask = padding_mask(&lengths, sk, &device()).unwrap();
        check_all(q.clone(), k.clone(), v.clone(), false, Some(mask.clone()));
        check_all(q, k, v, true, Some(mask));
    }
}

/// A sequence of length 0 masks every key: its rows are defined as zeros (as burn does), and
/// no NaN may leak into the other sequence of the batch.
#[test]
fn fully_masked_rows_are_zero_not_nan() {
    let [q, k, v] = qkv(2, 2, 6, 6, 8);
    let mask = padding_mask(&[0, 6], 6, &device()).unwrap();
    for out in [
        attention(q.clone(), k.clone(), v.clone(), true, Some(mask.clone())).unwrap(),
        tiled_attention(q.clone(), k.clone(), v.clone(), true, Some(mask.clone()), 4).unwrap(),
    ] {
        let a = to_array(&out);
        assert!(a.iter().all(|x| x.is_finite()), "no NaN or inf");
        assert!(
            a.slice(ndarray::s![0, .., .., ..])
                .iter()
                .all(|&x| x == 0.0),
            "masked sequence is zero"
        );
        assert!(
            a.slice(ndarray::s![1, .., .., ..])
                .iter()
                .any(|&x| x != 0.0),
            "the other is not"
        );
    }
    check_all(q, k, v, true, Some(mask));
}

/// The references are not so lax that a real mistake passes: dropping the scale or the mask
/// moves the output far outside the tolerance.
#[test]
fn the_tolerance_catches_real_mistakes() {
    let [q, k, v] = qkv(1, 2, 16, 16, 32);
    let reference = attention_f64(
        to_array(&q).view(),
        to_array(&k).view(),
        to_array(&v).view(),
        true,
        None,
    );
    let unmasked = attention(q.clone(), k.clone(), v.clone(), false, None).unwrap();
    assert!(max_abs_diff(&unmasked, &reference) > 100.0 * TOL);
    let unscaled = attention(q * 32f64.sqrt(), k, v, true, None).unwrap();
    assert!(max_abs_diff(&unscaled, &reference) > 100.0 * TOL);
}

/// The FLOP count credits the causal halving only to an implementation that skips the masked
/// work, so a variant that computes every score is not shown at half its real rate.
#[test]
fn causal_flops_are_halved_only_where_the_masked_work_is_skipped() {
    let dims = ch02_attention::AttentionDims {
        batch: 2,
        heads: 3,
        seq_q: 5,
        seq_k: 5,
        head_dim: 4,
        value_dim: 4,
    };
    let full = 4.0 * 2.0 * 3.0 * 5.0 * 5.0 * 4.0;
    use ch02_attention::attention_flops;
    assert_eq!(attention_flops(dims, false, false), full);
    assert_eq!(attention_flops(dims, false, true), full);
    assert_eq!(
        attention_flops(dims, true, false),
        full,
        "steps computes every score"
    );
    assert_eq!(
        attention_flops(dims, true, true),
        full / 2.0,
        "tiled skips masked tiles"
    );
}
