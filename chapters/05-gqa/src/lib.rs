//! Chapter 05: MHA, GQA and MQA via n_kv_heads.
//!
//! The lesson is in `README.md` beside this crate. This chapter has no code yet: its README
//! is an outline of what the chapter will teach and measure.
