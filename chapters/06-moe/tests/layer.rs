//! The layer against independent per-token loops, and the dense FFN it replaces.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor};
use ch06_moe::reference::{MoeWeights, moe_per_token, to_array2};
use ch06_moe::{MoeConfig, MoeError, Scoring};

fn device(seed: u64) -> Device {
    let device = Device::flex();
    device.seed(seed);
    device
}

fn input(tokens: usize, hidden: usize, device: &Device) -> Tensor<3> {
    Tensor::random(
        [2, tokens / 2, hidden],
        Distribution::Normal(0.0, 1.0),
        device,
    )
}

/// Largest |a − b| relative to the largest |b|.
fn max_rel_diff(a: &ndarray::Array2<f64>, b: &ndarray::Array2<f64>) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn check_against_loops(config: MoeConfig, seed: u64) {
    let device = device(seed);
    // A router with logits of order 1, so the top-k is decided by clear margins.
    let layer = config.init(&device).unwrap();
    let router = Tensor::random(
        [config.hidden, config.experts],
        Distribution::Normal(0.0, 1.0 / (config.hidden as f64).sqrt()),
        &device,
    );
    let layer = layer.with_router_weight(router).unwrap();
    let x = input(64, config.hidden, &device);
    let out = layer.forward(x.clone()).unwrap();
    assert_eq!(out.plan.dropped.len(), 0);
    let got = to_array2(out.output.reshape([64, config.hidden]));
    let expected = moe_per_token(
        &to_array2(x.reshape([64, config.hidden])),
        &MoeWeights::of(&layer),
        config.top_k,
        config.scoring,
    );
    // f32 matmuls against f64 loops: relative error ~1e-6 is round-off; a wrong weight, a
    // misrouted or doubly-added row shows up at order 1.
    let diff = max_rel_diff(&got, &expected);
    assert!(diff < 1e-4, "{config:?}: max relative difference {diff}");
}

#[test]
fn grouped_dispatch_equals_per_token_loops() {
    for (experts, top_k) in [(8, 1), (8, 2), (16, 8), (4, 4)] {
        check_against_loops(
            MoeConfig::new(32, 48, experts, top_k),
            experts as u64 + top_k as u64,
        );
    }
}

#[test]
fn every_scoring_convention_and_shared_experts_match_the_loops() {
    for scoring in [
        Scoring::SoftmaxThenTopK { renormalize: true },
        Scoring::SoftmaxThenTopK { renormalize: false },
        Scoring::TopKThenSoftmax,
    ] {
        check_against_loops(MoeConfig::new(32, 40, 8, 2).with_scoring(scoring), 3);
        check_against_loops(
            MoeConfig::new(32, 40, 8, 2)
                .with_scoring(scoring)
                .with_shared_experts(2),
            4,
        );
    }
}

/// The layer picks experts by the largest *logits* and weighs them with a softmax over the
/// chosen logits. That rests on two facts checked here with burn's own ops, independently of
/// the layer: softmax is monotonic (top-k of the probabilities = top-k of the logits), and the
/// renormalised chosen probabilities equal a softmax over the chosen logits alone. Then the
/// layer's per-slot weights are compared with the softmax-first definition.
#[test]
fn softmax_then_renormalised_top_k_equals_top_k_then_softmax() {
    let device = device(11);
    let (n, e, k) = (32, 8, 3);
    let logits = Tensor::<2>::random([n, e], Distribution::Normal(0.0, 2.0), &device);
    let (top_p, idx_p) = softmax(logits.clone(), 1).topk_with_indices(k, 1);
    let renormalised = top_p.clone() / top_p.sum_dim(1);
    let (top_l, idx_l) = logits.topk_with_indices(k, 1);
    assert_eq!(idx_p.to_data(), idx_l.to_data());
    let diff = (renormalised.clone() - softmax(top_l, 1)).abs().max();
    assert!(diff.into_scalar::<f32>() < 1e-6);

    // The layer's weights, slot by slot, against softmax → top-k → renormalise of its logits.
    let config = MoeConfig::new(32, 16, e, k);
    let layer = config.init(&device).unwrap();
    let x = input(n, 32, &device);
    let a = layer.forward(x.clone()).unwrap();
    let (top, _) = softmax(a.router_logits.clone(), 1).topk_with_indices(k, 1);
    let expected: Vec<f32> = (top.clone() / top.sum_dim(1)).to_data().iter().collect();
    let mut slots: Vec<_> = a.plan.kept.iter().flatten().collect();
    slots.sort_by_key(|s| s.slot);
    assert_eq!(slots.len(), n * k);
    for (slot, want) in slots.iter().zip(&expected) {
        assert!(
            (slot.weight - want).abs() < 1e-6,
            "slot {}: {} vs {want}",
            slot.slot,
            slot.weight
        );
    }
    // Without renormalisation the weights sum to less than 1: a different layer.
    let mut c_layer = layer.clone();
    c_layer.config.scoring = Scoring::SoftmaxThenTopK { renormalize: false };
    let c = c_layer.forward(x).unwrap();
    let (a, c) = (
        to_array2(a.output.reshape([n, 32])),
        to_array2(c.output.reshape([n, 32])),
    );
    assert!(max_rel_diff(&c, &a) > 0.1);
}

