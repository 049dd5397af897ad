//! The LogQL lexer: turns a query into tokens the way Loki's lexer (Go's
//! `text/scanner` plus Loki's additions) does, including its quirks:
//! - keywords are case-insensitive (`JSON`, `By`), function names such as
//!   `rate` or `bytes` are keywords only when followed by `(` or by
//!   `by (`/`without (`, and are identifiers otherwise;
//! - a number directly followed by unit characters is a duration (`5m`,
//!   `1h30m`, `250ms`) or a byte size (`20MB`, `2.5KiB`);
//! - `[...]` is read whole as a range duration;
//! - strings are Go strings (`"..."` with Go escapes, or raw `` `...` ``);
//! - `#`, `//` and `/* */` start comments;
//! - positions are 1-based line/column (characters), and the line is reported
//!   as 0 for tokens the Go lexer read ahead for (ranges, durations, byte
//!   sizes, parser flags, two-character operators), as Loki does.
//!
//! Lexing errors become an [`TokenKind::Error`] token, so the parser reports
//! them only when it reaches them, like Loki's lazily-lexing parser.

use super::error::ParseError;
use super::units::{parse_humanized_bytes, parse_logql_duration, parse_prometheus_duration};

/// Function-like keywords: recognised only when followed by `(` (or `by`/`without` then `(`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FunctionToken {
    Rate,
    RateCounter,
    CountOverTime,
    BytesRate,
    BytesOverTime,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StdvarOverTime,
    StddevOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
    Vector,
    Sum,
    Avg,
    Max,
    Min,
    Count,
    Stddev,
    Stdvar,
    Bottomk,
    Topk,
    Sort,
    SortDesc,
    ApproxTopk,
    BytesConversion,
    DurationConversion,
    DurationSecondsConversion,
}

impl FunctionToken {
    fn from_lowercase(word: &str) -> Option<FunctionToken> {
        use FunctionToken::*;
        Some(match word {
            "rate" => Rate,
            "rate_counter" => RateCounter,
            "count_over_time" => CountOverTime,
            "bytes_rate" => BytesRate,
            "bytes_over_time" => BytesOverTime,
            "avg_over_time" => AvgOverTime,
            "sum_over_time" => SumOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "stddev_over_time" => StddevOverTime,
            "quantile_over_time" => QuantileOverTime,
            "first_over_time" => FirstOverTime,
            "last_over_time" => LastOverTime,
            "absent_over_time" => AbsentOverTime,
            "vector" => Vector,
            "sum" => Sum,
            "avg" => Avg,
            "max" => Max,
            "min" => Min,
            "count" => Count,
            "stddev" => Stddev,
            "stdvar" => Stdvar,
            "bottomk" => Bottomk,
            "topk" => Topk,
            "sort" => Sort,
            "sort_desc" => SortDesc,
            "approx_topk" => ApproxTopk,
            "bytes" => BytesConversion,
            "duration" => DurationConversion,
            "duration_seconds" => DurationSecondsConversion,
            _ => return None,
        })
    }

