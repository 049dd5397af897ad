//! `GET /loki/api/v1/tail` over WebSocket: the lines of a log query as they
//! arrive. The history since `start` (up to `limit` lines) comes first; then
//! every accepted push is matched against the selector and run through the
//! pipeline. Messages have Loki's shape:
//! `{"streams": [{"stream": {...}, "values": [["<ns>", "line"]]}], "dropped_entries": null}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use model::Labels;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tracing::warn;

use super::params::Params;
use super::query::bad_request;
use super::LogsApi;
use crate::engine::{self, QueryStats, ResultStream};
use crate::logql::ast::{Expr, LogExpr};
use crate::logql::Pipeline;
use crate::store::{now_ns, Direction};

/// Loki's `max_entries_limit_per_query` applies to the history too.
const MAX_HISTORY: usize = 5000;

pub async fn tail(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let params = Params::parse(query.as_deref(), None);
    let prepared = (|| -> Result<_, String> {
        let text = params.query()?;
        let log = match engine::parse(&text).map_err(|e| e.to_string())? {
            Expr::Log(log) => log,
            Expr::Metric(_) => return Err("tailing is only for log queries".into()),
        };
        let start = params.time("start", now_ns() - 3_600_000_000_000)?;
        let limit = params.limit(100)?.min(MAX_HISTORY);
        Ok((log, start, limit))
    })();
    let (log, start, limit) = match prepared {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    upgrade
        .on_upgrade(move |socket| follow(api, socket, log, start, limit))
        .into_response()
}

fn message(streams: &[ResultStream]) -> Message {
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            let labels: serde_json::Map<String, Value> =
                s.labels.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect();
            json!({
                "stream": labels,
                "values": s.entries.iter().map(|e| json!([e.timestamp_ns.to_string(), e.line])).collect::<Vec<_>>(),
            })
        })
        .collect();
    Message::Text(
        json!({"streams": streams, "dropped_entries": null})
            .to_string()
            .into(),
    )
}

async fn follow(api: Arc<LogsApi>, mut socket: WebSocket, log: LogExpr, start: i64, limit: usize) {
    // Subscribe before reading the history so nothing falls between the two.
    let mut live = api.tail.subscribe();
    let store = api.store.clone();
    let history_log = log.clone();
    let history = tokio::task::spawn_blocking(move || {
        let mut stats = QueryStats::default();
        engine::select_logs(
            &store,
            &history_log,
            start,
            now_ns() + 1,
            limit,
            Direction::Forward,
            &mut stats,
        )
    })
    .await;
    match history {
        Ok(Ok(streams)) => {
            if !streams.is_empty() && socket.send(message(&streams)).await.is_err() {
                return;
            }
        }
        Ok(Err(e)) => warn!(error = %e, "tail: cannot read the history; following live lines only"),
        Err(e) => warn!(error = %e, "tail: the history reader failed; following live lines only"),
    }
    let pipeline = Pipeline::new(&log.stages);
    loop {
        tokio::select! {
            received = live.recv() => {
                let pushed = match received {
                    Ok(pushed) => pushed,
                    Err(RecvError::Lagged(pushes)) => {
                        warn!(pushes, "tail: a slow client missed pushes");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let mut by_labels: HashMap<Labels, Vec<engine::ResultEntry>> = HashMap::new();
                for stream in pushed.iter() {
                    if !log.matchers.iter().all(|m| m.matches(stream.labels.get(&m.name).unwrap_or(""))) {
                        continue;
                    }
                    for entry in &stream.entries {
                        if let Some(processed) = pipeline.process(entry.timestamp_ns, &entry.line, &stream.labels, &entry.metadata) {
                            by_labels.entry(processed.labels).or_default().push(engine::ResultEntry {
                                timestamp_ns: entry.timestamp_ns,
                                line: processed.line.to_string(),
                            });
                        }
                    }
                }
                if by_labels.is_empty() {
                    continue;
                }
                let streams: Vec<ResultStream> = by_labels.into_iter().map(|(labels, entries)| ResultStream { labels, entries }).collect();
                if socket.send(message(&streams)).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    _ => {}
                }
            }
        }
    }
}
