//! Each building block against references nobody here wrote the same way: burn-nn's own
//! `RmsNorm`, `LayerNorm`, `RotaryEncoding` and `SwiGlu` with the same weights, and the f64
//! ndarray loops of `reference`. Tolerances are f32 rounding over sums of at most a few hundred
//! terms (≤ 1e-4 on values of order 1); the last test shows a real mistake is far outside them.

use burn::module::Param;
use burn::nn::{
    LayerNormConfig as BurnLayerNormConfig, RmsNormConfig as BurnRmsNormConfig,
    RotaryEncodingConfig, SwiGluConfig,
};
use burn::tensor::{Device, Distribution, Tensor};
use ch03_transformer_block::reference::{self, array2, array3, array4, max_abs_diff, vec1};
use ch03_transformer_block::{
    DecoderBlock, LayerNormConfig, RmsNormConfig, RopeStyle, SelfAttentionConfig, SwiGluFfnConfig,
    apply_rope, interleaved_to_halves,
};

fn device() -> Device {
    Device::flex()
}

fn normal<const D: usize>(shape: [usize; D], std: f64) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, std), &device())
}

fn diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn rms_norm_matches_burn_nn_and_ndarray() {
    for (rows, width, eps) in [(5, 8, 1e-6), (3, 576, 1e-5), (1, 1, 1e-6)] {
        let mut ours = RmsNormConfig::new(width).with_eps(eps).init(&device());
        ours.weight = Param::from_tensor(normal([width], 1.0));
        let mut theirs = BurnRmsNormConfig::new(width)
            .with_epsilon(eps)
            .init(&device());
        theirs.gamma = Param::from_tensor(ours.weight.val());
        let x = normal([2, rows, width], 3.0);

        let got = ours.forward(x.clone());
        assert!(diff(got.clone(), theirs.forward(x.clone())) < 1e-5);
        let x2: Tensor<2> = x.reshape([2 * rows, width]);
        let want = reference::rms_norm(array2(&x2).view(), &vec1(&ours.weight.val()), eps);
        assert!(max_abs_diff(&array2(&got.reshape([2 * rows, width])), &want) < 1e-5);
    }
}

#[test]
fn layer_norm_matches_burn_nn_and_ndarray() {
    let width = 48;
    let mut ours = LayerNormConfig::new(width).init(&device());
    ours.weight = Param::from_tensor(normal([width], 1.0));
    ours.bias = Param::from_tensor(normal([width], 1.0));
    let mut theirs = BurnLayerNormConfig::new(width).init(&device());
    theirs.gamma = Param::from_tensor(ours.weight.val());
    theirs.beta = Some(Param::from_tensor(ours.bias.val()));
    let x = normal([4, width], 2.0) + 5.0; // off-centre, so the mean matters

    let got = ours.forward(x.clone());
    assert!(diff(got.clone(), theirs.forward(x.clone())) < 1e-5);
    let want = reference::layer_norm(
        array2(&x).view(),
        &vec1(&ours.weight.val()),
        &vec1(&ours.bias.val()),
        1e-5,
    );
    assert!(max_abs_diff(&array2(&got), &want) < 1e-5);
}

/// RMSNorm ignores the mean, LayerNorm removes it: on an off-centre input they differ.
#[test]
fn rms_norm_and_layer_norm_differ_off_centre() {
    let x = normal([4, 32], 1.0) + 3.0;
    let rms = RmsNormConfig::new(32).init(&device()).forward(x.clone());
    let ln = LayerNormConfig::new(32).init(&device()).forward(x);
    assert!(diff(rms, ln) > 0.5);
}

#[test]
fn interleaved_rope_matches_burn_nn_rotary_encoding() {
    for (heads, seq, d, start, theta) in [
        (2, 7, 8, 0, 10_000.0),
        (3, 16, 64, 5, 10_000.0),
        (1, 4, 32, 100, 500_000.0),
    ] {
        let burn_rope = RotaryEncodingConfig::new(start + seq, d)
            .with_theta(theta as f32)
            .init(&device());
        let x = normal([2, heads, seq, d], 1.0);
        let ours = apply_rope(x.clone(), start, theta, RopeStyle::Interleaved);
        let err = diff(ours.clone(), burn_rope.apply(x.clone(), start));
        assert!(err < 1e-4, "vs burn-nn: {err} (d {d}, start {start})");
        let want = reference::rope(&array4(&x), start, theta, true);
        assert!(max_abs_diff(&array4(&ours), &want) < 1e-5);
    }
}

#[test]
fn split_halves_rope_matches_ndarray() {
    for (seq, d, start) in [(9, 8, 0), (16, 64, 3), (3, 128, 2000)] {
        let x = normal([1, 2, seq, d], 1.0);
        let ours = apply_rope(x.clone(), start, 10_000.0, RopeStyle::SplitHalves);
        let want = reference::rope(&array4(&x), start, 10_000.0, false);
        assert!(
            max_abs_diff(&array4(&ours), &want) < 1e-5,
            "d {d} start {start}"
        );
    }
}

