//! Recursive-descent TraceQL parser (precedence climbing for operators).

use super::ast::*;
use super::error::{ParseError, Pos};
use super::lexer::{AttrPrefix, Lexer, Token, TokenKind};

/// Maximum nesting of parentheses and unary operators.
pub const MAX_DEPTH: usize = 100;
/// Maximum number of binary operators in one query (bounds tree depth).
pub const MAX_OPERATORS: usize = 2000;

const METRICS_FUNCTIONS: &[&str] = &[
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];

const UNSUPPORTED_INTRINSICS: &[&str] = &[
    "childCount",
    "parent",
    "nestedSetLeft",
    "nestedSetRight",
    "nestedSetParent",
    "span:childCount",
    "span:parentID",
    "span:nestedSetLeft",
    "span:nestedSetRight",
    "span:nestedSetParent",
    "event:name",
    "event:timeSinceStart",
    "link:traceID",
    "link:spanID",
    "instrumentation:name",
    "instrumentation:version",
];

fn unsupported(what: &str, pos: Pos) -> ParseError {
    ParseError::new(format!("unsupported TraceQL feature: {what}"), pos)
}

/// Parse a complete query.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let mut p = Parser::new(query)?;
    let pipeline = p.pipeline()?;
    if p.tok.kind != TokenKind::Eof {
        return Err(p.unexpected(None));
    }
    Ok(Query { pipeline })
}

struct Parser {
    lexer: Lexer,
    tok: Token,
    depth: usize,
    operators: usize,
}

impl Parser {
    fn new(query: &str) -> Result<Self, ParseError> {
        let mut lexer = Lexer::new(query);
        let tok = lexer.next_token()?;
        Ok(Self {
            lexer,
            tok,
            depth: 0,
            operators: 0,
        })
    }

    /// Advance; returns the token that was current.
    fn bump(&mut self) -> Result<Token, ParseError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn unexpected(&self, expecting: Option<&str>) -> ParseError {
        let mut msg = format!("syntax error: unexpected {}", self.tok.kind.describe());
        if let Some(e) = expecting {
            msg.push_str(", expecting ");
            msg.push_str(e);
        }
        ParseError::new(msg, self.tok.pos)
    }

