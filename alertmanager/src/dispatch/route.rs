//! The routing tree with inherited options (`dispatch/route.go`), and the
//! group labels / group key an alert gets on a route (`dispatch.go`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::config::{
    Duration, RouteConfig, TimeInterval, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
};
use crate::dispatch::matcher::{matchers_to_string, matches_all, LabelSet, Matcher};
use crate::dispatch::timeinterval::contains_any;

/// A node of the routing tree, options resolved (inherited from the parent
/// where not set on the node).
#[derive(Clone, Debug)]
pub struct Route {
    pub receiver: String,
    /// Labels to group by (ignored when `group_by_all`).
    pub group_by: BTreeSet<String>,
    /// `group_by: ['...']`: group by every label of the alert.
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// Sorted in Alertmanager's canonical order.
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    /// Not inherited (as in Alertmanager).
    pub mute_time_intervals: Vec<String>,
    /// Not inherited (as in Alertmanager).
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    key: String,
    id: String,
}

impl Route {
    /// Builds the tree from the root route of a parsed config.
    pub fn from_config(root: &RouteConfig) -> Route {
        Route::build(root, None, None)
    }

    fn build(cr: &RouteConfig, parent: Option<&Route>, position: Option<usize>) -> Route {
        let mut r = match parent {
            Some(p) => Route {
                routes: Vec::new(),
                ..p.clone()
            },
            None => Route {
                receiver: String::new(),
                group_by: BTreeSet::new(),
                group_by_all: false,
                group_wait: DEFAULT_GROUP_WAIT,
                group_interval: DEFAULT_GROUP_INTERVAL,
                repeat_interval: DEFAULT_REPEAT_INTERVAL,
                matchers: Vec::new(),
                continue_matching: false,
                mute_time_intervals: Vec::new(),
                active_time_intervals: Vec::new(),
                routes: Vec::new(),
                key: String::new(),
                id: String::new(),
            },
        };
        if let Some(rcv) = cr.receiver.as_deref().filter(|s| !s.is_empty()) {
            r.receiver = rcv.to_string();
        }
        // Alertmanager: an explicit label list replaces the parent's (and
        // clears group-by-all); `...` sets group-by-all; an empty list
        // inherits.
        let labels: BTreeSet<String> = cr
            .group_by
            .iter()
            .filter(|l| *l != "...")
            .cloned()
            .collect();
        if !labels.is_empty() {
            r.group_by = labels;
            r.group_by_all = false;
        } else if cr.group_by.iter().any(|l| l == "...") {
            r.group_by_all = true;
        }
        if let Some(d) = cr.group_wait {
            r.group_wait = d;
        }
        if let Some(d) = cr.group_interval {
            r.group_interval = d;
        }
        if let Some(d) = cr.repeat_interval {
            r.repeat_interval = d;
        }
        r.matchers = cr.all_matchers();
        r.continue_matching = cr.continue_matching;
        r.mute_time_intervals = cr.mute_time_intervals.clone();
        r.active_time_intervals = cr.active_time_intervals.clone();
        r.key = match parent {
            Some(p) => format!("{}/{}", p.key, matchers_to_string(&r.matchers)),
            None => matchers_to_string(&r.matchers),
        };
        r.id = match position {
            Some(i) => format!("{}/{i}", r.key),
            None => r.key.clone(),
        };
        let children: Vec<Route> = cr
            .routes
            .iter()
            .enumerate()
            .map(|(i, c)| Route::build(c, Some(&r), Some(i)))
            .collect();
        r.routes = children;
        r
    }

    /// Alertmanager's `Route.Match`: depth-first, left to right. A node that
    /// matches returns the matches of its children; a child that matched
    /// stops the search among its siblings unless it has `continue: true`;
    /// when no child matched, the node itself is the match.
    pub fn matching(&self, labels: &LabelSet) -> Vec<&Route> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let m = child.matching(labels);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// The route's key: the parent's key, `/`, and this node's matchers as
    /// `{a="b",…}`. Not unique in general (see [`Route::id`]).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key plus the node's position among its siblings.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The labels of `labels` that the route groups by (all of them with
    /// `...`). Labels named in `group_by` but absent from the alert are
    /// left out.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        labels
            .iter()
            .filter(|(k, _)| self.group_by_all || self.group_by.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The aggregation group key: `{route key}:{group labels}`, with the
    /// labels printed as Prometheus' `LabelSet.String()`
    /// (`{a="1", b="2"}`).
    pub fn group_key(&self, labels: &LabelSet) -> String {
        format!(
            "{}:{}",
            self.key,
            label_set_string(&self.group_labels(labels))
        )
    }

    /// Every node, depth first (the node itself first).
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Route)) {
        visit(self);
        for c in &self.routes {
            c.walk(visit);
        }
    }

    /// Whether notifications from this route are suppressed at `now` by its
    /// time intervals: muted when any `mute_time_intervals` entry contains
    /// `now`, or when `active_time_intervals` is set and none contains it.
    /// Unknown names are ignored (config validation rejects them).
    pub fn muted_at(
        &self,
        intervals: &BTreeMap<String, Vec<TimeInterval>>,
        now: DateTime<Utc>,
    ) -> bool {
        let hit = |name: &String| intervals.get(name).is_some_and(|t| contains_any(t, now));
        if self.mute_time_intervals.iter().any(hit) {
            return true;
        }
        !self.active_time_intervals.is_empty() && !self.active_time_intervals.iter().any(hit)
    }
}

/// Prometheus' `LabelSet.String()`: `{a="1", b="2"}`, sorted, Go-quoted.
pub fn label_set_string(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `%q` for a string (`strconv.Quote`), for printable text.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
