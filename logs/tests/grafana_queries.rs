//! Queries exactly as Grafana's Loki data source and Logs Drilldown write
//! them (logs volume, level detection, label filters from the UI, `$__auto`
//! intervals rendered as Go durations) parse and run.

use logs::engine::{self, QueryRange, QueryResult};
use logs::entry::{Entry, StreamEntries};
use logs::store::{now_ns, Direction};
use logs::{stream_labels, LogStore, StoreOptions};

const S: i64 = 1_000_000_000;

#[test]
fn grafana_generated_queries_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    let base = (now_ns() / S - 600) * S;
    store
        .push(vec![StreamEntries {
            labels: stream_labels::parse(r#"{app="api", namespace="shop"}"#).unwrap(),
            entries: vec![
                Entry::new(base + S, r#"level=error msg="timeout" duration=1.5s"#),
                Entry::new(base + 2 * S, r#"level=info msg="ok" duration=12ms"#),
                Entry::new(base + 3 * S, r#"{"level":"warn","msg":"slow"}"#),
            ],
        }])
        .unwrap();
    let range = QueryRange {
        start_ns: base,
        end_ns: base + 300 * S,
        step_ns: 60 * S,
        limit: 1000,
        direction: Direction::Backward,
        instant: false,
    };
    let queries = [
        // Explore's logs volume histogram (Grafana 10 and 11).
        r#"sum by (level) (count_over_time({app="api"}[1m]))"#,
        r#"sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m]))"#,
        // $__auto rendered by Grafana as a Go duration.
        r#"sum by (level) (count_over_time({app="api"} | logfmt [1m0s]))"#,
        r#"sum(count_over_time({app="api", namespace=~"shop|pay"} |= `timeout` [2m30s]))"#,
        // Filters added from the log details and the query builder.
        r#"{app="api"} | logfmt | level=`error` | line_format `{{.msg}}`"#,
        r#"{app="api", namespace="shop"} |= `` | logfmt | __error__=`` | duration > 1s"#,
        r#"{app="api"} | json | logfmt | drop __error__, __error_details__"#,
        r#"{app="api"} !~ `(?i)healthz` |~ `(?i)error|warn`"#,
        // Logs Drilldown.
        r#"topk(10, sum by (app) (rate({namespace="shop"}[5m])))"#,
        r#"{app="api"} | logfmt | keep level, msg"#,
    ];
    for query in queries {
        let expr = engine::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let (result, _) =
            engine::execute(&store, &expr, &range).unwrap_or_else(|e| panic!("{query}: {e}"));
        let empty = match &result {
            QueryResult::Streams(s) => s.is_empty(),
            QueryResult::Matrix(m) => m.is_empty(),
            _ => false,
        };
        assert!(!empty, "{query} returned nothing");
    }
}
