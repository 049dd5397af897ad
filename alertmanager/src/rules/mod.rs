//! Prometheus rule files: parsing and validation as `promtool check rules`
//! does it.

pub mod file;

pub use file::{parse, parse_duration, Rule, RuleError, RuleFile, RuleGroup, RuleKind};
