//! LogQL golden tests: every case in `logql/golden.txt` runs on a fixed
//! corpus, once with the corpus in the head and once after it was flushed
//! to partitions; the printed result must equal the expected text.

use logs::engine::{self, QueryRange, QueryResult};
use logs::entry::{Entry, StreamEntries};
use logs::store::Direction;
use logs::{stream_labels, LogStore, StoreOptions};

const S: i64 = 1_000_000_000;

fn base() -> i64 {
    // An hour ago, on a whole minute, so the corpus is within retention.
    (logs::store::now_ns() / (60 * S) - 60) * 60 * S
}

fn corpus(base: i64) -> Vec<StreamEntries> {
    let entry = |at: i64, line: &str| Entry::new(base + at * S, line);
    let stream = |labels: &str, entries: Vec<Entry>| StreamEntries {
        labels: stream_labels::parse(labels).unwrap(),
        entries,
    };
    let mut with_trace = entry(
        2,
        r#"level=error msg="upstream timeout" status=504 duration=1.5s size=0B path=/api/orders"#,
    );
    with_trace.metadata = vec![("trace_id".into(), "abc123".into())];
    vec![
        stream(
            r#"{app="api", env="prod"}"#,
            vec![
                entry(
                    1,
                    r#"level=info msg="request served" status=200 duration=12ms size=512B path=/api/users"#,
                ),
                with_trace,
                entry(
                    3,
                    r#"level=info msg="request served" status=200 duration=250ms size=2KB path=/api/orders"#,
                ),
                entry(
                    61,
                    r#"level=warn msg="slow request" status=200 duration=900ms size=1MB path=/api/users"#,
                ),
                entry(
                    62,
                    r#"level=error msg="db down" status=500 duration=30ms size=12B path=/api/users"#,
                ),
            ],
        ),
        stream(
            r#"{app="web", env="prod"}"#,
            vec![
                entry(
                    5,
                    r#"{"level":"info","msg":"page view","user":{"id":7,"name":"ann"},"latency":0.12}"#,
                ),
                entry(
                    65,
                    r#"{"level":"error","msg":"render failed","user":{"id":9,"name":"bob"},"latency":1.5}"#,
                ),
                entry(66, "not json at all"),
            ],
        ),
        stream(
            r#"{app="db", env="dev"}"#,
            vec![
                entry(10, r#"10.0.0.1 - - "GET /index.html HTTP/1.1" 200 512"#),
                entry(
                    70,
                    "\x1b[31m10.0.0.2 - - \"POST /login HTTP/1.1\" 401 64\x1b[0m",
                ),
            ],
        ),
        stream(
            r#"{app="packed"}"#,
            vec![entry(7, r#"{"_entry":"GET /health 200","pod":"p-1"}"#)],
        ),
    ]
}

struct Case {
    title: String,
    query: String,
    range: QueryRange,
    expect: String,
}

fn parse_cases(text: &str, base: i64) -> Vec<Case> {
    let mut cases = Vec::new();
    for block in text.split("\n\n") {
        let mut title = String::new();
        let mut query = None;
        let mut range = QueryRange {
            start_ns: 0,
            end_ns: 0,
            step_ns: 60 * S,
            limit: 100,
            direction: Direction::Forward,
            instant: false,
        };
        let mut expect = None::<String>;
        for line in block.lines() {
            if let Some(expected) = expect.as_mut() {
                expected.push_str(line);
                expected.push('\n');
            } else if let Some(comment) = line.strip_prefix('#') {
                title = comment.trim().to_string();
            } else if let Some(q) = line.strip_prefix("query: ") {
                query = Some(q.to_string());
            } else if let Some(r) = line.strip_prefix("range: ") {
                let n: Vec<i64> = r.split_whitespace().map(|v| v.parse().unwrap()).collect();
                range.start_ns = base + n[0] * S;
                range.end_ns = base + n[1] * S;
                range.step_ns = n[2] * S;
            } else if let Some(t) = line.strip_prefix("at: ") {
                range.end_ns = base + t.parse::<i64>().unwrap() * S;
                range.start_ns = range.end_ns;
                range.instant = true;
            } else if let Some(d) = line.strip_prefix("direction: ") {
                range.direction = if d == "backward" {
                    Direction::Backward
                } else {
                    Direction::Forward
                };
            } else if let Some(l) = line.strip_prefix("limit: ") {
                range.limit = l.parse().unwrap();
            } else if line == "expect:" {
                expect = Some(String::new());
            }
        }
        if let (Some(query), Some(expect)) = (query, expect) {
            cases.push(Case {
                title,
                query,
                range,
                expect,
            });
        }
    }
    cases
}

fn value(v: f64) -> String {
    format!("{v}")
}

fn print(result: &QueryResult, base: i64) -> String {
    let mut out = String::new();
    let at = |ns: i64| (ns - base) / S;
    match result {
        QueryResult::Streams(streams) => {
            for stream in streams {
                out.push_str(&stream_labels_text(&stream.labels));
                out.push('\n');
                for entry in &stream.entries {
                    out.push_str(&format!("  @{} {}\n", at(entry.timestamp_ns), entry.line));
                }
            }
        }
        QueryResult::Matrix(series) => {
            for s in series {
                out.push_str(&stream_labels_text(&s.labels));
                for (t, v) in &s.points {
                    out.push_str(&format!(" {}:{}", at(*t), value(*v)));
                }
                out.push('\n');
            }
        }
        QueryResult::Vector { samples, .. } => {
            for sample in samples {
                out.push_str(&format!(
                    "{} {}\n",
                    stream_labels_text(&sample.labels),
                    value(sample.value)
                ));
            }
        }
        QueryResult::Scalar { value: v, .. } => out.push_str(&format!("scalar {}\n", value(*v))),
    }
    out
}

fn stream_labels_text(labels: &model::Labels) -> String {
    if labels.is_empty() {
        "{}".into()
    } else {
        stream_labels::to_string(labels)
    }
}

fn run_all(store: &LogStore, base: i64, path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/logql/golden.txt"
    ))
    .unwrap();
    let cases = parse_cases(&text, base);
    assert!(cases.len() >= 30, "only {} cases parsed", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let got = match engine::parse(&case.query)
            .and_then(|expr| engine::execute(store, &expr, &case.range))
        {
            Ok((result, _)) => print(&result, base),
            Err(e) => format!("error: {e}\n"),
        };
        let matches = match case.expect.strip_prefix("error starting: ") {
            Some(prefix) => got.starts_with(&format!("error: {}", prefix.trim_end())),
            None => got == case.expect,
        };
        if !matches {
            failures.push(format!(
                "[{path}] {}\n  query: {}\n--- expected\n{}--- got\n{}",
                case.title, case.query, case.expect, got
            ));
        }
    }
    failures
}

#[test]
fn logql_golden_cases() {
    let dir = tempfile::tempdir().unwrap();
    let base = base();
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    store.push(corpus(base)).unwrap();
    let mut failures = run_all(&store, base, "head");
    store.flush(true).unwrap();
    failures.extend(run_all(&store, base, "partitions"));
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
