//! Capacity drops exactly the documented tokens; the balance loss and load statistics behave
//! as the Switch Transformer defines them, on constructed routers.

use burn::tensor::{Device, Tensor, TensorData};
use ch06_moe::reference::to_array2;
use ch06_moe::routing::{LoadStats, capacity, fractions, plan_dispatch, switch_aux_loss};
use ch06_moe::{MoeConfig, MoeLayer};

const HIDDEN: usize = 8;
const EXPERTS: usize = 4;

/// Token t is `scale · e_{expert(t)}`; the router is `scale · I` on the first EXPERTS dims, so
/// token t's logits are `scale²` for its expert and 0 for the rest.
fn constructed(
    experts_of: &[usize],
    scale: f32,
    config: MoeConfig,
    device: &Device,
) -> (MoeLayer, Tensor<3>) {
    let mut w = vec![0.0f32; HIDDEN * EXPERTS];
    for e in 0..EXPERTS {
        w[e * EXPERTS + e] = scale;
    }
    let router = Tensor::<2>::from_data(TensorData::new(w, [HIDDEN, EXPERTS]), device);
    let mut x = vec![0.0f32; experts_of.len() * HIDDEN];
    for (t, &e) in experts_of.iter().enumerate() {
        x[t * HIDDEN + e] = scale;
        x[t * HIDDEN + EXPERTS + t % (HIDDEN - EXPERTS)] = 1.0; // tokens differ beyond routing
    }
    let x = Tensor::<3>::from_data(TensorData::new(x, [1, experts_of.len(), HIDDEN]), device);
    (
        config
            .init(device)
            .unwrap()
            .with_router_weight(router)
            .unwrap(),
        x,
    )
}

#[test]
fn capacity_keeps_the_first_tokens_in_token_order() {
    let device = Device::flex();
    // Tokens 0..8: six want expert 0, token 3 wants 1, token 6 wants 2.
    let wants = [0, 0, 0, 1, 0, 0, 2, 0];
    let config = MoeConfig::new(HIDDEN, 16, EXPERTS, 1).with_capacity_factor(Some(1.0));
    let (layer, x) = constructed(&wants, 4.0, config, &device);
    let out = layer.forward(x.clone()).unwrap();
    // ceil(1.0 · 8 · 1 / 4) = 2 slots: expert 0 keeps tokens 0 and 1, drops 2, 4, 5, 7.
    assert_eq!(out.plan.capacity, Some(2));
    let dropped: Vec<usize> = out.plan.dropped.iter().map(|a| a.token).collect();
    assert_eq!(dropped, vec![2, 4, 5, 7]);
    let kept0: Vec<usize> = out.plan.kept[0].iter().map(|a| a.token).collect();
    assert_eq!(kept0, vec![0, 1]);
    assert_eq!(out.load.tokens_per_expert, vec![6, 1, 1, 0]);
    assert_eq!(out.load.kept_per_expert, vec![2, 1, 1, 0]);
    assert_eq!(out.load.drop_rate, 4.0 / 8.0);
    // Dropped tokens leave the layer as exact zeros (the residual carries them); kept tokens
    // equal their expert's output times their weight (≈ 1 at these logits).
    let y = to_array2(out.output.reshape([8, HIDDEN]));
    let uncapped = MoeConfig::new(HIDDEN, 16, EXPERTS, 1);
    let free = MoeLayer {
        config: uncapped,
        ..layer
    }
    .forward(x)
    .unwrap();
    let free = to_array2(free.output.reshape([8, HIDDEN]));
    for t in 0..8 {
        if dropped.contains(&t) {
            assert!(y.row(t).iter().all(|&v| v == 0.0), "token {t} was dropped");
            assert!(free.row(t).iter().any(|&v| v != 0.0));
        } else {
            assert_eq!(y.row(t), free.row(t), "token {t} was kept");
        }
    }
}

