//! An alert as Alertmanager holds it: label and annotation maps, start and
//! end, the URL of the rule that produced it, and its fingerprint
//! (Prometheus' `model.LabelSet.Fingerprint`, FNV-1a over the sorted label
//! pairs, which Alertmanager prints as 16 hex digits).

pub use crate::dispatch::LabelSet;

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    /// Unix milliseconds.
    pub starts_at: i64,
    /// Unix milliseconds; an alert whose end has passed is resolved.
    pub ends_at: i64,
    pub generator_url: String,
    /// When Alertmanager last received it.
    pub updated_at: i64,
}

impl Alert {
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    pub fn resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at <= now_ms
    }
}

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

fn fnv_add(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Prometheus' label-set fingerprint.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    labels.iter().fold(FNV_OFFSET, |hash, (name, value)| {
        let hash = fnv_add(hash, name.as_bytes());
        let hash = fnv_add(hash, &[SEPARATOR]);
        let hash = fnv_add(hash, value.as_bytes());
        fnv_add(hash, &[SEPARATOR])
    })
}

/// As Alertmanager prints a fingerprint.
pub fn fingerprint_hex(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_are_prometheus_fnv1a() {
        // The empty set is FNV-1a's offset basis.
        assert_eq!(fingerprint(&LabelSet::new()), 14_695_981_039_346_656_037);
        // FNV-1a of "a" 0xff "b" 0xff, computed by hand from the algorithm.
        let mut h = FNV_OFFSET;
        for b in [b'a', 0xff, b'b', 0xff] {
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
        assert_eq!(fingerprint(&set(&[("a", "b")])), h);
        // Order-independent (the map is sorted), value-sensitive.
        assert_eq!(
            fingerprint(&set(&[("x", "1"), ("a", "2")])),
            fingerprint(&set(&[("a", "2"), ("x", "1")]))
        );
        assert_ne!(
            fingerprint(&set(&[("a", "b")])),
            fingerprint(&set(&[("a", "c")]))
        );
        assert_eq!(fingerprint_hex(0xab), "00000000000000ab");
    }
}
