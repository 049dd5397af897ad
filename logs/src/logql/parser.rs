//! The LogQL parser: a recursive-descent parser accepting the language of
//! Loki's yacc grammar (`pkg/logql/syntax/expr.y`), followed by Loki's
//! semantic checks (`ParseExpr` + validation), in Loki's order and wording:
//! 1. syntax errors and immediate errors (bad regexes in matchers, bad
//!    `regexp`/`pattern` parsers) as parsing meets them;
//! 2. construction errors of metric nodes (`invalid aggregation ... without
//!    unwrap`, `parameter required for operation topk`, binary operations on
//!    log queries, ...) and the "at least one non-empty matcher" rule, in a
//!    pre-order walk of the tree;
//! 3. errors Loki only finds when building the pipeline (templates, line
//!    filter regexes, `ip()` patterns), reported as `stage '...' : reason`.
//!
//! Operator precedence follows PromQL: `or` < `and unless` < comparisons <
//! `+ -` < `* / %` < `^` (right-associative). Label filters bind `and`
//! tighter than `or`; `,` and juxtaposition mean `and` but group everything
//! to their right, as yacc's default shift does in Loki's grammar.

use model::{MatchOp, Matcher};
use regex::Regex;

use super::ast::*;
use super::error::ParseError;
use super::ip::IpMatcher;
use super::json::parse_path;
use super::lexer::{tokenize, FunctionToken, Token, TokenKind};
use super::line_filter::CompiledLineFilter;
use super::pattern::PatternMatcher;
use super::pipeline::loki_stage_order;
use super::regex_compat::compile_go_regex;
use super::template::Template;
use super::units::{go_format_fixed6, go_parse_float, go_quote};

/// Loki refuses queries of 128 KiB or more.
const MAX_INPUT_SIZE: usize = 131_072;
const MAX_DEPTH: usize = 200;
const AT_LEAST_ONE_MATCHER: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

type ParseResult<T> = Result<T, ParseError>;

/// A parsed expression before Loki's deferred checks; metric nodes carry the
/// error their construction would have recorded.
enum Draft {
    Log {
        expr: LogExpr,
        has_pipeline: bool,
    },
    Literal {
        value: f64,
        error: Option<ParseError>,
    },
    Vector {
        value: f64,
        error: Option<ParseError>,
    },
    Range {
        aggregation: RangeAggregation,
        error: Option<ParseError>,
    },
    VectorAggregation {
        op: VectorOp,
        parameter: Option<i64>,
        grouping: Grouping,
        inner: Box<Draft>,
        error: Option<ParseError>,
    },
    Binary {
        op: BinaryOp,
        return_bool: bool,
        matching: VectorMatching,
        lhs: Box<Draft>,
        rhs: Box<Draft>,
        error: Option<ParseError>,
    },
    LabelReplace {
        inner: Box<Draft>,
        destination: String,
        replacement: String,
        source: String,
        regex: String,
        compiled: Option<Regex>,
        error: Option<ParseError>,
    },
}

pub(crate) fn parse_query(query: &str) -> ParseResult<Expr> {
    if query.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::unpositioned(format!(
            "input size too long ({} > {MAX_INPUT_SIZE})",
            query.len()
        )));
    }
    let mut parser = Parser {
        tokens: tokenize(query),
        position: 0,
        depth: 0,
        stage_errors: Vec::new(),
    };
    let draft = parser.parse_expr(0)?;
    if !matches!(parser.peek_kind(), TokenKind::Eof) {
        return Err(parser.unexpected());
    }
    validate(&draft)?;
    if let Some(error) = parser.stage_errors.into_iter().next() {
        return Err(error);
    }
    into_expr(draft)
}

fn validate_matchers(matchers: &[Matcher]) -> ParseResult<()> {
    if matchers.iter().any(|m| !m.matches_empty()) {
        Ok(())
    } else {
        Err(ParseError::unpositioned(AT_LEAST_ONE_MATCHER))
    }
}

/// Loki's `validateExpr`, in its pre-order.
fn validate(draft: &Draft) -> ParseResult<()> {
    let check = |error: &Option<ParseError>| error.clone().map_or(Ok(()), Err);
    match draft {
        Draft::Log { expr, .. } => validate_matchers(&expr.matchers),
        Draft::Literal { error, .. } | Draft::Vector { error, .. } => check(error),
        Draft::Binary {
            error, lhs, rhs, ..
        } => {
            check(error)?;
            validate(lhs)?;
            validate(rhs)
        }
        Draft::VectorAggregation {
            op,
            grouping,
            inner,
            error,
            ..
        } => {
            check(error)?;
            if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && !grouping.labels.is_empty() {
                return Err(ParseError::unpositioned(
                    "sort and sort_desc doesn't allow grouping by ",
                ));
            }
            validate(inner)
        }
        Draft::Range { aggregation, error } => {
            check(error)?;
            validate_matchers(&aggregation.range.log.matchers)
        }
        Draft::LabelReplace { inner, error, .. } => {
            check(error)?;
            validate(inner)
        }
    }
}

fn into_expr(draft: Draft) -> ParseResult<Expr> {
    match draft {
        Draft::Log { expr, .. } => Ok(Expr::Log(expr)),
        metric => Ok(Expr::Metric(into_metric(metric)?)),
    }
}

fn into_metric(draft: Draft) -> ParseResult<MetricExpr> {
    Ok(match draft {
        Draft::Log { .. } => {
            return Err(ParseError::unpositioned(
                "unexpected log query where a metric query is required",
            ))
        }
        Draft::Literal { value, .. } => MetricExpr::Literal(value),
        Draft::Vector { value, .. } => MetricExpr::Vector(value),
        Draft::Range { aggregation, .. } => MetricExpr::RangeAggregation(aggregation),
        Draft::VectorAggregation {
            op,
            parameter,
            grouping,
            inner,
            ..
        } => MetricExpr::VectorAggregation(VectorAggregation {
            op,
            parameter,
            grouping,
            inner: Box::new(into_metric(*inner)?),
        }),
        Draft::Binary {
            op,
            return_bool,
            matching,
            lhs,
            rhs,
            ..
        } => MetricExpr::BinaryOperation(BinaryOperation {
            op,
            return_bool,
            matching,
            lhs: Box::new(into_metric(*lhs)?),
            rhs: Box::new(into_metric(*rhs)?),
        }),
        Draft::LabelReplace {
            inner,
            destination,
            replacement,
            source,
            regex,
            compiled,
            ..
        } => {
            let compiled = match compiled {
                Some(compiled) => compiled,
                None => return Err(ParseError::unpositioned("invalid regex in label_replace")),
            };
            MetricExpr::LabelReplace(LabelReplace {
                inner: Box::new(into_metric(*inner)?),
                destination,
                replacement,
                source,
                regex,
                compiled,
            })
        }
    })
}