#[test]
fn dropping_one_of_two_experts_keeps_the_other_contribution() {
    let chosen = [0, 1, 0, 2, 0, 3]; // 3 tokens, top-2
    let weights = [0.6, 0.4, 0.7, 0.3, 0.9, 0.1];
    let plan = plan_dispatch(&chosen, &weights, 2, 4, Some(2));
    assert_eq!(plan.dropped.len(), 1);
    assert_eq!((plan.dropped[0].token, plan.dropped[0].expert), (2, 0));
    assert_eq!(plan.kept[3][0].token, 2);
    assert_eq!(capacity(3, 2, 4, 1.25), 2); // ceil(1.875)
}

#[test]
fn aux_loss_is_one_at_uniform_routing_and_grows_with_imbalance() {
    let device = Device::flex();
    let config = MoeConfig::new(HIDDEN, 8, EXPERTS, 1);
    let mut losses = Vec::new();
    // 16 tokens; `skewed` of them move from their own expert to expert 0.
    for skewed in [0, 4, 8, 12, 16] {
        let wants: Vec<usize> = (0..16)
            .map(|t| if t < skewed { 0 } else { t % EXPERTS })
            .collect();
        let (layer, x) = constructed(&wants, 4.0, config.clone(), &device);
        let out = layer.forward(x).unwrap();
        losses.push((out.aux_loss().into_scalar::<f32>(), out.load.clone()));
    }
    let (uniform, load) = &losses[0];
    assert!(
        (uniform - 1.0).abs() < 1e-5,
        "uniform routing gives {uniform}"
    );
    assert_eq!(load.coefficient_of_variation, 0.0);
    assert_eq!(load.max_violation, 0.0);
    for pair in losses.windows(2) {
        assert!(
            pair[1].0 > pair[0].0 + 0.1,
            "{} then {}",
            pair[0].0,
            pair[1].0
        );
        assert!(pair[1].1.max_violation >= pair[0].1.max_violation);
    }
    // Everything on expert 0 with probability ≈ 1: the loss approaches N.
    let (collapsed, load) = &losses[4];
    assert!(*collapsed > 3.9 && *collapsed <= 4.0 + 1e-5, "{collapsed}");
    assert_eq!(load.max_violation, 3.0);
}

#[test]
fn aux_loss_formula_and_load_statistics_by_hand() {
    // f = (0.5, 0.5, 0, 0), P uniform: still 1 — P uniform alone makes the loss 1.
    assert!((switch_aux_loss(&[0.5, 0.5, 0.0, 0.0], &[0.25; 4]) - 1.0).abs() < 1e-12);
    // f = P = (0.7, 0.1, 0.1, 0.1): 4 · (0.49 + 3 · 0.01) = 2.08.
    let f = [0.7, 0.1, 0.1, 0.1];
    assert!((switch_aux_loss(&f, &f) - 2.08).abs() < 1e-12);
    assert_eq!(fractions(&[3, 1, 0, 0]), vec![0.75, 0.25, 0.0, 0.0]);
    // Loads 6, 2, 2, 2: mean 3, std √3, max violation 6/3 − 1 = 1.
    let s = LoadStats::new(vec![6, 2, 2, 2], vec![3, 2, 2, 2], Some(3));
    assert!((s.coefficient_of_variation - 3f64.sqrt() / 3.0).abs() < 1e-12);
    assert_eq!(s.max_violation, 1.0);
    assert_eq!(s.drop_rate, 3.0 / 12.0);
}

#[test]
fn z_loss_is_the_mean_squared_logsumexp() {
    let device = Device::flex();
    let (layer, x) = constructed(
        &[0, 1, 2, 3],
        2.0,
        MoeConfig::new(HIDDEN, 8, EXPERTS, 1),
        &device,
    );
    let z = layer.forward(x).unwrap().z_loss().into_scalar::<f32>() as f64;
    // Each token: logits (4, 0, 0, 0) → logsumexp = ln(e⁴ + 3).
    let lse = (4f64.exp() + 3.0).ln();
    assert!((z - lse * lse).abs() < 1e-4, "{z} vs {}", lse * lse);
}
