//! Aggregation groups and their timers (`aggrGroup` in Alertmanager's
//! `dispatch/dispatch.go`), driven by an injected clock.
//!
//! A group is identified by its route (the route's depth-first index in the
//! tree, Alertmanager's `Route.Idx`, so two routes with equal keys still have
//! separate groups) and its group key. An alert entering a route creates the
//! group if missing; the first flush is `group_wait` after creation (at once
//! when the creating alert started more than `group_wait` ago), then every
//! `group_interval` after the previous flush. A flush hands out the group's
//! alerts, sorted as Alertmanager's `AlertSlice`; once the notification of a
//! flush has succeeded ([`Aggregator::settle`] / [`Aggregator::ack`]), the
//! alerts that were resolved at the flush and have not been received again
//! since are deleted, and a group left empty is deleted.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::dispatch::matcher::LabelSet;
use crate::dispatch::route::Route;
use crate::notify::alert::Alert;

/// Which group: the route's index in the tree (depth first) and the group
/// key (`{route key}:{group labels}`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId {
    pub route: usize,
    pub key: String,
}

/// A notification in flight for a group: the flush it came from, how many
/// deliveries are still unacknowledged, and the resolved alerts (with the
/// `updated_at` they had) to delete when all succeed.
#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    flushed_ms: i64,
    outstanding: usize,
    resolved: Vec<(u64, i64)>,
}

/// One aggregation group.
#[derive(Clone, Debug)]
pub struct AggrGroup {
    pub id: GroupId,
    pub labels: LabelSet,
    pub receiver: String,
    pub created_ms: i64,
    pub next_flush_ms: i64,
    pub group_interval_ms: i64,
    pub has_flushed: bool,
    alerts: BTreeMap<u64, Alert>,
    pending: Option<Pending>,
}

impl AggrGroup {
    /// The alerts of the group, by fingerprint.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// What a group hands out when its timer fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Flush {
    pub group: GroupId,
    /// Identifies this flush for [`Aggregator::settle`] / [`Aggregator::ack`].
    pub seq: u64,
    pub labels: LabelSet,
    pub receiver: String,
    /// Firing and resolved alerts, in Alertmanager's order.
    pub alerts: Vec<Alert>,
    pub at_ms: i64,
}

/// All aggregation groups.
#[derive(Clone, Debug, Default)]
pub struct Aggregator {
    groups: BTreeMap<GroupId, AggrGroup>,
    seq: u64,
}

/// How long a flush may stay undelivered before the group flushes again
/// anyway (a delivery that never reported back): twice the group interval,
/// at least a minute. Deliveries end well before: their retries stop
/// within the interval, each attempt within its timeout.
pub fn abandon_after(group_interval_ms: i64) -> i64 {
    group_interval_ms.saturating_mul(2).max(60_000)
}

fn ms(d: crate::config::Duration) -> i64 {
    i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX)
}

impl Aggregator {
    /// Puts `alert` into its group on `route` (whose index in the tree is
    /// `route_idx`), creating the group if missing. The alert replaces the
    /// group's previous copy.
    pub fn insert(&mut self, route_idx: usize, route: &Route, alert: &Alert, now_ms: i64) {
        let id = GroupId {
            route: route_idx,
            key: route.group_key(&alert.labels),
        };
        let group = self.groups.entry(id.clone()).or_insert_with(|| {
            let wait = ms(route.group_wait);
            // dispatch.go: "Alert is old enough for immediate flush".
            let next = if alert.starts_at.saturating_add(wait) < now_ms {
                now_ms
            } else {
                now_ms.saturating_add(wait)
            };
            AggrGroup {
                id,
                labels: route.group_labels(&alert.labels),
                receiver: route.receiver.clone(),
                created_ms: now_ms,
                next_flush_ms: next,
                group_interval_ms: ms(route.group_interval).max(1),
                has_flushed: false,
                alerts: BTreeMap::new(),
                pending: None,
            }
        });
        group.alerts.insert(alert.fingerprint(), alert.clone());
    }

