//! Line filters (`|=`, `!=`, `|~`, `!~`, `|>`, `!>`, and `ip(...)`), compiled
//! for speed: literal substrings use a SIMD `memmem` finder, regexes without
//! metacharacters are turned into substring searches, and an empty needle
//! matches every line, as in Loki.

use memchr::memmem::Finder;
use regex::Regex;

use super::ast::{LineFilterOp, LineFilterValue};
use super::ip::IpMatcher;
use super::pattern::PatternMatcher;
use super::regex_compat::compile_go_regex;

#[derive(Clone, Debug)]
enum LineMatcher {
    Everything,
    Substring(Box<Finder<'static>>),
    Regex(Regex),
    Pattern(PatternMatcher),
    Ip(IpMatcher),
}

impl LineMatcher {
    fn is_match(&self, line: &str) -> bool {
        match self {
            LineMatcher::Everything => true,
            LineMatcher::Substring(finder) => finder.find(line.as_bytes()).is_some(),
            LineMatcher::Regex(regex) => regex.is_match(line),
            LineMatcher::Pattern(pattern) => pattern.test(line),
            LineMatcher::Ip(ip) => ip.matches_in(line),
        }
    }
}

/// A line filter ready to run: positive filters keep lines matching any
/// alternative, negative ones keep lines matching none.
#[derive(Clone, Debug)]
pub(crate) struct CompiledLineFilter {
    negated: bool,
    alternatives: Vec<LineMatcher>,
}

fn substring_matcher(needle: &str) -> LineMatcher {
    if needle.is_empty() {
        LineMatcher::Everything
    } else {
        LineMatcher::Substring(Box::new(Finder::new(needle.as_bytes()).into_owned()))
    }
}

impl CompiledLineFilter {
    /// A filter that keeps every line (placeholder for queries that fail to parse).
    pub(crate) fn keep_everything() -> CompiledLineFilter {
        CompiledLineFilter {
            negated: false,
            alternatives: vec![LineMatcher::Everything],
        }
    }

    /// Compiles a filter; the error is Loki's reason (without the stage prefix).
    pub(crate) fn compile(
        op: LineFilterOp,
        values: &[LineFilterValue],
    ) -> Result<CompiledLineFilter, String> {
        let mut alternatives = Vec::with_capacity(values.len());
        for value in values {
            let matcher = match (op, value) {
                (
                    LineFilterOp::Contains | LineFilterOp::NotContains,
                    LineFilterValue::Ip(pattern),
                ) => LineMatcher::Ip(IpMatcher::parse(pattern)?),
                (_, LineFilterValue::Ip(_)) => return Err("ip: invalid operation".to_owned()),
                (
                    LineFilterOp::Contains | LineFilterOp::NotContains,
                    LineFilterValue::Text(text),
                ) => substring_matcher(text),
                (LineFilterOp::Matches | LineFilterOp::NotMatches, LineFilterValue::Text(text)) => {
                    if regex::escape(text) == *text {
                        substring_matcher(text)
                    } else {
                        LineMatcher::Regex(compile_go_regex(text)?)
                    }
                }
                (
                    LineFilterOp::MatchesPattern | LineFilterOp::NotMatchesPattern,
                    LineFilterValue::Text(text),
                ) => LineMatcher::Pattern(PatternMatcher::for_line_filter(text)?),
            };
            alternatives.push(matcher);
        }
        Ok(CompiledLineFilter {
            negated: op.is_negative(),
            alternatives,
        })
    }

    pub(crate) fn matches(&self, line: &str) -> bool {
        let any = self.alternatives.iter().any(|m| m.is_match(line));
        any != self.negated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(op: LineFilterOp, values: &[&str]) -> CompiledLineFilter {
        let values: Vec<LineFilterValue> = values
            .iter()
            .map(|v| LineFilterValue::Text((*v).to_owned()))
            .collect();
        CompiledLineFilter::compile(op, &values).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn contains_and_not_contains_with_alternatives() {
        let contains = filter(LineFilterOp::Contains, &["error", "warn"]);
        assert!(contains.matches("an error happened"));
        assert!(contains.matches("warn: disk"));
        assert!(!contains.matches("all good"));
        let not_contains = filter(LineFilterOp::NotContains, &["error", "warn"]);
        assert!(!not_contains.matches("an error happened"));
        assert!(!not_contains.matches("warn: disk"));
        assert!(not_contains.matches("all good"));
        // Case-sensitive, like Loki.
        assert!(!filter(LineFilterOp::Contains, &["Error"]).matches("error"));
    }

    #[test]
    fn empty_needles() {
        assert!(filter(LineFilterOp::Contains, &[""]).matches("anything"));
        assert!(!filter(LineFilterOp::NotContains, &[""]).matches("anything"));
        assert!(filter(LineFilterOp::Matches, &[""]).matches("anything"));
    }

    #[test]
    fn regexes_are_unanchored() {
        let regex = filter(LineFilterOp::Matches, &["err(or)?\\s+\\d+"]);
        assert!(regex.matches("got err 42 here"));
        assert!(!regex.matches("got err here"));
        assert!(filter(LineFilterOp::Matches, &["(?i)ERROR"]).matches("an error"));
        assert!(!filter(LineFilterOp::NotMatches, &["a.c"]).matches("xabcx"));
        assert!(filter(LineFilterOp::Matches, &["plain"]).matches("a plain line"));
    }

    #[test]
    fn pattern_and_ip_filters() {
        let pattern = filter(LineFilterOp::MatchesPattern, &["<_> level=error <_>"]);
        assert!(pattern.matches("ts=1 level=error msg=x"));
        assert!(!pattern.matches("ts=1 level=info msg=x"));
        let ip = CompiledLineFilter::compile(
            LineFilterOp::Contains,
            &[LineFilterValue::Ip("10.0.0.0/8".into())],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(ip.matches("from 10.1.2.3"));
        assert!(!ip.matches("from 11.1.2.3"));
        assert_eq!(
            CompiledLineFilter::compile(
                LineFilterOp::Matches,
                &[LineFilterValue::Ip("1.2.3.4".into())]
            )
            .err(),
            Some("ip: invalid operation".to_owned())
        );
        assert_eq!(
            CompiledLineFilter::compile(
                LineFilterOp::Matches,
                &[LineFilterValue::Text("(".into())]
            )
            .err(),
            Some("error parsing regexp: missing closing ): `(`".to_owned())
        );
    }
}