    fn expect(&mut self, kind: TokenKind, text: &str) -> Result<(), ParseError> {
        if self.tok.kind == kind {
            self.bump()?;
            Ok(())
        } else {
            Err(self.unexpected(Some(text)))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                format!("query nested too deeply (limit {MAX_DEPTH})"),
                self.tok.pos,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn count_operator(&mut self, pos: Pos) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(ParseError::new(
                format!("query has too many operators (limit {MAX_OPERATORS})"),
                pos,
            ));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- pipeline

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut stages = vec![self.stage(true)?];
        while self.tok.kind == TokenKind::Pipe {
            self.bump()?;
            stages.push(self.stage(false)?);
        }
        Ok(Pipeline { stages })
    }

    fn stage(&mut self, first: bool) -> Result<Stage, ParseError> {
        let pos = self.tok.pos;
        let word = match &self.tok.kind {
            TokenKind::LBrace | TokenKind::LParen => {
                return Ok(Stage::Spanset(self.spanset_expr(0)?));
            }
            TokenKind::Int(_) | TokenKind::Float(_) | TokenKind::Duration(_) | TokenKind::Sub => {
                return Err(unsupported(
                    "scalar filters must be `aggregate op literal`, e.g. `count() > 2`",
                    pos,
                ));
            }
            TokenKind::Ident(w) => w.clone(),
            _ => return Err(self.unexpected(None)),
        };
        match word.as_str() {
            "by" => {
                self.bump()?;
                self.expect(TokenKind::LParen, "(")?;
                if self.tok.kind == TokenKind::RParen {
                    return Err(self.unexpected(None));
                }
                let field = self.field_expr()?;
                if self.tok.kind == TokenKind::Comma {
                    return Err(unsupported("by() with more than one field", self.tok.pos));
                }
                self.expect(TokenKind::RParen, ")")?;
                Ok(Stage::GroupBy(field))
            }
            "select" => {
                self.bump()?;
                self.expect(TokenKind::LParen, "(")?;
                let mut fields = vec![self.select_field()?];
                while self.tok.kind == TokenKind::Comma {
                    self.bump()?;
                    fields.push(self.select_field()?);
                }
                self.expect(TokenKind::RParen, ")")?;
                Ok(Stage::Select(fields))
            }
            "coalesce" if first => Err(self.unexpected(None)),
            "coalesce" => Err(unsupported("coalesce()", pos)),
            "with" => Err(unsupported("query hints `with(...)`", pos)),
            "count" | "avg" | "min" | "max" | "sum" => {
                Ok(Stage::ScalarFilter(self.scalar_filter()?))
            }
            w if METRICS_FUNCTIONS.contains(&w) => {
                Err(unsupported(&format!("metrics function `{w}()`"), pos))
            }
            _ => Err(self.unexpected(None)),
        }
    }

    fn select_field(&mut self) -> Result<Field, ParseError> {
        let pos = self.tok.pos;
        if self.tok.kind == TokenKind::RParen {
            return Err(self.unexpected(Some("attribute or intrinsic")));
        }
        match self.field_expr()? {
            FieldExpr::Attribute(a) => Ok(Field::Attribute(a)),
            FieldExpr::Intrinsic(i) => Ok(Field::Intrinsic(i)),
            _ => Err(ParseError::new(
                "select() only accepts attributes and intrinsics",
                pos,
            )),
        }
    }

    // ---------------------------------------------------------- scalar filters

    fn scalar_filter(&mut self) -> Result<ScalarFilter, ParseError> {
        let aggregate = self.aggregate()?;
        let op =
            match self.tok.kind {
                TokenKind::Eq => CompareOp::Eq,
                TokenKind::Neq => CompareOp::Neq,
                TokenKind::Lt => CompareOp::Lt,
                TokenKind::Lte => CompareOp::Lte,
                TokenKind::Gt => CompareOp::Gt,
                TokenKind::Gte => CompareOp::Gte,
                TokenKind::RParen if self.depth > 0 => return Err(unsupported(
                    "comparing parenthesized scalar pipelines such as `({ ... } | count()) > 1`",
                    self.tok.pos,
                )),
                TokenKind::Add
                | TokenKind::Sub
                | TokenKind::Mul
                | TokenKind::Div
                | TokenKind::Mod
                | TokenKind::Pow => {
                    return Err(unsupported("arithmetic on aggregates", self.tok.pos));
                }
                _ => return Err(self.unexpected(Some("comparison operator"))),
            };
        self.bump()?;
        let value = self.scalar_literal()?;
        if matches!(
            self.tok.kind,
            TokenKind::Add
                | TokenKind::Sub
                | TokenKind::Mul
                | TokenKind::Div
                | TokenKind::Mod
                | TokenKind::Pow
        ) {
            return Err(unsupported("arithmetic in scalar filters", self.tok.pos));
        }
        Ok(ScalarFilter {
            aggregate,
            op,
            value,
        })
    }

    fn scalar_literal(&mut self) -> Result<Static, ParseError> {
        let pos = self.tok.pos;
        let negative = self.tok.kind == TokenKind::Sub;
        if negative {
            self.bump()?;
        }
        let value = match &self.tok.kind {
            TokenKind::Int(i) => Static::Int(*i),
            TokenKind::Float(f) => Static::Float(*f),
            TokenKind::Duration(d) => Static::Duration(*d),
            TokenKind::LParen => {
                return Err(unsupported("scalar expressions in scalar filters", pos))
            }
            TokenKind::Ident(w)
                if matches!(w.as_str(), "count" | "avg" | "min" | "max" | "sum") =>
            {
                return Err(unsupported("comparing two aggregates", pos))
            }
            _ => return Err(self.unexpected(Some("number or duration"))),
        };
        self.bump()?;
        if negative {
            return negate(value).ok_or_else(|| ParseError::new("number out of range", pos));
        }
        Ok(value)
    }

    fn aggregate(&mut self) -> Result<Aggregate, ParseError> {
        let name = match &self.tok.kind {
            TokenKind::Ident(w) => w.clone(),
            _ => return Err(self.unexpected(Some("aggregate"))),
        };
        self.bump()?;
        self.expect(TokenKind::LParen, "(")?;
        if name == "count" {
            self.expect(TokenKind::RParen, ")")?;
            return Ok(Aggregate::Count);
        }
        if self.tok.kind == TokenKind::RParen {
            return Err(self.unexpected(None));
        }
        let arg_pos = self.tok.pos;
        let arg = self.field_expr()?;
        if let Some(t) = static_type(&arg) {
            if !t.is_numeric() {
                return Err(ParseError::new(
                    format!("{name}() requires a numeric argument, got {t:?}"),
                    arg_pos,
                ));
            }
        }
        self.expect(TokenKind::RParen, ")")?;
        Ok(match name.as_str() {
            "avg" => Aggregate::Avg(arg),
            "min" => Aggregate::Min(arg),
            "max" => Aggregate::Max(arg),
            _ => Aggregate::Sum(arg),
        })
    }

    // ------------------------------------------------------ spanset expressions

    fn spanset_expr(&mut self, min_prec: u8) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_primary()?;
        loop {
            let pos = self.tok.pos;
            let (op, prec) = match &self.tok.kind {
                // Tempo: `%left AND OR`, one level, left to right.
                TokenKind::Or => (SpansetOp::Union, 1),
                TokenKind::And => (SpansetOp::And, 1),
                TokenKind::Gt => (SpansetOp::Child, 3),
                TokenKind::Desc => (SpansetOp::Descendant, 3),
                TokenKind::Lt => (SpansetOp::Parent, 3),
                TokenKind::Ance => (SpansetOp::Ancestor, 3),
                TokenKind::Tilde => (SpansetOp::Sibling, 3),
                TokenKind::Nre => {
                    return Err(unsupported("not-sibling operator `!~`", pos));
                }
                TokenKind::UnsupportedOp(op) => {
                    return Err(unsupported(&format!("structural operator `{op}`"), pos));
                }
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.bump()?;
            self.count_operator(pos)?;
            let rhs = self.spanset_expr(prec + 1)?;
            lhs = SpansetExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, ParseError> {
        match self.tok.kind {
            TokenKind::LBrace => {
                self.bump()?;
                if self.tok.kind == TokenKind::RBrace {
                    self.bump()?;
                    return Ok(SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))));
                }
                let e = self.field_expr()?;
                self.expect(TokenKind::RBrace, "}")?;
                Ok(SpansetExpr::Filter(e))
            }
            TokenKind::LParen => {
                self.enter()?;
                self.bump()?;
                let mut pipeline = self.pipeline()?;
                self.expect(TokenKind::RParen, ")")?;
                self.leave();
                if pipeline.stages.len() == 1 {
                    if let Some(Stage::Spanset(_)) = pipeline.stages.first() {
                        if let Some(Stage::Spanset(e)) = pipeline.stages.pop() {
                            return Ok(e);
                        }
                    }
                }
                Ok(SpansetExpr::Pipeline(Box::new(pipeline)))
            }
            _ => Err(self.unexpected(Some("{ or ("))),
        }
    }

