//! llm-workbench: the library behind the `llm-workbench` binary.
//!
//! The chapters (`chapters/*`) teach one idea each; this crate holds what they share at the
//! edges: this machine's measured limits ([`machine`]), the records benches write
//! ([`records`]), the counting allocator that measures bytes ([`alloc`]), the report
//! ([`report`]), the two calculators as libraries ([`budget`], [`router`]), and the command
//! line ([`commands`]: one file per subcommand, printing through [`output`]).

pub mod alloc;
pub mod bench;
pub mod budget;
pub mod commands;
pub mod data;
pub mod device;
pub mod error;
pub mod fuzz;
pub mod machine;
pub mod output;
pub mod plot;
pub mod records;
pub mod report;
pub mod router;
pub mod table;

pub use error::BadInput;
