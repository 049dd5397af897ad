//! Tempo's `service-graphs` processor with its defaults.
//!
//! Only spans whose resource has `service.name` take part. A CLIENT or
//! PRODUCER span is one half of the edge keyed by (trace id, its span id); a
//! SERVER or CONSUMER span is the other half of the edge keyed by (trace id,
//! its parent span id), a root one by (trace id, no parent). Halves meet in
//! a store of pending edges, in any order and across batches; an edge is
//! complete once it has both a client and a server service, and is then
//! recorded and removed. Recording an edge adds 1 to
//! `traces_service_graph_request_total{client, server, connection_type}`,
//! 1 to `..._request_failed_total` if either span has status ERROR, and
//! observes the server span's duration in `..._request_server_seconds` and
//! the client span's in `..._request_client_seconds`.
//!
//! As in Tempo's `updateClientEdge`/`updateServerEdge`, each half overwrites
//! `connection_type` (empty for CLIENT/SERVER, `messaging_system` for
//! PRODUCER/CONSUMER), so the half that arrives last decides it. A client
//! span with `db.namespace`, `db.name` or `db.system` (resource or span
//! attributes) is a database call: `connection_type="database"`, the server
//! latency is the client span's, and the server is named by the first of
//! `peer.service`, `server.address`, `network.peer.address[:network.peer.port]`,
//! then `db.namespace`/`db.name`/`db.system`, so it usually completes at once.
//!
//! Edges wait `wait` (10s) from creation. When [`ServiceGraph::expire`]
//! finds one older than that, Tempo's virtual-node rules apply, with
//! `connection_type="virtual_node"`:
//! - no client and the edge belongs to a root server span: the client is the
//!   span's first peer attribute, else `user`, and the edge is recorded;
//! - a client without server but with a peer attribute (`peer.service`,
//!   `db.name`, `db.system`, first present): the server is that value and
//!   the edge is recorded;
//! - otherwise nothing is recorded and the edge counts as expired.
//!
//! Tempo emits no `traces_service_graph_unpaired_spans_total` (its docs list
//! it, but that series comes from the Agent/Collector connector); unpaired
//! edges only count in its own `tempo_metrics_generator_processor_service_graphs_expired_edges`,
//! here [`super::GeneratorStats`]. When `max_items` edges are pending, a span
//! that would start a new pending edge is dropped (also counted there).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    duration_seconds, find_attribute, le_labels, normalize_buckets, sample, GeneratorConfig,
    GeneratorStats, Histogram, Sample,
};
use crate::span::{Attributes, Span, SpanKind, Status};

/// Interned names kept at most; later new names are allocated per use.
const INTERN_LIMIT: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ConnectionType {
    Unknown,
    MessagingSystem,
    Database,
    VirtualNode,
}

impl ConnectionType {
    fn label(self) -> &'static str {
        match self {
            ConnectionType::Unknown => "",
            ConnectionType::MessagingSystem => "messaging_system",
            ConnectionType::Database => "database",
            ConnectionType::VirtualNode => "virtual_node",
        }
    }
}

/// (trace id, client span id); `span_id` is `None` for a root server span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct EdgeKey {
    trace_id: [u8; 16],
    span_id: Option<[u8; 8]>,
}

/// A pending edge (Tempo's `store.Edge`).
struct Edge {
    seq: u64,
    expires_at: Instant,
    connection_type: ConnectionType,
    client: Option<Arc<str>>,
    server: Option<Arc<str>>,
    client_latency: f64,
    server_latency: f64,
    failed: bool,
    peer_node: Option<Arc<str>>,
}

impl Edge {
    fn is_complete(&self) -> bool {
        is_set(&self.client) && is_set(&self.server)
    }
}

fn is_set(name: &Option<Arc<str>>) -> bool {
    name.as_deref().is_some_and(|s| !s.is_empty())
}

/// What one span contributes to its edge, computed before touching the store.
enum Half {
    Client {
        connection_type: ConnectionType,
        service: Arc<str>,
        latency: f64,
        failed: bool,
        peer_node: Option<Arc<str>>,
        /// `Some` for a database call: the server name, if one was found.
        database: Option<Option<Arc<str>>>,
    },
    Server {
        connection_type: ConnectionType,
        service: Arc<str>,
        latency: f64,
        failed: bool,
        /// Peer node, only looked up for root spans.
        peer_node: Option<Arc<str>>,
    },
}

