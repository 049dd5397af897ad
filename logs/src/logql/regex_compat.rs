//! Regex compilation with Go-worded errors.
//!
//! LogQL regexes are RE2 syntax, which the `regex` crate implements; Loki
//! reports compile errors as Go's `regexp` does (`error parsing regexp:
//! missing closing ): `(foo``). This module compiles with the `regex` crate
//! and rewrites its errors into that wording.

use regex::Regex;

/// Compiles `pattern` (the exact text given to the regex engine), returning
/// Go's `error parsing regexp: CODE: `FRAGMENT`` message on failure.
pub(crate) fn compile_go_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|error| go_regex_error(pattern, &error))
}

/// The Go wording for a `regex` crate error on `pattern`.
pub(crate) fn go_regex_error(pattern: &str, error: &regex::Error) -> String {
    let regex::Error::Syntax(description) = error else {
        return format!("error parsing regexp: expression too large: `{pattern}`");
    };
    let kind = description
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(description.as_str());
    let fragment = || {
        caret_span(description)
            .map(|(start, end)| pattern.chars().skip(start).take(end - start).collect())
            .unwrap_or_else(|| pattern.to_owned())
    };
    let fragment_to_end = || {
        caret_span(description)
            .map(|(start, _)| pattern.chars().skip(start).collect())
            .unwrap_or_else(|| pattern.to_owned())
    };
    let (code, fragment) = if kind.contains("unclosed group") {
        ("missing closing )", pattern.to_owned())
    } else if kind.contains("unopened group") {
        ("unexpected )", pattern.to_owned())
    } else if kind.contains("unclosed character class") {
        ("missing closing ]", fragment_to_end())
    } else if kind.contains("incomplete escape sequence") {
        ("trailing backslash at end of expression", String::new())
    } else if kind.contains("escape") {
        ("invalid escape sequence", fragment())
    } else if kind.contains("repetition operator missing expression") {
        ("missing argument to repetition operator", fragment())
    } else if kind.contains("invalid character class range") {
        ("invalid character class range", fragment())
    } else if kind.contains("flag") || kind.contains("look-around") {
        ("invalid or unsupported Perl syntax", fragment())
    } else if kind.contains("repetition") || kind.contains("decimal") {
        ("invalid repeat count", fragment())
    } else if kind.contains("capture group name") {
        ("invalid named capture", fragment())
    } else if kind.contains("nest") {
        ("expression nests too deeply", pattern.to_owned())
    } else {
        return format!("error parsing regexp: {kind}: `{pattern}`");
    };
    format!("error parsing regexp: {code}: `{fragment}`")
}

/// The character span the `regex` crate underlined with `^` characters
/// (single-line patterns only).
fn caret_span(description: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = description.lines().collect();
    lines.get(1)?.strip_prefix("    ")?;
    let caret_line = lines.get(2)?.strip_prefix("    ")?;
    if !caret_line.trim().chars().all(|c| c == '^') {
        return None;
    }
    // Carets are placed one per character, after spaces.
    let start = caret_line.chars().take_while(|c| *c == ' ').count();
    let end = start + caret_line.trim().chars().count();
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(pattern: &str) -> String {
        compile_go_regex(pattern).err().unwrap_or_default()
    }

    #[test]
    fn errors_use_go_wording() {
        assert_eq!(
            message("(foo"),
            "error parsing regexp: missing closing ): `(foo`"
        );
        assert_eq!(
            message("foo)"),
            "error parsing regexp: unexpected ): `foo)`"
        );
        assert_eq!(
            message(r"^^^^x43\q"),
            r"error parsing regexp: invalid escape sequence: `\q`"
        );
        assert_eq!(
            message("a[b"),
            "error parsing regexp: missing closing ]: `[b`"
        );
        assert_eq!(
            message("*a"),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            message("[z-a]"),
            "error parsing regexp: invalid character class range: `z-a`"
        );
        assert!(compile_go_regex("a(?P<x>b)").is_ok());
    }
}
