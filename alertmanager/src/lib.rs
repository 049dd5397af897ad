//! Vigil's alerting (issue 6), being built: what exists so far is the
//! boundary with the metrics store ([`engine`]). See ../ARCHITECTURE.md.

pub mod engine;
pub mod evaluation;
pub mod notify;
