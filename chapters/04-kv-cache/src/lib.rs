//! Chapter 04: the KV cache — concatenating, pre-allocated, paged.
//!
//! The lesson is in `README.md` beside this crate. This chapter has no code yet: its README
//! is an outline of what the chapter will teach and measure.
