//! Label matchers with Prometheus' semantics.
//!
//! Regular expressions are RE2 syntax (the `regex` crate is RE2-compatible) and
//! fully anchored: `job=~"api"` matches `api` only, not `api-server`. A label
//! that is absent has the value `""`, so `foo=""` selects series without `foo`
//! and `foo!=""` selects series that have it.

use regex::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression in matcher {name}{op}{value:?}: {reason}")]
pub struct MatcherError {
    pub name: String,
    pub op: &'static str,
    pub value: String,
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<CompiledRegex>,
}

/// A compiled anchored regex, with the common "a|b|c" literal alternation
/// turned into a set lookup (dashboards produce these from multi-value variables).
#[derive(Clone, Debug)]
enum CompiledRegex {
    Literals(Vec<String>),
    Any,
    Regex(Regex),
}

impl CompiledRegex {
    fn new(pattern: &str) -> Result<CompiledRegex, regex::Error> {
        // Compile first so an invalid pattern is refused whatever its shape.
        let regex = Regex::new(&format!("^(?s:{pattern})$"))?;
        if pattern == ".*" {
            return Ok(CompiledRegex::Any);
        }
        let is_plain = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-:/ ,@".contains(&b))
        };
        if pattern.split('|').all(is_plain) {
            let mut literals: Vec<String> = pattern.split('|').map(str::to_owned).collect();
            literals.sort();
            literals.dedup();
            return Ok(CompiledRegex::Literals(literals));
        }
        Ok(CompiledRegex::Regex(regex))
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            CompiledRegex::Literals(set) => set.binary_search_by(|l| l.as_str().cmp(value)).is_ok(),
            CompiledRegex::Any => true,
            CompiledRegex::Regex(re) => re.is_match(value),
        }
    }
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                Some(CompiledRegex::new(&value).map_err(|e| MatcherError {
                    name: name.clone(),
                    op: op.as_str(),
                    value: value.clone(),
                    reason: e.to_string(),
                })?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// `name="value"`, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (`""` for an absent label) satisfies this matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            (_, None) => unreachable!("regex matchers are built with their regex"),
        }
    }

    /// Whether a series without this label is selected.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=~"a|b"`: the exact values it can match, so an index can look them up.
    pub fn set_values(&self) -> Option<&[String]> {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => Some(std::slice::from_ref(&self.value)),
            (MatchOp::RegexMatch, Some(CompiledRegex::Literals(set))) => Some(set),
            _ => None,
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_are_fully_anchored() {
        let m = Matcher::new(MatchOp::RegexMatch, "job", "api").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("api-server"));
        let m = Matcher::new(MatchOp::RegexMatch, "job", "a.*|b").unwrap();
        assert!(m.matches("abc"));
        assert!(m.matches("b"));
        assert!(!m.matches("bc"));
        let m = Matcher::new(MatchOp::RegexMatch, "job", "x\ny|z").unwrap();
        assert!(m.matches("x\ny"));
    }

    #[test]
    fn literal_alternations_behave_like_the_regex() {
        let set = Matcher::new(MatchOp::RegexMatch, "job", "api|web|").unwrap();
        assert_eq!(set.set_values().unwrap(), ["", "api", "web"]);
        let re = Regex::new("^(?s:api|web|)$").unwrap();
        for v in ["api", "web", "", "ap", "apiweb"] {
            assert_eq!(set.matches(v), re.is_match(v), "{v}");
        }
    }

    #[test]
    fn empty_value_means_absent() {
        assert!(Matcher::equal("foo", "").matches_empty());
        assert!(!Matcher::new(MatchOp::NotEqual, "foo", "")
            .unwrap()
            .matches_empty());
        assert!(Matcher::new(MatchOp::RegexMatch, "foo", ".*")
            .unwrap()
            .matches_empty());
        assert!(!Matcher::new(MatchOp::RegexMatch, "foo", ".+")
            .unwrap()
            .matches_empty());
    }

    #[test]
    fn invalid_regex_is_an_error() {
        let err = Matcher::new(MatchOp::RegexMatch, "job", "(").unwrap_err();
        assert!(err.to_string().contains("job=~"), "{err}");
    }
}
