//! The LogQL abstract syntax tree produced by [`super::parse`].
//!
//! Stages carry their compiled form (regexes, templates, patterns) so a
//! [`super::Pipeline`] can be built from them without failing: everything that
//! can be refused is refused by `parse`.

use model::Matcher;
use regex::Regex;

use super::ip::IpMatcher;
use super::json::JsonPathElement;
use super::line_filter::CompiledLineFilter;
use super::pattern::PatternMatcher;
use super::template::Template;

/// A whole query: a log query or a metric query.
#[derive(Clone, Debug)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// A stream selector and its pipeline: `{app="api"} |= "error" | json`.
#[derive(Clone, Debug)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

/// One pipeline stage, in query order.
#[derive(Clone, Debug)]
pub enum Stage {
    /// `|= "a"`, `!= "a"`, `|~ "re"`, `!~ "re"`, `|> "<_> pat"`, `!> ...`, with `or` alternatives.
    LineFilter(LineFilter),
    /// `| json` or `| json label="path", ...`.
    Json(JsonParser),
    /// `| logfmt [--strict] [--keep-empty] [label="key", ...]`.
    Logfmt(LogfmtParser),
    /// `| regexp "(?P<name>...)"`.
    Regexp(RegexpParser),
    /// `| pattern "<ip> - <_> <status>"`.
    Pattern(PatternParser),
    /// `| unpack`.
    Unpack,
    /// `| level="error" and duration > 1s`.
    LabelFilter(LabelFilterExpr),
    /// `| line_format "{{.msg}}"`.
    LineFormat(LineFormat),
    /// `| label_format a=b, c="{{.x}}"`.
    LabelFormat(LabelFormat),
    /// `| drop a, b="v"`.
    Drop(Vec<LabelSelector>),
    /// `| keep a, b="v"`.
    Keep(Vec<LabelSelector>),
    /// `| decolorize`.
    Decolorize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Matches,
    /// `!~`
    NotMatches,
    /// `|>`
    MatchesPattern,
    /// `!>`
    NotMatchesPattern,
}

impl LineFilterOp {
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Matches => "|~",
            LineFilterOp::NotMatches => "!~",
            LineFilterOp::MatchesPattern => "|>",
            LineFilterOp::NotMatchesPattern => "!>",
        }
    }

    /// Whether the filter keeps lines that do *not* match.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotMatches | LineFilterOp::NotMatchesPattern
        )
    }
}

/// One alternative of a line filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineFilterValue {
    /// A string: a substring, regex or pattern depending on the operator.
    Text(String),
    /// `ip("192.168.0.0/16")`: the line contains a matching IP address.
    Ip(String),
}

/// A line filter with its alternatives: `|= "a" or "b"` keeps lines containing
/// `a` or `b`; `!= "a" or "b"` keeps lines containing neither.
#[derive(Clone, Debug)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub values: Vec<LineFilterValue>,
    pub(crate) compiled: CompiledLineFilter,
}

/// `label="expression"` in `| json ...` / `| logfmt ...`; a bare `label`
/// has `expression == label`.
#[derive(Clone, Debug)]
pub struct LabelExtraction {
    pub label: String,
    pub expression: String,
    pub(crate) json_path: Vec<JsonPathElement>,
}

#[derive(Clone, Debug, Default)]
pub struct JsonParser {
    /// Empty: extract every field (nested keys joined with `_`).
    pub expressions: Vec<LabelExtraction>,
}

#[derive(Clone, Debug, Default)]
pub struct LogfmtParser {
    pub strict: bool,
    pub keep_empty: bool,
    /// Empty: extract every key.
    pub expressions: Vec<LabelExtraction>,
}

#[derive(Clone, Debug)]
pub struct RegexpParser {
    pub pattern: String,
    pub(crate) regex: Regex,
    /// Capture group index and label name of each named group.
    pub(crate) names: Vec<(usize, String)>,
}

#[derive(Clone, Debug)]
pub struct PatternParser {
    pub pattern: String,
    pub(crate) matcher: PatternMatcher,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComparisonOp {
    Equal,
    NotEqual,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
}

impl ComparisonOp {
    pub(crate) fn compare<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            ComparisonOp::Equal => left == right,
            ComparisonOp::NotEqual => left != right,
            ComparisonOp::GreaterThan => left > right,
            ComparisonOp::GreaterThanOrEqual => left >= right,
            ComparisonOp::LessThan => left < right,
            ComparisonOp::LessThanOrEqual => left <= right,
        }
    }
}

