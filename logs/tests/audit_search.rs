//! The audit search answers the questions operators ask of Kubernetes
//! audit logs, over realistic `audit.k8s.io/v1` events, whether the events
//! are in partitions or still in the head.

use logs::entry::{Entry, StreamEntries};
use logs::store::now_ns;
use logs::{stream_labels, LogStore, StoreOptions};

const SECOND: i64 = 1_000_000_000;

struct Event<'a> {
    verb: &'a str,
    user: &'a str,
    resource: &'a str,
    namespace: &'a str,
    name: &'a str,
}

fn audit_line(i: usize, e: &Event, at: i64) -> String {
    let group = if e.resource == "deployments" {
        "apps"
    } else {
        ""
    };
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/v1")
    };
    serde_json::json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": format!("{:08x}-1f2e-4d3c-9b8a-{:012x}", i * 7919, i),
        "stage": "ResponseComplete",
        "requestURI": format!("{prefix}/namespaces/{}/{}/{}", e.namespace, e.resource, e.name),
        "verb": e.verb,
        "user": {"username": e.user, "groups": ["system:authenticated"]},
        "sourceIPs": [format!("10.0.{}.{}", i % 250, i % 200)],
        "userAgent": "kubectl/v1.29.0 (linux/amd64) kubernetes/4b8e4d1",
        "objectRef": {"resource": e.resource, "namespace": e.namespace, "name": e.name, "apiGroup": group, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": if e.verb == "create" { 201 } else { 200 }},
        "requestReceivedTimestamp": format!("{at}"),
    })
    .to_string()
}

fn corpus(base: i64) -> Vec<Entry> {
    let noise_users = [
        "system:kube-controller-manager",
        "system:serviceaccount:kube-system:coredns",
        "carol@example.com",
    ];
    let mut entries = Vec::new();
    for i in 0..3000 {
        let at = base + i as i64 * SECOND;
        let event = match i {
            1200 => Event {
                verb: "delete",
                user: "alice@example.com",
                resource: "deployments",
                namespace: "shop",
                name: "checkout",
            },
            1300 => Event {
                verb: "delete",
                user: "bob@example.com",
                resource: "deployments",
                namespace: "staging",
                name: "checkout",
            },
            500 | 1500 | 2500 => Event {
                verb: "create",
                user: "system:serviceaccount:ci:deployer",
                resource: "secrets",
                namespace: "shop",
                name: "db-password",
            },
            2600 => Event {
                verb: "create",
                user: "system:serviceaccount:cert-manager:cert-manager",
                resource: "secrets",
                namespace: "ingress",
                name: "tls-cert",
            },
            2700 => Event {
                verb: "create",
                user: "dave@example.com",
                resource: "secrets",
                namespace: "shop",
                name: "api-key",
            },
            _ => Event {
                verb: ["get", "list", "watch", "update", "patch"][i % 5],
                user: noise_users[i % 3],
                resource: ["pods", "deployments", "secrets", "configmaps"][i % 4],
                namespace: ["shop", "staging", "kube-system"][i % 3],
                name: "checkout",
            },
        };
        entries.push(Entry::new(at, audit_line(i, &event, at)));
    }
    entries
}

fn check(store: &LogStore, base: i64, path: &str) {
    let search = |q: &str| {
        store
            .search(q, base, base + 3600 * SECOND, 100)
            .unwrap()
            .hits
    };

    // Who deleted deployment checkout in namespace shop?
    let hits = search(r#"delete deployments checkout "namespaces/shop""#);
    assert_eq!(
        hits.len(),
        1,
        "{path}: {:?}",
        hits.iter().map(|h| &h.line).collect::<Vec<_>>()
    );
    let event: serde_json::Value = serde_json::from_str(&hits[0].line).unwrap();
    assert_eq!(event["user"]["username"], "alice@example.com", "{path}");
    assert_eq!(hits[0].labels.get("cluster"), Some("prod"));
    let marked: Vec<&str> = hits[0]
        .highlights
        .iter()
        .map(|&(a, b)| &hits[0].line[a..b])
        .collect();
    assert!(
        marked.contains(&"delete") && marked.contains(&"checkout"),
        "{path}: {marked:?}"
    );

    // Every create on secrets by a service account, newest first.
    let hits = search(r#"create AND secrets AND "system:serviceaccount""#);
    let users: Vec<String> = hits
        .iter()
        .map(|h| {
            serde_json::from_str::<serde_json::Value>(&h.line).unwrap()["user"]["username"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        users,
        [
            "system:serviceaccount:cert-manager:cert-manager",
            "system:serviceaccount:ci:deployer",
            "system:serviceaccount:ci:deployer",
            "system:serviceaccount:ci:deployer"
        ],
        "{path}"
    );
    assert!(hits
        .windows(2)
        .all(|w| w[0].timestamp_ns >= w[1].timestamp_ns));

    // Negation, labels, and an exact id.
    let hits = search(r#"create secrets -serviceaccount"#);
    assert_eq!(hits.len(), 1, "{path}");
    assert!(hits[0].line.contains("dave@example.com"));
    assert_eq!(
        search("labels.cluster:staging AND delete").len(),
        0,
        "{path}"
    );
    assert_eq!(
        search(&format!(
            "\"{:08x}-1f2e-4d3c-9b8a-{:012x}\"",
            1300 * 7919,
            1300
        ))
        .len(),
        1,
        "{path}"
    );
    assert_eq!(
        store
            .search("create secrets", base, base + 3600 * SECOND, 2)
            .unwrap()
            .hits
            .len(),
        2
    );
    assert!(store.search("verb:(", base, base + SECOND, 10).is_err());
}

#[test]
fn finds_who_did_what_in_audit_events() {
    let dir = tempfile::tempdir().unwrap();
    let base = (now_ns() / SECOND - 2 * 3600) * SECOND;
    let store = LogStore::open(dir.path(), StoreOptions::default()).unwrap();
    let stream = |entries| StreamEntries {
        labels: stream_labels::parse(r#"{job="kube-apiserver-audit", cluster="prod"}"#).unwrap(),
        entries,
    };
    store.push(vec![stream(corpus(base))]).unwrap();
    check(&store, base, "head");
    store.flush(true).unwrap();
    check(&store, base, "partitions");
}
