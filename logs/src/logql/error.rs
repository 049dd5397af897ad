//! The parse error type, worded exactly like Loki's `logqlmodel.ParseError`:
//! `parse error at line L, col C: MSG`, or `parse error : MSG` when the
//! error has no position (semantic checks made after parsing).

use std::fmt;

/// Why a LogQL query was refused. `line` and `column` are 1-based; both are 0
/// for errors Loki reports without a position. Like Loki, `line` is 0 (but
/// `column` is set) for errors on tokens the lexer had to look ahead for, such
/// as `[5m]` ranges, durations and two-character operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl ParseError {
    pub fn new(message: impl Into<String>, line: usize, column: usize) -> ParseError {
        ParseError {
            message: message.into(),
            line,
            column,
        }
    }

    /// An error without a source position.
    pub fn unpositioned(message: impl Into<String>) -> ParseError {
        ParseError::new(message, 0, 0)
    }

    /// Loki's `NewStageError`: a pipeline stage that could not be built.
    pub(crate) fn stage(rendered_stage: &str, reason: &str) -> ParseError {
        ParseError::unpositioned(format!("stage '{rendered_stage}' : {reason}"))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.column == 0 {
            write!(f, "parse error : {}", self.message)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_loki_wording() {
        let positioned = ParseError::new("syntax error: unexpected IDENTIFIER", 1, 9);
        assert_eq!(
            positioned.to_string(),
            "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"
        );
        let lookahead = ParseError::new("syntax error: unexpected RANGE", 0, 20);
        assert_eq!(
            lookahead.to_string(),
            "parse error at line 0, col 20: syntax error: unexpected RANGE"
        );
        let semantic = ParseError::unpositioned("invalid aggregation rate with unwrap");
        assert_eq!(
            semantic.to_string(),
            "parse error : invalid aggregation rate with unwrap"
        );
        let stage = ParseError::stage("| line_format \"{{\"", "invalid line template");
        assert_eq!(
            stage.to_string(),
            "parse error : stage '| line_format \"{{\"' : invalid line template"
        );
    }
}
