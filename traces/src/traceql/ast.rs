//! Typed TraceQL syntax tree. Produced by [`super::parse`]; carries no
//! evaluation logic. Every node is `Clone + Debug + PartialEq`.

/// A whole query: a pipeline of stages, evaluated left to right per trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The top-level pipeline.
    pub pipeline: Pipeline,
}

/// Stages separated by `|`. Never empty.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// One pipeline stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// A spanset expression: `{ ... }`, combinations of spansets, or
    /// parenthesized sub-pipelines.
    Spanset(SpansetExpr),
    /// `count() > 2`, `avg(duration) > 1s`, ...
    ScalarFilter(ScalarFilter),
    /// `by(resource.service.name)`: regroup spans into spansets by value.
    GroupBy(FieldExpr),
    /// `select(span.http.method, resource.x)`: extra fields to return.
    Select(Vec<Field>),
}

/// An expression producing spansets.
#[derive(Clone, Debug, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`; `{}` is `Filter(FieldExpr::Static(Static::Bool(true)))`.
    Filter(FieldExpr),
    /// `lhs op rhs` between spansets.
    Binary {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesized pipeline with more than one stage (or a non-spanset
    /// stage), used as an operand: `({ a } | count() > 1) && { b }`.
    Pipeline(Box<Pipeline>),
}

/// Operators between spansets. Precedence (loosest first): `||`, `&&`,
/// then the structural operators, all left-associative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both spansets match in the trace.
    And,
    /// `||`: either spanset matches.
    Union,
    /// `>`: spans in rhs that are direct children of spans in lhs.
    Child,
    /// `>>`: spans in rhs that are descendants of spans in lhs.
    Descendant,
    /// `<`: spans in rhs that are the parent of spans in lhs.
    Parent,
    /// `<<`: spans in rhs that are ancestors of spans in lhs.
    Ancestor,
    /// `~`: spans in rhs that are siblings of spans in lhs.
    Sibling,
}

/// A scalar filter stage: `aggregate op literal`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarFilter {
    /// Left-hand aggregate.
    pub aggregate: Aggregate,
    /// Comparison.
    pub op: CompareOp,
    /// Right-hand literal: `Int`, `Float` or `Duration`.
    pub value: Static,
}

/// Comparison operators allowed in scalar filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// Aggregates over the spans of a spanset.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    /// `count()`
    Count,
    /// `avg(expr)`
    Avg(FieldExpr),
    /// `max(expr)`
    Max(FieldExpr),
    /// `min(expr)`
    Min(FieldExpr),
    /// `sum(expr)`
    Sum(FieldExpr),
}

/// A field usable in `select(...)`.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Attribute(Attribute),
    Intrinsic(Intrinsic),
}

/// An expression evaluated per span.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldExpr {
    /// A literal.
    Static(Static),
    /// A span/trace intrinsic.
    Intrinsic(Intrinsic),
    /// A user attribute.
    Attribute(Attribute),
    /// `!expr` or `-expr` (negative numeric literals are folded into `Static`).
    Unary { op: UnaryOp, expr: Box<FieldExpr> },
    /// `lhs op rhs`.
    Binary {
        op: BinaryOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

/// Binary operators inside `{ }`. Precedence, loosest first: `||`; `&&`;
/// comparisons (`= != < <= > >= =~ !~`); `+ -`; `* / %`; `^` (right-assoc).
/// Unary `!`/`-` bind tighter than `+ -` but looser than `* / % ^`, as in Tempo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// `=~` (regex match; rhs is the pattern)
    Regex,
    /// `!~`
    NotRegex,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

/// Where an attribute is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeScope {
    /// `.x`: span attributes first, then resource attributes.
    Unscoped,
    /// `span.x`
    Span,
    /// `resource.x`
    Resource,
}

/// An attribute reference, e.g. `resource.service.name` is
/// `{ scope: Resource, name: "service.name" }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub scope: AttributeScope,
    pub name: String,
}

/// Intrinsic span/trace fields. Unscoped and scoped spellings map to the
/// same variant (`name` and `span:name` are both `Name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intrinsic {
    /// `name`, `span:name`
    Name,
    /// `status`, `span:status`
    Status,
    /// `statusMessage`, `span:statusMessage`
    StatusMessage,
    /// `kind`, `span:kind`
    Kind,
    /// `duration`, `span:duration`
    Duration,
    /// `span:id`
    SpanId,
    /// `rootName`, `trace:rootName`
    RootName,
    /// `rootServiceName`, `trace:rootService`
    RootServiceName,
    /// `traceDuration`, `trace:duration`
    TraceDuration,
    /// `trace:id`
    TraceId,
}