#[test]
fn one_expert_with_top_1_is_the_dense_ffn() {
    let device = device(5);
    let layer = MoeConfig::new(48, 96, 1, 1).init(&device).unwrap();
    let dense = layer.experts[0].clone();
    let x = input(40, 48, &device);
    let moe = to_array2(layer.forward(x.clone()).unwrap().output.reshape([40, 48]));
    let ffn = to_array2(dense.forward(x).reshape([40, 48]));
    assert!(max_rel_diff(&moe, &ffn) < 1e-6);
}

#[test]
fn bad_configs_are_named_errors() {
    let device = Device::flex();
    let err = |c: MoeConfig| c.init(&device).unwrap_err();
    assert_eq!(
        err(MoeConfig::new(8, 8, 4, 5)),
        MoeError::TopKExceedsExperts {
            top_k: 5,
            experts: 4
        }
    );
    assert_eq!(err(MoeConfig::new(8, 8, 4, 0)), MoeError::ZeroTopK);
    assert_eq!(err(MoeConfig::new(8, 8, 0, 1)), MoeError::NoExperts);
    for factor in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = err(MoeConfig::new(8, 8, 4, 2).with_capacity_factor(Some(factor)));
        assert!(
            matches!(e, MoeError::CapacityFactor { .. }),
            "{factor}: {e:?}"
        );
    }
    let msg = MoeError::TopKExceedsExperts {
        top_k: 5,
        experts: 4,
    }
    .to_string();
    assert!(msg.contains("5") && msg.contains("4"), "{msg}");
    let layer = MoeConfig::new(8, 8, 4, 2).init(&device).unwrap();
    let wrong = Tensor::<3>::zeros([1, 3, 9], &device);
    assert_eq!(
        layer.forward(wrong).err(),
        Some(MoeError::Width {
            got: 9,
            expected: 8
        })
    );
    let router = Tensor::<2>::zeros([8, 5], &device);
    assert!(matches!(
        layer.with_router_weight(router),
        Err(MoeError::RouterShape { .. })
    ));
}

/// The top-k is chosen on the host, but the weights are computed from the chosen logits as
/// tensors: the task loss alone (no balance loss) must reach the router's weight.
#[test]
fn the_task_loss_reaches_the_router_through_the_weights() {
    let device = Device::flex().autodiff();
    for scoring in [
        Scoring::SoftmaxThenTopK { renormalize: true },
        Scoring::SoftmaxThenTopK { renormalize: false },
    ] {
        let layer = MoeConfig::new(16, 8, 4, 2)
            .with_scoring(scoring)
            .init(&device)
            .unwrap();
        let x = Tensor::<3>::random([1, 8, 16], Distribution::Normal(0.0, 1.0), &device);
        let out = layer.forward(x).unwrap();
        let grads = out.output.powi_scalar(2).sum().backward();
        let g = layer.router.weight.val().grad(&grads);
        let g = g.expect("the router weight has a gradient");
        assert!(g.abs().sum().into_scalar::<f32>() > 0.0, "{scoring:?}");
    }
}
