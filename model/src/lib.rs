//! The data model every Vigil crate shares, and the wire formats that carry it.
//!
//! This crate depends on no other crate of ours. It owns:
//! - [`labels`]: label sets, sorted and validated by Prometheus' naming rules;
//! - [`matcher`]: label matchers with Prometheus' fully anchored regex semantics;
//! - [`sample`]: a float sample and Prometheus' staleness marker;
//! - [`remote_write`]: Prometheus Remote-Write 1.0 (snappy-framed protobuf).

pub mod labels;
pub mod matcher;
pub mod remote_write;
pub mod sample;

pub use labels::{Label, LabelError, Labels, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::Sample;
