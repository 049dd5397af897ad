//! Matcher → postings resolution, with Prometheus' semantics for matchers
//! that also match an absent label (`foo=""`, `foo!~".+"`, `foo=~".*"`).

use model::Matcher;

/// A series' id within one index (a head series ref, or a block-local ordinal).
pub type SeriesId = u64;

/// What an index must offer for matchers to be resolved against it.
pub trait PostingsSource {
    /// Every series id, sorted.
    fn all_postings(&self) -> Vec<SeriesId>;
    /// Calls `f` with every value of label `name` and whether `keep(value)`;
    /// returns the union of the postings of the kept values, sorted.
    fn postings_where(&self, name: &str, keep: &dyn Fn(&str) -> bool) -> Vec<SeriesId>;
    /// The postings of exactly `name="value"`, sorted (empty if absent).
    fn postings(&self, name: &str, value: &str) -> Vec<SeriesId>;
}

/// The sorted ids of the series selected by all `matchers`.
pub fn postings_for_matchers(source: &impl PostingsSource, matchers: &[&Matcher]) -> Vec<SeriesId> {
    // Matchers that must see the label present narrow the most: do them first,
    // exact ones before regexes. Matchers that also match an absent label can
    // only subtract.
    let mut selecting: Vec<&Matcher> = matchers
        .iter()
        .copied()
        .filter(|m| !m.matches_empty())
        .collect();
    let subtracting: Vec<&Matcher> = matchers
        .iter()
        .copied()
        .filter(|m| m.matches_empty())
        .collect();
    selecting.sort_by_key(|m| m.set_values().map_or(usize::MAX, |s| s.len()));

    let mut result: Option<Vec<SeriesId>> = None;
    for m in selecting {
        let narrowed = match (m.set_values(), result.as_deref()) {
            // Each value's list is cut down to the candidates before the union.
            (Some(values), Some(candidates)) => union(
                values
                    .iter()
                    .map(|v| intersect(candidates, &source.postings(&m.name, v)))
                    .collect(),
            ),
            (Some(values), None) => {
                union(values.iter().map(|v| source.postings(&m.name, v)).collect())
            }
            (None, candidates) => {
                let ids = source.postings_where(&m.name, &|v| m.matches(v));
                match candidates {
                    Some(candidates) => intersect(candidates, &ids),
                    None => ids,
                }
            }
        };
        if narrowed.is_empty() {
            return Vec::new();
        }
        result = Some(narrowed);
    }
    let mut result = result.unwrap_or_else(|| source.all_postings());
    for m in subtracting {
        // Series whose value for the label does not match; absent values match.
        let excluded = source.postings_where(&m.name, &|v| !m.matches(v));
        result = subtract(&result, &excluded);
    }
    result
}