    // -------------------------------------------------------- field expressions

    fn field_expr(&mut self) -> Result<FieldExpr, ParseError> {
        self.field_binary(1)
    }

    fn field_binary(&mut self, min_prec: u8) -> Result<FieldExpr, ParseError> {
        let mut lhs = self.field_unary()?;
        loop {
            let pos = self.tok.pos;
            let (op, prec) = match self.tok.kind {
                // Tempo: `%left AND OR`, one level, left to right.
                TokenKind::Or => (BinaryOp::Or, 1),
                TokenKind::And => (BinaryOp::And, 1),
                TokenKind::Eq => (BinaryOp::Eq, 3),
                TokenKind::Neq => (BinaryOp::Neq, 3),
                TokenKind::Lt => (BinaryOp::Lt, 3),
                TokenKind::Lte => (BinaryOp::Lte, 3),
                TokenKind::Gt => (BinaryOp::Gt, 3),
                TokenKind::Gte => (BinaryOp::Gte, 3),
                TokenKind::Re => (BinaryOp::Regex, 3),
                TokenKind::Nre => (BinaryOp::NotRegex, 3),
                TokenKind::Add => (BinaryOp::Add, 4),
                TokenKind::Sub => (BinaryOp::Sub, 4),
                TokenKind::Mul => (BinaryOp::Mul, 5),
                TokenKind::Div => (BinaryOp::Div, 5),
                TokenKind::Mod => (BinaryOp::Mod, 5),
                TokenKind::Pow => (BinaryOp::Pow, 6),
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.bump()?;
            self.count_operator(pos)?;
            // `^` is right-associative; everything else is left-associative.
            let next = if op == BinaryOp::Pow { prec } else { prec + 1 };
            self.enter()?;
            let rhs = self.field_binary(next)?;
            self.leave();
            lhs = FieldExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn field_unary(&mut self) -> Result<FieldExpr, ParseError> {
        let op = match self.tok.kind {
            TokenKind::Not => UnaryOp::Not,
            TokenKind::Sub => UnaryOp::Neg,
            _ => return self.field_primary(),
        };
        let pos = self.tok.pos;
        self.bump()?;
        self.enter()?;
        // Operand binds `* / % ^` but not `+ -` or comparisons (Tempo's precedence).
        let expr = self.field_binary(5)?;
        self.leave();
        if op == UnaryOp::Neg {
            if let FieldExpr::Static(s) = &expr {
                if s.value_type().is_numeric() {
                    return negate(s.clone())
                        .map(FieldExpr::Static)
                        .ok_or_else(|| ParseError::new("number out of range", pos));
                }
            }
        }
        Ok(FieldExpr::Unary {
            op,
            expr: Box::new(expr),
        })
    }

    fn field_primary(&mut self) -> Result<FieldExpr, ParseError> {
        let pos = self.tok.pos;
        let expr = match &self.tok.kind {
            TokenKind::LParen => {
                self.enter()?;
                self.bump()?;
                let e = self.field_expr()?;
                self.expect(TokenKind::RParen, ")")?;
                self.leave();
                return Ok(e);
            }
            TokenKind::Str(s) => FieldExpr::Static(Static::String(s.clone())),
            TokenKind::Int(i) => FieldExpr::Static(Static::Int(*i)),
            TokenKind::Float(f) => FieldExpr::Static(Static::Float(*f)),
            TokenKind::Duration(d) => FieldExpr::Static(Static::Duration(*d)),
            TokenKind::Ident(w) => {
                if let Some(s) = Static::from_keyword(w) {
                    FieldExpr::Static(s)
                } else if let Some(i) = Intrinsic::from_name(w) {
                    FieldExpr::Intrinsic(i)
                } else if UNSUPPORTED_INTRINSICS.contains(&w.as_str()) {
                    return Err(unsupported(&format!("intrinsic `{w}`"), pos));
                } else {
                    return Err(self.unexpected(None));
                }
            }
            TokenKind::ScopedIntrinsic(w) => {
                if let Some(i) = Intrinsic::from_name(w) {
                    FieldExpr::Intrinsic(i)
                } else if UNSUPPORTED_INTRINSICS.contains(&w.as_str()) {
                    return Err(unsupported(&format!("intrinsic `{w}`"), pos));
                } else {
                    return Err(ParseError::new(
                        format!("syntax error: unknown intrinsic `{w}`"),
                        pos,
                    ));
                }
            }
            TokenKind::Attr { prefix, name } => {
                let scope = match prefix {
                    AttrPrefix::Unscoped => AttributeScope::Unscoped,
                    AttrPrefix::Span => AttributeScope::Span,
                    AttrPrefix::Resource => AttributeScope::Resource,
                    other => {
                        return Err(unsupported(
                            &format!("`{}` attribute scope", other.as_str()),
                            pos,
                        ))
                    }
                };
                FieldExpr::Attribute(Attribute {
                    scope,
                    name: name.clone(),
                })
            }
            _ => return Err(self.unexpected(None)),
        };
        self.bump()?;
        Ok(expr)
    }
}

fn negate(value: Static) -> Option<Static> {
    Some(match value {
        Static::Int(i) => Static::Int(i.checked_neg()?),
        Static::Float(f) => Static::Float(-f),
        Static::Duration(d) => Static::Duration(d.checked_neg()?),
        other => other,
    })
}

/// The type of an expression made only of literals, if it can be known
/// without a span (used to reject e.g. `max("foo")`, `max(name)`).
fn static_type(e: &FieldExpr) -> Option<StaticType> {
    match e {
        FieldExpr::Static(s) => Some(s.value_type()),
        FieldExpr::Intrinsic(i) => Some(i.value_type()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> Query {
        match parse(q) {
            Ok(query) => query,
            Err(e) => panic!("{q:?} should parse, got {e}"),
        }
    }

    fn err(q: &str) -> ParseError {
        match parse(q) {
            Ok(query) => panic!("{q:?} should fail, got {query:?}"),
            Err(e) => e,
        }
    }

    fn single(q: &str) -> SpansetExpr {
        let query = ok(q);
        assert_eq!(query.pipeline.stages.len(), 1, "{q}");
        match query.pipeline.stages.into_iter().next() {
            Some(Stage::Spanset(e)) => e,
            other => panic!("{q}: expected spanset stage, got {other:?}"),
        }
    }

    fn filter(q: &str) -> FieldExpr {
        match single(q) {
            SpansetExpr::Filter(f) => f,
            other => panic!("{q}: expected filter, got {other:?}"),
        }
    }

    fn attr(scope: AttributeScope, name: &str) -> FieldExpr {
        FieldExpr::Attribute(Attribute {
            scope,
            name: name.to_string(),
        })
    }

    fn dot(name: &str) -> FieldExpr {
        attr(AttributeScope::Unscoped, name)
    }

    fn st(s: Static) -> FieldExpr {
        FieldExpr::Static(s)
    }

    fn bin(op: BinaryOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
        FieldExpr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }

    fn sbin(op: SpansetOp, lhs: SpansetExpr, rhs: SpansetExpr) -> SpansetExpr {
        SpansetExpr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }

    fn f(q: &str) -> SpansetExpr {
        SpansetExpr::Filter(dot(q))
    }

    fn scalar(aggregate: Aggregate, op: CompareOp, value: Static) -> Stage {
        Stage::ScalarFilter(ScalarFilter {
            aggregate,
            op,
            value,
        })
    }

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn empty_spanset_and_simple_filters() {
        assert_eq!(filter("{}"), st(Static::Bool(true)));
        assert_eq!(filter("{ true }"), st(Static::Bool(true)));
        assert_eq!(
            filter(r#"{ resource.service.name = "api" }"#),
            bin(
                BinaryOp::Eq,
                attr(AttributeScope::Resource, "service.name"),
                st(Static::String("api".into()))
            )
        );
        assert_eq!(
            filter("{ span.http.status_code >= 500 }"),
            bin(
                BinaryOp::Gte,
                attr(AttributeScope::Span, "http.status_code"),
                st(Static::Int(500))
            )
        );
        assert_eq!(
            filter(r#"{ span."foo bar" = `x\y` }"#),
            bin(
                BinaryOp::Eq,
                attr(AttributeScope::Span, "foo bar"),
                st(Static::String("x\\y".into()))
            )
        );
        assert_eq!(filter("{ .a }"), dot("a"));
        assert_eq!(
            filter("{ .foo = nil }"),
            bin(BinaryOp::Eq, dot("foo"), st(Static::Nil))
        );
    }

    #[test]
    fn intrinsics_and_enums() {
        let cases = [
            (
                "{ status = error }",
                Intrinsic::Status,
                Static::Status(Status::Error),
            ),
            (
                "{ span:status = ok }",
                Intrinsic::Status,
                Static::Status(Status::Ok),
            ),
            (
                "{ status = unset }",
                Intrinsic::Status,
                Static::Status(Status::Unset),
            ),
            (
                "{ kind = server }",
                Intrinsic::Kind,
                Static::Kind(Kind::Server),
            ),
            (
                "{ span:kind = client }",
                Intrinsic::Kind,
                Static::Kind(Kind::Client),
            ),
            (
                "{ kind = unspecified }",
                Intrinsic::Kind,
                Static::Kind(Kind::Unspecified),
            ),
            (
                "{ kind = internal }",
                Intrinsic::Kind,
                Static::Kind(Kind::Internal),
            ),
            (
                "{ kind = producer }",
                Intrinsic::Kind,
                Static::Kind(Kind::Producer),
            ),
            (
                "{ kind = consumer }",
                Intrinsic::Kind,
                Static::Kind(Kind::Consumer),
            ),
            (
                "{ name = \"x\" }",
                Intrinsic::Name,
                Static::String("x".into()),
            ),
            (
                "{ span:name = \"x\" }",
                Intrinsic::Name,
                Static::String("x".into()),
            ),
            (
                "{ statusMessage = \"\" }",
                Intrinsic::StatusMessage,
                Static::String(String::new()),
            ),
            (
                "{ span:statusMessage = \"m\" }",
                Intrinsic::StatusMessage,
                Static::String("m".into()),
            ),
            (
                "{ duration = 1s }",
                Intrinsic::Duration,
                Static::Duration(SEC),
            ),
            (
                "{ span:duration = 2s }",
                Intrinsic::Duration,
                Static::Duration(2 * SEC),
            ),
            (
                "{ rootName = \"r\" }",
                Intrinsic::RootName,
                Static::String("r".into()),
            ),
            (
                "{ trace:rootName = \"a\" }",
                Intrinsic::RootName,
                Static::String("a".into()),
            ),
            (
                "{ rootServiceName = \"foo\" }",
                Intrinsic::RootServiceName,
                Static::String("foo".into()),
            ),
            (
                "{ trace:rootService = \"a\" }",
                Intrinsic::RootServiceName,
                Static::String("a".into()),
            ),
            (
                "{ traceDuration = 1s }",
                Intrinsic::TraceDuration,
                Static::Duration(SEC),
            ),
            (
                "{ trace:duration = 2s }",
                Intrinsic::TraceDuration,
                Static::Duration(2 * SEC),
            ),
            (
                "{ span:id = \"6162\" }",
                Intrinsic::SpanId,
                Static::String("6162".into()),
            ),
            (
                "{ trace:id = \"aa\" }",
                Intrinsic::TraceId,
                Static::String("aa".into()),
            ),
        ];
        for (q, i, v) in cases {
            assert_eq!(
                filter(q),
                bin(BinaryOp::Eq, FieldExpr::Intrinsic(i), st(v)),
                "{q}"
            );
        }
    }

    #[test]
    fn durations_in_filters() {
        let cases = [
            ("500ms", 500_000_000),
            ("1.5s", 1_500_000_000),
            ("2m", 120 * SEC),
            ("1h", 3600 * SEC),
            ("100us", 100_000),
            ("10ns", 10),
        ];
        for (d, nanos) in cases {
            let q = format!("{{ duration > {d} }}");
            assert_eq!(
                filter(&q),
                bin(
                    BinaryOp::Gt,
                    FieldExpr::Intrinsic(Intrinsic::Duration),
                    st(Static::Duration(nanos))
                ),
                "{q}"
            );
        }
    }

    #[test]
    fn field_precedence() {
        // && and || share one precedence level, left to right (Tempo's grammar)
        assert_eq!(
            filter("{ .a || .b && .c }"),
            bin(
                BinaryOp::And,
                bin(BinaryOp::Or, dot("a"), dot("b")),
                dot("c")
            )
        );
        assert_eq!(
            filter("{ .a && .b || .c }"),
            bin(
                BinaryOp::Or,
                bin(BinaryOp::And, dot("a"), dot("b")),
                dot("c")
            )
        );
        // comparison over && ; arithmetic over comparison
        assert_eq!(
            filter("{ .a + 1 = 2 && .b * 2 > 3 }"),
            bin(
                BinaryOp::And,
                bin(
                    BinaryOp::Eq,
                    bin(BinaryOp::Add, dot("a"), st(Static::Int(1))),
                    st(Static::Int(2))
                ),
                bin(
                    BinaryOp::Gt,
                    bin(BinaryOp::Mul, dot("b"), st(Static::Int(2))),
                    st(Static::Int(3))
                )
            )
        );
        // ^ right-assoc
        assert_eq!(
            filter("{ 2 ^ 3 ^ 2 = .a }"),
            bin(
                BinaryOp::Eq,
                bin(
                    BinaryOp::Pow,
                    st(Static::Int(2)),
                    bin(BinaryOp::Pow, st(Static::Int(3)), st(Static::Int(2)))
                ),
                dot("a")
            )
        );
        // - left-assoc
        assert_eq!(
            filter("{ 1 - 2 - 3 = .a }"),
            bin(
                BinaryOp::Eq,
                bin(
                    BinaryOp::Sub,
                    bin(BinaryOp::Sub, st(Static::Int(1)), st(Static::Int(2))),
                    st(Static::Int(3))
                ),
                dot("a")
            )
        );
        // unary
        assert_eq!(
            filter("{ -1 = 2 }"),
            bin(BinaryOp::Eq, st(Static::Int(-1)), st(Static::Int(2)))
        );
        assert_eq!(
            filter("{ !.a }"),
            FieldExpr::Unary {
                op: UnaryOp::Not,
                expr: Box::new(dot("a"))
            }
        );
        assert_eq!(
            filter("{ -.a = 2 }"),
            bin(
                BinaryOp::Eq,
                FieldExpr::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(dot("a"))
                },
                st(Static::Int(2))
            )
        );
        // parentheses override
        assert_eq!(
            filter("{ (.a || .b) && .c }"),
            bin(
                BinaryOp::And,
                bin(BinaryOp::Or, dot("a"), dot("b")),
                dot("c")
            )
        );
        assert_eq!(
            filter(r#"{ .a =~ "x.*" && .b !~ "y" }"#),
            bin(
                BinaryOp::And,
                bin(BinaryOp::Regex, dot("a"), st(Static::String("x.*".into()))),
                bin(BinaryOp::NotRegex, dot("b"), st(Static::String("y".into())))
            )
        );
    }

    #[test]
    fn spanset_precedence_and_structural() {
        assert_eq!(
            single("{ .a } && { .b } || { .c }"),
            sbin(
                SpansetOp::Union,
                sbin(SpansetOp::And, f("a"), f("b")),
                f("c")
            )
        );
        assert_eq!(
            single("{ .a } || { .b } && { .c }"),
            sbin(
                SpansetOp::And,
                sbin(SpansetOp::Union, f("a"), f("b")),
                f("c")
            )
        );
        assert_eq!(
            single("({ .a } || { .b }) && { .c }"),
            sbin(
                SpansetOp::And,
                sbin(SpansetOp::Union, f("a"), f("b")),
                f("c")
            )
        );
        let ops = [
            (">", SpansetOp::Child),
            (">>", SpansetOp::Descendant),
            ("<", SpansetOp::Parent),
            ("<<", SpansetOp::Ancestor),
            ("~", SpansetOp::Sibling),
        ];
        for (text, op) in ops {
            let q = format!("{{ .a }} {text} {{ .b }}");
            assert_eq!(single(&q), sbin(op, f("a"), f("b")), "{q}");
        }
        // structural binds tighter than && and is left-assoc
        assert_eq!(
            single("{ .a } > { .b } >> { .c } && { .d }"),
            sbin(
                SpansetOp::And,
                sbin(
                    SpansetOp::Descendant,
                    sbin(SpansetOp::Child, f("a"), f("b")),
                    f("c")
                ),
                f("d")
            )
        );
    }

    #[test]
    fn pipelines() {
        let q = ok(r#"{ .http.method = "POST" } | by(.http.target) | count() > 2"#);
        assert_eq!(
            q.pipeline.stages,
            vec![
                Stage::Spanset(SpansetExpr::Filter(bin(
                    BinaryOp::Eq,
                    dot("http.method"),
                    st(Static::String("POST".into()))
                ))),
                Stage::GroupBy(dot("http.target")),
                scalar(Aggregate::Count, CompareOp::Gt, Static::Int(2)),
            ]
        );
        let q = ok(
            "{ } | avg(duration) > 1s | max(span.x) >= 2.5 | min(.y) < -3 | sum(duration) != 1h",
        );
        assert_eq!(
            q.pipeline.stages[1..],
            [
                scalar(
                    Aggregate::Avg(FieldExpr::Intrinsic(Intrinsic::Duration)),
                    CompareOp::Gt,
                    Static::Duration(SEC)
                ),
                scalar(
                    Aggregate::Max(attr(AttributeScope::Span, "x")),
                    CompareOp::Gte,
                    Static::Float(2.5)
                ),
                scalar(Aggregate::Min(dot("y")), CompareOp::Lt, Static::Int(-3)),
                scalar(
                    Aggregate::Sum(FieldExpr::Intrinsic(Intrinsic::Duration)),
                    CompareOp::Neq,
                    Static::Duration(3600 * SEC)
                ),
            ]
        );
        let q = ok("{ status = error } | select(span.http.method, resource.x, name)");
        assert_eq!(
            q.pipeline.stages[1],
            Stage::Select(vec![
                Field::Attribute(Attribute {
                    scope: AttributeScope::Span,
                    name: "http.method".into()
                }),
                Field::Attribute(Attribute {
                    scope: AttributeScope::Resource,
                    name: "x".into()
                }),
                Field::Intrinsic(Intrinsic::Name),
            ])
        );
        let q = ok("{} | by(resource.service.name) | count() = 1 | { .a }");
        assert_eq!(q.pipeline.stages.len(), 4);
        assert_eq!(
            q.pipeline.stages[1],
            Stage::GroupBy(attr(AttributeScope::Resource, "service.name"))
        );
        assert_eq!(q.pipeline.stages[3], Stage::Spanset(f("a")));
        // pipe is loosest: spanset ops belong to one stage
        let q = ok("{ .a } && { .b } | count() > 1");
        assert_eq!(
            q.pipeline.stages[0],
            Stage::Spanset(sbin(SpansetOp::And, f("a"), f("b")))
        );
    }

    #[test]
    fn wrapped_pipelines() {
        let q = single("({ .a } | count() > 1) >> ({ .b } | count() > 1)");
        let sub = |n: &str| {
            SpansetExpr::Pipeline(Box::new(Pipeline {
                stages: vec![
                    Stage::Spanset(f(n)),
                    scalar(Aggregate::Count, CompareOp::Gt, Static::Int(1)),
                ],
            }))
        };
        assert_eq!(q, sbin(SpansetOp::Descendant, sub("a"), sub("b")));
    }

    #[test]
    fn tempo_valid_examples_parse() {
        let valid = [
            "{ true }",
            "{ !true }",
            "{ true && false }",
            "{ true || false }",
            "{ 1 = 2 }",
            "{ 1 != 2 }",
            "{ 1 > 2 }",
            "{ 1 >= 2 }",
            "{ 1 < 2 }",
            "{ 1 <= 2 }",
            "{ -1 = 2 }",
            r#"{ "test" =~ "test" }"#,
            r#"{ "test" !~ "test" }"#,
            r#"{ "test" = "test" }"#,
            r#"{ "test" != "test" }"#,
            "{ .a }",
            "{ !.a }",
            "{ .a && false }",
            "{ .a || true }",
            "{ .a = 2 }",
            "{ .a != 2 }",
            "{ .a > 2 }",
            "{ .a >= 2 }",
            "{ .a < 2 }",
            "{ .a <= 2 }",
            "{ -.a = 2 }",
            r#"{ .a =~ "test" }"#,
            r#"{ .a !~ "test" }"#,
            r#"{ .a = "test" }"#,
            r#"{ .a != "test" }"#,
            "{ resource.a != 3 }",
            "{ span.a != 3 }",
            r#"{ !("test" != .c || ((true && .b) || 3 < .a)) }"#,
            "{ status = ok }",
            "{ status = unset }",
            "{ status = error }",
            "{ status != error }",
            r#"{ statusMessage = "status message" }"#,
            r#"{ statusMessage = "" }"#,
            r#"{ statusMessage =~ ".*" }"#,
            r#"{ statusMessage != "" }"#,
            "{ kind = internal }",
            "{ kind = client }",
            "{ kind = consumer }",
            "{ traceDuration > 1s }",
            r#"{ rootServiceName = "foo" }"#,
            r#"{ rootName != "foo" }"#,
            "{ duration > 1s }",
            "{ 1 < 1h }",
            "{ 1 <= 1.1 }",
            "{ trace:duration > 2s }",
            r#"{ trace:rootName = "a" }"#,
            r#"{ trace:rootService = "a" }"#,
            r#"{ trace:id = "aasdf4ergf" }"#,
            "{ span:duration > 2s }",
            "{ span:status = error }",
            "{ span:kind = client }",
            r#"{ span:statusMessage = "status message" }"#,
            r#"{ span:id = "61626364656667" }"#,
            "{ 1 + 1 = 2 }",
            "{ 1 - 1 = 2 }",
            "{ 1 * 1 = 2 }",
            "{ 1 / 1 = 2 }",
            "{ 1 ^ 1 = 2 }",
            "{ .a + 1 = 2 }",
            "{ .a - 1 = 2 }",
            "{ .a * 1 = 2 }",
            "{ .a / 1 = 2 }",
            "{ .a ^ 1 = 2 }",
            "{ duration > 1s * 2s }",
            "{ 1 * 1h = 1 }",
            "{ 1 / 1.1 = 1 }",
            r#"{ .http.status >= "200" }"#,
            "{ true } && { true }",
            "{ true } || { true }",
            "{ true } >> { true }",
            "{ true } << { true }",
            "{ true } > { true }",
            "{ true } < { true }",
            "{ true } ~ { true }",
            "({ true } | count() > 1 | { false }) >> ({ true } | count() > 1 | { false })",
            "({ true } | count() > 1 | { false }) > ({ true } | count() > 1 | { false })",
            "({ true } | count() > 1 | { false }) ~ ({ true } | count() > 1 | { false })",
            "avg(.field) > 1",
            "max(duration) >= 1s",
            "max(duration) > 1",
            "{ true } | max(duration) = 1h",
            "{ true } | min(duration) = 1h",
            "{ true } | sum(duration) = 1h",
            "{ true } | max(.a) = 1",
            "{ true } | max(span.a) = 1",
            "{ true } | max(resource.a) = 1",
            "{ true } | max(1 + .a) = 1",
            "{ true } | max((1 + .a) * 2) = 1",
            "max(duration) > 3s | { status = error || .http.status = 500 }",
            "select(.a)",
            "{} | select(.a,.b,.c)",
            "{ true } | { .a }",
            "{ true } | count() = 1",
            "{ true } | avg(duration) = 1h",
            "count() = 1 | { true }",
            "{ true } | count() = 1 | { true }",
            "({ true } | count() > 1 | { false }) && ({ true } | count() > 1 | { false })",
            "({ true } | count() > 1 | { false }) || ({ true } | count() > 1 | { false })",
            "{ true } | by(.a)",
            "{ true } | by(1 + .a)",
            "by(.a) | { true }",
            "{ true } | by(name) | count() > 2",
            "{ true } | by(.field) | avg(.b) = 2",
            "{ true } | by(3 * .field - 2) | max(duration) < 1s",
            // from the TraceQL docs
            r#"{ span.http.method = "GET" && status = ok } && { span.http.method = "DELETE" && status != ok }"#,
            r#"{ resource.service.name = "frontend" } >> { status = error }"#,
            r#"{ .service.name = "shop-backend" } | avg(duration) > 1s"#,
            r#"{ resource.cloud.region = "us-east-1" } | by(span.http.target) | count() > 2"#,
            r#"{ span.http.method = "GET" } | select(span.http.status_code, resource.service.name)"#,
            r#"{ .http.status_code >= 200 && .http.status_code < 300 } | count() > 2"#,
            r#"{ name =~ "HTTP (GET|POST)" }"#,
        ];
        for q in valid {
            ok(q);
        }
    }

    #[test]
    fn tempo_parse_fails_are_positioned_errors() {
        let invalid = [
            "true",
            "[ true ]",
            "( true )",
            "{ . }",
            "{ < }",
            "{ .a < }",
            "{ .a < 3",
            "{ (.a < 3 }",
            "{ attribute = 4 }",
            "{ .attribute == 4 }",
            "{ span. }",
            "{ true } + { true }",
            "{ true } - { true }",
            "{ true } * { true }",
            "{ true } / { true }",
            "{ true } ^ { true }",
            "{ true } = { true }",
            "{ true } <= { true }",
            "{ true } >= { true }",
            r#"max(name) = "foo""#,
            r#"avg("foo") = "bar""#,
            "max(status) = ok",
            "max(kind) = consumer",
            "max(duration) < ok",
            r#"min(1) = "foo""#,
            "min(parent) = nil",
            r#"avg(childCount) > "foo""#,
            "avg(.field) + 1",
            "sum(3) - 2",
            "min(childCount) && 2",
            "select(.a",
            "select()",
            r#"select(1 + "string")"#,
            "coalesce() | { true }",
            "count() > 3 && { true }",
            "{ true } | count()",
            "{ true } | notAnAggregate() = 1",
            "{ true } | count = 1",
            "{ true } | max() = 1",
            "{ true } | by()",
            "({ true }) + (count()) = 1",
            "({ true }) && (count())",
            "({ true } | count()) && ({ true } | count()) = 1",
            "({ true }) + ({ true }) = 1",
            "({ true } | count()) + ({ true } | count())",
            "(by(namespace) | count()) > 2 * 2",
            "(by(namespace) | count()) * 2 > 2",
            "2 < (by(namespace) | count())",
            "{ trace:status = error }",
            "{ trace:kind = server }",
            r#"{ trace:name = "a" }"#,
            r#"{ trace:rootServiceName = "a" }"#,
            r#"{ span:rootName = "bar" }"#,
            "",
            "   ",
            "{",
            "}",
            "{ .a = \"unterminated }",
            "{ .a = 1 } |",
            "{ .a = 1 } &&",
        ];
        for q in invalid {
            let e = err(q);
            assert!(e.line >= 1 && e.column >= 1, "{q}: {e:?}");
            assert!(
                e.to_string().starts_with("parse error at line "),
                "{q}: {e}"
            );
        }
    }

    #[test]
    fn error_positions_and_wording() {
        let e = err("{ .a = 1 } | foo");
        assert_eq!((e.line, e.column), (1, 14));
        assert_eq!(e.message, "syntax error: unexpected IDENTIFIER");
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 14: syntax error: unexpected IDENTIFIER"
        );
        let e = err("{ .a < 3");
        assert_eq!((e.line, e.column), (1, 9));
        assert_eq!(e.message, "syntax error: unexpected $end, expecting }");
        let e = err("{ .a = 1 }\n  && { attribute = 4 }");
        assert_eq!((e.line, e.column), (2, 8));
        let e = err("{ true } | count = 1");
        assert_eq!(e.message, "syntax error: unexpected =, expecting (");
        assert_eq!(e.column, 18);
        let e = err("{ .a == 4 }");
        assert_eq!(
            (e.column, e.message.as_str()),
            (7, "syntax error: unexpected =")
        );
        let e = err("{ trace:status = error }");
        assert_eq!(e.column, 3);
        assert!(e.message.contains("trace:status"));
    }

    #[test]
    fn unsupported_features_are_named() {
        let cases = [
            ("{} | rate()", "rate()", 6),
            ("{} | count_over_time() by (name)", "count_over_time()", 6),
            (
                "{} | quantile_over_time(duration, .9)",
                "quantile_over_time()",
                6,
            ),
            ("{ true } | coalesce()", "coalesce()", 12),
            ("{ true } !> { true }", "`!>`", 10),
            ("{ true } &>> { true }", "`&>>`", 10),
            ("{ true } !~ { true }", "`!~`", 10),
            ("{ parent.a = 1 }", "`parent.`", 3),
            ("{ event.foo = \"bar\" }", "`event.`", 3),
            ("{ childCount = 1 }", "childCount", 3),
            ("{ event:name = \"x\" }", "event:name", 3),
            ("{ true } | count() + count() = 1", "arithmetic", 20),
            ("{} | min(.a) < max(.b)", "two aggregates", 16),
            ("{} | by(.a, .b)", "by()", 11),
        ];
        for (q, needle, col) in cases {
            let e = err(q);
            assert!(
                e.message.starts_with("unsupported TraceQL feature") && e.message.contains(needle),
                "{q}: {e}"
            );
            assert_eq!((e.line, e.column), (1, col), "{q}: {e}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{{ .a }}{}", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&deep).message.contains("nested too deeply"));
        let deep = format!("{{ {}.a{} }}", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&deep).message.contains("nested too deeply"));
        let deep = format!("{{ {}.a }}", "!".repeat(5000));
        assert!(err(&deep).message.contains("nested too deeply"));
        let ok_depth = format!("{}{{ .a }}{}", "(".repeat(50), ")".repeat(50));
        assert_eq!(single(&ok_depth), f("a"));
        // long flat chains up to the operator limit parse, and the tree can be
        // cloned, compared, formatted and dropped.
        let chain = vec!["{ .a }"; MAX_OPERATORS].join(" && ");
        let q = ok(&chain);
        assert_eq!(q.clone(), q);
        assert!(!format!("{q:?}").is_empty());
        let chain = vec!["{ .a }"; MAX_OPERATORS + 2].join(" || ");
        assert!(err(&chain).message.contains("too many operators"));
        let chain = format!("{{ {} }}", vec![".a = 1"; MAX_OPERATORS].join(" || "));
        assert!(err(&chain).message.contains("too many operators"));
    }

    #[test]
    fn type_errors_are_left_to_validation() {
        // Tempo parses these and rejects them in validate(); so do we (parse only).
        for q in [
            r#"{ 1 + "foo" = 1 }"#,
            "{ status > ok }",
            "{ 1 }",
            r#"{ span.foo =~ "[" }"#,
        ] {
            ok(q);
        }
        assert_eq!(
            filter(r#"{ .a = "x" }"#),
            bin(BinaryOp::Eq, dot("a"), st(Static::String("x".into())))
        );
    }
}
