//! Stream label sets in Loki's text form, `{app="api", env="prod"}`: parsing
//! (as Loki's protobuf push carries them), validation and formatting.
//!
//! Loki's rules: at least one label, names match `[a-zA-Z_][a-zA-Z0-9_]*`,
//! no name twice, values are UTF-8 (empty values are dropped).

use model::{Label, Labels};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    #[error("error parsing labels '{text}': {reason}")]
    Syntax { text: String, reason: String },
    #[error("invalid label name '{name}' in stream '{text}'")]
    InvalidName { text: String, name: String },
    #[error("duplicate label name '{name}' in stream '{text}'")]
    Duplicate { text: String, name: String },
    #[error("error at least one label pair is required per stream")]
    Empty,
}

/// Whether `name` is a valid label name.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Builds a validated, sorted label set from pairs in any order.
pub fn from_pairs<I, N, V>(pairs: I) -> Result<Labels, LabelsError>
where
    I: IntoIterator<Item = (N, V)>,
    N: Into<String>,
    V: Into<String>,
{
    let mut labels: Vec<Label> = pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect();
    labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let text = || format_pairs(&labels);
    for label in &labels {
        if !is_valid_name(&label.name) {
            return Err(LabelsError::InvalidName {
                text: text(),
                name: label.name.clone(),
            });
        }
    }
    for pair in labels.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(LabelsError::Duplicate {
                text: text(),
                name: pair[0].name.clone(),
            });
        }
    }
    labels.retain(|l| !l.value.is_empty());
    if labels.is_empty() {
        return Err(LabelsError::Empty);
    }
    Ok(Labels::from_sorted_unchecked(labels))
}

/// Prints pairs in Loki's form; a slice, so errors can show a set that
/// failed validation.
fn format_pairs(labels: &[Label]) -> String {
    let mut out = String::from("{");
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&label.name);
        out.push('=');
        out.push_str(&format!("{:?}", label.value));
    }
    out.push('}');
    out
}

/// `{a="1", b="2"}`, as Loki prints a stream.
pub fn to_string(labels: &Labels) -> String {
    format_pairs(labels.as_slice())
}

/// Parses `{name="value", ...}` with Go string escapes in values.
pub fn parse(text: &str) -> Result<Labels, LabelsError> {
    let syntax = |reason: &str| LabelsError::Syntax {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let mut rest = text.trim();
    rest = rest
        .strip_prefix('{')
        .ok_or_else(|| syntax("expected '{'"))?;
    rest = rest
        .trim_end()
        .strip_suffix('}')
        .ok_or_else(|| syntax("expected '}' at the end"))?;
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if name_len == 0 {
            return Err(syntax("expected a label name"));
        }
        let name = &rest[..name_len];
        rest = rest[name_len..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| syntax("expected '=' after a label name"))?
            .trim_start();
        let (value, after) = parse_quoted(rest).map_err(&syntax)?;
        pairs.push((name.to_string(), value));
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(after_comma) => rest = after_comma,
            None if rest.is_empty() => break,
            None => return Err(syntax("expected ',' between labels")),
        }
    }
    from_pairs(pairs)
}

/// Reads a double-quoted Go string at the start of `text`; returns the
/// unescaped value and the text after the closing quote.
fn parse_quoted(text: &str) -> Result<(String, &str), &'static str> {
    let mut chars = text.char_indices();
    if !matches!(chars.next(), Some((_, '"'))) {
        return Err("expected a double-quoted label value");
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some('r') => value.push('\r'),
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('\'') => value.push('\''),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                    let code = u32::from_str_radix(&hex, 16).map_err(|_| "invalid \\u escape")?;
                    value.push(char::from_u32(code).ok_or("invalid \\u escape")?);
                }
                _ => return Err("invalid escape in label value"),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_loki_label_strings() {
        let labels = parse(r#"{job="api", env = "prod", msg="a \"q\"\n"}"#).unwrap();
        assert_eq!(labels.get("env"), Some("prod"));
        assert_eq!(labels.get("msg"), Some("a \"q\"\n"));
        assert_eq!(
            to_string(&labels),
            r#"{env="prod", job="api", msg="a \"q\"\n"}"#
        );
    }

    #[test]
    fn refuses_bad_label_strings() {
        for bad in [
            "",
            "{",
            "job=\"x\"",
            "{job=x}",
            "{job=\"x\" env=\"y\"}",
            "{1job=\"x\"}",
            "{job=\"x\", job=\"y\"}",
            "{}",
            "{job=\"\"}",
            "{job=\"unterminated}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            parse("{}").unwrap_err().to_string(),
            "error at least one label pair is required per stream"
        );
    }
}
