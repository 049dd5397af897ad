//! Label sets: the identity of a series.
//!
//! Invariants of a [`Labels`] value: sorted by name, names unique, no empty
//! values (an empty value means "label absent", as in Prometheus), every name
//! valid by Prometheus' rules, and a non-empty `__name__`.

use std::fmt;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Why a label set was refused. The message names the offending series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("series {series}: missing or empty metric name (__name__)")]
    EmptyMetricName { series: String },
    #[error("series {series}: invalid metric name {name:?}")]
    InvalidMetricName { series: String, name: String },
    #[error("series {series}: invalid label name {name:?}")]
    InvalidLabelName { series: String, name: String },
    #[error("series {series}: duplicate label name {name:?}")]
    DuplicateLabelName { series: String, name: String },
    #[error("series {series}: label {name:?} is not valid UTF-8")]
    InvalidUtf8 { series: String, name: String },
}

/// A validated, sorted label set.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from name/value pairs given as raw bytes (as they
    /// arrive on the wire), validating every rule in the module docs.
    pub fn from_raw_pairs<'a, I>(pairs: I) -> Result<Labels, LabelError>
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let describe = || describe_raw(pairs.clone());
        let mut labels = Vec::new();
        for (name, value) in pairs.clone() {
            let name_str = std::str::from_utf8(name).map_err(|_| LabelError::InvalidUtf8 {
                series: describe(),
                name: String::from_utf8_lossy(name).into_owned(),
            })?;
            let value_str = std::str::from_utf8(value).map_err(|_| LabelError::InvalidUtf8 {
                series: describe(),
                name: name_str.to_owned(),
            })?;
            labels.push(Label::new(name_str, value_str));
        }
        Labels::new(labels)
    }

    /// Builds a label set from labels in any order, validating every rule in
    /// the module docs. Labels with empty values are dropped.
    pub fn new(mut labels: Vec<Label>) -> Result<Labels, LabelError> {
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let series = || describe_labels(&labels);
        for pair in labels.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(LabelError::DuplicateLabelName {
                    series: series(),
                    name: pair[0].name.clone(),
                });
            }
        }
        for label in &labels {
            if label.name == METRIC_NAME {
                if label.value.is_empty() {
                    return Err(LabelError::EmptyMetricName { series: series() });
                }
                if !is_valid_metric_name(&label.value) {
                    return Err(LabelError::InvalidMetricName {
                        series: series(),
                        name: label.value.clone(),
                    });
                }
            } else if !is_valid_label_name(&label.name) {
                return Err(LabelError::InvalidLabelName {
                    series: series(),
                    name: label.name.clone(),
                });
            }
        }
        if !labels.iter().any(|l| l.name == METRIC_NAME) {
            return Err(LabelError::EmptyMetricName { series: series() });
        }
        labels.retain(|l| !l.value.is_empty());
        Ok(Labels(labels))
    }

    /// Builds a label set without validation. For data read back from our own
    /// storage, which only ever holds validated sets; pairs must be sorted.
    pub fn from_sorted_unchecked(labels: Vec<Label>) -> Labels {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    /// Convenience for tests and literals: `Labels::of(&[("__name__", "up")])`.
    pub fn of(pairs: &[(&str, &str)]) -> Result<Labels, LabelError> {
        Labels::new(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME).unwrap_or("")
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Approximate heap bytes held by this set, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Label>()
            + self
                .0
                .iter()
                .map(|l| l.name.capacity() + l.value.capacity())
                .sum::<usize>()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// `{__name__="up", job="x"}` rendering, as Prometheus prints series.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_labels(&self.0))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn describe_labels(labels: &[Label]) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        out.push_str(&format!("{:?}", l.value));
    }
    out.push('}');
    out
}

fn describe_raw<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> String {
    let labels: Vec<Label> = pairs
        .into_iter()
        .map(|(n, v)| {
            Label::new(
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    describe_labels(&labels)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_drops_empty_values() {
        let l = Labels::of(&[("job", "a"), ("__name__", "up"), ("empty", "")]).unwrap();
        assert_eq!(l.to_string(), r#"{__name__="up", job="a"}"#);
        assert_eq!(l.get("job"), Some("a"));
        assert_eq!(l.get("empty"), None);
    }

    #[test]
    fn rejects_with_a_reason_naming_the_series() {
        let err = Labels::of(&[("__name__", "up"), ("job", "a"), ("job", "b")]).unwrap_err();
        assert!(err.to_string().contains(r#"job="a""#), "{err}");
        assert!(matches!(err, LabelError::DuplicateLabelName { .. }));
        assert!(matches!(
            Labels::of(&[("__name__", ""), ("job", "a")]).unwrap_err(),
            LabelError::EmptyMetricName { .. }
        ));
        assert!(matches!(
            Labels::of(&[("job", "a")]).unwrap_err(),
            LabelError::EmptyMetricName { .. }
        ));
        assert!(matches!(
            Labels::of(&[("__name__", "up"), ("1job", "a")]).unwrap_err(),
            LabelError::InvalidLabelName { .. }
        ));
        assert!(matches!(
            Labels::of(&[("__name__", "up-time")]).unwrap_err(),
            LabelError::InvalidMetricName { .. }
        ));
        let bad: [(&[u8], &[u8]); 2] = [(b"__name__", b"up"), (b"job", b"\xff")];
        assert!(matches!(
            Labels::from_raw_pairs(bad.iter().copied()).unwrap_err(),
            LabelError::InvalidUtf8 { .. }
        ));
    }

    #[test]
    fn name_rules() {
        assert!(is_valid_metric_name("node_cpu_seconds_total"));
        assert!(is_valid_metric_name("job:up:sum"));
        assert!(!is_valid_metric_name("0abc"));
        assert!(is_valid_label_name("_x9"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
    }
}
