//! TraceQL tokenizer. Pulled one token at a time by the parser, so the first
//! error reported is the leftmost one.
//!
//! Attribute names follow Tempo's rules: after `.`, `span.`, `resource.` (and
//! the unsupported `parent.`, `event.`, `link.`, `instrumentation.`) every
//! character up to whitespace or one of `{ } ( ) = ~ ! < > & | ^ ,` belongs to
//! the name (so `.http.status_code` and `.foo-bar` are single names), and
//! double-quoted parts (`span."foo bar"`) may contain anything, with `\"` and
//! `\\` escapes.

use super::error::{ParseError, Pos};

/// The prefix an attribute token was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrPrefix {
    /// `.name`
    Unscoped,
    /// `span.name`
    Span,
    /// `resource.name`
    Resource,
    /// `parent.name` (not supported by the parser)
    Parent,
    /// `event.name` (not supported by the parser)
    Event,
    /// `link.name` (not supported by the parser)
    Link,
    /// `instrumentation.name` (not supported by the parser)
    Instrumentation,
}

impl AttrPrefix {
    /// How the prefix is spelled in a query.
    pub fn as_str(self) -> &'static str {
        match self {
            AttrPrefix::Unscoped => ".",
            AttrPrefix::Span => "span.",
            AttrPrefix::Resource => "resource.",
            AttrPrefix::Parent => "parent.",
            AttrPrefix::Event => "event.",
            AttrPrefix::Link => "link.",
            AttrPrefix::Instrumentation => "instrumentation.",
        }
    }
}

/// A lexical token.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    And,
    Or,
    Not,
    Eq,
    Neq,
    Re,
    Nre,
    Gt,
    Gte,
    Lt,
    Lte,
    /// `>>`
    Desc,
    /// `<<`
    Ance,
    Tilde,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// Structural operators Tempo has but we do not support
    /// (`!>`, `!<`, `!>>`, `!<<`, `&>`, `&<`, `&>>`, `&<<`, `&~`).
    UnsupportedOp(&'static str),
    Str(String),
    Int(i64),
    Float(f64),
    /// Duration in nanoseconds.
    Duration(i64),
    /// A bare word: keyword, intrinsic, enum value or unknown identifier.
    Ident(String),
    /// An attribute reference.
    Attr {
        prefix: AttrPrefix,
        name: String,
    },
    /// `scope:name`, e.g. `span:name`, `trace:id`.
    ScopedIntrinsic(String),
    Eof,
}

/// Words that are tokens in Tempo; an unexpected one is reported by its text,
/// anything else as `IDENTIFIER`.
const KEYWORDS: &[&str] = &[
    "true",
    "false",
    "nil",
    "ok",
    "error",
    "unset",
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
    "duration",
    "childCount",
    "name",
    "status",
    "statusMessage",
    "kind",
    "rootName",
    "rootServiceName",
    "traceDuration",
    "parent",
    "count",
    "avg",
    "max",
    "min",
    "sum",
    "by",
    "coalesce",
    "select",
];

impl TokenKind {
    /// Tempo-style token name used in `unexpected ...` messages.
    pub fn describe(&self) -> String {
        let s = match self {
            TokenKind::LBrace => "{",
            TokenKind::RBrace => "}",
            TokenKind::LParen => "(",
            TokenKind::RParen => ")",
            TokenKind::Comma => ",",
            TokenKind::Pipe => "|",
            TokenKind::And => "&&",
            TokenKind::Or => "||",
            TokenKind::Not => "!",
            TokenKind::Eq => "=",
            TokenKind::Neq => "!=",
            TokenKind::Re => "=~",
            TokenKind::Nre => "!~",
            TokenKind::Gt => ">",
            TokenKind::Gte => ">=",
            TokenKind::Lt => "<",
            TokenKind::Lte => "<=",
            TokenKind::Desc => ">>",
            TokenKind::Ance => "<<",
            TokenKind::Tilde => "~",
            TokenKind::Add => "+",
            TokenKind::Sub => "-",
            TokenKind::Mul => "*",
            TokenKind::Div => "/",
            TokenKind::Mod => "%",
            TokenKind::Pow => "^",
            TokenKind::UnsupportedOp(op) => op,
            TokenKind::Str(_) => "STRING",
            TokenKind::Int(_) => "INTEGER",
            TokenKind::Float(_) => "FLOAT",
            TokenKind::Duration(_) => "DURATION",
            TokenKind::Ident(w) => {
                if KEYWORDS.contains(&w.as_str()) {
                    return w.clone();
                }
                "IDENTIFIER"
            }
            TokenKind::Attr { prefix, .. } => prefix.as_str(),
            TokenKind::ScopedIntrinsic(s) => return s.clone(),
            TokenKind::Eof => "$end",
        };
        s.to_string()
    }
}

