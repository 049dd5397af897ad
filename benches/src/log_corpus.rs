//! A deterministic corpus of container logs for the log store's benchmarks:
//! JSON and logfmt application logs, nginx access logs and Kubernetes audit
//! events, spread over streams the way a cluster's collector labels them,
//! with high-cardinality ids, counters and timestamps where real logs have
//! them. A rare token is planted in a few lines for the search benchmark.

/// The planted word: in exactly [`RARE_LINES`] lines of the corpus.
pub const RARE_TOKEN: &str = "quokkafrobnicator";
/// A trace id planted in the same lines (ids are not index terms: the
/// per-block id filter finds them).
pub const RARE_ID: &str = "5f3a9c2e7b1d4086a2c4e6f8091b3d5e";
pub const RARE_LINES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Json,
    Logfmt,
    Nginx,
    Audit,
}

/// One stream: its labels and the kind of lines it holds.
#[derive(Clone, Debug)]
pub struct CorpusStream {
    pub labels: Vec<(String, String)>,
    pub kind: Kind,
}

/// A small, fast, deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

pub fn streams() -> Vec<CorpusStream> {
    let mut out = Vec::new();
    let namespaces = ["shop", "payments", "search", "identity"];
    let apps = [
        ("api", Kind::Json),
        ("worker", Kind::Logfmt),
        ("frontend", Kind::Nginx),
    ];
    for namespace in namespaces {
        for (app, kind) in apps {
            for pod in 0..6 {
                let format = match kind {
                    Kind::Json => "json",
                    Kind::Logfmt => "logfmt",
                    _ => "nginx",
                };
                out.push(CorpusStream {
                    labels: vec![
                        ("namespace".into(), namespace.into()),
                        ("app".into(), app.into()),
                        ("pod".into(), format!("{app}-7d9f8b{pod:x}c5-x{pod}q2z")),
                        ("container".into(), app.into()),
                        ("format".into(), format.into()),
                        ("cluster".into(), "prod-eu-1".into()),
                    ],
                    kind,
                });
            }
        }
    }
    for server in 0..3 {
        out.push(CorpusStream {
            labels: vec![
                ("job".into(), "kube-apiserver-audit".into()),
                ("instance".into(), format!("master-{server}")),
                ("format".into(), "json".into()),
                ("cluster".into(), "prod-eu-1".into()),
            ],
            kind: Kind::Audit,
        });
    }
    out
}

const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/products",
    "/api/v1/cart",
    "/api/v1/users",
    "/healthz",
    "/api/v2/search",
    "/static/app.js",
    "/api/v1/payments",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const LEVELS: &[&str] = &["info", "info", "info", "info", "debug", "warn", "error"];
const MESSAGES: &[&str] = &[
    "request completed",
    "cache miss, loading from database",
    "retrying upstream call",
    "order submitted",
    "payment authorized",
    "connection pool exhausted, waiting",
    "slow query detected",
    "user session refreshed",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "curl/8.5.0",
    "kube-probe/1.29",
    "Go-http-client/1.1",
];
const VERBS: &[&str] = &[
    "get", "list", "watch", "update", "patch", "create", "delete",
];
const RESOURCES: &[&str] = &[
    "pods",
    "deployments",
    "secrets",
    "configmaps",
    "services",
    "leases",
];
const USERS: &[&str] = &[
    "system:serviceaccount:kube-system:deployment-controller",
    "system:kube-scheduler",
    "alice@example.com",
    "system:serviceaccount:ci:deployer",
    "system:node:worker-3",
];

fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let millis = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One line of `kind` at `ns`; `rare` plants [`RARE_TOKEN`] and [`RARE_ID`].
pub fn line(rng: &mut Rng, kind: Kind, ns: i64, rare: bool) -> String {
    let trace = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    let path = format!("{}/{}", rng.pick(PATHS), rng.below(100_000));
    let status = [200, 200, 200, 200, 201, 204, 304, 400, 404, 500][rng.below(10) as usize];
    let millis = rng.below(2_000) as f64 / 10.0;
    let mut message = rng.pick(MESSAGES).to_string();
    if rare {
        message = format!("{message} {RARE_TOKEN} {RARE_ID}");
    }
    match kind {
        Kind::Json => format!(
            r#"{{"ts":"{}","level":"{}","msg":"{}","method":"{}","path":"{}","status":{},"duration_ms":{},"trace_id":"{}","user_id":"u-{}","bytes":{}}}"#,
            rfc3339(ns),
            rng.pick(LEVELS),
            message,
            rng.pick(METHODS),
            path,
            status,
            millis,
            trace,
            rng.below(50_000),
            rng.below(200_000)
        ),
        Kind::Logfmt => format!(
            r#"ts={} level={} caller=worker/{}.go:{} msg="{}" queue=orders-{} job_id={} attempt={} duration={}ms request_id={}"#,
            rfc3339(ns),
            rng.pick(LEVELS),
            ["consumer", "scheduler", "retry"][rng.below(3) as usize],
            rng.below(400),
            message,
            rng.below(8),
            trace,
            rng.below(5),
            millis,
            &trace[..16]
        ),
        Kind::Nginx => {
            let secs = ns / 1_000_000_000;
            format!(
                r#"10.{}.{}.{} - - [{}] "{} {}?page={} HTTP/1.1" {} {} "-" "{}" {:.3} req={}{}"#,
                rng.below(256),
                rng.below(256),
                rng.below(256),
                secs,
                rng.pick(METHODS),
                path,
                rng.below(20),
                status,
                rng.below(60_000),
                rng.pick(AGENTS),
                millis / 1000.0,
                &trace[..12],
                if rare {
                    format!(" {RARE_TOKEN} {RARE_ID}")
                } else {
                    String::new()
                }
            )
        }
        Kind::Audit => format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{}-{}-{}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{}/{}/{}","verb":"{}","user":{{"username":"{}","groups":["system:authenticated"]}},"sourceIPs":["10.0.{}.{}"],"userAgent":"kube-controller-manager/v1.29.0","objectRef":{{"resource":"{}","namespace":"{}","name":"{}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":{}}},"requestReceivedTimestamp":"{}","annotations":{{"authorization.k8s.io/decision":"allow","note":"{}"}}}}"#,
            &trace[..8],
            &trace[8..12],
            &trace[12..24],
            ["shop", "payments", "kube-system"][rng.below(3) as usize],
            rng.pick(RESOURCES),
            format_args!("obj-{}", rng.below(5000)),
            rng.pick(VERBS),
            rng.pick(USERS),
            rng.below(256),
            rng.below(256),
            rng.pick(RESOURCES),
            ["shop", "payments", "kube-system"][rng.below(3) as usize],
            format_args!("obj-{}", rng.below(5000)),
            status,
            rfc3339(ns),
            if rare {
                format!("{RARE_TOKEN} {RARE_ID}")
            } else {
                String::new()
            }
        ),
    }
}

/// Calls `emit(stream index, timestamp, line)` for about `target_bytes` of
/// lines spread evenly over `[start_ns, start_ns + span_ns)`, in time order.
pub fn generate(
    seed: u64,
    start_ns: i64,
    span_ns: i64,
    target_bytes: usize,
    mut emit: impl FnMut(usize, i64, String),
) {
    let streams = streams();
    let mut rng = Rng::new(seed);
    // About 270 bytes per line on average across kinds.
    let lines = target_bytes / 270;
    let rare_at: Vec<usize> = (1..=RARE_LINES)
        .map(|i| i * lines / (RARE_LINES + 1))
        .collect();
    let mut produced = 0usize;
    let mut i = 0usize;
    while produced < target_bytes {
        let stream = rng.below(streams.len() as u64) as usize;
        // Time advances with the bytes produced, so the corpus fills the span exactly.
        let ns = start_ns + (span_ns as i128 * produced as i128 / target_bytes as i128) as i64;
        let text = line(&mut rng, streams[stream].kind, ns, rare_at.contains(&i));
        produced += text.len() + 1;
        emit(stream, ns, text);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(
            rfc3339(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_rare_token_is_planted_exactly() {
        let mut rare = 0;
        let mut bytes = 0;
        generate(7, 0, 3_600_000_000_000, 2 << 20, |_, _, line| {
            rare += line.matches(RARE_TOKEN).count();
            assert_eq!(line.contains(RARE_TOKEN), line.contains(RARE_ID));
            bytes += line.len() + 1;
        });
        assert_eq!(rare, RARE_LINES);
        assert!(bytes >= 2 << 20);
    }
}
