//! The dispatcher and the notification pipeline (Alertmanager's
//! `dispatch/dispatch.go` and the stages of `notify/notify.go`), driven by
//! an injected clock: the caller inserts alerts, calls [`Pipeline::tick`] at
//! (or after) [`Pipeline::next_deadline`], delivers the [`Outbound`]
//! notifications it returns, and calls [`Pipeline::mark_sent`] for each one
//! that was delivered.
//!
//! At a group's flush, as Alertmanager's per-receiver stage list
//! (`MultiStage{inhibit, time-active, time-mute, silence, fanout}`; a stage
//! left with no alerts ends the pipeline, successfully):
//! 1. alerts inhibited by the alerts firing at that instant are dropped;
//! 2. if the route is muted by its `mute_time_intervals` /
//!    `active_time_intervals`, nothing is sent;
//! 3. silenced alerts are dropped;
//! 4. per integration of the route's receiver (each `webhook_configs[i]`,
//!    `email_configs[i]`), the dedup stage decides against the notification
//!    log; integrations without `send_resolved` get the firing alerts only,
//!    and an all-resolved group is logged for them without a delivery.
//!
//! A delivery that is never marked sent leaves the notification log as it
//! was, so the next flush (one `group_interval` later) sends again; the
//! resolved alerts of a flush leave their group only when all its
//! deliveries succeeded (Alertmanager's `notify` returning true).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::config::{Config, TimeInterval};
use crate::dispatch::aggregation::{Aggregator, GroupId};
use crate::dispatch::inhibit::Inhibitor;
use crate::dispatch::matcher::LabelSet;
use crate::dispatch::route::Route;
use crate::dispatch::silence::Silence;
use crate::notify::alert::Alert;
use crate::notify::nflog::{needs_update, Entry, NotificationLog, ReceiverKey};
use crate::notify::store::{AlertStore, Stored};
use crate::notify::webhook::Notification;

/// The integration kinds Vigil delivers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntegrationKind {
    Webhook,
    Email,
}

impl IntegrationKind {
    /// Alertmanager's integration name (as in the notification log).
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Email => "email",
        }
    }
}

/// One integration of a receiver: `{kind}_configs[index]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub kind: IntegrationKind,
    pub index: usize,
    pub send_resolved: bool,
}

/// A notification to deliver to one integration of a receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbound {
    pub receiver: String,
    pub integration: IntegrationKind,
    /// Index into the receiver's `webhook_configs` / `email_configs`.
    pub index: usize,
    pub group_key: String,
    pub group_labels: LabelSet,
    /// In Alertmanager's order; without the resolved ones when the
    /// integration has `send_resolved: false`.
    pub alerts: Vec<Alert>,
    /// The flush instant. Alerts' firing/resolved status is as of this
    /// instant: render the payload with it (see [`Outbound::notification`]),
    /// not with the delivery time.
    pub at_ms: i64,
    /// The route's `group_interval`: failed attempts are retried within
    /// part of it, before the group's next flush.
    pub group_interval_ms: i64,
    group: GroupId,
    seq: u64,
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    repeat_ms: i64,
}

impl Outbound {
    /// The webhook payload's input for this notification.
    pub fn notification<'a>(
        &'a self,
        external_url: &'a str,
        max_alerts: usize,
    ) -> Notification<'a> {
        Notification {
            receiver: &self.receiver,
            group_key: &self.group_key,
            group_labels: &self.group_labels,
            external_url,
            alerts: &self.alerts,
            max_alerts,
            now_ms: self.at_ms,
        }
    }
}

/// The dispatcher, the notification log and everything the stages need.
pub struct Pipeline {
    root: Route,
    receivers: BTreeMap<String, Vec<Integration>>,
    intervals: BTreeMap<String, Vec<TimeInterval>>,
    inhibitor: Inhibitor,
    silences: Vec<Silence>,
    store: AlertStore,
    groups: Aggregator,
    nflog: NotificationLog,
    started_ms: i64,
}

fn ms(d: crate::config::Duration) -> i64 {
    i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX)
}