    /// The name Loki's parser prints for this token in syntax errors.
    fn yacc_name(self) -> &'static str {
        use FunctionToken::*;
        match self {
            Rate => "RATE",
            RateCounter => "RATE_COUNTER",
            CountOverTime => "COUNT_OVER_TIME",
            BytesRate => "BYTES_RATE",
            BytesOverTime => "BYTES_OVER_TIME",
            AvgOverTime => "AVG_OVER_TIME",
            SumOverTime => "SUM_OVER_TIME",
            MinOverTime => "MIN_OVER_TIME",
            MaxOverTime => "MAX_OVER_TIME",
            StdvarOverTime => "STDVAR_OVER_TIME",
            StddevOverTime => "STDDEV_OVER_TIME",
            QuantileOverTime => "QUANTILE_OVER_TIME",
            FirstOverTime => "FIRST_OVER_TIME",
            LastOverTime => "LAST_OVER_TIME",
            AbsentOverTime => "ABSENT_OVER_TIME",
            Vector => "VECTOR",
            Sum => "SUM",
            Avg => "AVG",
            Max => "MAX",
            Min => "MIN",
            Count => "COUNT",
            Stddev => "STDDEV",
            Stdvar => "STDVAR",
            Bottomk => "BOTTOMK",
            Topk => "TOPK",
            Sort => "SORT",
            SortDesc => "SORT_DESC",
            ApproxTopk => "APPROX_TOPK",
            BytesConversion => "BYTES_CONV",
            DurationConversion => "DURATION_CONV",
            DurationSecondsConversion => "DURATION_SECONDS_CONV",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TokenKind {
    Eof,
    Identifier(String),
    /// The unquoted value of a string literal.
    String(String),
    /// The source text of a number.
    Number(String),
    Duration(i64),
    /// A `[...]` range, in nanoseconds.
    Range(i64),
    Bytes(u64),
    ParserFlag(String),
    Function(FunctionToken),
    Error(ParseError),
    Comma,
    Dot,
    OpenBrace,
    CloseBrace,
    Eq,
    Neq,
    Re,
    Nre,
    Npa,
    PipeExact,
    PipeMatch,
    PipePattern,
    Pipe,
    Unwrap,
    OpenParen,
    CloseParen,
    By,
    Without,
    Bool,
    CloseBracket,
    LabelReplace,
    Offset,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Json,
    Regexp,
    Logfmt,
    Unpack,
    Pattern,
    LabelFmt,
    LineFmt,
    Ip,
    Decolorize,
    Drop,
    Keep,
    Variants,
    Of,
}

impl TokenKind {
    /// How Loki's parser names this token in `syntax error: unexpected ...`.
    pub(crate) fn describe(&self) -> String {
        use TokenKind::*;
        let name = match self {
            Eof => "$end",
            Identifier(_) => "IDENTIFIER",
            String(_) => "STRING",
            Number(_) => "NUMBER",
            Duration(_) => "DURATION",
            Range(_) => "RANGE",
            Bytes(_) => "BYTES",
            ParserFlag(_) => "PARSER_FLAG",
            Function(function) => function.yacc_name(),
            Error(_) => "error",
            Comma => ",",
            Dot => ".",
            OpenBrace => "{",
            CloseBrace => "}",
            Eq => "=",
            Neq => "!=",
            Re => "=~",
            Nre => "!~",
            Npa => "!>",
            PipeExact => "|=",
            PipeMatch => "|~",
            PipePattern => "|>",
            Pipe => "|",
            Unwrap => "unwrap",
            OpenParen => "(",
            CloseParen => ")",
            By => "by",
            Without => "without",
            Bool => "bool",
            CloseBracket => "]",
            LabelReplace => "label_replace",
            Offset => "offset",
            On => "on",
            Ignoring => "ignoring",
            GroupLeft => "group_left",
            GroupRight => "group_right",
            Or => "or",
            And => "and",
            Unless => "unless",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            Pow => "^",
            CmpEq => "==",
            Gt => ">",
            Gte => ">=",
            Lt => "<",
            Lte => "<=",
            Json => "json",
            Regexp => "regexp",
            Logfmt => "logfmt",
            Unpack => "unpack",
            Pattern => "pattern",
            LabelFmt => "label_format",
            LineFmt => "line_format",
            Ip => "ip",
            Decolorize => "decolorize",
            Drop => "drop",
            Keep => "keep",
            Variants => "variants",
            Of => "of",
        };
        name.to_owned()
    }

    fn keyword(lowercase_word: &str) -> Option<TokenKind> {
        use TokenKind::*;
        Some(match lowercase_word {
            "unwrap" => Unwrap,
            "by" => By,
            "without" => Without,
            "bool" => Bool,
            "offset" => Offset,
            "on" => On,
            "ignoring" => Ignoring,
            "group_left" => GroupLeft,
            "group_right" => GroupRight,
            "or" => Or,
            "and" => And,
            "unless" => Unless,
            "json" => Json,
            "regexp" => Regexp,
            "logfmt" => Logfmt,
            "unpack" => Unpack,
            "pattern" => Pattern,
            "label_format" => LabelFmt,
            "line_format" => LineFmt,
            "decolorize" => Decolorize,
            "drop" => Drop,
            "keep" => Keep,
            "variants" => Variants,
            "of" => Of,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// 1-based; 0 when the Go lexer would have invalidated the position.
    pub line: usize,
    pub column: usize,
}

/// Lexes the whole query. The last token is always `Eof` or an `Error`.
pub(crate) fn tokenize(query: &str) -> Vec<Token> {
    let mut lexer = Lexer::new(query);
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token();
        let done = matches!(token.kind, TokenKind::Eof | TokenKind::Error(_));
        tokens.push(token);
        if done {
            return tokens;
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    /// `(line, column)` of each character, plus one entry for the end of input.
    positions: Vec<(usize, usize)>,
    index: usize,
}

fn is_identifier_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_identifier_continue(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_rune(c: char) -> bool {
    matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

impl Lexer {
    fn new(query: &str) -> Lexer {
        let mut chars: Vec<char> = query.chars().collect();
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        let mut positions = Vec::with_capacity(chars.len() + 1);
        let (mut line, mut column) = (1, 0);
        for &c in &chars {
            column += 1;
            positions.push((line, column));
            if c == '\n' {
                line += 1;
                column = 0;
            }
        }
        // Go's scanner reports an empty input's end at line 0, column 0.
        let end = if chars.is_empty() {
            (0, 0)
        } else {
            (line, column + 1)
        };
        positions.push(end);
        Lexer {
            chars,
            positions,
            index: 0,
        }
    }

    fn char_at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn position(&self, index: usize) -> (usize, usize) {
        self.positions
            .get(index)
            .or_else(|| self.positions.last())
            .copied()
            .unwrap_or((0, 0))
    }

    fn text(&self, start: usize, end: usize) -> String {
        self.chars[start..end].iter().collect()
    }

    fn next_token(&mut self) -> Token {
        loop {
            while matches!(self.char_at(self.index), Some(' ' | '\t' | '\n' | '\r')) {
                self.index += 1;
            }
            let start = self.index;
            let (line, column) = self.position(start);
            let Some(c) = self.char_at(start) else {
                return Token {
                    kind: TokenKind::Eof,
                    line,
                    column,
                };
            };
            let error = |message: &str| Token {
                kind: TokenKind::Error(ParseError::new(message, line, column)),
                line,
                column,
            };
            if c == '\0' {
                return error("invalid character NUL");
            }
            if c == '/' && matches!(self.char_at(start + 1), Some('/' | '*')) {
                if !self.skip_comment() {
                    return error("comment not terminated");
                }
                continue;
            }
            if c == '#' {
                while let Some(skipped) = self.char_at(self.index) {
                    self.index += 1;
                    if skipped == '\n' {
                        break;
                    }
                }
                continue;
            }
            if is_identifier_start(c) {
                return self.lex_identifier(line, column);
            }
            let next = self.char_at(start + 1);
            if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
                return self.lex_number(line, column);
            }
            match c {
                '"' => return self.lex_string(line, column),
                '`' => return self.lex_raw_string(line, column),
                '\'' => return self.lex_char_literal(line, column),
                '[' => return self.lex_range(line, column),
                '-' => {
                    if let Some(token) = self.lex_flag_or_negative_duration(column) {
                        return token;
                    }
                }
                _ => {}
            }
            return self.lex_symbol(line, column);
        }
    }

    /// Skips `// ...` or `/* ... */`; false when a block comment never ends.
    fn skip_comment(&mut self) -> bool {
        let block = self.char_at(self.index + 1) == Some('*');
        self.index += 2;
        if !block {
            while self.char_at(self.index).is_some_and(|c| c != '\n') {
                self.index += 1;
            }
            return true;
        }
        while let Some(c) = self.char_at(self.index) {
            self.index += 1;
            if c == '*' && self.char_at(self.index) == Some('/') {
                self.index += 1;
                return true;
            }
        }
        false
    }

    fn lex_identifier(&mut self, line: usize, column: usize) -> Token {
        let start = self.index;
        self.index += 1;
        while self.char_at(self.index).is_some_and(is_identifier_continue) {
            self.index += 1;
        }
        let text = self.text(start, self.index);
        let lowercase = text.to_lowercase();
        let function_kind = match lowercase.as_str() {
            "label_replace" => Some(TokenKind::LabelReplace),
            "ip" => Some(TokenKind::Ip),
            word => FunctionToken::from_lowercase(word).map(TokenKind::Function),
        };
        let kind = match function_kind {
            Some(kind) if self.followed_by_call() => kind,
            Some(_) => TokenKind::Identifier(text),
            None => TokenKind::keyword(&lowercase).unwrap_or(TokenKind::Identifier(text)),
        };
        Token { kind, line, column }
    }

    /// Loki's `isFunction`: the next non-space text is `(`, or `by`/`without`
    /// followed by `(`.
    fn followed_by_call(&self) -> bool {
        let skip_spaces = |mut index: usize| {
            while self.char_at(index).is_some_and(char::is_whitespace) {
                index += 1;
            }
            index
        };
        let index = skip_spaces(self.index);
        if self.char_at(index) == Some('(') {
            return true;
        }
        let starts_with = |word: &str| {
            word.chars().enumerate().all(|(offset, expected)| {
                self.char_at(index + offset)
                    .is_some_and(|c| c.to_lowercase().eq(std::iter::once(expected)))
            })
        };
        for word in ["by", "without"] {
            if starts_with(word) {
                return self.char_at(skip_spaces(index + word.len())) == Some('(');
            }
        }
        false
    }

    fn lex_number(&mut self, line: usize, column: usize) -> Token {
        let start = self.index;
        let error = |message: String| Token {
            kind: TokenKind::Error(ParseError::new(message, line, column)),
            line,
            column,
        };
        let mut is_float = false;
        let mut invalid_octal_digit = None;
        let first = self.char_at(start);
        let prefix = self.char_at(start + 1).map(|c| c.to_ascii_lowercase());
        if first == Some('0') && matches!(prefix, Some('x' | 'o' | 'b')) {
            let prefix_allowed =
                prefix != Some('b') || !self.char_at(start + 2).is_some_and(char::is_whitespace);
            if prefix_allowed {
                let (radix, name) = match prefix {
                    Some('x') => (16, "hexadecimal literal"),
                    Some('o') => (8, "octal literal"),
                    _ => (2, "binary literal"),
                };
                self.index += 2;
                let digits_start = self.index;
                while self.char_at(self.index).is_some_and(|c| {
                    c == '_' || c.is_digit(radix) || (radix < 10 && c.is_ascii_digit())
                }) {
                    self.index += 1;
                }
                if self.index == digits_start {
                    return error(format!("{name} has no digits"));
                }
                return self.finish_number(start, line, column);
            }
        }
        let leading_zero = first == Some('0');
        while self
            .char_at(self.index)
            .is_some_and(|c| c.is_ascii_digit() || c == '_')
        {
            if leading_zero
                && matches!(self.char_at(self.index), Some('8' | '9'))
                && invalid_octal_digit.is_none()
            {
                invalid_octal_digit = self.char_at(self.index);
            }
            self.index += 1;
        }
        if self.char_at(self.index) == Some('.') {
            is_float = true;
            self.index += 1;
            while self
                .char_at(self.index)
                .is_some_and(|c| c.is_ascii_digit() || c == '_')
            {
                self.index += 1;
            }
        }
        if matches!(self.char_at(self.index), Some('e' | 'E')) {
            is_float = true;
            self.index += 1;
            if matches!(self.char_at(self.index), Some('+' | '-')) {
                self.index += 1;
            }
            let digits_start = self.index;
            while self
                .char_at(self.index)
                .is_some_and(|c| c.is_ascii_digit() || c == '_')
            {
                self.index += 1;
            }
            if self.index == digits_start {
                return error("exponent has no digits".to_owned());
            }
        }
        if let (false, Some(digit)) = (is_float, invalid_octal_digit) {
            return error(format!("invalid digit '{digit}' in octal literal"));
        }
        self.finish_number(start, line, column)
    }

    /// After a number: a duration or byte size if unit characters follow.
    fn finish_number(&mut self, start: usize, line: usize, column: usize) -> Token {
        let number = self.text(start, self.index);
        if let Some(token) = self.try_suffixed(&number, column, is_duration_rune, |text| {
            parse_logql_duration(text).map(TokenKind::Duration)
        }) {
            return token;
        }
        if let Some(token) = self.try_suffixed(&number, column, is_bytes_rune, |text| {
            parse_humanized_bytes(text).ok().map(TokenKind::Bytes)
        }) {
            return token;
        }
        Token {
            kind: TokenKind::Number(number),
            line,
            column,
        }
    }

    /// Loki's `tryScanDuration`/`tryScanBytes`: reads the unit characters that
    /// follow `prefix` and keeps them if the whole text converts.
    fn try_suffixed(
        &mut self,
        prefix: &str,
        column: usize,
        is_unit_rune: impl Fn(char) -> bool,
        convert: impl Fn(&str) -> Option<TokenKind>,
    ) -> Option<Token> {
        let mut end = self.index;
        while let Some(c) = self.char_at(end) {
            if c.is_whitespace() || !(c.is_numeric() || is_unit_rune(c) || c == '.') {
                break;
            }
            end += 1;
        }
        if end == self.index {
            return None;
        }
        let candidate = format!("{prefix}{}", self.text(self.index, end));
        let kind = convert(&candidate)?;
        self.index = end;
        Some(Token {
            kind,
            line: 0,
            column,
        })
    }

    /// `--strict`, `--keep-empty`, or a negative duration such as `-5m`.
    fn lex_flag_or_negative_duration(&mut self, column: usize) -> Option<Token> {
        let start = self.index;
        if self.char_at(start + 1) == Some('-') {
            let mut end = start + 1;
            while self
                .char_at(end)
                .is_some_and(|c| c.is_alphabetic() || c == '-')
            {
                end += 1;
            }
            let flag = self.text(start, end);
            if flag == "--strict" || flag == "--keep-empty" {
                self.index = end;
                return Some(Token {
                    kind: TokenKind::ParserFlag(flag),
                    line: 0,
                    column,
                });
            }
        }
        self.index = start + 1;
        let token = self.try_suffixed("-", column, is_duration_rune, |text| {
            parse_logql_duration(text).map(TokenKind::Duration)
        });
        if token.is_none() {
            self.index = start;
        }
        token
    }

    fn lex_range(&mut self, line: usize, column: usize) -> Token {
        let _ = line;
        let start = self.index + 1;
        let mut end = start;
        while let Some(c) = self.char_at(end) {
            if c == ']' {
                let text = self.text(start, end);
                self.index = end + 1;
                let kind = match parse_prometheus_duration(&text) {
                    Ok(nanos) => TokenKind::Range(nanos),
                    Err(message) => TokenKind::Error(ParseError::new(message, 0, column)),
                };
                return Token {
                    kind,
                    line: 0,
                    column,
                };
            }
            end += 1;
        }
        self.index = end;
        Token {
            kind: TokenKind::Error(ParseError::new(
                "missing closing ']' in duration",
                0,
                column,
            )),
            line: 0,
            column,
        }
    }

    fn lex_string(&mut self, line: usize, column: usize) -> Token {
        let kind = match self.scan_quoted('"') {
            Ok(bytes) => TokenKind::String(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
            Err(message) => TokenKind::Error(ParseError::new(message, line, column)),
        };
        Token { kind, line, column }
    }

    fn lex_char_literal(&mut self, line: usize, column: usize) -> Token {
        let start = self.index;
        let kind = match self.scan_quoted('\'') {
            Ok(bytes) if String::from_utf8_lossy(&bytes).chars().count() == 1 => {
                TokenKind::Identifier(self.text(start, self.index))
            }
            Ok(_) => TokenKind::Error(ParseError::new("invalid char literal", line, column)),
            Err(message) => TokenKind::Error(ParseError::new(message, line, column)),
        };
        Token { kind, line, column }
    }

    /// Scans a Go interpreted string (or char) literal and decodes it.
    fn scan_quoted(&mut self, quote: char) -> Result<Vec<u8>, &'static str> {
        const INVALID_ESCAPE: &str = "invalid char escape";
        const INVALID_SYNTAX: &str = "invalid syntax";
        let mut out = Vec::new();
        self.index += 1;
        loop {
            let Some(c) = self.char_at(self.index) else {
                return Err("literal not terminated");
            };
            self.index += 1;
            if c == quote {
                return Ok(out);
            }
            if c == '\n' {
                return Err("literal not terminated");
            }
            if c != '\\' {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                continue;
            }
            let escape = self.char_at(self.index).ok_or(INVALID_ESCAPE)?;
            self.index += 1;
            let simple = match escape {
                'a' => Some(7u8),
                'b' => Some(8),
                'f' => Some(12),
                'n' => Some(b'\n'),
                'r' => Some(b'\r'),
                't' => Some(b'\t'),
                'v' => Some(11),
                '\\' => Some(b'\\'),
                c if c == quote => Some(c as u8),
                _ => None,
            };
            if let Some(byte) = simple {
                out.push(byte);
                continue;
            }
            let (digits, radix, first_digit) = match escape {
                '0'..='7' => (2, 8, Some(escape)),
                'x' => (2, 16, None),
                'u' => (4, 16, None),
                'U' => (8, 16, None),
                _ => return Err(INVALID_ESCAPE),
            };
            let mut value: u32 = first_digit.and_then(|d| d.to_digit(8)).unwrap_or(0);
            for _ in 0..digits {
                let digit = self
                    .char_at(self.index)
                    .and_then(|d| d.to_digit(radix))
                    .ok_or(INVALID_ESCAPE)?;
                value = value * radix + digit;
                self.index += 1;
            }
            match escape {
                '0'..='7' | 'x' => out.push(u8::try_from(value).map_err(|_| INVALID_SYNTAX)?),
                _ => {
                    let decoded = char::from_u32(value).ok_or(INVALID_SYNTAX)?;
                    let mut buffer = [0u8; 4];
                    out.extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
                }
            }
        }
    }

    fn lex_raw_string(&mut self, line: usize, column: usize) -> Token {
        let start = self.index + 1;
        let mut end = start;
        while let Some(c) = self.char_at(end) {
            if c == '`' {
                let text: String = self.chars[start..end]
                    .iter()
                    .filter(|c| **c != '\r')
                    .collect();
                self.index = end + 1;
                return Token {
                    kind: TokenKind::String(text),
                    line,
                    column,
                };
            }
            end += 1;
        }
        self.index = end;
        Token {
            kind: TokenKind::Error(ParseError::new("literal not terminated", line, column)),
            line,
            column,
        }
    }

    fn lex_symbol(&mut self, line: usize, column: usize) -> Token {
        use TokenKind::*;
        let c = self.chars[self.index];
        let two_char = self
            .char_at(self.index + 1)
            .and_then(|next| match (c, next) {
                ('!', '=') => Some(Neq),
                ('=', '~') => Some(Re),
                ('!', '~') => Some(Nre),
                ('!', '>') => Some(Npa),
                ('|', '=') => Some(PipeExact),
                ('|', '~') => Some(PipeMatch),
                ('|', '>') => Some(PipePattern),
                ('=', '=') => Some(CmpEq),
                ('>', '=') => Some(Gte),
                ('<', '=') => Some(Lte),
                _ => None,
            });
        if let Some(kind) = two_char {
            self.index += 2;
            return Token {
                kind,
                line: 0,
                column,
            };
        }
        self.index += 1;
        let kind = match c {
            ',' => Comma,
            '.' => Dot,
            '{' => OpenBrace,
            '}' => CloseBrace,
            '=' => Eq,
            '|' => Pipe,
            '(' => OpenParen,
            ')' => CloseParen,
            ']' => CloseBracket,
            '+' => Add,
            '-' => Sub,
            '*' => Mul,
            '/' => Div,
            '%' => Mod,
            '^' => Pow,
            '>' => Gt,
            '<' => Lt,
            other => Identifier(other.to_string()),
        };
        Token { kind, line, column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn kinds(query: &str) -> Vec<TokenKind> {
        tokenize(query).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn selector_and_line_filters() {
        assert_eq!(
            kinds(r#"{app="foo"} |= "bar" != `baz\d` |~ "x" !~ "y""#),
            vec![
                OpenBrace,
                Identifier("app".into()),
                Eq,
                String("foo".into()),
                CloseBrace,
                PipeExact,
                String("bar".into()),
                Neq,
                String("baz\\d".into()),
                PipeMatch,
                String("x".into()),
                Nre,
                String("y".into()),
                Eof
            ]
        );
    }

    #[test]
    fn function_names_are_keywords_only_before_a_call() {
        assert_eq!(
            kinds("rate(x) rate=1 sum by (a) (x) bytes(b) bytes"),
            vec![
                Function(FunctionToken::Rate),
                OpenParen,
                Identifier("x".into()),
                CloseParen,
                Identifier("rate".into()),
                Eq,
                Number("1".into()),
                Function(FunctionToken::Sum),
                By,
                OpenParen,
                Identifier("a".into()),
                CloseParen,
                OpenParen,
                Identifier("x".into()),
                CloseParen,
                Function(FunctionToken::BytesConversion),
                OpenParen,
                Identifier("b".into()),
                CloseParen,
                Identifier("bytes".into()),
                Eof
            ]
        );
        assert_eq!(kinds("ip=\"x\"")[0], Identifier("ip".into()));
        assert_eq!(kinds("ip(\"x\")")[0], Ip);
        assert_eq!(kinds("JSON")[0], Json);
        assert_eq!(kinds("SUM(")[0], Function(FunctionToken::Sum));
    }

    #[test]
    fn numbers_durations_and_bytes() {
        assert_eq!(
            kinds("5 1.5 5m 1h30m 250ms 20MB 2.5KiB -5m --strict --keep-empty 1e3"),
            vec![
                Number("5".into()),
                Number("1.5".into()),
                Duration(300_000_000_000),
                Duration(5_400_000_000_000),
                Duration(250_000_000),
                Bytes(20_000_000),
                Bytes(2560),
                Duration(-300_000_000_000),
                ParserFlag("--strict".into()),
                ParserFlag("--keep-empty".into()),
                Number("1e3".into()),
                Eof
            ]
        );
        assert_eq!(
            kinds("1-1"),
            vec![Number("1".into()), Sub, Number("1".into()), Eof]
        );
        assert_eq!(kinds("[5m]"), vec![Range(300_000_000_000), Eof]);
    }

    #[test]
    fn strings_decode_go_escapes() {
        assert_eq!(
            kinds(r#""a\"b\n\x41\u00e9\101""#)[0],
            String("a\"b\nAéA".into())
        );
        assert_eq!(kinds("`raw\\n`")[0], String("raw\\n".into()));
        let TokenKind::Error(error) = &kinds(r#""bad \q""#)[0] else {
            panic!("expected a lexing error");
        };
        assert_eq!(error.message, "invalid char escape");
        let TokenKind::Error(error) = &kinds("\"open")[0] else {
            panic!("expected a lexing error");
        };
        assert_eq!(error.message, "literal not terminated");
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            kinds("{a=\"b\"} # comment\n|= \"x\" // more\n/* block */"),
            vec![
                OpenBrace,
                Identifier("a".into()),
                Eq,
                String("b".into()),
                CloseBrace,
                PipeExact,
                String("x".into()),
                Eof
            ]
        );
    }

    #[test]
    fn positions_follow_go_scanner_rules() {
        let tokens = tokenize("{a=\"b\"}\n  |= \"x\"");
        assert_eq!((tokens[0].line, tokens[0].column), (1, 1));
        // Two-character operators are read ahead: Loki reports line 0.
        assert_eq!((tokens[5].line, tokens[5].column), (0, 3));
        assert_eq!((tokens[6].line, tokens[6].column), (2, 6));
        let end = tokens.last().map(|t| (t.line, t.column));
        assert_eq!(end, Some((2, 9)));
        assert_eq!(
            tokenize("").first().map(|t| (t.line, t.column)),
            Some((0, 0))
        );
    }

    #[test]
    fn range_errors_are_reported_at_the_bracket() {
        let TokenKind::Error(error) = &kinds("x[5minutes]")[1] else {
            panic!("expected a range error");
        };
        assert_eq!(
            error,
            &ParseError::new(r#"unknown unit "minutes" in duration "5minutes""#, 0, 2)
        );
        let TokenKind::Error(error) = &kinds("x[5")[1] else {
            panic!("expected a range error");
        };
        assert_eq!(error.message, "missing closing ']' in duration");
    }
}
