//! The pure logic of Alertmanager's notification pipeline: label matchers,
//! the routing tree, inhibition, time intervals and silences. No I/O, no
//! clock: every time-dependent function takes the instant as an argument.

pub mod aggregation;
pub mod inhibit;
pub mod matcher;
pub mod route;
pub mod silence;
pub mod timeinterval;

pub use matcher::{LabelSet, MatchType, Matcher};

#[cfg(test)]
mod tests;