impl Intrinsic {
    /// Look up an intrinsic by any of its spellings.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "name" | "span:name" => Intrinsic::Name,
            "status" | "span:status" => Intrinsic::Status,
            "statusMessage" | "span:statusMessage" => Intrinsic::StatusMessage,
            "kind" | "span:kind" => Intrinsic::Kind,
            "duration" | "span:duration" => Intrinsic::Duration,
            "span:id" => Intrinsic::SpanId,
            "rootName" | "trace:rootName" => Intrinsic::RootName,
            "rootServiceName" | "trace:rootService" => Intrinsic::RootServiceName,
            "traceDuration" | "trace:duration" => Intrinsic::TraceDuration,
            "trace:id" => Intrinsic::TraceId,
            _ => return None,
        })
    }

    /// Static type of the intrinsic's values.
    pub fn value_type(self) -> StaticType {
        match self {
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::SpanId
            | Intrinsic::RootName
            | Intrinsic::RootServiceName
            | Intrinsic::TraceId => StaticType::String,
            Intrinsic::Status => StaticType::Status,
            Intrinsic::Kind => StaticType::Kind,
            Intrinsic::Duration | Intrinsic::TraceDuration => StaticType::Duration,
        }
    }
}

/// Literal values.
#[derive(Clone, Debug, PartialEq)]
pub enum Static {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    Nil,
    Status(Status),
    Kind(Kind),
}

impl Static {
    /// Type of the literal.
    pub fn value_type(&self) -> StaticType {
        match self {
            Static::String(_) => StaticType::String,
            Static::Int(_) => StaticType::Int,
            Static::Float(_) => StaticType::Float,
            Static::Bool(_) => StaticType::Bool,
            Static::Duration(_) => StaticType::Duration,
            Static::Nil => StaticType::Nil,
            Static::Status(_) => StaticType::Status,
            Static::Kind(_) => StaticType::Kind,
        }
    }
}

/// Types of static values, for light checks in the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticType {
    String,
    Int,
    Float,
    Bool,
    Duration,
    Nil,
    Status,
    Kind,
}

impl StaticType {
    /// Int, Float or Duration.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            StaticType::Int | StaticType::Float | StaticType::Duration
        )
    }
}

/// Span status values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    Ok,
    Error,
    #[default]
    Unset,
}

/// Span kind values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Static {
    /// The literal a bare keyword stands for (`true`, `nil`, `error`, `server`, ...).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "true" => Static::Bool(true),
            "false" => Static::Bool(false),
            "nil" => Static::Nil,
            "ok" => Static::Status(Status::Ok),
            "error" => Static::Status(Status::Error),
            "unset" => Static::Status(Status::Unset),
            "unspecified" => Static::Kind(Kind::Unspecified),
            "internal" => Static::Kind(Kind::Internal),
            "server" => Static::Kind(Kind::Server),
            "client" => Static::Kind(Kind::Client),
            "producer" => Static::Kind(Kind::Producer),
            "consumer" => Static::Kind(Kind::Consumer),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intrinsic_spellings() {
        assert_eq!(Intrinsic::from_name("span:name"), Some(Intrinsic::Name));
        assert_eq!(Intrinsic::from_name("name"), Some(Intrinsic::Name));
        assert_eq!(
            Intrinsic::from_name("trace:rootService"),
            Some(Intrinsic::RootServiceName)
        );
        assert_eq!(Intrinsic::from_name("trace:rootServiceName"), None);
        assert_eq!(Intrinsic::from_name("trace:status"), None);
        assert_eq!(Intrinsic::Duration.value_type(), StaticType::Duration);
    }

    #[test]
    fn keywords() {
        assert_eq!(
            Static::from_keyword("error"),
            Some(Static::Status(Status::Error))
        );
        assert_eq!(
            Static::from_keyword("client"),
            Some(Static::Kind(Kind::Client))
        );
        assert_eq!(Static::from_keyword("foo"), None);
        assert!(Static::Duration(1).value_type().is_numeric());
        assert!(!Static::String(String::new()).value_type().is_numeric());
    }
}