impl Half {
    /// Tempo's `updateClientEdge` / `updateServerEdge`.
    fn apply(&self, e: &mut Edge) {
        match self {
            Half::Client {
                connection_type,
                service,
                latency,
                failed,
                peer_node,
                database,
            } => {
                e.connection_type = *connection_type;
                e.client = Some(service.clone());
                e.client_latency = *latency;
                e.failed |= *failed;
                if peer_node.is_some() {
                    e.peer_node.clone_from(peer_node);
                }
                if let Some(server) = database {
                    e.connection_type = ConnectionType::Database;
                    e.server_latency = *latency;
                    if server.is_some() {
                        e.server.clone_from(server);
                    }
                }
            }
            Half::Server {
                connection_type,
                service,
                latency,
                failed,
                peer_node,
            } => {
                e.connection_type = *connection_type;
                e.server = Some(service.clone());
                e.server_latency = *latency;
                e.failed |= *failed;
                if peer_node.is_some() {
                    e.peer_node.clone_from(peer_node);
                }
            }
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    client: Arc<str>,
    server: Arc<str>,
    connection_type: ConnectionType,
}

struct Series {
    key: SeriesKey,
    total: u64,
    failed: u64,
    server_seconds: Histogram,
    client_seconds: Histogram,
}

pub(super) struct ServiceGraph {
    bounds: Box<[f64]>,
    le: Box<[String]>,
    wait: Duration,
    max_items: usize,
    peer_attributes: Box<[String]>,
    pending: HashMap<EdgeKey, Edge>,
    /// Pending edges by creation order, for expiry from the oldest.
    order: BTreeMap<u64, EdgeKey>,
    next_seq: u64,
    index: HashMap<SeriesKey, usize>,
    series: Vec<Series>,
    names: HashSet<Arc<str>>,
    stats: GeneratorStats,
}

impl ServiceGraph {
    pub(super) fn new(config: &GeneratorConfig) -> Self {
        let bounds = normalize_buckets(&config.service_graph_histogram_buckets);
        ServiceGraph {
            le: le_labels(&bounds),
            bounds,
            wait: config.service_graph_wait,
            max_items: config.max_items,
            peer_attributes: config.peer_attributes.clone().into_boxed_slice(),
            pending: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            index: HashMap::new(),
            series: Vec::new(),
            names: HashSet::new(),
            stats: GeneratorStats::default(),
        }
    }

    pub(super) fn observe(&mut self, spans: &[Span], now: Instant) {
        // Spans of one OTLP resource share its `Arc`: look the service up
        // once per run of spans with the same resource.
        let mut current: Option<(*const Attributes, Option<Arc<str>>)> = None;
        for span in spans {
            let is_client = matches!(span.kind, SpanKind::Client | SpanKind::Producer);
            let is_server = matches!(span.kind, SpanKind::Server | SpanKind::Consumer);
            if !is_client && !is_server {
                continue;
            }
            let resource = Arc::as_ptr(&span.resource);
            let service = match &current {
                Some((ptr, service)) if *ptr == resource => service.clone(),
                _ => {
                    let service = find_attribute("service.name", &[&span.resource[..]])
                        .map(|name| self.intern(&name));
                    current = Some((resource, service.clone()));
                    service
                }
            };
            let Some(service) = service else {
                continue;
            };
            let messaging = matches!(span.kind, SpanKind::Producer | SpanKind::Consumer);
            let connection_type = if messaging {
                ConnectionType::MessagingSystem
            } else {
                ConnectionType::Unknown
            };
            let latency = duration_seconds(span);
            let failed = span.status == Status::Error;
            let (key, half) = if is_client {
                let key = EdgeKey {
                    trace_id: span.trace_id,
                    span_id: Some(span.span_id),
                };
                let half = Half::Client {
                    connection_type,
                    service,
                    latency,
                    failed,
                    peer_node: self.peer_node(span),
                    database: self.database_server(span),
                };
                (key, half)
            } else {
                let key = EdgeKey {
                    trace_id: span.trace_id,
                    span_id: span.parent_span_id,
                };
                let root = span.parent_span_id.is_none();
                let half = Half::Server {
                    connection_type,
                    service,
                    latency,
                    failed,
                    peer_node: if root { self.peer_node(span) } else { None },
                };
                (key, half)
            };
            self.upsert(key, &half, now);
        }
    }

    /// Tempo's `store.UpsertEdge`.
    fn upsert(&mut self, key: EdgeKey, half: &Half, now: Instant) {
        if let Some(edge) = self.pending.get_mut(&key) {
            half.apply(edge);
            if edge.is_complete() {
                if let Some(edge) = self.pending.remove(&key) {
                    self.order.remove(&edge.seq);
                    self.record(&edge);
                }
            }
            return;
        }
        let mut edge = Edge {
            seq: self.next_seq,
            expires_at: now + self.wait,
            connection_type: ConnectionType::Unknown,
            client: None,
            server: None,
            client_latency: 0.0,
            server_latency: 0.0,
            failed: false,
            peer_node: None,
        };
        half.apply(&mut edge);
        if edge.is_complete() {
            self.stats.service_graph_edges += 1;
            self.record(&edge);
            return;
        }
        if self.pending.len() >= self.max_items {
            self.stats.service_graph_dropped_spans += 1;
            return;
        }
        self.stats.service_graph_edges += 1;
        self.next_seq += 1;
        self.order.insert(edge.seq, key);
        self.pending.insert(key, edge);
    }

    /// Removes edges that waited `wait`, recording virtual-node edges as
    /// Tempo's `onExpire` does.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some((_, &key)) = self.order.first_key_value() {
            match self.pending.get(&key) {
                Some(edge) if edge.expires_at > now => break,
                _ => {}
            }
            self.order.pop_first();
            let Some(mut edge) = self.pending.remove(&key) else {
                continue;
            };
            edge.connection_type = ConnectionType::VirtualNode;
            if !is_set(&edge.client) {
                if key.span_id.is_none() {
                    let client = match &edge.peer_node {
                        Some(peer) if !peer.is_empty() => peer.clone(),
                        _ => self.intern("user"),
                    };
                    edge.client = Some(client);
                    self.record(&edge);
                    continue;
                }
            } else if !is_set(&edge.server) && is_set(&edge.peer_node) {
                edge.server = edge.peer_node.clone();
                self.record(&edge);
                continue;
            }
            self.stats.service_graph_expired_edges += 1;
        }
    }

