//! Bad shapes are errors that name the shapes, raised before any burn op can panic.

use burn::tensor::{Bool, Device, Tensor};
use ch02_attention::{
    AttentionError, MultiHeadSelfAttentionConfig, attention, padding_mask, tiled_attention,
};

fn zeros(shape: [usize; 4]) -> Tensor<4> {
    Tensor::zeros(shape, &Device::flex())
}

#[test]
fn mismatched_key_shape() {
    let err = attention(
        zeros([1, 2, 4, 8]),
        zeros([1, 2, 4, 16]),
        zeros([1, 2, 4, 16]),
        false,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, AttentionError::Shape { what: "k", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("[1, 2, 4, 16]"), "{err}");
}

#[test]
fn mismatched_value_length() {
    let err = attention(
        zeros([1, 2, 4, 8]),
        zeros([1, 2, 5, 8]),
        zeros([1, 2, 4, 8]),
        false,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, AttentionError::Shape { what: "v", .. }),
        "{err}"
    );
}

#[test]
fn zero_head_dim() {
    let err = attention(
        zeros([1, 1, 3, 0]),
        zeros([1, 1, 3, 0]),
        zeros([1, 1, 3, 0]),
        false,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, AttentionError::ZeroHeadDim { .. }), "{err}");
}

#[test]
fn mask_of_the_wrong_shape() {
    let mask = Tensor::<4, Bool>::empty([1, 1, 3, 3], &Device::flex());
    let err = attention(
        zeros([1, 1, 4, 8]),
        zeros([1, 1, 4, 8]),
        zeros([1, 1, 4, 8]),
        false,
        Some(mask.clone()),
    )
    .unwrap_err();
    assert!(
        matches!(err, AttentionError::Shape { what: "mask", .. }),
        "{err}"
    );
    let err = tiled_attention(
        zeros([1, 1, 4, 8]),
        zeros([1, 1, 4, 8]),
        zeros([1, 1, 4, 8]),
        false,
        Some(mask),
        2,
    )
    .unwrap_err();
    assert!(
        matches!(err, AttentionError::Shape { what: "mask", .. }),
        "{err}"
    );
}

#[test]
fn zero_tile() {
    let err = tiled_attention(
        zeros([1, 1, 4, 8]),
        zeros([1, 1, 4, 8]),
        zeros([1, 1, 4, 8]),
        false,
        None,
        0,
    )
    .unwrap_err();
    assert_eq!(err, AttentionError::ZeroTile);
}

#[test]
fn padding_lengths_longer_than_the_sequence() {
    assert!(padding_mask(&[3, 9], 8, &Device::flex()).is_err());
}

/// The error names the entry at fault and the limit it breaks, not the batch size twice
/// (it used to say "key_lengths has 3 entries for a batch of 3").
#[test]
fn padding_length_error_names_the_entry_and_seq_k() {
    let err = padding_mask(&[3, 9, 4], 8, &Device::flex()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("key_lengths[1] = 9"), "{msg}");
    assert!(msg.contains("seq_k = 8"), "{msg}");
    assert!(!msg.contains("batch of 3"), "{msg}");
}

/// Three key lengths for a batch of two: the mask is built (its batch is 3), and the attention
/// call refuses it with an error that names both the mask's batch (3) and `q`'s (2).
#[test]
fn key_lengths_for_the_wrong_batch_name_both_sizes() {
    let device = Device::flex();
    let mask = padding_mask(&[1, 2, 3], 4, &device).unwrap();
    let err = attention(
        zeros([2, 1, 4, 8]),
        zeros([2, 1, 4, 8]),
        zeros([2, 1, 4, 8]),
        false,
        Some(mask),
    )
    .unwrap_err();
    assert!(
        matches!(err, AttentionError::Shape { what: "mask", .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("[3, 1, 1, 4]"), "the mask's batch of 3: {msg}");
    assert!(msg.contains("[2 or 1,"), "q's batch of 2: {msg}");
}

#[test]
fn heads_that_do_not_divide_d_model() {
    let err = MultiHeadSelfAttentionConfig::new(10, 3)
        .init(&Device::flex())
        .unwrap_err();
    assert_eq!(
        err,
        AttentionError::HeadsDivide {
            d_model: 10,
            n_heads: 3
        }
    );
}

#[test]
fn wrong_model_width() {
    let mha = MultiHeadSelfAttentionConfig::new(8, 2)
        .init(&Device::flex())
        .unwrap();
    let x = Tensor::<3>::zeros([1, 3, 6], &Device::flex());
    assert_eq!(
        mha.forward(x, true, None).unwrap_err(),
        AttentionError::ModelDim {
            got: 6,
            expected: 8
        }
    );
}
