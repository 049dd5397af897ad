//! Alertmanager label matchers (`pkg/labels` in Alertmanager): the four match
//! types, fully anchored regexes, the `ParseMatchers` text syntax used in the
//! config file and by amtool, and the API form `{name, value, isRegex,
//! isEqual}` used by silences.
//!
//! A label that is absent from a label set is matched as the empty string, so
//! `foo=""` matches an alert without `foo`, and `foo!="x"` matches it too.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

/// A label set as the dispatcher sees it: name → value, sorted by name.
pub type LabelSet = BTreeMap<String, String>;

/// Why a matcher could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

/// The four match types. The declaration order is Alertmanager's, which the
/// canonical sort of a matcher list relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One matcher: `name op value`. For the regex types, `value` is the pattern
/// as written and is matched against the whole label value (`^(?:value)$`).
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub kind: MatchType,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.kind == other.kind && self.value == other.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher; compiles the anchored regex for the regex types.
    pub fn new(
        kind: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let name = name.into();
        let value = value.into();
        let re = match kind {
            MatchType::Regexp | MatchType::NotRegexp => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    MatcherError(format!("invalid regular expression {value:?}: {e}"))
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name,
            kind,
            value,
            re,
        })
    }

    /// Builds a matcher from the API v2 form. `is_equal` absent means `true`,
    /// as in Alertmanager's API (the field was added later, with that default).
    pub fn from_api(m: &ApiMatcher) -> Result<Matcher, MatcherError> {
        if !is_valid_label_name(&m.name) {
            return Err(MatcherError(format!("invalid label name {:?}", m.name)));
        }
        let kind = match (m.is_regex, m.is_equal.unwrap_or(true)) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        };
        Matcher::new(kind, m.name.clone(), m.value.clone())
    }

    /// Whether a label value (`""` for an absent label) satisfies the matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match self.kind {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regexp => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegexp => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether the label set satisfies the matcher (absent label = `""`).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }
}

/// `name="value"` with OpenMetrics escaping, as Alertmanager prints matchers
/// (this string is part of a route's key and hence of group keys).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.kind)?;
        for c in self.value.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '"' => f.write_str("\\\"")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// The API v2 matcher form (silences, alert filters).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default)]
    pub is_equal: Option<bool>,
}

/// True when every matcher matches (an empty list matches everything).
pub fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// Sorts matchers in Alertmanager's canonical order: by name, then value,
/// then match type.
pub fn sort_matchers(ms: &mut [Matcher]) {
    ms.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.value.cmp(&b.value))
            .then_with(|| a.kind.cmp(&b.kind))
    });
}

/// `{a="1",b=~"2"}`: Alertmanager's `Matchers.String()`.
pub fn matchers_to_string(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(","))
}

/// A classic Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn matcher_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*((?s).*?)[\t\n\f\r ]*$")
            .expect("static regex")
    })
}