/// A token and the position of its first character.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub pos: Pos,
}

/// Pull-based lexer over a query string.
pub struct Lexer {
    chars: Vec<char>,
    idx: usize,
    line: usize,
    column: usize,
}

fn is_attr_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',' | '"'
        )
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_duration_char(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '.' | 'n' | 's' | 'u' | 'm' | 'h' | 'µ' | 'μ' | 'd' | 'w' | 'y'
        )
}

/// Parse a duration such as `1.5s`, `100us`, `1h30m`, `2d` into nanoseconds.
/// Units: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`, `w`, `y` (365d), as in
/// Tempo (Prometheus + Go durations).
pub fn parse_duration(text: &str) -> Option<i64> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut total: i128 = 0;
    if chars.is_empty() {
        return None;
    }
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let int_part: String = chars[start..i].iter().collect();
        let mut frac_part = String::new();
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let fs = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = chars[fs..i].iter().collect();
            if frac_part.is_empty() {
                return None;
            }
        }
        if int_part.is_empty() {
            return None;
        }
        let rest: String = chars[i..].iter().take(2).collect();
        let (unit_len, unit_ns): (usize, i128) = if rest.starts_with("ns") {
            (2, 1)
        } else if rest.starts_with("us") || rest.starts_with("µs") || rest.starts_with("μs") {
            (2, 1_000)
        } else if rest.starts_with("ms") {
            (2, 1_000_000)
        } else {
            match rest.chars().next() {
                Some('s') => (1, 1_000_000_000),
                Some('m') => (1, 60 * 1_000_000_000),
                Some('h') => (1, 3_600 * 1_000_000_000),
                Some('d') => (1, 86_400 * 1_000_000_000),
                Some('w') => (1, 7 * 86_400 * 1_000_000_000),
                Some('y') => (1, 365 * 86_400 * 1_000_000_000),
                _ => return None,
            }
        };
        i += unit_len;
        let whole: i128 = int_part.parse().ok()?;
        let mut value = whole.checked_mul(unit_ns)?;
        if !frac_part.is_empty() {
            // Only the first 18 fractional digits can matter for nanoseconds.
            let digits: String = frac_part.chars().take(18).collect();
            let frac: i128 = digits.parse().ok()?;
            let scale = 10i128.checked_pow(u32::try_from(digits.len()).ok()?)?;
            value = value.checked_add(frac.checked_mul(unit_ns)? / scale)?;
        }
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
    }
    i64::try_from(total).ok()
}