    /// The earliest flush due.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }

    /// Fires the timers due at `now_ms`: each such group hands out its
    /// alerts and its next flush is set `group_interval` after `now_ms`
    /// (Alertmanager resets the timer when it fires). A group whose
    /// previous flush is still being delivered waits for it (see
    /// [`Aggregator::fail`]); one unacknowledged for longer than
    /// [`abandon_after`] is given up.
    pub fn flush_due(&mut self, now_ms: i64) -> Vec<Flush> {
        let mut out = Vec::new();
        for g in self.groups.values_mut() {
            if g.next_flush_ms > now_ms || g.alerts.is_empty() {
                continue;
            }
            if g.pending.as_ref().is_some_and(|p| {
                p.outstanding > 0 && now_ms - p.flushed_ms < abandon_after(g.group_interval_ms)
            }) {
                // The previous notification is still being delivered:
                // flushing now could log an older set after a newer one or
                // send the same alerts twice. Look again shortly, as
                // Alertmanager flushes a group once its previous flush ends.
                g.next_flush_ms = now_ms.saturating_add(g.group_interval_ms.min(1000));
                continue;
            }
            g.next_flush_ms = now_ms.saturating_add(g.group_interval_ms);
            g.has_flushed = true;
            self.seq += 1;
            let mut alerts: Vec<Alert> = g.alerts.values().cloned().collect();
            alerts.sort_by(alert_order);
            g.pending = Some(Pending {
                seq: self.seq,
                flushed_ms: now_ms,
                outstanding: usize::MAX,
                resolved: alerts
                    .iter()
                    .filter(|a| a.resolved_at(now_ms))
                    .map(|a| (a.fingerprint(), a.updated_at))
                    .collect(),
            });
            out.push(Flush {
                group: g.id.clone(),
                seq: self.seq,
                labels: g.labels.clone(),
                receiver: g.receiver.clone(),
                alerts,
                at_ms: now_ms,
            });
        }
        out
    }