/// The two conventions are one computation in two channel orders:
/// `halves(P x) = P interleaved(x)`, and attention scores `q·k` agree exactly.
#[test]
fn conventions_match_after_the_permutation() {
    let (q, k) = (normal([1, 2, 10, 16], 1.0), normal([1, 2, 10, 16], 1.0));
    let inter = apply_rope(q.clone(), 3, 10_000.0, RopeStyle::Interleaved);
    let halves = apply_rope(
        interleaved_to_halves(q.clone()),
        3,
        10_000.0,
        RopeStyle::SplitHalves,
    );
    assert!(diff(halves.clone(), interleaved_to_halves(inter.clone())) < 1e-6);

    let k_inter = apply_rope(k.clone(), 3, 10_000.0, RopeStyle::Interleaved);
    let k_halves = apply_rope(
        interleaved_to_halves(k),
        3,
        10_000.0,
        RopeStyle::SplitHalves,
    );
    let scores_inter = inter.matmul(k_inter.swap_dims(2, 3));
    let scores_halves = halves.matmul(k_halves.swap_dims(2, 3));
    assert!(diff(scores_inter, scores_halves) < 1e-5);

    // Without the permutation the conventions disagree: the permutation is what makes them equal.
    let unpermuted = apply_rope(q.clone(), 3, 10_000.0, RopeStyle::SplitHalves);
    assert!(
        diff(
            unpermuted,
            apply_rope(q, 3, 10_000.0, RopeStyle::Interleaved)
        ) > 0.1
    );
}

/// What RoPE encodes: `q_m · k_n` depends on `n − m` only. Shifting every position by 1000
/// leaves all scores unchanged, though the rotated vectors themselves change.
#[test]
fn rope_scores_depend_only_on_relative_position() {
    let (q, k) = (normal([1, 2, 12, 32], 1.0), normal([1, 2, 12, 32], 1.0));
    for style in [RopeStyle::SplitHalves, RopeStyle::Interleaved] {
        let scores = |start| {
            apply_rope(q.clone(), start, 10_000.0, style)
                .matmul(apply_rope(k.clone(), start, 10_000.0, style).swap_dims(2, 3))
        };
        assert!(diff(scores(0), scores(1000)) < 2e-4, "{style:?}");
        assert!(
            diff(
                apply_rope(q.clone(), 0, 1e4, style),
                apply_rope(q.clone(), 1000, 1e4, style)
            ) > 0.1
        );
    }
}

#[test]
fn swiglu_matches_burn_nn_and_ndarray() {
    let (hidden, inter) = (24, 64);
    let ffn = SwiGluFfnConfig::new(hidden, inter)
        .with_init_std(0.2)
        .init(&device());
    let mut theirs = SwiGluConfig::new(hidden, inter).init(&device());
    theirs.linear_inner = ffn.gate_proj.clone(); // SiLU'd branch
    theirs.linear_outer = ffn.up_proj.clone();
    let x = normal([2, 5, hidden], 1.0);

    let got = ffn.forward(x.clone());
    assert!(
        diff(
            got.clone(),
            ffn.down_proj.forward(theirs.forward(x.clone()))
        ) < 1e-5
    );
    let want = reference::swiglu(
        array2(&x.reshape([10, hidden])).view(),
        &array2(&ffn.gate_proj.weight.val()),
        &array2(&ffn.up_proj.weight.val()),
        &array2(&ffn.down_proj.weight.val()),
    );
    assert!(max_abs_diff(&array2(&got.reshape([10, hidden])), &want) < 1e-5);
}

fn block_weights(block: &DecoderBlock, heads: usize, kv_heads: usize) -> reference::BlockWeights {
    reference::block_weights(block, heads, kv_heads, 1e-6, 10_000.0)
}

/// The whole pre-norm block (norms, RoPE, causal attention, SwiGLU, residuals) against the
/// ndarray version, with multi-head and grouped KV heads.
#[test]
fn decoder_block_matches_ndarray() {
    for (hidden, heads, kv_heads, head_dim, seq) in
        [(32, 4, 4, 8, 9), (48, 6, 2, 8, 12), (32, 2, 1, 16, 5)]
    {
        let config = SelfAttentionConfig::new(hidden, heads, kv_heads, head_dim).with_init_std(0.2);
        let mut block = DecoderBlock::new(&config, 80, 1e-6, &device());
        block.input_layernorm.weight = Param::from_tensor(normal([hidden], 1.0) + 1.0);
        block.post_attention_layernorm.weight = Param::from_tensor(normal([hidden], 1.0) + 1.0);
        let x = normal([1, seq, hidden], 1.0);
        let got = block.forward(x.clone(), 0).unwrap().reshape([seq, hidden]);
        let want = reference::decoder_block(
            array3(&x).index_axis(ndarray::Axis(0), 0),
            &block_weights(&block, heads, kv_heads),
        );
        let err = max_abs_diff(&array2(&got), &want);
        assert!(err < 1e-4, "heads {heads} kv {kv_heads}: {err}");
    }
}

/// The tolerance is tight enough to catch real mistakes: a missing residual moves the block far
/// outside it (the wrong RoPE convention is caught in `conventions_match_after_the_permutation`).
#[test]
fn the_tolerance_catches_real_mistakes() {
    let (hidden, heads, seq) = (32, 4, 9);
    let block = DecoderBlock::new(
        &SelfAttentionConfig::new(hidden, heads, heads, 8).with_init_std(0.2),
        80,
        1e-6,
        &device(),
    );
    let x = normal([1, seq, hidden], 1.0);
    let weights = block_weights(&block, heads, heads);
    let want = reference::decoder_block(array3(&x).index_axis(ndarray::Axis(0), 0), &weights);
    let got = array2(&block.forward(x.clone(), 0).unwrap().reshape([seq, hidden]));
    assert!(max_abs_diff(&got, &want) < 1e-4);
    // Starting at position 7 instead of 0 rotates q and k differently but keeps every relative
    // offset, so the attention weights, and the outputs, are the same.
    let shifted = array2(&block.forward(x.clone(), 7).unwrap().reshape([seq, hidden]));
    assert!(max_abs_diff(&shifted, &want) < 1e-4);
    // Dropping the residual stream: a large difference.
    let no_residual = array2(&(block.forward(x.clone(), 0).unwrap() - x).reshape([seq, hidden]));
    assert!(max_abs_diff(&no_residual, &want) > 1e-2);
}
