//! What can go wrong: a layer that cannot route (no experts, `top_k` out of range, a capacity
//! factor that leaves no room), or an input the layer cannot take. Each error names the numbers.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MoeError {
    #[error("`experts` = 0: a mixture needs at least one expert")]
    NoExperts,
    #[error("`top_k` = 0: every token must go to at least one expert")]
    ZeroTopK,
    #[error(
        "`top_k` = {top_k} exceeds `experts` = {experts}: a token cannot pick more experts than exist"
    )]
    TopKExceedsExperts { top_k: usize, experts: usize },
    #[error(
        "`capacity_factor` = {factor} must be a finite number > 0 (leave it unset for no capacity limit)"
    )]
    CapacityFactor { factor: f64 },
    #[error("`{field}` must be at least 1")]
    Zero { field: &'static str },
    #[error("input has width {got}, the layer expects `hidden` = {expected}")]
    Width { got: usize, expected: usize },
    #[error("the input has no tokens")]
    Empty,
    #[error("router weight has shape {got:?}, expected [hidden, experts] = {expected:?}")]
    RouterShape {
        got: [usize; 2],
        expected: [usize; 2],
    },
}
