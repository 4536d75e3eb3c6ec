//! Chapter 06: Mixture of Experts — routing, dispatch, capacity, balance.
//!
//! The lesson is in `README.md` beside this crate. This chapter has no code yet: its README
//! is an outline of what the chapter will teach and measure.
