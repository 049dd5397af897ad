//! Positioned parse errors, formatted the way Tempo formats them.

use std::fmt;

/// A TraceQL parse failure at a 1-based `line`/`column` (columns count
/// characters, not bytes).
///
/// `Display` matches Tempo: `parse error at line 1, col 12: syntax error: unexpected IDENTIFIER`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong, e.g. `syntax error: unexpected IDENTIFIER`.
    pub message: String,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
}

impl ParseError {
    /// Build an error at `pos`.
    pub fn new(message: impl Into<String>, pos: Pos) -> Self {
        Self {
            message: message.into(),
            line: pos.line,
            column: pos.column,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// A 1-based source position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_tempo_like() {
        let e = ParseError::new(
            "syntax error: unexpected IDENTIFIER",
            Pos {
                line: 1,
                column: 12,
            },
        );
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 12: syntax error: unexpected IDENTIFIER"
        );
    }
}
