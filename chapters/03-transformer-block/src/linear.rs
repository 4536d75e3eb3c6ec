//! A weight matrix times a handful of rows, the product that dominates decoding.
//!
//! At decode time every projection multiplies *one* row by a weight matrix: each weight is read
//! once and used for one multiply-add, so the product is bound by memory bandwidth, and on a
//! machine with several cores only all of them together reach its full bandwidth. burn's CPU
//! backend hands a one-row product to a single thread (the `gemm` crate's matrix-vector path),
//! leaving the others idle. So for a few rows we split the inner dimension `k` into `P` slices,
//! one per thread, compute the `P` partial products `x[:, slice] · W[slice, :]` side by side
//! (rayon, the pool the backend itself uses) and sum them:
//!
//! ```text
//! x [m, k] · W [k, n]  =  Σ_p  x [m, k/P]_p · W [k/P, n]_p        (W viewed as [P, k/P, n]: no copy)
//! ```
//!
//! Each thread streams its own slice of the weights. The price is `P` partial outputs to write
//! and sum (`P · m · n` numbers, small next to `k · n` weights) and a different order of
//! additions, so results differ from the unsplit product by f32 rounding (~1e-6 relative).
//! GPU kernels do the same for decode ("split-K"; FlashDecoding splits attention's keys alike).

use burn::nn::Linear;
use burn::tensor::Tensor;
use rayon::prelude::*;

/// Products with at most this many rows are split.
pub const SPLIT_K_MAX_ROWS: usize = 4;
/// Weight matrices with fewer elements are not split: below about 2 MB of f32 the product
/// takes tens of microseconds, and handing slices to threads costs as much as it saves
/// (measured on chapter 04's small model, whose 256-wide matrices decoded 45% slower split).
pub const SPLIT_K_MIN_WEIGHTS: usize = 1 << 19;

/// One slice per thread of the backend's pool, when the weights are big enough and each slice
/// keeps at least 64 of `k`'s columns.
fn split_parts(rows: usize, k: usize, n: usize) -> Option<usize> {
    let parts = rayon::current_num_threads();
    let worth_it = rows <= SPLIT_K_MAX_ROWS && k * n >= SPLIT_K_MIN_WEIGHTS;
    (parts > 1 && worth_it && k / parts >= 64).then_some(parts)
}

/// `Σ_i partial(start_i, len_i, x[:, start_i .. start_i + len_i])` over `parts` slices of
/// `x`'s `k` columns (as even as `k` allows), each partial product on its own thread.
fn split_k(
    x: Tensor<2>,
    parts: usize,
    partial: impl Fn(usize, usize, Tensor<2>) -> Tensor<2> + Sync,
) -> Tensor<2> {
    let k = x.dims()[1];
    (0..parts)
        .into_par_iter()
        .map(|i| {
            let (start, end) = (i * k / parts, (i + 1) * k / parts);
            partial(start, end - start, x.clone().narrow(1, start, end - start))
        })
        .reduce_with(|a, b| a + b)
        .expect("at least one slice")
}

/// `x · w` over `parts` slices of `k`: slice `i` of `w` is a block of its rows, a view.
fn matmul_split(x: Tensor<2>, w: Tensor<2>, parts: usize) -> Tensor<2> {
    split_k(x, parts, |start, len, x_i| {
        x_i.matmul(w.clone().narrow(0, start, len))
    })
}

/// `x · eᵀ` over `parts` slices of `k`: slice `i` of `e` is a block of its columns, a strided
/// view, multiplied as `(e_i · x_iᵀ)ᵀ` so `e` is read as stored.
fn matmul_transposed_split(x: Tensor<2>, e: Tensor<2>, parts: usize) -> Tensor<2> {
    split_k(x, parts, |start, len, x_i| {
        transposed_product(x_i, e.clone().narrow(1, start, len))
    })
}

/// `(e · xᵀ)ᵀ`: the backend reads `e` as stored and transposes only the small `x` and result.
fn transposed_product(x: Tensor<2>, e: Tensor<2>) -> Tensor<2> {
    e.matmul(x.transpose()).transpose()
}

/// `x · w` for `x: [m, k]`, `w: [k, n]`; split along `k` when `m` is small.
pub fn matmul_rows(x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
    let [m, k] = x.dims();
    match split_parts(m, k, w.dims()[1]) {
        Some(parts) => matmul_split(x, w, parts),
        None => x.matmul(w),
    }
}

/// `x · eᵀ` for `x: [m, k]` and `e: [n, k]` stored row by row (a tied embedding), reading `e`
/// as stored (written `x · eᵀ`, the backend would materialise the transpose of `e`).
pub fn matmul_rows_transposed(x: Tensor<2>, e: Tensor<2>) -> Tensor<2> {
    let [m, k] = x.dims();
    match split_parts(m, k, e.dims()[0]) {
        Some(parts) => matmul_transposed_split(x, e, parts),
        None => transposed_product(x, e),
    }
}

/// A burn `Linear` (`weight: [in, out]`, optional bias) applied to `x: [b, s, in]` through
/// [`matmul_rows`].
pub fn linear(layer: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [b, s, k] = x.dims();
    let w = layer.weight.val();
    let n = w.dims()[1];
    let y = matmul_rows(x.reshape([b * s, k]), w);
    let y = match &layer.bias {
        Some(bias) => y + bias.val().unsqueeze::<2>(),
        None => y,
    };
    y.reshape([b, s, n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    fn max_rel_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>();
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    /// The split products against burn's unsplit matmul (f32 sums in another order: 1e-5
    /// relative): 4 and 3 slices (3 does not divide k, so the slices are uneven) whatever this
    /// machine's thread count, then the public entry points on weights big enough to be split
    /// wherever there is more than one thread.
    #[test]
    fn split_k_equals_the_unsplit_product() {
        let device = Device::flex();
        device.seed(3);
        let normal = Distribution::Normal(0.0, 1.0);
        let (k, n) = (1024, 512); // k · n = SPLIT_K_MIN_WEIGHTS
        let w = Tensor::<2>::random([k, n], normal, &device);
        let e = Tensor::<2>::random([n, k], normal, &device);
        for m in [1, 3] {
            let x = Tensor::<2>::random([m, k], normal, &device);
            let (plain, plain_t) = (
                x.clone().matmul(w.clone()),
                x.clone().matmul(e.clone().transpose()),
            );
            for parts in [4, 3] {
                assert!(
                    max_rel_diff(matmul_split(x.clone(), w.clone(), parts), plain.clone()) < 1e-5
                );
                let split_t = matmul_transposed_split(x.clone(), e.clone(), parts);
                assert!(max_rel_diff(split_t, plain_t.clone()) < 1e-5);
            }
            assert!(max_rel_diff(matmul_rows(x.clone(), w.clone()), plain) < 1e-5);
            assert!(max_rel_diff(matmul_rows_transposed(x, e.clone()), plain_t) < 1e-5);
        }
    }
}
