//! llm-workbench: the library behind the `llm-workbench` binary.
//!
//! The chapters (`chapters/*`) teach one idea each; this crate holds what they share at the
//! edges: this machine's measured limits ([`machine`]), the records benches write
//! ([`records`]), the counting allocator that measures bytes ([`alloc`]), the report
//! ([`report`]), and the command line ([`cli`]).

pub mod alloc;
pub mod attention_cli;
pub mod bench;
pub mod bpe_cli;
pub mod budget;
pub mod cli;
pub mod error;
pub mod generate_cli;
pub mod gqa_cli;
pub mod machine;
pub mod moe_tour;
pub mod plot;
pub mod records;
pub mod report;
pub mod router;
pub mod table;
pub mod tour;
pub mod transformer_cli;

pub use error::BadInput;
