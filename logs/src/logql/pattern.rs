//! Loki's pattern language, used by `| pattern "<ip> - <_> <status>"` and the
//! `|>` / `!>` line filters: `<name>` captures text up to the next literal,
//! `<_>` skips it, everything else is matched literally.

#[derive(Clone, Debug, PartialEq, Eq)]
enum PatternNode {
    Literal(String),
    /// `None` for the unnamed `<_>`.
    Capture(Option<String>),
}

#[derive(Clone, Debug)]
pub(crate) struct PatternMatcher {
    nodes: Vec<PatternNode>,
    names: Vec<String>,
}

impl PatternMatcher {
    /// Parses a pattern for `| pattern`: it needs at least one named capture.
    pub(crate) fn for_parser(pattern: &str) -> Result<PatternMatcher, String> {
        let matcher = PatternMatcher::parse(pattern)?;
        if matcher.names.is_empty() {
            return Err("at least one capture is required".to_owned());
        }
        Ok(matcher)
    }

    /// Parses a pattern for the `|>` / `!>` line filters (captures optional).
    pub(crate) fn for_line_filter(pattern: &str) -> Result<PatternMatcher, String> {
        PatternMatcher::parse(pattern)
    }

    fn parse(pattern: &str) -> Result<PatternMatcher, String> {
        if pattern.is_empty() {
            return Err("parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL".to_owned());
        }
        let mut nodes: Vec<PatternNode> = Vec::new();
        let mut rest = pattern;
        while let Some(c) = rest.chars().next() {
            if let Some((name, consumed)) = capture_at(rest) {
                let capture = if name == "_" {
                    None
                } else {
                    Some(name.to_owned())
                };
                nodes.push(PatternNode::Capture(capture));
                rest = &rest[consumed..];
                continue;
            }
            match nodes.last_mut() {
                Some(PatternNode::Literal(literal)) => literal.push(c),
                _ => nodes.push(PatternNode::Literal(c.to_string())),
            }
            rest = &rest[c.len_utf8()..];
        }
        for pair in nodes.windows(2) {
            if let [PatternNode::Capture(first), PatternNode::Capture(second)] = pair {
                let show = |c: &Option<String>| format!("<{}>", c.as_deref().unwrap_or("_"));
                return Err(format!(
                    "found consecutive capture '{}{}': invalid expression",
                    show(first),
                    show(second)
                ));
            }
        }
        let mut names: Vec<String> = Vec::new();
        for node in &nodes {
            if let PatternNode::Capture(Some(name)) = node {
                if names.contains(name) {
                    return Err(format!(
                        "duplicate capture name ({name}): invalid expression"
                    ));
                }
                names.push(name.clone());
            }
        }
        Ok(PatternMatcher { nodes, names })
    }

    /// Names of the named captures, in order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Captured values for the first `n` names (fewer when the line stops matching).
    pub(crate) fn captures<'a>(&self, line: &'a str) -> Vec<&'a str> {
        let mut captures = Vec::new();
        if line.is_empty() || self.nodes.is_empty() {
            return captures;
        }
        let mut rest = line;
        let mut nodes = self.nodes.as_slice();
        if let Some(PatternNode::Literal(first)) = nodes.first() {
            if !rest.starts_with(first.as_str()) {
                return captures;
            }
            rest = &rest[first.len()..];
            nodes = &nodes[1..];
        }
        while let Some(node) = nodes.first() {
            let PatternNode::Capture(name) = node else {
                break;
            };
            let Some(PatternNode::Literal(literal)) = nodes.get(1) else {
                // Ending on a capture: it takes the rest of the line.
                if name.is_some() {
                    captures.push(rest);
                }
                return captures;
            };
            nodes = &nodes[2..];
            let Some(found) = rest.find(literal.as_str()) else {
                // A missing literal ends matching; the capture takes the rest.
                if name.is_some() {
                    captures.push(rest);
                }
                return captures;
            };
            if name.is_some() {
                captures.push(&rest[..found]);
            }
            rest = &rest[found + literal.len()..];
        }
        captures
    }

    /// Whether the line matches the whole pattern (the `|>` filter).
    pub(crate) fn test(&self, line: &str) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut offset = 0;
        for (index, node) in self.nodes.iter().enumerate() {
            let PatternNode::Literal(literal) = node else {
                continue;
            };
            let Some(found) = line[offset..].find(literal.as_str()) else {
                return false;
            };
            if index != 0 && found == 0 {
                // An empty capture before this literal.
                return false;
            }
            offset += found + literal.len();
        }
        let ends_with_capture = matches!(self.nodes.last(), Some(PatternNode::Capture(_)));
        ends_with_capture == (offset != line.len())
    }
}

/// `<name>` or `<_>` at the start of `text`: the name and the bytes consumed.
fn capture_at(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(pattern: &str) -> PatternMatcher {
        PatternMatcher::for_parser(pattern).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn captures_follow_loki_semantics() {
        let m = parser("<ip> - <user> [<_>] \"<method> <path> <_>\" <status> <size>");
        assert_eq!(
            m.names(),
            ["ip", "user", "method", "path", "status", "size"]
        );
        let line =
            r#"10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326"#;
        assert_eq!(
            m.captures(line),
            ["10.0.0.1", "frank", "GET", "/a.gif", "200", "2326"]
        );
        // A literal prefix must start the line.
        let prefixed = parser("level=<level> msg");
        assert_eq!(prefixed.captures("level=info msg=x"), ["info"]);
        assert!(prefixed.captures("xlevel=info msg").is_empty());
        // A literal that is missing lets the capture take the rest.
        let partial = parser("<a> <b>|<c>");
        assert_eq!(partial.captures("one two three"), ["one", "two three"]);
    }

    #[test]
    fn invalid_patterns_are_refused() {
        assert_eq!(
            PatternMatcher::for_parser("no captures").err(),
            Some("at least one capture is required".to_owned())
        );
        assert_eq!(
            PatternMatcher::for_parser("<a><b>").err(),
            Some("found consecutive capture '<a><b>': invalid expression".to_owned())
        );
        assert_eq!(
            PatternMatcher::for_parser("<a> <a>").err(),
            Some("duplicate capture name (a): invalid expression".to_owned())
        );
        assert!(PatternMatcher::for_parser("").is_err());
        // Not a valid capture name: kept as literal text.
        assert_eq!(parser("<1> <x>").captures("<1> y"), ["y"]);
    }

    #[test]
    fn line_filter_test() {
        let m = PatternMatcher::for_line_filter("<_> error <_>").unwrap_or_else(|e| panic!("{e}"));
        assert!(m.test("a error b"));
        assert!(!m.test(" error b"));
        assert!(!m.test("a warn b"));
        let ends_literal =
            PatternMatcher::for_line_filter("<_> baz").unwrap_or_else(|e| panic!("{e}"));
        assert!(ends_literal.test("foo bar baz"));
        assert!(!ends_literal.test("foo baz bar"));
    }
}
