//! TraceQL front end: lexer, typed AST and parser with positioned errors.
//!
//! `parse("{ resource.service.name = \"api\" && duration > 500ms } | count() > 2")`
//! returns a [`Query`]; failures are [`ParseError`]s with 1-based line and
//! column, displayed as Tempo does:
//! `parse error at line 1, col 12: syntax error: unexpected IDENTIFIER`.
//!
//! Supported:
//! - spanset filters `{ expr }` and `{}` (all spans);
//! - intrinsics `name`, `status`, `statusMessage`, `kind`, `duration`,
//!   `rootName`, `rootServiceName`, `traceDuration` and the scoped forms
//!   `span:name`, `span:status`, `span:statusMessage`, `span:kind`,
//!   `span:duration`, `span:id`, `trace:id`, `trace:duration`,
//!   `trace:rootName`, `trace:rootService`;
//! - attributes `.x`, `span.x`, `resource.x` (names may contain dots and
//!   quoted parts: `span."foo bar"`);
//! - literals: strings (`"..."` with Go escapes, `` `raw` ``), integers,
//!   floats, durations (`10ns`, `100us`/`µs`, `500ms`, `1.5s`, `2m`, `1h`,
//!   `1d`, `1w`, `1y`, compound `1h30m`), `true`, `false`, `nil`, status
//!   (`ok`, `error`, `unset`) and kind (`unspecified`, `internal`, `server`,
//!   `client`, `producer`, `consumer`) values;
//! - field operators `= != > >= < <= =~ !~ && || ! + - * / % ^` and
//!   parentheses (`&&` and `||` share one level, left to right, as in Tempo);
//! - spanset operators `&&`, `||`, `>`, `>>`, `<`, `<<`, `~` and parentheses
//!   (`&&` and `||` loosest, one level, left to right; then the structural
//!   operators);
//! - pipelines: spanset stages, `count() op N`, `avg|min|max|sum(expr) op N`
//!   (N an integer, float or duration, optionally negative), `by(expr)`,
//!   `select(field, ...)`, chained with `|`; parenthesized sub-pipelines as
//!   spanset operands.
//!
//! Not supported (each is rejected with an `unsupported TraceQL feature: ...`
//! error at its position): metrics functions (`rate()`, `count_over_time()`,
//! `min_over_time()`, `max_over_time()`, `avg_over_time()`, `sum_over_time()`,
//! `quantile_over_time()`, `histogram_over_time()`, `compare()`, `topk()`,
//! `bottomk()`), query hints `with(...)`, `coalesce()`, the negated and union
//! structural operators (`!>`, `!<`, `!>>`, `!<<`, `!~` between spansets,
//! `&>`, `&<`, `&>>`, `&<<`, `&~`), `parent.`/`event.`/`link.`/
//! `instrumentation.` attribute scopes, the intrinsics `childCount`, `parent`,
//! `nestedSet*`, `span:parentID`, `event:*`, `link:*`, `instrumentation:*`,
//! scalar arithmetic in pipelines (`count() + count() > 1`, `avg(.a) > 1 - 3`),
//! comparisons between aggregates or parenthesized scalar pipelines
//! (`({ } | count()) > ({ } | count())`), and `by()` with several fields.
//!
//! Semantic validation (type checking such as `{ 1 = "foo" }`, regex
//! compilation) is left to the evaluator; the parser only rejects aggregates
//! over obviously non-numeric arguments (`max(name)`, `avg("foo")`).
//!
//! Evaluation: [`eval::evaluate`] runs a [`Query`] over one
//! [`crate::span::Trace`] and returns the surviving [`eval::Spanset`]s
//! (the trace matches if there is at least one). It type-checks the query
//! first (Tempo's validation) and reports [`eval::EvalError`]s; see
//! [`eval`] for the value semantics (nil, anchored regexes, numeric
//! comparisons, structural operators, aggregates, `by()`, `select()`).
//!
//! Differences from Tempo: nesting is limited to [`parser::MAX_DEPTH`] and
//! the operator count to [`parser::MAX_OPERATORS`].

pub mod ast;
pub mod error;
pub mod eval;
pub mod lexer;
pub mod parser;

pub use ast::*;
pub use error::{ParseError, Pos};

/// Parse a TraceQL query into its AST.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    parser::parse(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: &[&str] = &[
        r#"{ resource.service.name = "api" && duration > 500ms } | count() > 2"#,
        r#"{ span.http.method = "GET" } | select(span.http.status_code, resource.x)"#,
        r#"({ .a } | count() > 1) >> ({ span:status = error } | avg(duration) > 1.5s)"#,
        r#"{ .a } && { .b } || { .c } ~ { kind = server } < { .d } << { .e }"#,
        r#"{ !(.x =~ "a.*" || -.y ^ 2 % 3 >= 1) } | by(resource.service.name) | max(.z) <= -2"#,
        "{ span.\"foo bar\" != `raw\nstring` && trace:rootService = \"s\\u00e9\\x41\" }",
        r#"{} | rate() by (name) with (sample=0.1)"#,
        r#"{ trace:id = "ab" && span:id = "cd" && statusMessage = "" && nil != .q }"#,
    ];

    /// Tiny deterministic PRNG (no external crates).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(self.0 >> 33).unwrap_or(0)
        }
    }

    #[test]
    fn seeds_parse() {
        for (i, q) in SEEDS.iter().enumerate() {
            let r = parse(q);
            if i == 6 {
                let e = r.expect_err("metrics are unsupported");
                assert!(e.message.contains("rate()"), "{e}");
            } else {
                assert!(r.is_ok(), "{q}: {r:?}");
            }
        }
    }

    #[test]
    fn garbled_queries_never_panic() {
        const ALPHABET: &[char] = &[
            '{', '}', '(', ')', '|', '&', '!', '=', '~', '<', '>', '.', '"', '`', '\\', ',', ':',
            '-', '^', ' ', '\n', '1', 's', 'µ', 'é', 'x', '%', '*', '/', '[',
        ];
        let mut rng = Lcg(0x5eed);
        let mut parsed = 0usize;
        let mut failed = 0usize;
        for n in 0..2400 {
            let seed: Vec<char> = SEEDS[n % SEEDS.len()].chars().collect();
            let mut q = seed.clone();
            match n % 4 {
                0 => q.truncate(rng.next() % (seed.len() + 1)),
                1 => {
                    for _ in 0..1 + rng.next() % 4 {
                        let i = rng.next() % q.len().max(1);
                        if i < q.len() {
                            q[i] = ALPHABET[rng.next() % ALPHABET.len()];
                        }
                    }
                }
                2 => {
                    let i = rng.next() % (q.len() + 1);
                    q.insert(i, ALPHABET[rng.next() % ALPHABET.len()]);
                }
                _ => {
                    let len = 1 + rng.next() % 40;
                    q = (0..len)
                        .map(|_| ALPHABET[rng.next() % ALPHABET.len()])
                        .collect();
                }
            }
            let text: String = q.iter().collect();
            match parse(&text) {
                Ok(_) => parsed += 1,
                Err(e) => {
                    failed += 1;
                    let lines = text.split('\n').count();
                    assert!(e.line >= 1 && e.line <= lines, "{text:?}: {e:?}");
                    assert!(e.column >= 1, "{text:?}: {e:?}");
                    assert!(!e.message.is_empty());
                }
            }
        }
        // The loop must exercise both outcomes.
        assert!(parsed > 50, "parsed {parsed}");
        assert!(failed > 500, "failed {failed}");
    }
}
