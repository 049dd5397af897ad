//! The log query hot paths: line filters and parsers run over every line a
//! query reads, and block decompression feeds them.
//!
//! ```sh
//! cargo bench -p vigil-benches --bench logql
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logs::block::{self, Block};
use logs::entry::Entry;
use logs::logql::ast::Expr;
use logs::logql::Pipeline;
use logs::stream_labels;
use vigil_benches::log_corpus::{self, Kind, Rng};

fn lines(kind: Kind, n: usize) -> Vec<String> {
    let mut rng = Rng::new(7);
    (0..n)
        .map(|i| log_corpus::line(&mut rng, kind, 1_700_000_000_000_000_000 + i as i64, false))
        .collect()
}

fn pipelines(c: &mut Criterion) {
    let labels = stream_labels::parse(r#"{app="api", namespace="shop"}"#).unwrap();
    let cases: &[(&str, Kind, &str)] = &[
        (
            "contains",
            Kind::Json,
            r#"{app="api"} |= "payment authorized""#,
        ),
        (
            "contains_or",
            Kind::Json,
            r#"{app="api"} |= "timeout" or "exhausted""#,
        ),
        ("not_contains", Kind::Json, r#"{app="api"} != "healthz""#),
        (
            "regex",
            Kind::Json,
            r#"{app="api"} |~ "status\":5[0-9]{2}""#,
        ),
        ("json", Kind::Json, r#"{app="api"} | json"#),
        ("json_one_field", Kind::Json, r#"{app="api"} | json level"#),
        (
            "json_filter",
            Kind::Json,
            r#"{app="api"} | json | level="error""#,
        ),
        ("logfmt", Kind::Logfmt, r#"{app="api"} | logfmt"#),
        (
            "logfmt_duration_filter",
            Kind::Logfmt,
            r#"{app="api"} | logfmt | duration > 100ms"#,
        ),
        (
            "pattern",
            Kind::Nginx,
            r#"{app="api"} | pattern "<ip> - - [<_>] \"<method> <path> <_>\" <status> <size> <_>""#,
        ),
        (
            "regexp",
            Kind::Nginx,
            r#"{app="api"} | regexp "\" (?P<status>\\d{3}) (?P<size>\\d+)""#,
        ),
        (
            "line_format",
            Kind::Logfmt,
            r#"{app="api"} | logfmt | line_format "{{.level}} {{.msg}}""#,
        ),
    ];
    let mut group = c.benchmark_group("pipeline");
    for (name, kind, query) in cases {
        let corpus = lines(*kind, 5000);
        let bytes: usize = corpus.iter().map(String::len).sum();
        let Ok(Expr::Log(log)) = logs::logql::parse(query) else {
            panic!("{query} parses")
        };
        let pipeline = Pipeline::new(&log.stages);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut kept = 0usize;
                for (i, line) in corpus.iter().enumerate() {
                    if pipeline.process(i as i64, line, &labels, &[]).is_some() {
                        kept += 1;
                    }
                }
                kept
            })
        });
    }
    group.finish();
}

fn blocks(c: &mut Criterion) {
    let entries: Vec<Entry> = lines(Kind::Json, 1000)
        .into_iter()
        .enumerate()
        .map(|(i, line)| Entry::new(1_700_000_000_000_000_000 + i as i64 * 1_000_000, line))
        .collect();
    let refs: Vec<&Entry> = entries.iter().collect();
    let raw: usize = entries.iter().map(|e| e.line.len()).sum();
    let encoded = block::encode(&refs);
    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Bytes(raw as u64));
    group.bench_function("encode", |b| b.iter(|| block::encode(&refs)));
    group.bench_function("decode", |b| {
        b.iter(|| Block::decode(&encoded.compressed, encoded.raw_len).unwrap())
    });
    group.finish();
}

criterion_group!(benches, pipelines, blocks);
criterion_main!(benches);