    /// Says how many deliveries the flush `seq` of `group` produced. With
    /// none (everything muted or deduplicated), the flush has succeeded.
    pub fn settle(&mut self, group: &GroupId, seq: u64, outstanding: usize) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        match &mut g.pending {
            Some(p) if p.seq == seq => p.outstanding = outstanding,
            _ => return,
        }
        if outstanding == 0 {
            self.succeed(group);
        }
    }

    /// A delivery of the flush `seq` of `group` failed for good: the flush
    /// is over, its alerts stay for the next one.
    pub fn fail(&mut self, group: &GroupId, seq: u64) {
        if let Some(g) = self.groups.get_mut(group) {
            if g.pending.as_ref().is_some_and(|p| p.seq == seq) {
                g.pending = None;
            }
        }
    }

    /// One delivery of the flush `seq` of `group` succeeded; when all have,
    /// the flush has.
    pub fn ack(&mut self, group: &GroupId, seq: u64) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let done = match &mut g.pending {
            Some(p) if p.seq == seq && p.outstanding != usize::MAX => {
                p.outstanding = p.outstanding.saturating_sub(1);
                p.outstanding == 0
            }
            _ => false,
        };
        if done {
            self.succeed(group);
        }
    }

    /// `DeleteIfNotModified` of the flushed resolved alerts, and deletion
    /// of the group if that leaves it empty.
    fn succeed(&mut self, group: &GroupId) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if let Some(p) = g.pending.take() {
            for (fp, updated) in p.resolved {
                if g.alerts.get(&fp).is_some_and(|a| a.updated_at == updated) {
                    g.alerts.remove(&fp);
                }
            }
        }
        if g.alerts.is_empty() {
            self.groups.remove(group);
        }
    }

    pub fn get(&self, id: &GroupId) -> Option<&AggrGroup> {
        self.groups.get(id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &AggrGroup> {
        self.groups.values()
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Alertmanager's `AlertSlice.Less`: by `job`, then `instance` (an alert
/// with the label before one without), then `LabelSet.Before`.
pub fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    if label_set_before(&a.labels, &b.labels) {
        Ordering::Less
    } else if label_set_before(&b.labels, &a.labels) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// Prometheus' `LabelSet.Before`: fewer labels first, then the first
/// differing label name (a missing one first) or value.
fn label_set_before(a: &LabelSet, b: &LabelSet) -> bool {
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for n in names {
        match (a.get(n), b.get(n)) {
            (None, _) => return true,
            (_, None) => return false,
            (Some(x), Some(y)) if x != y => return x < y,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn alert(pairs: &[(&str, &str)], starts: i64, ends: i64) -> Alert {
        Alert {
            labels: ls(pairs),
            annotations: LabelSet::new(),
            starts_at: starts,
            ends_at: ends,
            generator_url: String::new(),
            updated_at: starts,
        }
    }

    #[test]
    fn alertmanager_alert_order() {
        let mut v = [
            alert(&[("alertname", "X"), ("zz", "1")], 0, 1),
            alert(&[("alertname", "X"), ("instance", "b")], 0, 1),
            alert(&[("alertname", "X"), ("instance", "a"), ("job", "n")], 0, 1),
            alert(&[("alertname", "X"), ("instance", "a")], 0, 1),
            alert(&[("alertname", "X")], 0, 1),
        ];
        v.sort_by(alert_order);
        let names: Vec<String> = v
            .iter()
            .map(|a| format!("{:?}", a.labels.keys().collect::<Vec<_>>()))
            .collect();
        // job first, then instance a < b, then without instance: fewer labels.
        assert_eq!(
            names,
            vec![
                r#"["alertname", "instance", "job"]"#,
                r#"["alertname", "instance"]"#,
                r#"["alertname", "instance"]"#,
                r#"["alertname"]"#,
                r#"["alertname", "zz"]"#,
            ]
        );
        assert_eq!(v[1].labels["instance"], "a");
    }

    #[test]
    fn timers_and_resolved_deletion() {
        let c = parse("route:\n  receiver: r\n  group_by: [g]\nreceivers:\n- name: r\n").unwrap();
        let route = Route::from_config(&c.route);
        let mut agg = Aggregator::default();
        let t0 = 1_000_000;
        agg.insert(
            0,
            &route,
            &alert(&[("g", "1"), ("i", "a")], t0, t0 + 999_999),
            t0,
        );
        assert_eq!(agg.next_deadline(), Some(t0 + 30_000));
        assert!(agg.flush_due(t0 + 29_999).is_empty());
        let f = agg.flush_due(t0 + 30_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group.key, "{}:{g=\"1\"}");
        assert_eq!(agg.next_deadline(), Some(t0 + 330_000));
        agg.settle(&f[0].group, f[0].seq, 0);
        // Resolved; the flush is acknowledged only after one delivery.
        let resolved = Alert {
            ends_at: t0 + 100_000,
            updated_at: t0 + 100_000,
            ..alert(&[("g", "1"), ("i", "a")], t0, 0)
        };
        agg.insert(0, &route, &resolved, t0 + 100_000);
        let f = agg.flush_due(t0 + 330_000);
        agg.settle(&f[0].group, f[0].seq, 1);
        assert_eq!(agg.len(), 1);
        agg.ack(&f[0].group, f[0].seq + 1); // another flush: ignored
        assert_eq!(agg.len(), 1);
        agg.ack(&f[0].group, f[0].seq);
        assert!(agg.is_empty());
        assert_eq!(agg.next_deadline(), None);

        // An alert that started long before enters a new group: flushed at once.
        agg.insert(
            0,
            &route,
            &alert(&[("g", "2")], t0, t0 + 9_999_999),
            t0 + 600_000,
        );
        assert_eq!(agg.next_deadline(), Some(t0 + 600_000));
    }
}
