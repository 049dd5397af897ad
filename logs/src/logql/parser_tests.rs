//! Parser tests: accepted syntax and the tree it yields, and refused queries
//! with Loki's exact error messages (cases from Loki's `parser_test.go` and
//! the LogQL documentation).

use model::MatchOp;

use super::*;

const MINUTE: i64 = 60_000_000_000;
const HOUR: i64 = 60 * MINUTE;

fn ok(query: &str) -> Expr {
    parse(query).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn log(query: &str) -> LogExpr {
    match ok(query) {
        Expr::Log(log) => log,
        other => panic!("{query}: not a log query: {other:?}"),
    }
}

fn metric(query: &str) -> MetricExpr {
    match ok(query) {
        Expr::Metric(metric) => metric,
        other => panic!("{query}: not a metric query: {other:?}"),
    }
}

fn range(query: &str) -> RangeAggregation {
    match metric(query) {
        MetricExpr::RangeAggregation(aggregation) => aggregation,
        other => panic!("{query}: not a range aggregation: {other:?}"),
    }
}

fn error(query: &str) -> String {
    match parse(query) {
        Ok(expr) => panic!("{query}: parsed as {expr:?}"),
        Err(error) => error.to_string(),
    }
}

fn matchers(log: &LogExpr) -> Vec<(String, MatchOp, String)> {
    log.matchers
        .iter()
        .map(|m| (m.name.clone(), m.op, m.value.clone()))
        .collect()
}

fn line_filter(stage: &Stage) -> (LineFilterOp, Vec<LineFilterValue>) {
    match stage {
        Stage::LineFilter(filter) => (filter.op, filter.values.clone()),
        other => panic!("not a line filter: {other:?}"),
    }
}

fn text(value: &str) -> LineFilterValue {
    LineFilterValue::Text(value.to_owned())
}

/// A compact rendering of label filters, to check grouping.
fn describe(filter: &LabelFilterExpr) -> String {
    match filter {
        LabelFilterExpr::And(a, b) => format!("({} and {})", describe(a), describe(b)),
        LabelFilterExpr::Or(a, b) => format!("({} or {})", describe(a), describe(b)),
        LabelFilterExpr::Matcher(m) => m.to_string(),
        LabelFilterExpr::Number { label, op, value } => format!("{label}{op:?}{value}"),
        LabelFilterExpr::Duration { label, op, nanos } => format!("{label}{op:?}{nanos}ns"),
        LabelFilterExpr::Bytes { label, op, bytes } => format!("{label}{op:?}{bytes}B"),
        LabelFilterExpr::Ip(ip) => format!(
            "{}{}ip({})",
            ip.label,
            if ip.negated { "!=" } else { "=" },
            ip.pattern
        ),
    }
}

fn label_filter(stage: &Stage) -> String {
    match stage {
        Stage::LabelFilter(filter) => describe(filter),
        other => panic!("not a label filter: {other:?}"),
    }
}

#[test]
fn stream_selectors() {
    let parsed = log(r#"{ namespace="buzz", foo != "bar", app=~"a.+", env!~"dev|qa" }"#);
    assert_eq!(
        matchers(&parsed),
        vec![
            ("namespace".into(), MatchOp::Equal, "buzz".into()),
            ("foo".into(), MatchOp::NotEqual, "bar".into()),
            ("app".into(), MatchOp::RegexMatch, "a.+".into()),
            ("env".into(), MatchOp::RegexNoMatch, "dev|qa".into()),
        ]
    );
    assert!(parsed.stages.is_empty());
    // Regex matchers are fully anchored.
    let anchored = &log(r#"{app=~"api"}"#).matchers[0];
    assert!(anchored.matches("api") && !anchored.matches("api-2"));
    // Raw strings and Go escapes.
    assert_eq!(log("{foo=~`bar\\w+`}").matchers[0].value, "bar\\w+");
    assert_eq!(log(r#"{foo="a\"b\tc"}"#).matchers[0].value, "a\"b\tc");
}

#[test]
fn line_filters() {
    let parsed = log(r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" |> "<_> x" !> "y <_>""#);
    let filters: Vec<_> = parsed.stages.iter().map(line_filter).collect();
    assert_eq!(
        filters,
        vec![
            (LineFilterOp::Contains, vec![text("baz")]),
            (LineFilterOp::Matches, vec![text("blip")]),
            (LineFilterOp::NotContains, vec![text("flip")]),
            (LineFilterOp::NotMatches, vec![text("flap")]),
            (LineFilterOp::MatchesPattern, vec![text("<_> x")]),
            (LineFilterOp::NotMatchesPattern, vec![text("y <_>")]),
        ]
    );
    let alternatives = log(r#"{foo="bar"} |= "a" or "b" or ip("10.0.0.0/8") != `c` or "d""#);
    assert_eq!(
        alternatives
            .stages
            .iter()
            .map(line_filter)
            .collect::<Vec<_>>(),
        vec![
            (
                LineFilterOp::Contains,
                vec![
                    text("a"),
                    text("b"),
                    LineFilterValue::Ip("10.0.0.0/8".into())
                ]
            ),
            (LineFilterOp::NotContains, vec![text("c"), text("d")]),
        ]
    );
    let ip = log(r#"{foo="bar"} |= ip("123.123.123.123")"#);
    assert_eq!(
        line_filter(&ip.stages[0]),
        (
            LineFilterOp::Contains,
            vec![LineFilterValue::Ip("123.123.123.123".into())]
        )
    );
}

#[test]
fn parser_stages() {
    let parsed = log(
        r#"{a="b"} | json | json first="servers[0]", ua | logfmt --strict --keep-empty | logfmt host, lvl="level" | regexp "(?P<method>\\w+) (?P<path>\\S+)" | pattern "<ip> - <_>" | unpack"#,
    );
    let [Stage::Json(all), Stage::Json(some), Stage::Logfmt(flags), Stage::Logfmt(keys), Stage::Regexp(regexp), Stage::Pattern(pattern), Stage::Unpack] =
        parsed.stages.as_slice()
    else {
        panic!("unexpected stages: {:?}", parsed.stages);
    };
    assert!(all.expressions.is_empty());
    let pairs = |e: &[LabelExtraction]| {
        e.iter()
            .map(|e| (e.label.clone(), e.expression.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(&some.expressions),
        vec![
            ("first".into(), "servers[0]".into()),
            ("ua".into(), "ua".into())
        ]
    );
    assert!(flags.strict && flags.keep_empty && flags.expressions.is_empty());
    assert!(!keys.strict);
    assert_eq!(
        pairs(&keys.expressions),
        vec![
            ("host".into(), "host".into()),
            ("lvl".into(), "level".into())
        ]
    );
    assert_eq!(regexp.pattern, r"(?P<method>\w+) (?P<path>\S+)");
    assert_eq!(pattern.pattern, "<ip> - <_>");
}

#[test]
fn label_filter_precedence_matches_loki() {
    // `and` binds tighter than `or`.
    let parsed = log(
        r#"{app="foo"} |= "bar" | json | status_code < 500 or status_code > 200 and latency >= 250ms"#,
    );
    assert_eq!(
        label_filter(&parsed.stages[2]),
        "(status_codeLessThan500 or (status_codeGreaterThan200 and latencyGreaterThanOrEqual250000000ns))"
    );
    // `,` and juxtaposition are `and`, grouping everything to their right.
    let parsed = log(
        r#"{app="foo"} | json | latency >= 250ms or ( status_code < 500 and status_code > 200) | foo="bar" buzz!="blip", blop=~"boop" or fuzz==5"#,
    );
    assert_eq!(
        label_filter(&parsed.stages[1]),
        "(latencyGreaterThanOrEqual250000000ns or (status_codeLessThan500 and status_codeGreaterThan200))"
    );
    assert_eq!(
        label_filter(&parsed.stages[2]),
        r#"(foo="bar" and (buzz!="blip" and (blop=~"boop" or fuzzEqual5)))"#
    );
    let parsed =
        log(r#"{app="foo"} | json | status_code < 500 or status_code > 200 and size >= 2.5KiB"#);
    assert_eq!(
        label_filter(&parsed.stages[1]),
        "(status_codeLessThan500 or (status_codeGreaterThan200 and sizeGreaterThanOrEqual2560B))"
    );
}

#[test]
fn typed_label_filters() {
    let parsed = log(
        r#"{foo="bar"} | logfmt | length>5d | x == -1.5 | y != +2 | size <= 20MB | ip="abc" | addr=ip("1.2.3.4") | addr!=ip("10.0.0.0/8") | rate="a""#,
    );
    let rendered: Vec<String> = parsed.stages[1..].iter().map(label_filter).collect();
    assert_eq!(
        rendered,
        vec![
            format!("lengthGreaterThan{}ns", 5 * 24 * HOUR),
            "xEqual-1.5".to_owned(),
            "yNotEqual2".to_owned(),
            "sizeLessThanOrEqual20000000B".to_owned(),
            r#"ip="abc""#.to_owned(),
            "addr=ip(1.2.3.4)".to_owned(),
            "addr!=ip(10.0.0.0/8)".to_owned(),
            r#"rate="a""#.to_owned(),
        ]
    );
}

#[test]
fn formatting_and_label_stages() {
    let parsed = log(
        r#"{app="foo"} | line_format "blip{{ .foo }}blop" | label_format foo=bar,status_code="buzz{{.bar}}" | drop a, b="v", c=~"x.*" | keep d, e!="w" | decolorize"#,
    );
    let [Stage::LineFormat(line), Stage::LabelFormat(labels), Stage::Drop(dropped), Stage::Keep(kept), Stage::Decolorize] =
        parsed.stages.as_slice()
    else {
        panic!("unexpected stages: {:?}", parsed.stages);
    };
    assert_eq!(line.template, "blip{{ .foo }}blop");
    assert!(
        matches!(&labels.items[0].source, LabelFormatSource::Rename(source) if source == "bar")
    );
    assert_eq!(labels.items[0].target, "foo");
    assert!(
        matches!(&labels.items[1].source, LabelFormatSource::Template(t) if t.text == "buzz{{.bar}}")
    );
    assert!(matches!(&dropped[0], LabelSelector::Name(name) if name == "a"));
    assert!(matches!(&dropped[1], LabelSelector::Matcher(m) if m.to_string() == r#"b="v""#));
    assert!(matches!(&dropped[2], LabelSelector::Matcher(m) if m.op == MatchOp::RegexMatch));
    assert!(matches!(&kept[1], LabelSelector::Matcher(m) if m.to_string() == r#"e!="w""#));
}

#[test]
fn range_aggregations() {
    for query in [
        r#"count_over_time({foo="bar"}[12h] |= "error")"#,
        r#"count_over_time({foo="bar"} |= "error" [12h])"#,
        r#"count_over_time(({foo="bar"} |= "error")[12h])"#,
        r#"count_over_time((({foo="bar"} |= "error")[12h]))"#,
    ] {
        let aggregation = range(query);
        assert_eq!(aggregation.op, RangeOp::CountOverTime, "{query}");
        assert_eq!(aggregation.range.range_nanos, 12 * HOUR, "{query}");
        assert_eq!(
            line_filter(&aggregation.range.log.stages[0]),
            (LineFilterOp::Contains, vec![text("error")]),
            "{query}"
        );
    }
    assert_eq!(
        range(r#"rate({ foo = "bar" }[5d])"#).range.range_nanos,
        5 * 24 * HOUR
    );
    assert_eq!(
        range(r#"bytes_rate({ foo = "bar" }[1w])"#)
            .range
            .range_nanos,
        7 * 24 * HOUR
    );
    assert_eq!(
        range(r#"absent_over_time({ foo = "bar" }[1y])"#)
            .range
            .range_nanos,
        365 * 24 * HOUR
    );
    let offset = range(r#"bytes_over_time({ foo = "bar" }[5m] offset 1h)"#);
    assert_eq!(
        (offset.op, offset.range.offset_nanos),
        (RangeOp::BytesOverTime, HOUR)
    );
    let negative =
        range(r#"max_over_time({app="foo"} | unwrap bar [5m] offset -5m) without (foo,bar)"#);
    assert_eq!(negative.range.offset_nanos, -5 * MINUTE);
    assert_eq!(
        negative.grouping,
        Some(Grouping {
            without: true,
            labels: vec!["foo".into(), "bar".into()]
        })
    );
}

#[test]
fn unwrap_forms() {
    let plain = range(
        r#"sum_over_time({namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap latency [5m])"#,
    );
    let unwrap = plain.range.unwrap.as_ref().expect("unwrap");
    assert_eq!(
        (unwrap.label.as_str(), unwrap.conversion),
        ("latency", UnwrapConversion::Float)
    );
    assert_eq!(plain.range.log.stages.len(), 3);
    let bytes =
        range(r#"sum_over_time({namespace="tns"} | json | unwrap bytes(foo) [5m] offset 5m)"#);
    assert_eq!(
        bytes.range.unwrap.as_ref().map(|u| u.conversion),
        Some(UnwrapConversion::Bytes)
    );
    assert_eq!(bytes.range.offset_nanos, 5 * MINUTE);
    let duration = range(
        r#"stdvar_over_time({app="foo"} | logfmt | unwrap duration(foo) | __error__="" | foo > 1 [5m])"#,
    );
    let unwrap = duration.range.unwrap.as_ref().expect("unwrap");
    assert_eq!(unwrap.conversion, UnwrapConversion::Duration);
    assert_eq!(unwrap.post_filters.len(), 2);
    let seconds = range(r#"avg_over_time({app="foo"} | unwrap duration_seconds(foo) [5m])"#);
    assert_eq!(
        seconds.range.unwrap.map(|u| u.conversion),
        Some(UnwrapConversion::DurationSeconds)
    );
    // The other accepted orders.
    for query in [
        r#"min_over_time({app="foo"}[5m] | unwrap bar)"#,
        r#"min_over_time({app="foo"}[5m] offset 1m | logfmt | unwrap bar)"#,
        r#"min_over_time(({app="foo"} | logfmt | unwrap bar)[5m])"#,
        r#"min_over_time(({app="foo"})[5m] offset 1m | unwrap bar)"#,
        r#"min_over_time({app="foo"} | unwrap bar [5m]) by ()"#,
    ] {
        assert_eq!(
            range(query).range.unwrap.map(|u| u.label),
            Some("bar".to_owned()),
            "{query}"
        );
    }
    let quantile = range(
        r#"quantile_over_time(0.99, {app="foo"} | json | unwrap latency [5m]) by (namespace)"#,
    );
    assert_eq!(quantile.parameter, Some(0.99));
    assert_eq!(
        quantile.grouping.map(|g| g.labels),
        Some(vec!["namespace".to_owned()])
    );
}

#[test]
fn vector_aggregations() {
    let MetricExpr::VectorAggregation(avg) =
        metric(r#"avg(count_over_time({ foo = "bar" }[5h])) by (bar,foo)"#)
    else {
        panic!("not a vector aggregation");
    };
    assert_eq!(avg.op, VectorOp::Avg);
    assert_eq!(
        avg.grouping.labels,
        vec!["bar".to_owned(), "foo".to_owned()]
    );
    let MetricExpr::VectorAggregation(max) =
        metric(r#"max without (bar) (count_over_time({ foo = "bar" }[5h]))"#)
    else {
        panic!("not a vector aggregation");
    };
    assert!(max.grouping.without);
    let MetricExpr::VectorAggregation(topk) =
        metric(r#"topk(10,count_over_time({ foo = "bar" }[5h])) without (bar)"#)
    else {
        panic!("not a vector aggregation");
    };
    assert_eq!((topk.op, topk.parameter), (VectorOp::Topk, Some(10)));
    let MetricExpr::VectorAggregation(bottomk) =
        metric(r#"bottomk(30 ,sum(rate({ foo = "bar" }[5h])) by (foo))"#)
    else {
        panic!("not a vector aggregation");
    };
    let MetricExpr::VectorAggregation(inner) = bottomk.inner.as_ref() else {
        panic!("not nested");
    };
    assert_eq!(
        (inner.op, inner.grouping.labels.clone()),
        (VectorOp::Sum, vec!["foo".to_owned()])
    );
    // Keywords are case-insensitive; no grouping means `by ()`.
    let MetricExpr::VectorAggregation(upper) = metric(r#"SUM(RATE({a="b"}[1m]))"#) else {
        panic!("not a vector aggregation");
    };
    assert_eq!(upper.grouping, Grouping::default());
    assert!(
        matches!(metric(r#"sort_desc(rate({a="b"}[1m]))"#), MetricExpr::VectorAggregation(v) if v.op == VectorOp::SortDesc)
    );
}

#[test]
fn binary_operations_follow_promql_precedence() {
    let MetricExpr::BinaryOperation(add) =
        metric(r#"rate({a="1"}[1m]) + rate({a="2"}[1m]) * rate({a="3"}[1m])"#)
    else {
        panic!("not a binary operation");
    };
    assert_eq!(add.op, BinaryOp::Add);
    assert!(
        matches!(add.rhs.as_ref(), MetricExpr::BinaryOperation(mul) if mul.op == BinaryOp::Mul)
    );
    let MetricExpr::BinaryOperation(or) =
        metric(r#"rate({a="1"}[1m]) or rate({a="2"}[1m]) and rate({a="3"}[1m])"#)
    else {
        panic!("not a binary operation");
    };
    assert_eq!(or.op, BinaryOp::Or);
    assert!(matches!(or.rhs.as_ref(), MetricExpr::BinaryOperation(and) if and.op == BinaryOp::And));
    let MetricExpr::BinaryOperation(sub) =
        metric(r#"rate({a="1"}[1m]) - rate({a="2"}[1m]) - rate({a="3"}[1m])"#)
    else {
        panic!("not a binary operation");
    };
    assert!(
        matches!(sub.lhs.as_ref(), MetricExpr::BinaryOperation(_)),
        "left-associative"
    );
    let MetricExpr::BinaryOperation(comparison) = metric(
        r#"sum by (a) (rate({a="1"}[1m])) > bool on (a) group_left (b) sum by (a, b) (rate({a="2"}[1m]))"#,
    ) else {
        panic!("not a binary operation");
    };
    assert!(comparison.return_bool);
    assert_eq!(
        comparison.matching,
        VectorMatching {
            cardinality: Cardinality::ManyToOne,
            on: true,
            labels: vec!["a".into()],
            include: vec!["b".into()],
        }
    );
    let MetricExpr::BinaryOperation(ignoring) =
        metric(r#"rate({a="1"}[1m]) / ignoring (x) group_right rate({a="2"}[1m])"#)
    else {
        panic!("not a binary operation");
    };
    assert!(!ignoring.matching.on);
    assert_eq!(ignoring.matching.cardinality, Cardinality::OneToMany);
}

#[test]
fn literals_fold_like_loki() {
    assert!(matches!(metric("1 + 2 * 3"), MetricExpr::Literal(v) if v == 7.0));
    assert!(matches!(metric("2 ^ 3 ^ 2"), MetricExpr::Literal(v) if v == 512.0));
    assert!(matches!(metric("(1 + 2) * -3"), MetricExpr::Literal(v) if v == -9.0));
    assert!(matches!(metric("1 / 0"), MetricExpr::Literal(v) if v.is_nan()));
    assert!(matches!(metric("2 > 1"), MetricExpr::Literal(v) if v == 1.0));
    assert!(matches!(metric("7 % 4"), MetricExpr::Literal(v) if v == 3.0));
    assert!(matches!(metric("vector(1)"), MetricExpr::Vector(v) if v == 1.0));
    assert!(matches!(
        metric(r#"rate({a="b"}[1m]) * 2"#),
        MetricExpr::BinaryOperation(b) if matches!(b.rhs.as_ref(), MetricExpr::Literal(v) if *v == 2.0)
    ));
}

#[test]
fn label_replace_and_comments() {
    let MetricExpr::LabelReplace(replace) = metric(
        "label_replace(\n  bytes_over_time(({foo=\"bar\"} |= \"baz\")[5m]), # the input\n  \"buzz\", \"$2\", \"bar\", \"(.*):(.*)\"\n)",
    ) else {
        panic!("not label_replace");
    };
    assert_eq!(
        (
            replace.destination.as_str(),
            replace.replacement.as_str(),
            replace.source.as_str(),
            replace.regex.as_str()
        ),
        ("buzz", "$2", "bar", "(.*):(.*)")
    );
    assert!(replace.anchored_regex().is_match("a:b"));
    assert!(!replace.anchored_regex().is_match("ab"));
}

#[test]
fn syntax_errors_use_loki_positions() {
    let cases = [
        (r#"unk({ foo = "bar" }[5m])"#, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"),
        (r#"rate({ foo = "bar" }[5minutes])"#, r#"parse error at line 0, col 21: unknown unit "minutes" in duration "5minutes""#),
        (r#"label_replace(rate({ foo = "bar" }[5m]),"")"#, "parse error at line 1, col 43: syntax error: unexpected ), expecting ,"),
        (r#"rate({ foo = "bar" }[5)"#, "parse error at line 0, col 21: missing closing ']' in duration"),
        (r#"min({ foo = "bar" }[5m])"#, "parse error at line 0, col 20: syntax error: unexpected RANGE"),
        (r#"{ foo = "bar" }|logfmt|addr>=ip("1.2.3.4")"#, "parse error at line 1, col 30: syntax error: unexpected ip"),
        (r#"{ foo = "bar" }|logfmt|addr>ip("1.2.3.4")"#, "parse error at line 1, col 29: syntax error: unexpected ip"),
        (r#"bottomk(he,count_over_time({ foo = "bar" }[5h]))"#, "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"),
        (r#"stddev({ foo = "bar" })"#, "parse error at line 1, col 23: syntax error: unexpected )"),
        (r#"{foo="bar"} |= "#, "parse error at line 1, col 16: syntax error: unexpected $end, expecting STRING or ip"),
        ("{foo=bar}", "parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, expecting STRING"),
        (r#"{foo="bar"} | unwrap x"#, "parse error at line 1, col 15: syntax error: unexpected unwrap"),
        (r#"{foo="bar"} |= |= "x""#, "parse error at line 0, col 16: syntax error: unexpected |=, expecting STRING or ip"),
        (r#"{foo="bar"} |= "a" or rate"#, "parse error at line 1, col 23: syntax error: unexpected IDENTIFIER, expecting STRING or ip"),
        (r#"{foo="bar"} | json | x > "a""#, "parse error at line 1, col 26: syntax error: unexpected STRING"),
        ("{foo=\"bar\"} |= \"bad \\q\"", "parse error at line 1, col 16: invalid char escape"),
        ("{foo=\"bar\"}\n |= \"open", "parse error at line 2, col 5: literal not terminated"),
        ("", "parse error : syntax error: unexpected $end"),
    ];
    for (query, expected) in cases {
        assert_eq!(error(query), expected, "{query}");
    }
}

#[test]
fn semantic_errors_use_loki_wording() {
    let cases = [
        (
            r#"absent_over_time({ foo = "bar" }[5h]) by (foo)"#,
            "grouping not allowed for absent_over_time aggregation",
        ),
        (
            r#"label_replace(rate({ foo = "bar" }[5m]),"foo","$1","bar","^^^^x43\\q")"#,
            r"invalid regex in label_replace: error parsing regexp: invalid escape sequence: `\q`",
        ),
        (
            r#"sum(3 ,count_over_time({ foo = "bar" }[5h]))"#,
            "unsupported parameter for operation sum(3,",
        ),
        (
            r#"topk(count_over_time({ foo = "bar" }[5h]))"#,
            "parameter required for operation topk",
        ),
        (
            r#"bottomk(1.2,count_over_time({ foo = "bar" }[5h]))"#,
            "invalid parameter bottomk(1.2,",
        ),
        (
            r#"topk(0,count_over_time({ foo = "bar" }[5h]))"#,
            "invalid parameter (must be greater than 0) topk(0",
        ),
        (
            r#"sum_over_time({app="foo"} |= "bar" | json | latency >= 250ms [5m])"#,
            "invalid aggregation sum_over_time without unwrap",
        ),
        (
            r#"count_over_time({app="foo"} |= "foo" | json | unwrap foo [5m])"#,
            "invalid aggregation count_over_time with unwrap",
        ),
        (
            r#"quantile_over_time({app="foo"} | unwrap x [5m])"#,
            "parameter required for operation quantile_over_time",
        ),
        (
            r#"count_over_time(0.5, {app="foo"}[5m])"#,
            "parameter 0.5 not supported for operation count_over_time",
        ),
        (
            r#"sum_over_time({app="foo"} | unwrap x [5m]) by (a)"#,
            "grouping not allowed for sum_over_time aggregation",
        ),
        (
            r#"sort(rate({app="foo"}[5m])) by (a)"#,
            "sort and sort_desc doesn't allow grouping by ",
        ),
        (
            r#"{app="foo"} + 1"#,
            "unexpected type for left leg of binary operation (+): *syntax.MatchersExpr",
        ),
        (
            r#"1 + {app="foo"} |= "x""#,
            "unexpected type for right leg of binary operation (+): *syntax.PipelineExpr",
        ),
        (
            r#"1 and rate({app="foo"}[5m])"#,
            "unexpected literal for left leg of logical/set binary operation (and): 1.000000",
        ),
        (
            r#"rate({app="foo"}[5m]) unless 2"#,
            "unexpected literal for right leg of logical/set binary operation (unless): 2.000000",
        ),
        (
            r#"{app="foo"} | regexp "(a)""#,
            "invalid regexp parser: at least one named capture must be supplied",
        ),
        (
            r#"{app="foo"} | regexp "(?P<a>""#,
            "invalid regexp parser: error parsing regexp: missing closing ): `(?P<a>`",
        ),
        (
            r#"{app="foo"} | pattern "foo""#,
            "invalid pattern parser: at least one capture is required",
        ),
        (
            r#"{app=~"("}"#,
            "error parsing regexp: missing closing ): `^(?s:()$`",
        ),
        (
            r#"approx_topk(2, rate({a="b"}[1m]))"#,
            "approx_topk is not supported",
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(error(query), format!("parse error : {expected}"), "{query}");
    }
}

#[test]
fn queries_need_a_non_empty_matcher() {
    let expected = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";
    for query in [
        r#"{app=~".*"}"#,
        "{}",
        r#"{app!="x"}"#,
        r#"{app=""} |= "x""#,
        r#"count_over_time({app=~".*"}[5m])"#,
        r#"sum(rate({app=~".*"}[5m])) / 2"#,
    ] {
        assert_eq!(error(query), expected, "{query}");
    }
    assert!(parse(r#"{app=~".+", env=""}"#).is_ok());
}

#[test]
fn pipeline_building_errors_are_stage_errors() {
    let cases = [
        (
            r#"{a="b"} | line_format "{{.foo""#,
            r#"parse error : stage '| line_format "{{.foo"' : invalid line template: template: line:1: unclosed action"#,
        ),
        (
            r#"{a="b"} |= "x" |~ "(""#,
            r#"parse error : stage '|= "x" |~ "("' : error parsing regexp: missing closing ): `(`"#,
        ),
        (
            r#"{a="b"} | json | line_format "x" |~ "a(""#,
            r#"parse error : stage '|~ "a("' : error parsing regexp: missing closing ): `a(`"#,
        ),
        (
            r#"{a="b"} |= ip("nope")"#,
            r#"parse error : stage '|= ip("nope")' : ip: invalid pattern: "nope""#,
        ),
        (
            r#"{a="b"} |~ ip("1.2.3.4")"#,
            r#"parse error : stage '|~ ip("1.2.3.4")' : ip: invalid operation"#,
        ),
        (
            r#"{a="b"} | x=ip("nope")"#,
            r#"parse error : stage '| x=ip("nope")' : ip: invalid pattern: "nope""#,
        ),
        (
            r#"{a="b"} | label_format a=b, a="c""#,
            r#"parse error : stage '| label_format a=b,a="c"' : multiple label name 'a' not allowed in a single format operation"#,
        ),
        (
            r#"{a="b"} | label_format __error__=x"#,
            r#"parse error : stage '| label_format __error__=x' : __error__ cannot be formatted"#,
        ),
        (
            r#"{a="b"} | label_format x="{{ nope }}""#,
            r#"parse error : stage '| label_format x="{{ nope }}"' : invalid template for label 'x': template: label:1: function "nope" not defined"#,
        ),
        (
            r#"{a="b"} | json x="a[1.5]""#,
            r#"parse error : stage '| json x="a[1.5]"' : cannot parse expression [a[1.5]]: cannot use float as array index"#,
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(error(query), expected, "{query}");
    }
    // Loki checks matchers before building stages.
    assert!(error(r#"{a=~".*"} | line_format "{{""#).contains("at least one regexp"));
}

#[test]
fn input_size_is_limited() {
    let long = format!(r#"{{app="{}"}}"#, "a".repeat(131_072));
    assert_eq!(
        error(&long),
        format!(
            "parse error : input size too long ({} > 131072)",
            long.len()
        )
    );
}

/// A small deterministic generator (no external crates).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn garbled_and_truncated_queries_never_panic() {
    let seeds = [
        r#"sum by (status) (rate({app="api", env=~"prod|stage"} |= "error" != `debug` | json | status >= 500 and latency > 250ms | line_format "{{.status | ToUpper}}" | unwrap bytes(size) | __error__="" [5m] offset 1h))"#,
        r#"quantile_over_time(0.99, ({app="x"} | logfmt --strict | label_format a=b, c="{{ if eq .a \"1\" }}x{{ end }}" | unwrap duration(d))[1m]) by (a) > bool on (a) group_left (b) vector(1)"#,
        r#"topk(5, label_replace(count_over_time({a="b"} |~ "(?i)x" or "y" | pattern "<_> <x>" | drop y, z=~"q" | keep x [1h]), "d", "$1", "s", "(.*)")) / 2 ^ 3"#,
        "{a=\"b\"} | regexp `(?P<x>\\d+)` | unpack | decolorize |> \"<_>x\" !> \"y<_>\" | ip=ip(\"10.0.0.0/8\") # comment",
    ];
    let alphabet: Vec<char> = "{}[]()|=~!<>\"`',.+-*/%^#0123456789abcxyz _\n\\:$éµ"
        .chars()
        .collect();
    let mut random = Lcg(42);
    let mut checked = 0;
    for seed in seeds {
        assert!(parse(seed).is_ok(), "{seed}: {:?}", parse(seed).err());
        let chars: Vec<char> = seed.chars().collect();
        for end in 0..=chars.len() {
            let truncated: String = chars[..end].iter().collect();
            let _ = parse(&truncated);
            checked += 1;
        }
        for _ in 0..400 {
            let mut garbled = chars.clone();
            for _ in 0..(random.next() % 4 + 1) {
                let position = (random.next() as usize) % garbled.len();
                match random.next() % 3 {
                    0 => garbled[position] = alphabet[(random.next() as usize) % alphabet.len()],
                    1 => {
                        garbled.remove(position);
                    }
                    _ => garbled.insert(
                        position,
                        alphabet[(random.next() as usize) % alphabet.len()],
                    ),
                }
            }
            let query: String = garbled.iter().collect();
            if let Ok(Expr::Log(log)) = parse(&query) {
                let pipeline = Pipeline::new(&log.stages);
                let stream = model::Labels::from_sorted_unchecked(Vec::new());
                let _ = pipeline.process(0, "level=info msg=\"x\" {\"a\":1}", &stream, &[]);
            }
            checked += 1;
        }
    }
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse(&deep).is_err());
    let deep_filters = format!(
        r#"{{a="b"}} | {}x="y"{}"#,
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(parse(&deep_filters).is_err());
    assert!(checked > 1000);
}
