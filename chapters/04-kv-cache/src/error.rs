//! What can go wrong when decoding with a cache. Each message names the input or limit at fault.

use ch03_transformer_block::ModelError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CacheError {
    #[error("the prompt is empty: give at least one token")]
    EmptyPrompt,
    #[error("max-new-tokens is 0: ask for at least one new token")]
    NoNewTokens,
    #[error(
        "prompt ({prompt} tokens) + max-new-tokens ({new}) = {total} exceeds the model context of {context} tokens"
    )]
    TooLong {
        prompt: usize,
        new: usize,
        total: usize,
        context: usize,
    },
    #[error(
        "pre-allocated cache is full: {capacity} positions, {requested} needed (use Overflow::Grow to grow it)"
    )]
    CapacityExceeded { capacity: usize, requested: usize },
    #[error(
        "block pool too small: one sequence of {tokens} tokens needs {needed} blocks of {block_size}, the pool has {pool_blocks}"
    )]
    PoolTooSmall {
        tokens: usize,
        needed: usize,
        block_size: usize,
        pool_blocks: usize,
    },
    #[error("block pool exhausted: {needed} more blocks needed, {free} free")]
    PoolExhausted { needed: usize, free: usize },
    #[error("the sliding-window cache takes one token per step, got {got}")]
    OneTokenSteps { got: usize },
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
    #[error(transparent)]
    Model(#[from] ModelError),
}
