//! A series' labels as the head keeps them: one boxed byte string
//! `name 0xff value 0xff …`, sorted by name. 0xff never occurs in UTF-8, so
//! the encoding is unambiguous; it is also what series identity is hashed
//! over. One allocation per series instead of two per label.

use std::cmp::Ordering;

use model::{Label, Labels};

pub const SEPARATOR: u8 = 0xff;

/// Writes the key of label pairs (already sorted, as in [`Labels`]) into `out`.
pub fn encode<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>, out: &mut Vec<u8>) {
    out.clear();
    for (name, value) in pairs {
        out.extend_from_slice(name);
        out.push(SEPARATOR);
        out.extend_from_slice(value);
        out.push(SEPARATOR);
    }
}

pub fn of_labels(labels: &Labels, out: &mut Vec<u8>) {
    encode(
        labels
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
        out,
    );
}

/// The `(name, value)` pairs of a key.
pub fn pairs(key: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    let mut parts = key.split(|&b| b == SEPARATOR);
    std::iter::from_fn(move || {
        let name = parts.next().filter(|n| !n.is_empty())?;
        let value = parts.next()?;
        // Keys are only built from validated UTF-8 labels.
        Some((
            std::str::from_utf8(name).ok()?,
            std::str::from_utf8(value).ok()?,
        ))
    })
}

pub fn decode(key: &[u8]) -> Labels {
    Labels::from_sorted_unchecked(pairs(key).map(|(n, v)| Label::new(n, v)).collect())
}

/// Orders keys as their [`Labels`] order (pair by pair), without decoding:
/// at the first byte where two keys differ they are inside the same name or
/// value, and the one whose field ends there (a separator) is the smaller.
pub fn cmp(a: &[u8], b: &[u8]) -> Ordering {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => match (a[i], b[i]) {
            (SEPARATOR, _) => Ordering::Less,
            (_, SEPARATOR) => Ordering::Greater,
            (x, y) => x.cmp(&y),
        },
        None => a.len().cmp(&b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders_like_labels() {
        let sets = [
            Labels::of(&[("__name__", "up"), ("job", "a")]).unwrap(),
            Labels::of(&[("__name__", "up"), ("jobs", "a")]).unwrap(),
            Labels::of(&[("__name__", "up"), ("job", "a"), ("x", "")]).unwrap(),
            Labels::of(&[("__name__", "up"), ("job", "a\u{0}b")]).unwrap(),
            Labels::of(&[("__name__", "up")]).unwrap(),
        ];
        let keys: Vec<Vec<u8>> = sets
            .iter()
            .map(|l| {
                let mut k = Vec::new();
                of_labels(l, &mut k);
                k
            })
            .collect();
        for (labels, key) in sets.iter().zip(&keys) {
            assert_eq!(&decode(key), labels);
        }
        for (i, a) in sets.iter().enumerate() {
            for (j, b) in sets.iter().enumerate() {
                assert_eq!(cmp(&keys[i], &keys[j]), a.cmp(b), "{a} vs {b}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_order_is_label_order(
            a in proptest::collection::btree_map("[a-c_]{1,3}", "[a-c\\x00é]{1,3}", 0..4),
            b in proptest::collection::btree_map("[a-c_]{1,3}", "[a-c\\x00é]{1,3}", 0..4),
        ) {
            let to_labels = |m: &std::collections::BTreeMap<String, String>| {
                Labels::from_sorted_unchecked(m.iter().map(|(n, v)| Label::new(n.as_str(), v.as_str())).collect())
            };
            let (la, lb) = (to_labels(&a), to_labels(&b));
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            of_labels(&la, &mut ka);
            of_labels(&lb, &mut kb);
            proptest::prop_assert_eq!(cmp(&ka, &kb), la.cmp(&lb));
        }
    }
}
