//! GQA is MHA with shared K/V heads — proven piece by piece.

use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use ch02_attention::MultiHeadSelfAttention;
use ch05_gqa::convert::mean_pool_to_gqa;
use ch05_gqa::share::grouped_attention;
use ch05_gqa::{GqaError, GqaSelfAttentionConfig, expand_kv, group_of, per_head_loop};

fn device() -> Device {
    Device::flex()
}

fn normal(shape: [usize; 4]) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device())
}

fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Expansion repeats each K/V head in place: head h of the result is K/V head h / group.
#[test]
fn expand_is_repeat_interleave_not_tile() {
    let k = normal([1, 2, 3, 4]);
    let e = expand_kv(k.clone(), 3); // [1, 6, 3, 4]
    assert_eq!(e.dims(), [1, 6, 3, 4]);
    for h in 0..6 {
        let d = max_diff(e.clone().narrow(1, h, 1), k.clone().narrow(1, h / 3, 1));
        assert_eq!(d, 0.0, "query head {h} must read K/V head {}", h / 3);
    }
}

/// The broadcast form equals the per-head loop, and burn's fused attention (which takes fewer
/// K/V heads natively) agrees with both: MHA, GQA and MQA, causal and not.
#[test]
fn broadcast_equals_per_head_loop_and_burn() {
    for kv in [8, 4, 2, 1] {
        for causal in [false, true] {
            let (q, k, v) = (
                normal([2, 8, 11, 16]),
                normal([2, kv, 11, 16]),
                normal([2, kv, 11, 16]),
            );
            let ours = grouped_attention(q.clone(), k.clone(), v.clone(), causal).unwrap();
            let looped = per_head_loop(q.clone(), k.clone(), v.clone(), causal).unwrap();
            assert!(
                max_diff(ours.clone(), looped) < 1e-6,
                "kv={kv} causal={causal}"
            );
            let options = AttentionModuleOptions {
                is_causal: causal,
                ..Default::default()
            };
            let fused = burn_attention(q, k, v, None, None, options);
            assert!(
                max_diff(ours, fused) < 2e-5,
                "burn fused, kv={kv} causal={causal}"
            );
        }
    }
}

/// With n_kv_heads = n_heads and the same weights, the GQA module is chapter 02's MHA exactly.
#[test]
fn kv_equal_heads_is_chapter_02_mha() {
    let gqa = GqaSelfAttentionConfig::new(32, 4, 4)
        .init(&device())
        .unwrap();
    let mha = MultiHeadSelfAttention {
        query: gqa.query.clone(),
        key: gqa.key.clone(),
        value: gqa.value.clone(),
        output: gqa.output.clone(),
        n_heads: 4,
        head_dim: 8,
    };
    let x = Tensor::<3>::random([2, 9, 32], Distribution::Normal(0.0, 1.0), &device());
    let a = gqa.forward(x.clone(), true).unwrap();
    let b = mha.forward(x, true, None).unwrap();
    assert_eq!((a - b).abs().max().into_scalar::<f32>(), 0.0);
}

/// Mean-pooling: the shapes shrink by the group size, and when the heads of each group are
/// equal (so the MHA model already computed GQA) the converted model gives the same output.
#[test]
fn mean_pool_conversion() {
    let dev = device();
    let mut mha = GqaSelfAttentionConfig::new(32, 4, 4).init(&dev).unwrap();
    // Make heads 0,1 and 2,3 of K and V identical: an MHA model that is secretly GQA-2.
    for linear in [&mut mha.key, &mut mha.value] {
        let w = linear.weight.val(); // [32, 4·8]
        let pairs = w.clone().reshape([32, 2, 2, 8]).narrow(2, 0, 1);
        let tied = pairs.expand([32, 2, 2, 8]).reshape([32, 32]);
        linear.weight = burn::module::Param::from_tensor(tied);
        let b = linear
            .bias
            .as_ref()
            .unwrap()
            .val()
            .reshape([2, 2, 8])
            .narrow(1, 0, 1);
        linear.bias = Some(burn::module::Param::from_tensor(
            b.expand([2, 2, 8]).reshape([32]),
        ));
    }
    let gqa = mean_pool_to_gqa(&mha, 2).unwrap();
    assert_eq!(gqa.key.weight.val().dims(), [32, 16]);
    assert_eq!(gqa.value.bias.as_ref().unwrap().val().dims(), [16]);
    let x = Tensor::<3>::random([1, 7, 32], Distribution::Normal(0.0, 1.0), &dev);
    let d = (mha.forward(x.clone(), true).unwrap() - gqa.forward(x.clone(), true).unwrap())
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(d < 1e-5, "{d}");
    let (k, _) = gqa.keys_values(x);
    assert_eq!(k.dims(), [1, 2, 7, 8], "the cache holds 2 K/V heads, not 4");

    let mqa = mean_pool_to_gqa(&mha, 1).unwrap();
    assert_eq!(mqa.key.weight.val().dims(), [32, 8]);
    assert_eq!(
        mean_pool_to_gqa(&gqa, 1).unwrap_err(),
        GqaError::NotMha {
            heads: 4,
            kv_heads: 2
        }
    );
}

#[test]
fn bad_kv_heads_name_both_numbers() {
    let e = group_of(8, 3).unwrap_err();
    assert_eq!(
        e,
        GqaError::NotDivisible {
            heads: 8,
            kv_heads: 3
        }
    );
    assert!(e.to_string().contains('8') && e.to_string().contains('3'));
    assert_eq!(
        group_of(8, 0).unwrap_err(),
        GqaError::ZeroKvHeads { heads: 8 }
    );
    assert!(
        GqaSelfAttentionConfig::new(32, 8, 3)
            .init(&device())
            .is_err()
    );
    assert!(
        mean_pool_to_gqa(
            &GqaSelfAttentionConfig::new(32, 4, 4)
                .init(&device())
                .unwrap(),
            3
        )
        .is_err()
    );
}

#[test]
fn kv_bytes_shrink_by_the_group() {
    // Llama-3.1-8B: 32 layers, 8 KV heads of 128, bf16 → 128 KiB per token; MHA would be 4×.
    assert_eq!(ch05_gqa::kv_bytes_per_token(32, 8, 128, 2), 128 * 1024);
    assert_eq!(ch05_gqa::kv_bytes_per_token(32, 32, 128, 2), 4 * 128 * 1024);
}
