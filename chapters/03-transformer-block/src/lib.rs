//! Chapter 03: RMSNorm, RoPE, SwiGLU, the pre-norm decoder block.
//!
//! The lesson is in `README.md` beside this crate. This chapter has no code yet: its README
//! is an outline of what the chapter will teach and measure.