/// A label filter: string matchers, typed comparisons, combined with
/// `and` (also written `,` or a space) and `or`.
#[derive(Clone, Debug)]
pub enum LabelFilterExpr {
    And(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    Or(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// `name="v"`, `!=`, `=~`, `!~`: an absent label compares as `""`.
    Matcher(Matcher),
    /// `name > 10`: the label is parsed as a float.
    Number {
        label: String,
        op: ComparisonOp,
        value: f64,
    },
    /// `name > 250ms`: the label is parsed as a Go duration.
    Duration {
        label: String,
        op: ComparisonOp,
        nanos: i64,
    },
    /// `name > 20MB`: the label is parsed as a byte size.
    Bytes {
        label: String,
        op: ComparisonOp,
        bytes: u64,
    },
    /// `name = ip("10.0.0.0/8")` or `!=`.
    Ip(IpLabelFilter),
}

#[derive(Clone, Debug)]
pub struct IpLabelFilter {
    pub label: String,
    pub negated: bool,
    pub pattern: String,
    /// `None` when the pattern is invalid: the filter then never matches.
    pub(crate) matcher: Option<IpMatcher>,
}

#[derive(Clone, Debug)]
pub struct LineFormat {
    pub template: String,
    pub(crate) compiled: Template,
}

#[derive(Clone, Debug)]
pub struct LabelFormat {
    pub items: Vec<LabelFormatItem>,
}

#[derive(Clone, Debug)]
pub struct LabelFormatItem {
    pub target: String,
    pub source: LabelFormatSource,
}

#[derive(Clone, Debug)]
pub enum LabelFormatSource {
    /// `target=source`: moves the value of `source` to `target`.
    Rename(String),
    /// `target="{{...}}"`.
    Template(LabelTemplate),
}

#[derive(Clone, Debug)]
pub struct LabelTemplate {
    pub text: String,
    pub(crate) compiled: Template,
}

/// An item of `| drop ...` / `| keep ...`.
#[derive(Clone, Debug)]
pub enum LabelSelector {
    Name(String),
    Matcher(Matcher),
}

/// A metric query.
#[derive(Clone, Debug)]
pub enum MetricExpr {
    RangeAggregation(RangeAggregation),
    VectorAggregation(VectorAggregation),
    BinaryOperation(BinaryOperation),
    /// A number; `1 + 2` is folded to `3` at parse time, as in Loki.
    Literal(f64),
    /// `vector(1)`.
    Vector(f64),
    LabelReplace(LabelReplace),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
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
}

impl RangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }
}

/// `rate({app="a"} |= "x" [5m] offset 1h)`, `quantile_over_time(0.99, ... | unwrap d [1m]) by (a)`.
#[derive(Clone, Debug)]
pub struct RangeAggregation {
    pub op: RangeOp,
    /// The `quantile_over_time` quantile.
    pub parameter: Option<f64>,
    pub range: LogRange,
    /// Only allowed on aggregations of unwrapped values (and not `sum_over_time`/`rate`).
    pub grouping: Option<Grouping>,
}

/// The log query and window of a range aggregation.
#[derive(Clone, Debug)]
pub struct LogRange {
    pub log: LogExpr,
    pub range_nanos: i64,
    pub offset_nanos: i64,
    pub unwrap: Option<Unwrap>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnwrapConversion {
    /// `| unwrap x`: a float.
    Float,
    /// `| unwrap duration(x)`: a Go duration, as seconds.
    Duration,
    /// `| unwrap duration_seconds(x)`: same as `duration`.
    DurationSeconds,
    /// `| unwrap bytes(x)`: a byte size, as bytes.
    Bytes,
}

/// `| unwrap [conv(]label[)]` and the label filters that follow it.
#[derive(Clone, Debug)]
pub struct Unwrap {
    pub label: String,
    pub conversion: UnwrapConversion,
    pub post_filters: Vec<LabelFilterExpr>,
}

/// `by (a, b)` / `without (a)`. `by ()` keeps no label.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl VectorOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
        }
    }
}

/// `sum by (a) (...)`, `topk(5, ...)`. Without a clause the grouping is `by ()`.
#[derive(Clone, Debug)]
pub struct VectorAggregation {
    pub op: VectorOp,
    /// The `k` of `topk`/`bottomk`.
    pub parameter: Option<i64>,
    pub grouping: Grouping,
    pub inner: Box<MetricExpr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Equal,
    NotEqual,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Equal => "==",
            BinaryOp::NotEqual => "!=",
            BinaryOp::GreaterThan => ">",
            BinaryOp::GreaterThanOrEqual => ">=",
            BinaryOp::LessThan => "<",
            BinaryOp::LessThanOrEqual => "<=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Equal
                | BinaryOp::NotEqual
                | BinaryOp::GreaterThan
                | BinaryOp::GreaterThanOrEqual
                | BinaryOp::LessThan
                | BinaryOp::LessThanOrEqual
        )
    }

    pub fn is_set_operation(self) -> bool {
        matches!(self, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cardinality {
    #[default]
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
}

/// `on (a)` / `ignoring (a)` and `group_left (b)` / `group_right (b)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VectorMatching {
    pub cardinality: Cardinality,
    /// `on (...)` rather than `ignoring (...)`.
    pub on: bool,
    pub labels: Vec<String>,
    /// Labels listed in `group_left (...)` / `group_right (...)`.
    pub include: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct BinaryOperation {
    pub op: BinaryOp,
    /// The `bool` modifier.
    pub return_bool: bool,
    pub matching: VectorMatching,
    pub lhs: Box<MetricExpr>,
    pub rhs: Box<MetricExpr>,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Clone, Debug)]
pub struct LabelReplace {
    pub inner: Box<MetricExpr>,
    pub destination: String,
    pub replacement: String,
    pub source: String,
    pub regex: String,
    pub(crate) compiled: Regex,
}

impl LabelReplace {
    /// The regex, anchored at both ends as in PromQL.
    pub fn anchored_regex(&self) -> &Regex {
        &self.compiled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_helpers() {
        assert!(ComparisonOp::GreaterThanOrEqual.compare(2.0, 2.0));
        assert!(!ComparisonOp::LessThan.compare(3_u64, 2_u64));
        assert!(ComparisonOp::NotEqual.compare(f64::NAN, f64::NAN));
        assert!(LineFilterOp::NotMatchesPattern.is_negative());
        assert!(!LineFilterOp::Matches.is_negative());
        assert_eq!(LineFilterOp::MatchesPattern.as_str(), "|>");
        assert!(BinaryOp::LessThanOrEqual.is_comparison() && !BinaryOp::Pow.is_comparison());
        assert!(BinaryOp::Unless.is_set_operation());
        assert_eq!(RangeOp::RateCounter.as_str(), "rate_counter");
        assert_eq!(VectorOp::SortDesc.as_str(), "sort_desc");
    }
}