fn binary_operator(kind: &TokenKind) -> Option<(BinaryOp, u8)> {
    Some(match kind {
        TokenKind::Or => (BinaryOp::Or, 1),
        TokenKind::And => (BinaryOp::And, 2),
        TokenKind::Unless => (BinaryOp::Unless, 2),
        TokenKind::CmpEq => (BinaryOp::Equal, 3),
        TokenKind::Neq => (BinaryOp::NotEqual, 3),
        TokenKind::Gt => (BinaryOp::GreaterThan, 3),
        TokenKind::Gte => (BinaryOp::GreaterThanOrEqual, 3),
        TokenKind::Lt => (BinaryOp::LessThan, 3),
        TokenKind::Lte => (BinaryOp::LessThanOrEqual, 3),
        TokenKind::Add => (BinaryOp::Add, 4),
        TokenKind::Sub => (BinaryOp::Sub, 4),
        TokenKind::Mul => (BinaryOp::Mul, 5),
        TokenKind::Div => (BinaryOp::Div, 5),
        TokenKind::Mod => (BinaryOp::Mod, 5),
        TokenKind::Pow => (BinaryOp::Pow, 6),
        _ => return None,
    })
}

fn range_op(function: FunctionToken) -> Option<RangeOp> {
    use FunctionToken as F;
    Some(match function {
        F::CountOverTime => RangeOp::CountOverTime,
        F::Rate => RangeOp::Rate,
        F::RateCounter => RangeOp::RateCounter,
        F::BytesOverTime => RangeOp::BytesOverTime,
        F::BytesRate => RangeOp::BytesRate,
        F::AvgOverTime => RangeOp::AvgOverTime,
        F::SumOverTime => RangeOp::SumOverTime,
        F::MinOverTime => RangeOp::MinOverTime,
        F::MaxOverTime => RangeOp::MaxOverTime,
        F::StdvarOverTime => RangeOp::StdvarOverTime,
        F::StddevOverTime => RangeOp::StddevOverTime,
        F::QuantileOverTime => RangeOp::QuantileOverTime,
        F::FirstOverTime => RangeOp::FirstOverTime,
        F::LastOverTime => RangeOp::LastOverTime,
        F::AbsentOverTime => RangeOp::AbsentOverTime,
        _ => return None,
    })
}

fn vector_op(function: FunctionToken) -> Option<VectorOp> {
    use FunctionToken as F;
    Some(match function {
        F::Sum => VectorOp::Sum,
        F::Avg => VectorOp::Avg,
        F::Min => VectorOp::Min,
        F::Max => VectorOp::Max,
        F::Count => VectorOp::Count,
        F::Stddev => VectorOp::Stddev,
        F::Stdvar => VectorOp::Stdvar,
        F::Topk => VectorOp::Topk,
        F::Bottomk => VectorOp::Bottomk,
        F::Sort => VectorOp::Sort,
        F::SortDesc => VectorOp::SortDesc,
        _ => return None,
    })
}

/// Loki's `newRangeAggregationExpr` checks.
fn range_aggregation_error(
    op: RangeOp,
    parameter: Option<&str>,
    has_grouping: bool,
    has_unwrap: bool,
) -> Option<String> {
    use RangeOp::*;
    let name = op.as_str();
    match parameter {
        Some(text) if op != QuantileOverTime => {
            return Some(format!(
                "parameter {text} not supported for operation {name}"
            ))
        }
        Some(text) => {
            if let Err(error) = go_parse_float(text) {
                return Some(format!("invalid parameter for operation {name}: {error}"));
            }
        }
        None if op == QuantileOverTime => {
            return Some(format!("parameter required for operation {name}"))
        }
        None => {}
    }
    let groupable = matches!(
        op,
        AvgOverTime
            | StddevOverTime
            | StdvarOverTime
            | QuantileOverTime
            | MaxOverTime
            | MinOverTime
            | FirstOverTime
            | LastOverTime
    );
    if has_grouping && !groupable {
        return Some(format!("grouping not allowed for {name} aggregation"));
    }
    if has_unwrap {
        let accepts_unwrap = matches!(
            op,
            AvgOverTime
                | SumOverTime
                | MaxOverTime
                | MinOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | Rate
                | RateCounter
                | AbsentOverTime
                | FirstOverTime
                | LastOverTime
        );
        return (!accepts_unwrap).then(|| format!("invalid aggregation {name} with unwrap"));
    }
    let works_on_lines = matches!(
        op,
        BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime
    );
    (!works_on_lines).then(|| format!("invalid aggregation {name} without unwrap"))
}

/// Loki's `mustNewVectorAggregationExpr` checks; returns the parameter.
fn vector_aggregation_parameter(
    op: VectorOp,
    parameter: Option<&str>,
) -> Result<Option<i64>, String> {
    let name = op.as_str();
    match (op, parameter) {
        (VectorOp::Topk | VectorOp::Bottomk, None) => {
            Err(format!("parameter required for operation {name}"))
        }
        (VectorOp::Topk | VectorOp::Bottomk, Some(text)) => match text.parse::<i64>() {
            Err(_) => Err(format!("invalid parameter {name}({text},")),
            Ok(k) if k <= 0 => Err(format!(
                "invalid parameter (must be greater than 0) {name}({text}"
            )),
            Ok(k) => Ok(Some(k)),
        },
        (_, Some(text)) => Err(format!(
            "unsupported parameter for operation {name}({text},"
        )),
        (_, None) => Ok(None),
    }
}

/// Loki's `MergeBinOp` for two literals (division by zero gives NaN).
fn fold_literals(op: BinaryOp, left: f64, right: f64) -> f64 {
    let truth = |condition: bool| if condition { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => left + right,
        BinaryOp::Sub => left - right,
        BinaryOp::Mul => left * right,
        BinaryOp::Div if right == 0.0 => f64::NAN,
        BinaryOp::Div => left / right,
        BinaryOp::Mod if right == 0.0 => f64::NAN,
        BinaryOp::Mod => left % right,
        BinaryOp::Pow => left.powf(right),
        BinaryOp::Equal => truth(left == right),
        BinaryOp::NotEqual => truth(left != right),
        BinaryOp::GreaterThan => truth(left > right),
        BinaryOp::GreaterThanOrEqual => truth(left >= right),
        BinaryOp::LessThan => truth(left < right),
        BinaryOp::LessThanOrEqual => truth(left <= right),
        BinaryOp::Or | BinaryOp::And | BinaryOp::Unless => f64::NAN,
    }
}

