//! Our multi-head self-attention equals burn-nn's `MultiHeadAttention` with the same weights.

use burn::nn::attention::{MhaInput, MultiHeadAttentionConfig, generate_autoregressive_mask};
use burn::tensor::{Device, Distribution, Tensor};
use ch02_attention::MultiHeadSelfAttention;

#[test]
fn matches_burn_nn_multi_head_attention() {
    let device = Device::flex();
    for (b, s, d_model, heads) in [(2, 7, 16, 4), (1, 1, 8, 1), (1, 12, 24, 3)] {
        let theirs = MultiHeadAttentionConfig::new(d_model, heads)
            .with_dropout(0.0)
            .init(&device);
        let ours = MultiHeadSelfAttention {
            query: theirs.query.clone(),
            key: theirs.key.clone(),
            value: theirs.value.clone(),
            output: theirs.output.clone(),
            n_heads: heads,
            head_dim: d_model / heads,
        };
        let x = Tensor::<3>::random([b, s, d_model], Distribution::Normal(0.0, 1.0), &device);

        let plain = theirs.forward(MhaInput::self_attn(x.clone())).context;
        let diff = (ours.forward(x.clone(), false, None).unwrap() - plain)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-5, "non-causal: {diff}");

        // burn-nn masks with -1e4 rather than -inf: identical after softmax in f32.
        let causal = generate_autoregressive_mask(b, s, &device);
        let masked = theirs
            .forward(MhaInput::self_attn(x.clone()).mask_attn(causal))
            .context;
        let diff = (ours.forward(x, true, None).unwrap() - masked)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-5, "causal: {diff}");
    }
}
