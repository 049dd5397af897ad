//! The store's own contract: what was pushed is read back exactly once,
//! from the head, from partitions, after a flush and after a reopen.

use std::time::Duration;

use logs::entry::{Entry, StreamEntries};
use logs::store::{now_ns, Direction, ReadStats};
use logs::tokens::needle_conditions;
use logs::{stream_labels, LogStore, StoreOptions};
use model::Matcher;

const SECOND: i64 = 1_000_000_000;

fn stream(labels: &str, entries: Vec<Entry>) -> StreamEntries {
    StreamEntries {
        labels: stream_labels::parse(labels).unwrap(),
        entries,
    }
}

/// Every line of streams matching `matchers` in `[start, end)` whose blocks
/// satisfy the index conditions for `needle`, sorted.
fn read(
    store: &LogStore,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    needle: &str,
) -> Vec<(String, i64, String)> {
    let streams = store.streams(matchers, start, end);
    let plan = store
        .plan(
            streams,
            start,
            end,
            &needle_conditions(needle),
            Direction::Forward,
        )
        .unwrap();
    let mut out = Vec::new();
    let mut stats = ReadStats::default();
    for i in 0..plan.slabs.len() {
        plan.read_slab(i, start, end, &mut stats, &mut |labels, ts, line, _| {
            if line.contains(needle) {
                out.push((stream_labels::to_string(labels), ts, line.to_string()));
            }
        })
        .unwrap();
    }
    out.sort();
    out
}

fn corpus(base: i64) -> Vec<StreamEntries> {
    let mut api = Vec::new();
    let mut web = Vec::new();
    for i in 0..2000 {
        // Out of order within the stream, across two hours.
        let ts = base + ((i * 7919) % 2000) * 4 * SECOND;
        api.push(Entry::new(
            ts,
            format!(
                "level=info msg=\"served request\" id={i:08x} path=/api/v{}",
                i % 3
            ),
        ));
        if i % 100 == 0 {
            web.push(Entry {
                timestamp_ns: ts,
                line: format!("GET /index.html 500 user=mallory{i}"),
                metadata: vec![("trace_id".into(), format!("{i:032x}"))],
            });
        }
    }
    vec![
        stream(r#"{app="api", env="prod"}"#, api),
        stream(r#"{app="web", env="prod"}"#, web),
    ]
}

#[test]
fn lines_read_back_from_head_partitions_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let base = (now_ns() / SECOND - 3 * 3600) * SECOND;
    let all = |store: &LogStore| read(store, &[], base - SECOND, base + 3 * 3600 * SECOND, "");
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    store.push(corpus(base)).unwrap();
    let expected = all(&store);
    assert_eq!(expected.len(), 2020);

    store.flush(true).unwrap();
    assert_eq!(all(&store), expected, "after a flush");
    let web = Matcher::new(model::MatchOp::Equal, "app", "web").unwrap();
    let hits = read(
        &store,
        std::slice::from_ref(&web),
        base - SECOND,
        base + 3 * 3600 * SECOND,
        "mallory1900",
    );
    assert_eq!(hits.len(), 1, "{hits:?}");

    // More lines after the flush stay in the head and WAL only.
    store
        .push(vec![stream(
            r#"{app="web", env="prod"}"#,
            vec![Entry::new(base + 5, "late line")],
        )])
        .unwrap();
    drop(store); // no close: as if killed
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    let mut after = all(&store);
    assert_eq!(after.len(), 2021, "flushed lines are not replayed twice");
    after.retain(|(_, _, line)| line != "late line");
    assert_eq!(after, expected);
    store.close().unwrap();
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(all(&store).len(), 2021);
}

#[test]
fn the_index_skips_blocks_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let base = (now_ns() / SECOND - 3600) * SECOND;
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    store.push(corpus(base)).unwrap();
    store.flush(true).unwrap();
    let streams = store.streams(&[], base - SECOND, base + 3 * 3600 * SECOND);
    let plan = |needle: &str| {
        let plan = store
            .plan(
                streams.clone(),
                base - SECOND,
                base + 3 * 3600 * SECOND,
                &needle_conditions(needle),
                Direction::Backward,
            )
            .unwrap();
        let mut stats = ReadStats::default();
        for i in 0..plan.slabs.len() {
            plan.read_slab(i, i64::MIN, i64::MAX, &mut stats, &mut |_, _, _, _| {})
                .unwrap();
        }
        stats.blocks
    };
    let everything = plan("");
    assert!(everything >= 3, "{everything}");
    assert!(plan("mallory") < everything);
    assert_eq!(plan("no-such-word"), 0);
    assert_eq!(plan(" nosuchword "), 0);
    // Ids are not terms: the per-block id filter prunes them, whole or bare.
    assert!(plan(" 000007c0 ") < everything, "a whole id prunes");
    assert!(
        plan("000007c0") < everything,
        "a bare id as long as the block's longest prunes"
    );
    assert_eq!(
        plan("0000000000007c0"),
        0,
        "no id in these blocks is that long"
    );
    assert_eq!(
        read(
            &store,
            &[],
            base - SECOND,
            base + 3 * 3600 * SECOND,
            "000007c0"
        )
        .len(),
        1
    );
    assert_eq!(
        read(
            &store,
            &[],
            base - SECOND,
            base + 3 * 3600 * SECOND,
            "=000007c0 "
        )
        .len(),
        1
    );
    // Substrings of a word, ids and partial tokens still find their blocks.
    assert_eq!(
        read(
            &store,
            &[],
            base - SECOND,
            base + 3 * 3600 * SECOND,
            "allor"
        )
        .len(),
        20
    );
    assert_eq!(
        read(
            &store,
            &[],
            base - SECOND,
            base + 3 * 3600 * SECOND,
            "id=000007c"
        )
        .len(),
        16
    );
    assert_eq!(
        read(&store, &[], base - SECOND, base + 3 * 3600 * SECOND, "RVED").len(),
        0
    );
    assert_eq!(
        read(
            &store,
            &[],
            base - SECOND,
            base + 3 * 3600 * SECOND,
            "erved req"
        )
        .len(),
        2000
    );
}

#[test]
fn retention_drops_whole_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        retention: Duration::from_secs(2 * 3600),
        ..StoreOptions::default()
    };
    let now = now_ns();
    let store = LogStore::open(dir.path(), options).unwrap();
    store
        .push(vec![stream(
            r#"{app="api"}"#,
            vec![
                Entry::new(now - 5 * 3600 * SECOND, "old"),
                Entry::new(now - 60 * SECOND, "new"),
            ],
        )])
        .unwrap();
    store.flush(true).unwrap();
    assert_eq!(store.apply_retention(now).unwrap(), 1);
    let lines = read(&store, &[], 0, now + SECOND, "");
    assert_eq!(
        lines.iter().map(|l| l.2.as_str()).collect::<Vec<_>>(),
        ["new"]
    );
}

#[test]
fn merges_keep_segment_counts_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let base = (now_ns() / SECOND / 3600 * 3600 - 3600) * SECOND;
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    for flush in 0..40 {
        store
            .push(vec![stream(
                r#"{app="api"}"#,
                vec![Entry::new(base + flush * SECOND, format!("flush {flush}"))],
            )])
            .unwrap();
        store.flush(true).unwrap();
    }
    let counts = store.segment_counts().unwrap();
    assert_eq!(counts.len(), 1, "one hour, one partition: {counts:?}");
    assert!(
        counts[0].1 <= 10,
        "40 flushes left {} segments",
        counts[0].1
    );
    assert_eq!(
        read(&store, &[], base, base + 3600 * SECOND, "flush").len(),
        40
    );
}