/// Parses a comma-separated list of matchers as `labels.ParseMatchers`: an
/// optional leading `{` and trailing `}`, commas inside double quotes do not
/// split, a trailing comma is allowed.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let mut token = String::new();
    let (mut inside_quotes, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if !escaped {
                    inside_quotes = !inside_quotes;
                } else {
                    escaped = false;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim();
    if !last.is_empty() {
        tokens.push(last.to_string());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// Parses one matcher: label name, operator, value that may be double-quoted
/// (`\"`, `\n`, `\\` escapes; other backslashes are literal).
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let caps = matcher_re()
        .captures(s)
        .ok_or_else(|| MatcherError(format!("bad matcher format: {s}")))?;
    let name = &caps[1];
    let kind = match &caps[2] {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::Regexp,
        _ => MatchType::NotRegexp,
    };
    let raw_full = &caps[3];
    let (raw, mut expect_trailing_quote) = match raw_full.strip_prefix('"') {
        Some(rest) => (rest, true),
        None => (raw_full, false),
    };
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' => {
                if i < raw.len() - 1 {
                    escaped = true;
                } else {
                    value.push('\\');
                }
            }
            '"' => {
                if !expect_trailing_quote || i < raw.len() - 1 {
                    return Err(MatcherError(format!(
                        "matcher value contains unescaped double quote: {raw_full}"
                    )));
                }
                expect_trailing_quote = false;
            }
            _ => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(MatcherError(format!(
            "matcher value contains unescaped double quote: {raw_full}"
        )));
    }
    Matcher::new(kind, name, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_forms() {
        let ms = parse_matchers(r#"{foo = "bar", dings != "bums", }"#).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].to_string(), r#"foo="bar""#);
        assert_eq!(ms[1].to_string(), r#"dings!="bums""#);

        let ms = parse_matchers("foo=bar,dings!=bums").unwrap();
        assert_eq!(
            (ms[0].kind, ms[0].value.as_str()),
            (MatchType::Equal, "bar")
        );
        assert_eq!(
            (ms[1].kind, ms[1].value.as_str()),
            (MatchType::NotEqual, "bums")
        );

        let ms = parse_matchers(r#"statuscode=~"5..""#).unwrap();
        assert_eq!(ms[0].kind, MatchType::Regexp);
        assert_eq!(ms[0].value, "5..");

        let ms = parse_matchers(r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#)
            .unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(
            ms[0].value,
            r#"She said: "Hi, ladies! That's gender-neutral…""#
        );

        let ms = parse_matchers(r#"{a="1",b=~"2"}"#).unwrap();
        assert_eq!(ms.len(), 2);
        let ms = parse_matchers("foo!~b.*").unwrap();
        assert_eq!(ms[0].kind, MatchType::NotRegexp);
        // Colons are allowed in matcher names (recording-rule style).
        assert!(parse_matcher("a:b=c").is_ok());
        // Empty value.
        assert_eq!(parse_matcher("foo=").unwrap().value, "");
        assert_eq!(parse_matcher(r#"foo="""#).unwrap().value, "");
        // Escapes: \n, \\, spurious escape kept literally.
        assert_eq!(parse_matcher(r#"a="x\ny""#).unwrap().value, "x\ny");
        assert_eq!(parse_matcher(r#"a="x\\y""#).unwrap().value, "x\\y");
        assert_eq!(parse_matcher(r#"a="x\dy""#).unwrap().value, "x\\dy");
    }

    #[test]
    fn parse_errors() {
        assert!(parse_matcher("foo").is_err());
        assert!(parse_matcher("0foo=bar").is_err());
        assert!(parse_matcher(r#"foo="bar"#).is_err());
        assert!(parse_matcher(r#"foo=b"ar"#).is_err());
        assert!(parse_matcher(r#"foo=~"(""#).is_err());
        // An empty element between commas is a bad matcher.
        assert!(parse_matchers("a=1,,b=2").is_err());
    }

    #[test]
    fn matching_semantics() {
        let l = ls(&[("job", "node"), ("env", "production")]);
        let m = |s: &str| parse_matcher(s).unwrap().matches(&l);
        assert!(m("job=node"));
        assert!(!m("job!=node"));
        assert!(m("env=~prod.*"));
        // Fully anchored: a partial match is not a match.
        assert!(!m("env=~prod"));
        assert!(m("env!~prod"));
        assert!(m("env=~\"staging|production\""));
        // Absent label is the empty string.
        assert!(m(r#"missing="""#));
        assert!(m("missing!=x"));
        assert!(m("missing=~.*"));
        assert!(!m("missing=~.+"));
        assert!(m("missing!~.+"));
    }

    #[test]
    fn canonical_order_and_string() {
        let mut ms = parse_matchers(r#"b="1",a=~"x",a="x",a!="y""#).unwrap();
        sort_matchers(&mut ms);
        assert_eq!(matchers_to_string(&ms), r#"{a="x",a=~"x",a!="y",b="1"}"#);
    }

    #[test]
    fn api_form() {
        let m: ApiMatcher =
            serde_yaml::from_str(r#"{"name":"job","value":"n.*","isRegex":true}"#).unwrap();
        let m = Matcher::from_api(&m).unwrap();
        assert_eq!(m.kind, MatchType::Regexp);
        let m: ApiMatcher =
            serde_yaml::from_str(r#"{"name":"job","value":"x","isRegex":false,"isEqual":false}"#)
                .unwrap();
        assert_eq!(Matcher::from_api(&m).unwrap().kind, MatchType::NotEqual);
    }
}
