//! Inhibition (`inhibit/inhibit.go`): a firing source alert mutes target
//! alerts that agree with it on the `equal` labels.

use crate::config::InhibitRuleConfig;
use crate::dispatch::matcher::{matches_all, LabelSet, Matcher};

/// One rule, matchers resolved (legacy `*_match`, `*_match_re` and
/// `*_matchers` combined).
#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub name: Option<String>,
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
}

impl InhibitRule {
    pub fn from_config(c: &InhibitRuleConfig) -> InhibitRule {
        let mut equal = c.equal.clone();
        equal.sort();
        equal.dedup();
        InhibitRule {
            name: c.name.clone(),
            source_matchers: c.all_source_matchers(),
            target_matchers: c.all_target_matchers(),
            equal,
        }
    }

    /// Indices into `firing` of the alerts that inhibit `target` under this
    /// rule. As Alertmanager: the target must match the target side; a
    /// source is a firing alert matching the source side whose `equal`
    /// labels have the same values as the target's (absent = `""`, so two
    /// alerts both lacking the label are equal). When the target also
    /// matches the source side, sources that also match the target side are
    /// disregarded, so an alert cannot inhibit itself, nor can alerts of
    /// the same "both sides" class inhibit each other.
    pub fn inhibiting(&self, target: &LabelSet, firing: &[LabelSet]) -> Vec<usize> {
        if !matches_all(&self.target_matchers, target) {
            return Vec::new();
        }
        let exclude_two_sided = matches_all(&self.source_matchers, target);
        firing
            .iter()
            .enumerate()
            .filter(|(_, src)| matches_all(&self.source_matchers, src))
            .filter(|(_, src)| {
                self.equal.iter().all(|n| {
                    src.get(n).map_or("", String::as_str)
                        == target.get(n).map_or("", String::as_str)
                })
            })
            .filter(|(_, src)| !(exclude_two_sided && matches_all(&self.target_matchers, src)))
            .map(|(i, _)| i)
            .collect()
    }
}

/// All inhibition rules of a config, evaluated against the set of firing
/// alerts the caller passes in (Alertmanager keeps that set in a per-rule
/// cache of non-resolved alerts matching the source side).
#[derive(Clone, Debug, Default)]
pub struct Inhibitor {
    pub rules: Vec<InhibitRule>,
}

impl Inhibitor {
    pub fn new(rules: &[InhibitRuleConfig]) -> Inhibitor {
        Inhibitor {
            rules: rules.iter().map(InhibitRule::from_config).collect(),
        }
    }

    /// Whether `target` is inhibited by any rule given the firing alerts.
    pub fn mutes(&self, target: &LabelSet, firing: &[LabelSet]) -> bool {
        self.rules
            .iter()
            .any(|r| !r.inhibiting(target, firing).is_empty())
    }

    /// The indices into `firing` of every alert inhibiting `target`, over
    /// all rules, sorted and deduplicated (what Alertmanager records as
    /// `inhibitedBy`).
    pub fn inhibited_by(&self, target: &LabelSet, firing: &[LabelSet]) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .rules
            .iter()
            .flat_map(|r| r.inhibiting(target, firing))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