/// Loki's `mustNewBinOpExpr`: type checks and literal folding.
fn build_binary(
    op: BinaryOp,
    return_bool: bool,
    matching: VectorMatching,
    lhs: Draft,
    rhs: Draft,
) -> Draft {
    let go_type = |draft: &Draft| match draft {
        Draft::Log {
            has_pipeline: false,
            ..
        } => Some("*syntax.MatchersExpr"),
        Draft::Log { .. } => Some("*syntax.PipelineExpr"),
        _ => None,
    };
    let name = op.as_str();
    let mut error = None;
    if let Some(type_name) = go_type(&lhs) {
        error = Some(format!(
            "unexpected type for left leg of binary operation ({name}): {type_name}"
        ));
    } else if let Some(type_name) = go_type(&rhs) {
        error = Some(format!(
            "unexpected type for right leg of binary operation ({name}): {type_name}"
        ));
    }
    if error.is_none() {
        let literal = |draft: &Draft| match draft {
            Draft::Literal { value, error } => Some((*value, error.clone())),
            _ => None,
        };
        let (left, right) = (literal(&lhs), literal(&rhs));
        if let Some((_, Some(literal_error))) = &left {
            return binary_with_error(op, return_bool, matching, lhs, rhs, literal_error.clone());
        }
        if let Some((_, Some(literal_error))) = &right {
            return binary_with_error(op, return_bool, matching, lhs, rhs, literal_error.clone());
        }
        if op.is_set_operation() {
            if let Some((value, _)) = left {
                error = Some(format!(
                    "unexpected literal for left leg of logical/set binary operation ({name}): {}",
                    go_format_fixed6(value)
                ));
            } else if let Some((value, _)) = right {
                error = Some(format!(
                    "unexpected literal for right leg of logical/set binary operation ({name}): {}",
                    go_format_fixed6(value)
                ));
            }
        }
        if let (None, Some((left, _)), Some((right, _))) = (&error, left, right) {
            return Draft::Literal {
                value: fold_literals(op, left, right),
                error: None,
            };
        }
    }
    Draft::Binary {
        op,
        return_bool,
        matching,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        error: error.map(ParseError::unpositioned),
    }
}

fn binary_with_error(
    op: BinaryOp,
    return_bool: bool,
    matching: VectorMatching,
    lhs: Draft,
    rhs: Draft,
    error: ParseError,
) -> Draft {
    Draft::Binary {
        op,
        return_bool,
        matching,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        error: Some(error),
    }
}

fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Builds a label matcher; regex errors use Go's wording (Loki reports them
/// without a position).
fn build_matcher(op: MatchOp, name: &str, value: &str) -> ParseResult<Matcher> {
    if matches!(op, MatchOp::RegexMatch | MatchOp::RegexNoMatch) {
        compile_go_regex(&format!("^(?s:{value})$")).map_err(ParseError::unpositioned)?;
    }
    Matcher::new(op, name, value).map_err(|error| ParseError::unpositioned(error.reason))
}

/// Go `String()` renderings of stages, for `stage '...'` errors.
mod render {
    use super::*;

    fn value(value: &LineFilterValue) -> String {
        match value {
            LineFilterValue::Text(text) => go_quote(text),
            LineFilterValue::Ip(pattern) => format!("ip({})", go_quote(pattern)),
        }
    }

    pub(super) fn line_filter(filter: &LineFilter) -> String {
        let op = filter.op.as_str();
        let rendered: Vec<String> = filter.values.iter().map(value).collect();
        if filter.op.is_negative() {
            rendered
                .iter()
                .map(|v| format!("{op} {v}"))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            format!("{op} {}", rendered.join(" or "))
        }
    }

    fn extractions(expressions: &[LabelExtraction]) -> String {
        expressions
            .iter()
            .map(|e| format!("{}={}", e.label, go_quote(&e.expression)))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(super) fn stage(stage: &Stage) -> String {
        match stage {
            Stage::LineFilter(filter) => line_filter(filter),
            Stage::Json(parser) => format!("| json {}", extractions(&parser.expressions)),
            Stage::Logfmt(parser) => {
                let mut out = "| logfmt ".to_owned();
                if parser.strict {
                    out.push_str("--strict ");
                }
                if parser.keep_empty {
                    out.push_str("--keep-empty ");
                }
                out.push_str(&extractions(&parser.expressions));
                out
            }
            Stage::LineFormat(format) => format!("| line_format {}", go_quote(&format.template)),
            Stage::LabelFormat(format) => {
                let items: Vec<String> = format
                    .items
                    .iter()
                    .map(|item| match &item.source {
                        LabelFormatSource::Rename(source) => format!("{}={source}", item.target),
                        LabelFormatSource::Template(template) => {
                            format!("{}={}", item.target, go_quote(&template.text))
                        }
                    })
                    .collect();
                format!("| label_format {}", items.join(","))
            }
            Stage::LabelFilter(LabelFilterExpr::Ip(ip)) => {
                let op = if ip.negated { "!=" } else { "=" };
                format!("| {}{op}ip({})", ip.label, go_quote(&ip.pattern))
            }
            _ => String::new(),
        }
    }
}

/// The first pipeline-building error, in the order Loki builds stages:
/// line filter groups first (the last failing filter of a group wins, and
/// the whole group is rendered), then the other stages.
fn first_stage_error(stages: &[Stage], reasons: &[Option<String>]) -> Option<ParseError> {
    let order = loki_stage_order(stages);
    let mut index = 0;
    while index < order.len() {
        let is_line_filter = |i: usize| matches!(stages.get(order[i]), Some(Stage::LineFilter(_)));
        if is_line_filter(index) {
            let start = index;
            while index < order.len() && is_line_filter(index) {
                index += 1;
            }
            let group = &order[start..index];
            if let Some(reason) = group
                .iter()
                .rev()
                .find_map(|i| reasons.get(*i).cloned().flatten())
            {
                let rendered: Vec<String> = group
                    .iter()
                    .filter_map(|i| match stages.get(*i) {
                        Some(Stage::LineFilter(filter)) => Some(render::line_filter(filter)),
                        _ => None,
                    })
                    .collect();
                return Some(ParseError::stage(&rendered.join(" "), &reason));
            }
            continue;
        }
        let stage_index = order[index];
        if let (Some(stage), Some(Some(reason))) =
            (stages.get(stage_index), reasons.get(stage_index))
        {
            return Some(ParseError::stage(&render::stage(stage), reason));
        }
        index += 1;
    }
    None
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
    stage_errors: Vec<ParseError>,
}

impl Parser {
    fn token(&self, offset: usize) -> &Token {
        let index = (self.position + offset).min(self.tokens.len().saturating_sub(1));
        &self.tokens[index]
    }