impl Lexer {
    /// Create a lexer over `input`.
    pub fn new(input: &str) -> Self {
        Self {
            chars: input.chars().collect(),
            idx: 0,
            line: 1,
            column: 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.idx).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.idx + n).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.idx += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Produce the next token (`Eof` at the end, repeatedly).
    pub fn next_token(&mut self) -> Result<Token, ParseError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                pos,
            });
        };
        let kind = if c.is_ascii_digit() {
            self.number(pos)?
        } else if c == '"' {
            self.string(pos)?
        } else if c == '`' {
            self.raw_string(pos)?
        } else if c == '.' {
            self.bump();
            self.attribute(AttrPrefix::Unscoped)?
        } else if is_ident_start(c) {
            self.word()?
        } else {
            self.operator(pos)?
        };
        Ok(Token { kind, pos })
    }

    fn operator(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        const OPS: &[(&str, TokenKind)] = &[
            ("!>>", TokenKind::UnsupportedOp("!>>")),
            ("!<<", TokenKind::UnsupportedOp("!<<")),
            ("&>>", TokenKind::UnsupportedOp("&>>")),
            ("&<<", TokenKind::UnsupportedOp("&<<")),
            ("!>", TokenKind::UnsupportedOp("!>")),
            ("!<", TokenKind::UnsupportedOp("!<")),
            ("&>", TokenKind::UnsupportedOp("&>")),
            ("&<", TokenKind::UnsupportedOp("&<")),
            ("&~", TokenKind::UnsupportedOp("&~")),
            ("&&", TokenKind::And),
            ("||", TokenKind::Or),
            ("!=", TokenKind::Neq),
            ("!~", TokenKind::Nre),
            ("=~", TokenKind::Re),
            (">=", TokenKind::Gte),
            ("<=", TokenKind::Lte),
            (">>", TokenKind::Desc),
            ("<<", TokenKind::Ance),
            ("{", TokenKind::LBrace),
            ("}", TokenKind::RBrace),
            ("(", TokenKind::LParen),
            (")", TokenKind::RParen),
            (",", TokenKind::Comma),
            ("|", TokenKind::Pipe),
            ("!", TokenKind::Not),
            ("=", TokenKind::Eq),
            (">", TokenKind::Gt),
            ("<", TokenKind::Lt),
            ("~", TokenKind::Tilde),
            ("+", TokenKind::Add),
            ("-", TokenKind::Sub),
            ("*", TokenKind::Mul),
            ("/", TokenKind::Div),
            ("%", TokenKind::Mod),
            ("^", TokenKind::Pow),
        ];
        for (text, kind) in OPS {
            let matches = text
                .chars()
                .enumerate()
                .all(|(i, ch)| self.peek_at(i) == Some(ch));
            if matches {
                for _ in 0..text.chars().count() {
                    self.bump();
                }
                return Ok(kind.clone());
            }
        }
        let c = self.peek().unwrap_or(' ');
        Err(ParseError::new(
            format!("syntax error: unexpected character {c:?}"),
            pos,
        ))
    }

    fn number(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        let start = self.idx;
        // A run of digits/duration characters that contains a unit letter is a duration.
        let mut end = start;
        while self.chars.get(end).copied().is_some_and(is_duration_char) {
            end += 1;
        }
        let run: String = self.chars[start..end].iter().collect();
        if run.chars().any(|c| c.is_alphabetic()) {
            if let Some(nanos) = parse_duration(&run) {
                for _ in start..end {
                    self.bump();
                }
                return Ok(TokenKind::Duration(nanos));
            }
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let mut is_float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('+' | '-')));
            if self.peek_at(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                for _ in 0..=sign {
                    self.bump();
                }
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
        }
        let text: String = self.chars[start..self.idx].iter().collect();
        if is_float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(TokenKind::Float(f)),
                _ => Err(ParseError::new(
                    format!("invalid float literal {text:?}"),
                    pos,
                )),
            }
        } else {
            text.parse::<i64>().map(TokenKind::Int).map_err(|_| {
                ParseError::new(format!("integer literal {text:?}: value out of range"), pos)
            })
        }
    }

    fn string(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            let esc_pos = self.pos();
            match self.bump() {
                None | Some('\n') => {
                    return Err(ParseError::new("literal not terminated", pos));
                }
                Some('"') => return Ok(TokenKind::Str(out)),
                Some('\\') => out.push(self.escape(esc_pos)?),
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, pos: Pos) -> Result<char, ParseError> {
        let invalid = || ParseError::new("invalid syntax: invalid escape sequence in string", pos);
        let c = self.bump().ok_or_else(invalid)?;
        let simple = match c {
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0C}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0B}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(s) = simple {
            return Ok(s);
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return Err(invalid()),
        };
        let mut value: u32 = if radix == 8 {
            c.to_digit(8).ok_or_else(invalid)?
        } else {
            0
        };
        for _ in 0..digits {
            let d = self
                .bump()
                .and_then(|d| d.to_digit(radix))
                .ok_or_else(invalid)?;
            value = value
                .checked_mul(radix)
                .and_then(|v| v.checked_add(d))
                .ok_or_else(invalid)?;
        }
        if radix == 8 && value > 255 {
            return Err(invalid());
        }
        char::from_u32(value).ok_or_else(invalid)
    }

    fn raw_string(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(ParseError::new("literal not terminated", pos)),
                Some('`') => return Ok(TokenKind::Str(out)),
                Some('\r') => {} // Go drops carriage returns in raw strings
                Some(c) => out.push(c),
            }
        }
    }

    fn word(&mut self) -> Result<TokenKind, ParseError> {
        let mut w = String::new();
        while let Some(c) = self.peek().filter(|c| is_ident_char(*c)) {
            w.push(c);
            self.bump();
        }
        if self.peek() == Some('.') {
            let prefix = match w.as_str() {
                "span" => Some(AttrPrefix::Span),
                "resource" => Some(AttrPrefix::Resource),
                "parent" => Some(AttrPrefix::Parent),
                "event" => Some(AttrPrefix::Event),
                "link" => Some(AttrPrefix::Link),
                "instrumentation" => Some(AttrPrefix::Instrumentation),
                _ => None,
            };
            if let Some(prefix) = prefix {
                self.bump();
                return self.attribute(prefix);
            }
        }
        if self.peek() == Some(':')
            && matches!(
                w.as_str(),
                "span" | "trace" | "event" | "link" | "instrumentation"
            )
        {
            self.bump();
            w.push(':');
            while let Some(c) = self.peek().filter(|c| is_ident_char(*c)) {
                w.push(c);
                self.bump();
            }
            return Ok(TokenKind::ScopedIntrinsic(w));
        }
        Ok(TokenKind::Ident(w))
    }

    /// Read an attribute name after its prefix (already consumed).
    fn attribute(&mut self, prefix: AttrPrefix) -> Result<TokenKind, ParseError> {
        let mut name = String::new();
        let mut any = false;
        loop {
            match self.peek() {
                Some('"') => {
                    let qpos = self.pos();
                    self.bump();
                    any = true;
                    loop {
                        match self.bump() {
                            None => {
                                return Err(ParseError::new("unexpected EOF, expecting \"", qpos))
                            }
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some(c @ ('"' | '\\')) => name.push(c),
                                _ => {
                                    return Err(ParseError::new(
                                        "invalid escape sequence in attribute name",
                                        qpos,
                                    ))
                                }
                            },
                            Some(c) => name.push(c),
                        }
                    }
                }
                Some(c) if is_attr_char(c) => {
                    any = true;
                    name.push(c);
                    self.bump();
                }
                _ => break,
            }
        }
        if !any {
            return Err(ParseError::new(
                format!(
                    "syntax error: unexpected {}, expecting attribute name after `{}`",
                    match self.peek() {
                        None => "$end".to_string(),
                        Some(c) => c.to_string(),
                    },
                    prefix.as_str()
                ),
                self.pos(),
            ));
        }
        Ok(TokenKind::Attr { prefix, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Result<Vec<TokenKind>, ParseError> {
        let mut l = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let t = l.next_token()?;
            if t.kind == TokenKind::Eof {
                return Ok(out);
            }
            out.push(t.kind);
        }
    }

    fn attr(prefix: AttrPrefix, name: &str) -> TokenKind {
        TokenKind::Attr {
            prefix,
            name: name.to_string(),
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", 500_000_000),
            ("1.5s", 1_500_000_000),
            ("2m", 120_000_000_000),
            ("1h", 3_600_000_000_000),
            ("100us", 100_000),
            ("100µs", 100_000),
            ("10ns", 10),
            ("1h30m", 5_400_000_000_000),
            ("1d", 86_400_000_000_000),
            ("0.001ms", 1_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(lex(text), Ok(vec![TokenKind::Duration(nanos)]), "{text}");
        }
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("99999999999999999999y"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(lex("42"), Ok(vec![TokenKind::Int(42)]));
        assert_eq!(lex("1.25"), Ok(vec![TokenKind::Float(1.25)]));
        assert_eq!(lex("1e3"), Ok(vec![TokenKind::Float(1000.0)]));
        let err = lex("99999999999999999999").unwrap_err();
        assert_eq!((err.line, err.column), (1, 1));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            lex(r#""a\"b\n\x41\u00e9""#),
            Ok(vec![TokenKind::Str("a\"b\nAé".into())])
        );
        assert_eq!(lex("`a\\nb`"), Ok(vec![TokenKind::Str("a\\nb".into())]));
        let err = lex("  \"abc").unwrap_err();
        assert_eq!((err.line, err.column), (1, 3));
        assert!(lex(r#""\q""#).is_err());
    }

    #[test]
    fn attributes() {
        assert_eq!(
            lex(".http.status_code"),
            Ok(vec![attr(AttrPrefix::Unscoped, "http.status_code")])
        );
        assert_eq!(
            lex("resource.service.name=\"x\""),
            Ok(vec![
                attr(AttrPrefix::Resource, "service.name"),
                TokenKind::Eq,
                TokenKind::Str("x".into())
            ])
        );
        assert_eq!(
            lex(r#"span."foo bar".baz"#),
            Ok(vec![attr(AttrPrefix::Span, "foo bar.baz")])
        );
        assert_eq!(
            lex("span:name trace:rootService"),
            Ok(vec![
                TokenKind::ScopedIntrinsic("span:name".into()),
                TokenKind::ScopedIntrinsic("trace:rootService".into())
            ])
        );
        let err = lex("{ . }").unwrap_err();
        assert_eq!((err.line, err.column), (1, 4));
    }

    #[test]
    fn operators_and_positions() {
        let mut l = Lexer::new("{ }\n  >> !>> &~ !~");
        let mut got = Vec::new();
        loop {
            let t = l.next_token().expect("lexes");
            if t.kind == TokenKind::Eof {
                break;
            }
            got.push((t.kind, t.pos.line, t.pos.column));
        }
        assert_eq!(
            got,
            vec![
                (TokenKind::LBrace, 1, 1),
                (TokenKind::RBrace, 1, 3),
                (TokenKind::Desc, 2, 3),
                (TokenKind::UnsupportedOp("!>>"), 2, 6),
                (TokenKind::UnsupportedOp("&~"), 2, 10),
                (TokenKind::Nre, 2, 13),
            ]
        );
        let err = lex("[").unwrap_err();
        assert!(err.message.contains("unexpected character"));
    }
}