    /// Tempo's `onComplete`: adds a completed edge to its series.
    fn record(&mut self, edge: &Edge) {
        let (Some(client), Some(server)) = (&edge.client, &edge.server) else {
            return;
        };
        let key = SeriesKey {
            client: client.clone(),
            server: server.clone(),
            connection_type: edge.connection_type,
        };
        let index = match self.index.get(&key) {
            Some(&index) => index,
            None => {
                let index = self.series.len();
                self.series.push(Series {
                    key: key.clone(),
                    total: 0,
                    failed: 0,
                    server_seconds: Histogram::new(&self.bounds),
                    client_seconds: Histogram::new(&self.bounds),
                });
                self.index.insert(key, index);
                index
            }
        };
        if let Some(s) = self.series.get_mut(index) {
            s.total += 1;
            if edge.failed {
                s.failed += 1;
            }
            s.server_seconds.observe(&self.bounds, edge.server_latency);
            s.client_seconds.observe(&self.bounds, edge.client_latency);
        }
    }

    pub(super) fn collect(&self, out: &mut Vec<Sample>) {
        for s in &self.series {
            let labels = [
                ("client", &*s.key.client),
                ("server", &*s.key.server),
                ("connection_type", s.key.connection_type.label()),
            ];
            out.push(sample(
                "traces_service_graph_request_total",
                &labels,
                s.total as f64,
            ));
            // Tempo creates the failed counter's series on the first failure.
            if s.failed > 0 {
                out.push(sample(
                    "traces_service_graph_request_failed_total",
                    &labels,
                    s.failed as f64,
                ));
            }
            s.server_seconds.samples(
                out,
                "traces_service_graph_request_server_seconds",
                &labels,
                &self.le,
            );
            s.client_seconds.samples(
                out,
                "traces_service_graph_request_client_seconds",
                &labels,
                &self.le,
            );
        }
    }

    pub(super) fn stats(&self) -> GeneratorStats {
        GeneratorStats {
            service_graph_pending_edges: self.pending.len(),
            ..self.stats
        }
    }

    /// The first of `peer_attributes` among the span's own attributes
    /// (Tempo's `upsertPeerNode`).
    fn peer_node(&mut self, span: &Span) -> Option<Arc<str>> {
        let value = self
            .peer_attributes
            .iter()
            .find_map(|key| find_attribute(key, &[&span.attributes[..]]))?;
        Some(self.intern(&value))
    }

    /// Tempo's `upsertDatabaseRequest` with the default
    /// `database_name_attributes`: `None` if the span is no database call,
    /// else the server name if one is found.
    fn database_server(&mut self, span: &Span) -> Option<Option<Arc<str>>> {
        let lists = [&span.resource[..], &span.attributes[..]];
        // Default name attributes in precedence order; for each, resource
        // attributes are searched before span attributes.
        let db_name = ["db.namespace", "db.name", "db.system"]
            .iter()
            .find_map(|key| find_attribute(key, &lists))?;
        let server = if let Some(name) = find_attribute("peer.service", &lists) {
            Some(name)
        } else if let Some(name) = find_attribute("server.address", &lists) {
            Some(name)
        } else if let Some(host) = find_attribute("network.peer.address", &lists) {
            match find_attribute("network.peer.port", &lists) {
                Some(port) => Some(format!("{host}:{port}").into()),
                None => Some(host),
            }
        } else if !db_name.is_empty() {
            Some(db_name)
        } else {
            None
        };
        Some(server.map(|name| self.intern(&name)))
    }

    /// A shared copy of `name`, allocated on first sight only.
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(existing) = self.names.get(name) {
            return existing.clone();
        }
        let name: Arc<str> = Arc::from(name);
        if self.names.len() < INTERN_LIMIT {
            self.names.insert(name.clone());
        }
        name
    }
}