    fn peek_kind(&self) -> &TokenKind {
        &self.token(0).kind
    }

    fn peek2_kind(&self) -> &TokenKind {
        &self.token(1).kind
    }

    fn advance(&mut self) -> TokenKind {
        let kind = self.peek_kind().clone();
        if self.position < self.tokens.len() {
            self.position += 1;
        }
        kind
    }

    fn enter(&mut self) -> ParseResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let token = self.token(0);
            return Err(ParseError::new(
                "syntax error: expression nests too deeply",
                token.line,
                token.column,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `syntax error: unexpected X` at the current token (or its lexing error).
    fn unexpected(&self) -> ParseError {
        self.unexpected_expecting(None)
    }

    fn unexpected_expecting(&self, expecting: Option<&str>) -> ParseError {
        let token = self.token(0);
        if let TokenKind::Error(error) = &token.kind {
            return error.clone();
        }
        let mut message = format!("syntax error: unexpected {}", token.kind.describe());
        if let Some(expecting) = expecting {
            message.push_str(", expecting ");
            message.push_str(expecting);
        }
        ParseError::new(message, token.line, token.column)
    }

    fn expect(&mut self, kind: TokenKind, expecting: Option<&str>) -> ParseResult<()> {
        if *self.peek_kind() == kind {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected_expecting(expecting))
        }
    }

    fn expect_identifier(&mut self) -> ParseResult<String> {
        match self.peek_kind() {
            TokenKind::Identifier(name) => {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn expect_string(&mut self, expecting: Option<&str>) -> ParseResult<String> {
        match self.peek_kind() {
            TokenKind::String(value) => {
                let value = value.clone();
                self.advance();
                Ok(value)
            }
            _ => Err(self.unexpected_expecting(expecting)),
        }
    }

    fn parse_expr(&mut self, min_precedence: u8) -> ParseResult<Draft> {
        self.enter()?;
        let mut lhs = self.parse_unary()?;
        while let Some((op, precedence)) = binary_operator(self.peek_kind()) {
            if precedence < min_precedence {
                break;
            }
            self.advance();
            let (return_bool, matching) = self.parse_binary_modifiers()?;
            let next_precedence = if op == BinaryOp::Pow {
                precedence
            } else {
                precedence + 1
            };
            let rhs = self.parse_expr(next_precedence)?;
            lhs = build_binary(op, return_bool, matching, lhs, rhs);
        }
        self.leave();
        Ok(lhs)
    }

    /// A metric expression where Loki's grammar needs one: a log query there is
    /// a syntax error at the token that follows it.
    fn parse_metric_argument(&mut self) -> ParseResult<Draft> {
        let draft = self.parse_expr(0)?;
        if matches!(draft, Draft::Log { .. }) {
            return Err(self.unexpected());
        }
        Ok(draft)
    }

    fn parse_unary(&mut self) -> ParseResult<Draft> {
        match self.peek_kind().clone() {
            TokenKind::Add | TokenKind::Sub => {
                let negative = matches!(self.advance(), TokenKind::Sub);
                match self.peek_kind().clone() {
                    TokenKind::Number(text) => {
                        self.advance();
                        Ok(literal(&text, negative))
                    }
                    _ => Err(self.unexpected()),
                }
            }
            TokenKind::Number(text) => {
                self.advance();
                Ok(literal(&text, false))
            }
            TokenKind::OpenParen => {
                self.advance();
                let inner = self.parse_expr(0)?;
                self.expect(TokenKind::CloseParen, None)?;
                Ok(inner)
            }
            TokenKind::OpenBrace => {
                let expr = self.parse_log_expr()?;
                let has_pipeline = !expr.stages.is_empty();
                Ok(Draft::Log { expr, has_pipeline })
            }
            TokenKind::Function(function) => {
                if let Some(op) = range_op(function) {
                    return self.parse_range_aggregation(op);
                }
                if let Some(op) = vector_op(function) {
                    return self.parse_vector_aggregation(op);
                }
                match function {
                    FunctionToken::Vector => self.parse_vector(),
                    FunctionToken::ApproxTopk => {
                        Err(ParseError::unpositioned("approx_topk is not supported"))
                    }
                    _ => Err(self.unexpected()),
                }
            }
            TokenKind::LabelReplace => self.parse_label_replace(),
            _ => Err(self.unexpected()),
        }
    }

    fn parse_binary_modifiers(&mut self) -> ParseResult<(bool, VectorMatching)> {
        let return_bool = matches!(self.peek_kind(), TokenKind::Bool);
        if return_bool {
            self.advance();
        }
        let mut matching = VectorMatching::default();
        if matches!(self.peek_kind(), TokenKind::On | TokenKind::Ignoring) {
            matching.on = matches!(self.advance(), TokenKind::On);
            matching.labels = self.parse_parenthesised_labels()?;
            let cardinality = match self.peek_kind() {
                TokenKind::GroupLeft => Some(Cardinality::ManyToOne),
                TokenKind::GroupRight => Some(Cardinality::OneToMany),
                _ => None,
            };
            if let Some(cardinality) = cardinality {
                self.advance();
                matching.cardinality = cardinality;
                if matches!(self.peek_kind(), TokenKind::OpenParen) {
                    matching.include = self.parse_parenthesised_labels()?;
                }
            }
        }
        Ok((return_bool, matching))
    }

    /// `( a, b )` or `()`.
    fn parse_parenthesised_labels(&mut self) -> ParseResult<Vec<String>> {
        self.expect(TokenKind::OpenParen, None)?;
        let mut labels = Vec::new();
        if matches!(self.peek_kind(), TokenKind::CloseParen) {
            self.advance();
            return Ok(labels);
        }
        loop {
            labels.push(self.expect_identifier()?);
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::CloseParen => {
                    self.advance();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn parse_grouping(&mut self) -> ParseResult<Grouping> {
        let without = matches!(self.advance(), TokenKind::Without);
        let labels = self.parse_parenthesised_labels()?;
        Ok(Grouping { without, labels })
    }

    fn parse_optional_grouping(&mut self) -> ParseResult<Option<Grouping>> {
        if matches!(self.peek_kind(), TokenKind::By | TokenKind::Without) {
            Ok(Some(self.parse_grouping()?))
        } else {
            Ok(None)
        }
    }

    fn parse_vector(&mut self) -> ParseResult<Draft> {
        self.advance();
        self.expect(TokenKind::OpenParen, None)?;
        let TokenKind::Number(text) = self.peek_kind().clone() else {
            return Err(self.unexpected_expecting(Some("NUMBER")));
        };
        self.advance();
        self.expect(TokenKind::CloseParen, Some(")"))?;
        Ok(match go_parse_float(&text) {
            Ok(value) => Draft::Vector { value, error: None },
            Err(error) => Draft::Vector {
                value: 0.0,
                error: Some(ParseError::unpositioned(format!(
                    "unable to parse vectorExpr as a float: {error}"
                ))),
            },
        })
    }

    fn parse_label_replace(&mut self) -> ParseResult<Draft> {
        self.advance();
        self.expect(TokenKind::OpenParen, None)?;
        let inner = self.parse_metric_argument()?;
        let mut strings = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(TokenKind::Comma, Some(","))?;
            strings.push(self.expect_string(Some("STRING"))?);
        }
        self.expect(TokenKind::CloseParen, Some(")"))?;
        let regex = strings.pop().unwrap_or_default();
        let source = strings.pop().unwrap_or_default();
        let replacement = strings.pop().unwrap_or_default();
        let destination = strings.pop().unwrap_or_default();
        let (compiled, error) = match compile_go_regex(&format!("^(?:{regex})$")) {
            Ok(compiled) => (Some(compiled), None),
            Err(reason) => (
                None,
                Some(ParseError::unpositioned(format!(
                    "invalid regex in label_replace: {reason}"
                ))),
            ),
        };
        Ok(Draft::LabelReplace {
            inner: Box::new(inner),
            destination,
            replacement,
            source,
            regex,
            compiled,
            error,
        })
    }

    fn parse_vector_aggregation(&mut self, op: VectorOp) -> ParseResult<Draft> {
        self.advance();
        let grouping_before = self.parse_optional_grouping()?;
        self.expect(TokenKind::OpenParen, None)?;
        let mut parameter_text = None;
        if let (TokenKind::Number(text), TokenKind::Comma) = (self.peek_kind(), self.peek2_kind()) {
            parameter_text = Some(text.clone());
            self.advance();
            self.advance();
        }
        let inner = self.parse_metric_argument()?;
        self.expect(TokenKind::CloseParen, None)?;
        let grouping = match grouping_before {
            Some(grouping) => grouping,
            None => self.parse_optional_grouping()?.unwrap_or_default(),
        };
        let (parameter, error) = match vector_aggregation_parameter(op, parameter_text.as_deref()) {
            Ok(parameter) => (parameter, None),
            Err(message) => (None, Some(ParseError::unpositioned(message))),
        };
        Ok(Draft::VectorAggregation {
            op,
            parameter,
            grouping,
            inner: Box::new(inner),
            error,
        })
    }

    fn parse_range_aggregation(&mut self, op: RangeOp) -> ParseResult<Draft> {
        self.advance();
        self.expect(TokenKind::OpenParen, None)?;
        let mut parameter_text = None;
        if let TokenKind::Number(text) = self.peek_kind() {
            parameter_text = Some(text.clone());
            self.advance();
            self.expect(TokenKind::Comma, Some(","))?;
        }
        let range = self.parse_log_range()?;
        self.expect(TokenKind::CloseParen, None)?;
        let grouping = self.parse_optional_grouping()?;
        let error = range_aggregation_error(
            op,
            parameter_text.as_deref(),
            grouping.is_some(),
            range.unwrap.is_some(),
        )
        .map(ParseError::unpositioned);
        let parameter = parameter_text
            .as_deref()
            .and_then(|t| go_parse_float(t).ok());
        Ok(Draft::Range {
            aggregation: RangeAggregation {
                op,
                parameter,
                range,
                grouping,
            },
            error,
        })
    }

    /// The log query and window inside a range aggregation, in any of the
    /// orders Loki accepts (`{..} |= "x" [5m]`, `{..}[5m] |= "x"`,
    /// `({..} |= "x")[5m]`, with `offset` and `unwrap`).
    fn parse_log_range(&mut self) -> ParseResult<LogRange> {
        self.enter()?;
        let result = self.parse_log_range_inner();
        self.leave();
        result
    }

    fn parse_log_range_inner(&mut self) -> ParseResult<LogRange> {
        if matches!(self.peek_kind(), TokenKind::OpenParen) {
            self.advance();
            if matches!(self.peek_kind(), TokenKind::OpenParen) {
                let inner = self.parse_log_range()?;
                self.expect(TokenKind::CloseParen, None)?;
                return Ok(inner);
            }
            let matchers = self.parse_selector()?;
            let stages = self.parse_pipeline(true)?;
            let unwrap = self.parse_optional_unwrap()?;
            if matches!(self.peek_kind(), TokenKind::CloseParen) {
                self.advance();
                let range_nanos = self.expect_range()?;
                let offset_nanos = self.parse_optional_offset()?;
                let unwrap = match unwrap {
                    None if stages.is_empty() => self.parse_optional_unwrap()?,
                    unwrap => unwrap,
                };
                return Ok(LogRange {
                    log: LogExpr { matchers, stages },
                    range_nanos,
                    offset_nanos,
                    unwrap,
                });
            }
            let range = self.finish_log_range(matchers, stages, unwrap)?;
            self.expect(TokenKind::CloseParen, None)?;
            return Ok(range);
        }
        let matchers = self.parse_selector()?;
        let stages = self.parse_pipeline(true)?;
        let unwrap = self.parse_optional_unwrap()?;
        self.finish_log_range(matchers, stages, unwrap)
    }

    fn finish_log_range(
        &mut self,
        matchers: Vec<Matcher>,
        mut stages: Vec<Stage>,
        mut unwrap: Option<Unwrap>,
    ) -> ParseResult<LogRange> {
        let range_nanos = self.expect_range()?;
        let offset_nanos = self.parse_optional_offset()?;
        if stages.is_empty() && unwrap.is_none() {
            stages = self.parse_pipeline(true)?;
            unwrap = self.parse_optional_unwrap()?;
        }
        Ok(LogRange {
            log: LogExpr { matchers, stages },
            range_nanos,
            offset_nanos,
            unwrap,
        })
    }

    fn expect_range(&mut self) -> ParseResult<i64> {
        match self.peek_kind() {
            TokenKind::Range(nanos) => {
                let nanos = *nanos;
                self.advance();
                Ok(nanos)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn parse_optional_offset(&mut self) -> ParseResult<i64> {
        if !matches!(self.peek_kind(), TokenKind::Offset) {
            return Ok(0);
        }
        self.advance();
        match self.peek_kind() {
            TokenKind::Duration(nanos) => {
                let nanos = *nanos;
                self.advance();
                Ok(nanos)
            }
            _ => Err(self.unexpected_expecting(Some("DURATION"))),
        }
    }

    fn parse_optional_unwrap(&mut self) -> ParseResult<Option<Unwrap>> {
        if !matches!(
            (self.peek_kind(), self.peek2_kind()),
            (TokenKind::Pipe, TokenKind::Unwrap)
        ) {
            return Ok(None);
        }
        self.advance();
        self.advance();
        let (label, conversion) = match self.peek_kind().clone() {
            TokenKind::Identifier(label) => {
                self.advance();
                (label, UnwrapConversion::Float)
            }
            TokenKind::Function(function) => {
                let conversion = match function {
                    FunctionToken::BytesConversion => UnwrapConversion::Bytes,
                    FunctionToken::DurationConversion => UnwrapConversion::Duration,
                    FunctionToken::DurationSecondsConversion => UnwrapConversion::DurationSeconds,
                    _ => return Err(self.unexpected()),
                };
                self.advance();
                self.expect(TokenKind::OpenParen, None)?;
                let label = self.expect_identifier()?;
                self.expect(TokenKind::CloseParen, None)?;
                (label, conversion)
            }
            _ => return Err(self.unexpected()),
        };
        let mut post_filters = Vec::new();
        while matches!(self.peek_kind(), TokenKind::Pipe) {
            self.advance();
            post_filters.push(self.parse_label_filter_expr(0)?);
        }
        Ok(Some(Unwrap {
            label,
            conversion,
            post_filters,
        }))
    }

    /// `{...}` followed by a pipeline (no `unwrap`: that needs a range).
    fn parse_log_expr(&mut self) -> ParseResult<LogExpr> {
        let matchers = self.parse_selector()?;
        let stages = self.parse_pipeline(false)?;
        Ok(LogExpr { matchers, stages })
    }

    fn parse_selector(&mut self) -> ParseResult<Vec<Matcher>> {
        self.expect(TokenKind::OpenBrace, None)?;
        let mut matchers = Vec::new();
        if matches!(self.peek_kind(), TokenKind::CloseBrace) {
            self.advance();
            return Ok(matchers);
        }
        let mut expecting = Some("IDENTIFIER or }");
        loop {
            let name = match self.peek_kind() {
                TokenKind::Identifier(name) => name.clone(),
                _ => return Err(self.unexpected_expecting(expecting)),
            };
            self.advance();
            let op = match self.peek_kind() {
                TokenKind::Eq => MatchOp::Equal,
                TokenKind::Neq => MatchOp::NotEqual,
                TokenKind::Re => MatchOp::RegexMatch,
                TokenKind::Nre => MatchOp::RegexNoMatch,
                _ => return Err(self.unexpected()),
            };
            self.advance();
            let value = self.expect_string(Some("STRING"))?;
            matchers.push(build_matcher(op, &name, &value)?);
            match self.peek_kind() {
                TokenKind::Comma => {
                    self.advance();
                    expecting = Some("IDENTIFIER");
                }
                TokenKind::CloseBrace => {
                    self.advance();
                    return Ok(matchers);
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// Pipeline stages; stops before `| unwrap` when `in_range`.
    fn parse_pipeline(&mut self, in_range: bool) -> ParseResult<Vec<Stage>> {
        let mut stages = Vec::new();
        let mut reasons = Vec::new();
        loop {
            let (stage, reason) = match self.peek_kind() {
                TokenKind::PipeExact
                | TokenKind::Neq
                | TokenKind::PipeMatch
                | TokenKind::Nre
                | TokenKind::PipePattern
                | TokenKind::Npa => self.parse_line_filter()?,
                TokenKind::Pipe => {
                    if in_range && matches!(self.peek2_kind(), TokenKind::Unwrap) {
                        break;
                    }
                    self.advance();
                    self.parse_pipe_stage()?
                }
                _ => break,
            };
            stages.push(stage);
            reasons.push(reason);
        }
        if let Some(error) = first_stage_error(&stages, &reasons) {
            self.stage_errors.push(error);
        }
        Ok(stages)
    }

    fn parse_line_filter(&mut self) -> ParseResult<(Stage, Option<String>)> {
        let op = match self.advance() {
            TokenKind::PipeExact => LineFilterOp::Contains,
            TokenKind::Neq => LineFilterOp::NotContains,
            TokenKind::PipeMatch => LineFilterOp::Matches,
            TokenKind::Nre => LineFilterOp::NotMatches,
            TokenKind::PipePattern => LineFilterOp::MatchesPattern,
            _ => LineFilterOp::NotMatchesPattern,
        };
        let mut values = vec![self.parse_line_filter_value()?];
        while matches!(self.peek_kind(), TokenKind::Or) {
            self.advance();
            values.push(self.parse_line_filter_value()?);
        }
        let (compiled, reason) = match CompiledLineFilter::compile(op, &values) {
            Ok(compiled) => (compiled, None),
            Err(reason) => (CompiledLineFilter::keep_everything(), Some(reason)),
        };
        Ok((
            Stage::LineFilter(LineFilter {
                op,
                values,
                compiled,
            }),
            reason,
        ))
    }

    fn parse_line_filter_value(&mut self) -> ParseResult<LineFilterValue> {
        match self.peek_kind().clone() {
            TokenKind::String(text) => {
                self.advance();
                Ok(LineFilterValue::Text(text))
            }
            TokenKind::Ip => Ok(LineFilterValue::Ip(self.parse_ip_call()?)),
            _ => Err(self.unexpected_expecting(Some("STRING or ip"))),
        }
    }

    /// `ip("...")`, with the `ip` token current.
    fn parse_ip_call(&mut self) -> ParseResult<String> {
        self.advance();
        self.expect(TokenKind::OpenParen, None)?;
        let pattern = self.expect_string(None)?;
        self.expect(TokenKind::CloseParen, None)?;
        Ok(pattern)
    }

    /// A stage after `|`.
    fn parse_pipe_stage(&mut self) -> ParseResult<(Stage, Option<String>)> {
        match self.peek_kind() {
            TokenKind::Json => {
                self.advance();
                let (expressions, reason) = self.parse_optional_extractions(true)?;
                Ok((Stage::Json(JsonParser { expressions }), reason))
            }
            TokenKind::Logfmt => {
                self.advance();
                let mut parser = LogfmtParser::default();
                while let TokenKind::ParserFlag(flag) = self.peek_kind() {
                    match flag.as_str() {
                        "--strict" => parser.strict = true,
                        _ => parser.keep_empty = true,
                    }
                    self.advance();
                }
                let (expressions, reason) = self.parse_optional_extractions(false)?;
                parser.expressions = expressions;
                Ok((Stage::Logfmt(parser), reason))
            }
            TokenKind::Regexp => {
                self.advance();
                let pattern = self.expect_string(None)?;
                Ok((Stage::Regexp(build_regexp_parser(pattern)?), None))
            }
            TokenKind::Pattern => {
                self.advance();
                let pattern = self.expect_string(None)?;
                let matcher = PatternMatcher::for_parser(&pattern).map_err(|reason| {
                    ParseError::unpositioned(format!("invalid pattern parser: {reason}"))
                })?;
                Ok((Stage::Pattern(PatternParser { pattern, matcher }), None))
            }
            TokenKind::Unpack => {
                self.advance();
                Ok((Stage::Unpack, None))
            }
            TokenKind::Decolorize => {
                self.advance();
                Ok((Stage::Decolorize, None))
            }
            TokenKind::LineFmt => {
                self.advance();
                let template = self.expect_string(None)?;
                let (compiled, reason) = match Template::parse("line", &template) {
                    Ok(compiled) => (compiled, None),
                    Err(reason) => (
                        Template::default(),
                        Some(format!("invalid line template: {reason}")),
                    ),
                };
                Ok((Stage::LineFormat(LineFormat { template, compiled }), reason))
            }
            TokenKind::LabelFmt => {
                self.advance();
                self.parse_label_format()
            }
            TokenKind::Drop => {
                self.advance();
                Ok((Stage::Drop(self.parse_label_selectors()?), None))
            }
            TokenKind::Keep => {
                self.advance();
                Ok((Stage::Keep(self.parse_label_selectors()?), None))
            }
            TokenKind::Identifier(_) | TokenKind::OpenParen => {
                let filter = self.parse_label_filter_expr(0)?;
                let reason = match &filter {
                    LabelFilterExpr::Ip(ip) => IpMatcher::parse(&ip.pattern).err(),
                    _ => None,
                };
                Ok((Stage::LabelFilter(filter), reason))
            }
            _ => Err(self.unexpected()),
        }
    }

    /// `label="expression", label, ...` after `json`/`logfmt`, if present.
    fn parse_optional_extractions(
        &mut self,
        json: bool,
    ) -> ParseResult<(Vec<LabelExtraction>, Option<String>)> {
        let mut expressions = Vec::new();
        let mut reason = None;
        if !matches!(self.peek_kind(), TokenKind::Identifier(_)) {
            return Ok((expressions, reason));
        }
        loop {
            let label = self.expect_identifier()?;
            let expression = if matches!(self.peek_kind(), TokenKind::Eq) {
                self.advance();
                self.expect_string(Some("STRING"))?
            } else {
                label.clone()
            };
            let json_path = if json {
                parse_path(&expression).unwrap_or_else(|error| {
                    reason
                        .get_or_insert(format!("cannot parse expression [{expression}]: {error}"));
                    Vec::new()
                })
            } else {
                if expression.is_empty() {
                    reason.get_or_insert(format!(
                        "cannot parse expression [{expression}]: syntax error: unexpected $end"
                    ));
                }
                Vec::new()
            };
            if !is_valid_label_name(&label) {
                reason.get_or_insert(format!("invalid extracted label name '{label}'"));
            }
            expressions.push(LabelExtraction {
                label,
                expression,
                json_path,
            });
            if !matches!(self.peek_kind(), TokenKind::Comma) {
                return Ok((expressions, reason));
            }
            self.advance();
        }
    }

    fn parse_label_format(&mut self) -> ParseResult<(Stage, Option<String>)> {
        let mut items = Vec::new();
        loop {
            let target = self.expect_identifier()?;
            self.expect(TokenKind::Eq, None)?;
            let source = match self.peek_kind().clone() {
                TokenKind::Identifier(source) => LabelFormatSource::Rename(source),
                TokenKind::String(text) => LabelFormatSource::Template(LabelTemplate {
                    text,
                    compiled: Template::default(),
                }),
                _ => return Err(self.unexpected()),
            };
            self.advance();
            items.push(LabelFormatItem { target, source });
            if !matches!(self.peek_kind(), TokenKind::Comma) {
                break;
            }
            self.advance();
        }
        // Loki's `NewLabelsFormatter`: name checks first, then templates.
        let mut reason = None;
        for (index, item) in items.iter().enumerate() {
            if item.target == "__error__" {
                reason = Some(format!("{} cannot be formatted", item.target));
                break;
            }
            if items[..index]
                .iter()
                .any(|earlier| earlier.target == item.target)
            {
                reason = Some(format!(
                    "multiple label name '{}' not allowed in a single format operation",
                    item.target
                ));
                break;
            }
        }
        for item in &mut items {
            if let LabelFormatSource::Template(template) = &mut item.source {
                match Template::parse("label", &template.text) {
                    Ok(compiled) => template.compiled = compiled,
                    Err(error) => {
                        reason.get_or_insert(format!(
                            "invalid template for label '{}': {error}",
                            item.target
                        ));
                    }
                }
            }
        }
        Ok((Stage::LabelFormat(LabelFormat { items }), reason))
    }

    /// `a, b="v", c=~"re"` after `drop`/`keep`.
    fn parse_label_selectors(&mut self) -> ParseResult<Vec<LabelSelector>> {
        let mut selectors = Vec::new();
        loop {
            let name = self.expect_identifier()?;
            let op = match self.peek_kind() {
                TokenKind::Eq => Some(MatchOp::Equal),
                TokenKind::Neq => Some(MatchOp::NotEqual),
                TokenKind::Re => Some(MatchOp::RegexMatch),
                TokenKind::Nre => Some(MatchOp::RegexNoMatch),
                _ => None,
            };
            let selector = match op {
                Some(op) => {
                    self.advance();
                    let value = self.expect_string(Some("STRING"))?;
                    LabelSelector::Matcher(build_matcher(op, &name, &value)?)
                }
                None => LabelSelector::Name(name),
            };
            selectors.push(selector);
            if !matches!(self.peek_kind(), TokenKind::Comma) {
                return Ok(selectors);
            }
            self.advance();
        }
    }

    fn parse_label_filter_expr(&mut self, min_precedence: u8) -> ParseResult<LabelFilterExpr> {
        self.enter()?;
        let mut lhs = self.parse_label_filter_sequence()?;
        loop {
            let precedence = match self.peek_kind() {
                TokenKind::Or => 1,
                TokenKind::And => 2,
                _ => break,
            };
            if precedence < min_precedence {
                break;
            }
            self.advance();
            let rhs = self.parse_label_filter_expr(precedence + 1)?;
            lhs = if precedence == 1 {
                LabelFilterExpr::Or(Box::new(lhs), Box::new(rhs))
            } else {
                LabelFilterExpr::And(Box::new(lhs), Box::new(rhs))
            };
        }
        self.leave();
        Ok(lhs)
    }

    /// A filter, then `, rest` or ` rest`: an `and` with everything that follows.
    fn parse_label_filter_sequence(&mut self) -> ParseResult<LabelFilterExpr> {
        let first = self.parse_label_filter_primary()?;
        let continues = match self.peek_kind() {
            TokenKind::Comma => {
                self.advance();
                true
            }
            TokenKind::Identifier(_) | TokenKind::OpenParen => true,
            _ => false,
        };
        if !continues {
            return Ok(first);
        }
        let rest = self.parse_label_filter_expr(0)?;
        Ok(LabelFilterExpr::And(Box::new(first), Box::new(rest)))
    }

    fn parse_label_filter_primary(&mut self) -> ParseResult<LabelFilterExpr> {
        if matches!(self.peek_kind(), TokenKind::OpenParen) {
            self.advance();
            let inner = self.parse_label_filter_expr(0)?;
            self.expect(TokenKind::CloseParen, None)?;
            return Ok(inner);
        }
        let label = self.expect_identifier()?;
        let op_token = self.advance();
        let (op, allows_strings) = match op_token {
            TokenKind::Eq => (ComparisonOp::Equal, true),
            TokenKind::Neq => (ComparisonOp::NotEqual, true),
            TokenKind::CmpEq => (ComparisonOp::Equal, false),
            TokenKind::Gt => (ComparisonOp::GreaterThan, false),
            TokenKind::Gte => (ComparisonOp::GreaterThanOrEqual, false),
            TokenKind::Lt => (ComparisonOp::LessThan, false),
            TokenKind::Lte => (ComparisonOp::LessThanOrEqual, false),
            TokenKind::Re | TokenKind::Nre => {
                let match_op = if op_token == TokenKind::Re {
                    MatchOp::RegexMatch
                } else {
                    MatchOp::RegexNoMatch
                };
                let value = self.expect_string(Some("STRING"))?;
                return Ok(LabelFilterExpr::Matcher(build_matcher(
                    match_op, &label, &value,
                )?));
            }
            _ => {
                self.position = self.position.saturating_sub(1);
                return Err(self.unexpected());
            }
        };
        match self.peek_kind().clone() {
            TokenKind::String(value) if allows_strings => {
                self.advance();
                let match_op = if op == ComparisonOp::Equal {
                    MatchOp::Equal
                } else {
                    MatchOp::NotEqual
                };
                Ok(LabelFilterExpr::Matcher(build_matcher(
                    match_op, &label, &value,
                )?))
            }
            TokenKind::Ip if allows_strings => {
                let pattern = self.parse_ip_call()?;
                Ok(LabelFilterExpr::Ip(IpLabelFilter {
                    label,
                    negated: op == ComparisonOp::NotEqual,
                    matcher: IpMatcher::parse(&pattern).ok(),
                    pattern,
                }))
            }
            TokenKind::Duration(nanos) => {
                self.advance();
                Ok(LabelFilterExpr::Duration { label, op, nanos })
            }
            TokenKind::Bytes(bytes) => {
                self.advance();
                Ok(LabelFilterExpr::Bytes { label, op, bytes })
            }
            TokenKind::Number(_) | TokenKind::Add | TokenKind::Sub => {
                let negative = match self.peek_kind() {
                    TokenKind::Add => {
                        self.advance();
                        false
                    }
                    TokenKind::Sub => {
                        self.advance();
                        true
                    }
                    _ => false,
                };
                let TokenKind::Number(text) = self.peek_kind().clone() else {
                    return Err(self.unexpected());
                };
                self.advance();
                let value = go_parse_float(&text).unwrap_or(0.0);
                Ok(LabelFilterExpr::Number {
                    label,
                    op,
                    value: if negative { -value } else { value },
                })
            }
            _ => Err(self.unexpected()),
        }
    }
}

fn literal(text: &str, negative: bool) -> Draft {
    match go_parse_float(text) {
        Ok(value) => Draft::Literal {
            value: if negative { -value } else { value },
            error: None,
        },
        Err(error) => Draft::Literal {
            value: 0.0,
            error: Some(ParseError::unpositioned(format!(
                "unable to parse literal as a float: {error}"
            ))),
        },
    }
}

/// `| regexp "..."`: at least one named group, each a valid label name.
fn build_regexp_parser(pattern: String) -> ParseResult<RegexpParser> {
    let invalid =
        |reason: String| ParseError::unpositioned(format!("invalid regexp parser: {reason}"));
    let regex = compile_go_regex(&pattern).map_err(invalid)?;
    let mut names: Vec<(usize, String)> = Vec::new();
    for (index, name) in regex.capture_names().enumerate() {
        let Some(name) = name else {
            continue;
        };
        if !is_valid_label_name(name) {
            return Err(invalid(format!("invalid extracted label name '{name}'")));
        }
        if names.iter().any(|(_, existing)| existing == name) {
            return Err(invalid(format!("duplicate extracted label name '{name}'")));
        }
        names.push((index, name.to_owned()));
    }
    if names.is_empty() {
        return Err(invalid(
            "at least one named capture must be supplied".to_owned(),
        ));
    }
    Ok(RegexpParser {
        pattern,
        regex,
        names,
    })
}