/// Sorted intersection of two sorted lists; gallops through the longer one.
pub fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 16 < large.len() {
        let mut rest = large;
        for &id in small {
            match rest.binary_search(&id) {
                Ok(i) => {
                    out.push(id);
                    rest = &rest[i + 1..];
                }
                Err(i) => rest = &rest[i..],
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(small[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Sorted, de-duplicated union of sorted lists. Two lists are merged in one
/// pass; many lists go through a bitmap over the id range when that is
/// smaller than sorting them (ids are dense: head refs, block ordinals).
pub fn union(mut lists: Vec<Vec<SeriesId>>) -> Vec<SeriesId> {
    lists.retain(|l| !l.is_empty());
    match lists.len() {
        0 => Vec::new(),
        1 => lists.pop().expect("one list"),
        2 => merge_two(&lists[0], &lists[1]),
        _ => {
            let total: usize = lists.iter().map(Vec::len).sum();
            let max_id = lists
                .iter()
                .filter_map(|l| l.last())
                .copied()
                .max()
                .unwrap_or(0);
            let words = usize::try_from(max_id / 64 + 1).unwrap_or(usize::MAX);
            if words <= total.saturating_mul(4) {
                let mut bits = vec![0u64; words];
                for id in lists.iter().flatten() {
                    bits[(id / 64) as usize] |= 1 << (id % 64);
                }
                let mut out = Vec::with_capacity(total);
                for (w, &word) in bits.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        out.push(w as u64 * 64 + u64::from(word.trailing_zeros()));
                        word &= word - 1;
                    }
                }
                out
            } else {
                let mut all: Vec<SeriesId> = lists.concat();
                all.sort_unstable();
                all.dedup();
                all
            }
        }
    }
}

fn merge_two(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

fn subtract(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j >= b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::MatchOp;
    use std::collections::BTreeMap;

    /// A reference index: a list of label maps, scanned naively.
    struct Naive(Vec<BTreeMap<&'static str, &'static str>>);

    impl PostingsSource for Naive {
        fn all_postings(&self) -> Vec<SeriesId> {
            (0..self.0.len() as u64).collect()
        }
        fn postings_where(&self, name: &str, keep: &dyn Fn(&str) -> bool) -> Vec<SeriesId> {
            (0..self.0.len())
                .filter(|&i| self.0[i].get(name).is_some_and(|v| keep(v)))
                .map(|i| i as u64)
                .collect()
        }
        fn postings(&self, name: &str, value: &str) -> Vec<SeriesId> {
            self.postings_where(name, &|v| v == value)
        }
    }

    #[test]
    fn matches_prometheus_semantics_for_absent_labels() {
        let index = Naive(vec![
            BTreeMap::from([("__name__", "up"), ("job", "api")]),
            BTreeMap::from([("__name__", "up"), ("job", "web"), ("env", "prod")]),
            BTreeMap::from([("__name__", "up")]),
            BTreeMap::from([("__name__", "down"), ("job", "api")]),
        ]);
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        let cases: Vec<(Vec<Matcher>, Vec<u64>)> = vec![
            (vec![m(MatchOp::Equal, "__name__", "up")], vec![0, 1, 2]),
            (
                vec![
                    m(MatchOp::Equal, "__name__", "up"),
                    m(MatchOp::Equal, "job", ""),
                ],
                vec![2],
            ),
            (
                vec![
                    m(MatchOp::Equal, "__name__", "up"),
                    m(MatchOp::NotEqual, "job", ""),
                ],
                vec![0, 1],
            ),
            (
                vec![
                    m(MatchOp::Equal, "__name__", "up"),
                    m(MatchOp::NotEqual, "job", "api"),
                ],
                vec![1, 2],
            ),
            (
                vec![m(MatchOp::RegexMatch, "job", "api|web")],
                vec![0, 1, 3],
            ),
            (vec![m(MatchOp::RegexMatch, "job", "a.*")], vec![0, 3]),
            (
                vec![
                    m(MatchOp::Equal, "__name__", "up"),
                    m(MatchOp::RegexNoMatch, "env", ".+"),
                ],
                vec![0, 2],
            ),
            (vec![m(MatchOp::RegexMatch, "env", ".*")], vec![0, 1, 2, 3]),
            (vec![m(MatchOp::RegexNoMatch, "job", "api")], vec![1, 2]),
            (vec![m(MatchOp::Equal, "__name__", "nope")], vec![]),
        ];
        for (matchers, want) in cases {
            let refs: Vec<&Matcher> = matchers.iter().collect();
            assert_eq!(postings_for_matchers(&index, &refs), want, "{matchers:?}");
        }
    }

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        let large: Vec<u64> = (0..10_000).collect();
        assert_eq!(intersect(&[5, 9_999, 20_000], &large), vec![5, 9_999]);
        assert_eq!(union(vec![vec![1, 4], vec![2, 4, 9]]), vec![1, 2, 4, 9]);
        assert_eq!(
            union(vec![vec![1, 4], vec![], vec![2, 4, 9], vec![0, 200]]),
            vec![0, 1, 2, 4, 9, 200]
        );
        // Sparse ids take the sorting path.
        assert_eq!(
            union(vec![vec![1], vec![1 << 40], vec![5]]),
            vec![1, 5, 1 << 40]
        );
        assert_eq!(subtract(&[1, 2, 3, 4], &[2, 4, 5]), vec![1, 3]);
    }
}