/// The routes in depth-first order (index = [`GroupId::route`], as
/// Alertmanager's `Route.Idx`).
fn flat(root: &Route) -> Vec<&Route> {
    let mut v = Vec::new();
    root.walk(&mut |r| v.push(r));
    v
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Pipeline {
    pub fn new(config: &Config, now_ms: i64) -> Pipeline {
        let receivers = config
            .receivers
            .iter()
            .map(|r| {
                let hooks = r
                    .webhook_configs
                    .iter()
                    .enumerate()
                    .map(|(i, w)| Integration {
                        kind: IntegrationKind::Webhook,
                        index: i,
                        send_resolved: w.send_resolved,
                    });
                let mails = r
                    .email_configs
                    .iter()
                    .enumerate()
                    .map(|(i, e)| Integration {
                        kind: IntegrationKind::Email,
                        index: i,
                        send_resolved: e.send_resolved,
                    });
                (r.name.clone(), hooks.chain(mails).collect())
            })
            .collect();
        Pipeline {
            root: Route::from_config(&config.route),
            receivers,
            intervals: config.named_time_intervals(),
            inhibitor: Inhibitor::new(&config.inhibit_rules),
            silences: Vec::new(),
            store: AlertStore::default(),
            groups: Aggregator::default(),
            nflog: NotificationLog::default(),
            started_ms: now_ms,
        }
    }

    /// Replaces the notification log (e.g. with one loaded from disk).
    pub fn with_nflog(mut self, nflog: NotificationLog) -> Pipeline {
        self.nflog = nflog;
        self
    }

    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }

    pub fn nflog(&self) -> &NotificationLog {
        &self.nflog
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    pub fn groups(&self) -> &Aggregator {
        &self.groups
    }

    pub fn route(&self) -> &Route {
        &self.root
    }

    /// Merges `alerts` into the store and puts each merged alert into its
    /// group on every route it matches (as the dispatcher does with each
    /// alert the provider hands it, resolved ones included).
    ///
    /// As Alertmanager's `mem.Alerts.Put`, a known alert is merged with the
    /// new one only when their activity ranges overlap; otherwise the new
    /// one replaces it (a new occurrence keeps its own `startsAt`); see
    /// [`crate::notify::store::overlaps`].
    pub fn insert(&mut self, alerts: Vec<Stored>, now_ms: i64) {
        let flat = flat(&self.root);
        for new in alerts {
            let fp = new.alert.fingerprint();
            self.store.put(vec![new]);
            let Some(alert) = self.store.get(fp).map(|s| s.alert.clone()) else {
                continue;
            };
            for r in self.root.matching(&alert.labels) {
                if let Some(idx) = flat.iter().position(|f| std::ptr::eq(*f, r)) {
                    self.groups.insert(idx, r, &alert, now_ms);
                }
            }
        }
    }

    /// Replaces the silences (their state is evaluated at each flush).
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    /// When [`Pipeline::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.next_deadline()
    }

    /// Flushes the groups due at `now_ms` and returns the notifications to
    /// deliver.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Outbound> {
        let flushes = self.groups.flush_due(now_ms);
        if flushes.is_empty() {
            return Vec::new();
        }
        let at = instant(now_ms);
        let firing_now: Vec<LabelSet> = self
            .store
            .all()
            .filter(|s| !s.alert.resolved_at(now_ms))
            .map(|s| s.alert.labels.clone())
            .collect();
        let flat = flat(&self.root);
        let mut out = Vec::new();
        let mut settle = Vec::new();
        for flush in flushes {
            let route = flat[flush.group.route];
            let mut alerts = flush.alerts;
            alerts.retain(|a| !self.inhibitor.mutes(&a.labels, &firing_now));
            if alerts.is_empty() || route.muted_at(&self.intervals, at) {
                settle.push((flush.group, flush.seq, 0));
                continue;
            }
            alerts.retain(|a| !self.silences.iter().any(|s| s.mutes(&a.labels, at)));
            if alerts.is_empty() {
                settle.push((flush.group, flush.seq, 0));
                continue;
            }
            let resolved: BTreeSet<u64> = alerts
                .iter()
                .filter(|a| a.resolved_at(now_ms))
                .map(|a| a.fingerprint())
                .collect();
            let firing: BTreeSet<u64> = alerts
                .iter()
                .filter(|a| !a.resolved_at(now_ms))
                .map(|a| a.fingerprint())
                .collect();
            let repeat_ms = ms(route.repeat_interval);
            let integrations = self
                .receivers
                .get(&route.receiver)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut outstanding = 0;
            for integ in integrations {
                let rk = ReceiverKey {
                    receiver: route.receiver.clone(),
                    integration: integ.kind.as_str().to_string(),
                    index: integ.index,
                };
                let entry = self.nflog.query(&rk, &flush.group.key, now_ms);
                if !needs_update(
                    entry,
                    &firing,
                    &resolved,
                    integ.send_resolved,
                    repeat_ms,
                    now_ms,
                ) {
                    continue;
                }
                let sent: Vec<Alert> = if integ.send_resolved {
                    alerts.clone()
                } else if firing.is_empty() {
                    // RetryStage: nothing to send, but logged as notified.
                    self.nflog.log(
                        &rk,
                        &flush.group.key,
                        firing.clone(),
                        resolved.clone(),
                        repeat_ms.saturating_mul(2),
                        now_ms,
                    );
                    continue;
                } else {
                    alerts
                        .iter()
                        .filter(|a| !a.resolved_at(now_ms))
                        .cloned()
                        .collect()
                };
                outstanding += 1;
                out.push(Outbound {
                    receiver: route.receiver.clone(),
                    integration: integ.kind,
                    index: integ.index,
                    group_key: flush.group.key.clone(),
                    group_labels: flush.labels.clone(),
                    alerts: sent,
                    at_ms: now_ms,
                    group_interval_ms: ms(route.group_interval),
                    group: flush.group.clone(),
                    seq: flush.seq,
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                    repeat_ms,
                });
            }
            settle.push((flush.group, flush.seq, outstanding));
        }
        for (group, seq, n) in settle {
            self.groups.settle(&group, seq, n);
        }
        out
    }

    /// Records a successful delivery (`SetNotifiesStage`): the notification
    /// log gets the firing and resolved sets of the notification; when every
    /// delivery of the flush has succeeded, its resolved alerts leave the
    /// group. Returns the new log entry (to be persisted), if one was
    /// written.
    ///
    /// The entry is stamped with the flush instant, not the delivery's
    /// end: a group flushes again only once its previous notification is
    /// over, except after [`crate::dispatch::aggregation::abandon_after`];
    /// a delivery of the abandoned flush that ends after the newer one must
    /// not replace the newer entry (the log keeps the newest stamp), or the
    /// group would be notified again.
    pub fn mark_sent(&mut self, sent: &Outbound) -> Option<Entry> {
        let rk = ReceiverKey {
            receiver: sent.receiver.clone(),
            integration: sent.integration.as_str().to_string(),
            index: sent.index,
        };
        let entry = self
            .nflog
            .log(
                &rk,
                &sent.group_key,
                sent.firing.clone(),
                sent.resolved.clone(),
                sent.repeat_ms.saturating_mul(2),
                sent.at_ms,
            )
            .cloned();
        self.groups.ack(&sent.group, sent.seq);
        entry
    }

    /// Records a delivery that failed after its retries: the group may
    /// flush again (its alerts are sent at its next flush).
    pub fn mark_failed(&mut self, failed: &Outbound) {
        self.groups.fail(&failed.group, failed.seq);
    }

    /// Alertmanager's periodic GC: drops alerts resolved before `now_ms`
    /// from the store (groups keep their own copies until flushed) and
    /// expired notification log entries. Returns (alerts, entries) dropped.
    pub fn gc(&mut self, now_ms: i64) -> (usize, usize) {
        (self.store.gc(now_ms), self.nflog.gc(now_ms))
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
