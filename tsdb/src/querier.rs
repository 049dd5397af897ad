//! Reading across the head and blocks: the [`Querier`] trait the query
//! engine depends on, and the merge of overlapping sources.

use std::collections::BTreeMap;

use model::{Labels, Matcher, Sample};

/// One selected series and its samples, sorted by time, unique timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Block(#[from] crate::block::BlockError),
    #[error("query needs at least one matcher that does not match the empty string")]
    NoSelectiveMatcher,
}

/// Part `index` of `count` of a selection: a contiguous run of its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub count: usize,
}

impl Part {
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// The positions of this part among `len` items.
    pub fn range(&self, len: usize) -> std::ops::Range<usize> {
        let count = self.count.max(1);
        len * self.index / count..len * (self.index + 1) / count
    }
}

/// What a query engine needs from storage. Implemented by [`crate::Db`].
pub trait Querier: Send + Sync {
    /// Series matching every matcher, with their samples in `[mint, maxt]`,
    /// sorted by labels.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64)
        -> Result<Vec<Series>, QueryError>;
    /// Part `part` of the series `select` returns, in the same order, handed
    /// to `visit` one at a time so that their samples need not all be held
    /// at once. The parts of a selection, concatenated in order, are the
    /// selection; threads can read them at the same time. `samples` is only
    /// valid during the call; `visit` returns `false` to stop early.
    ///
    /// This default reads the whole selection as part 0 (the other parts
    /// are empty).
    fn select_each(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        part: Part,
        visit: &mut dyn FnMut(Labels, &[Sample]) -> bool,
    ) -> Result<(), QueryError> {
        if part.index == 0 {
            for series in self.select(matchers, mint, maxt)? {
                if !visit(series.labels, &series.samples) {
                    break;
                }
            }
        }
        Ok(())
    }
    /// Label names of series matching `matchers` (all series when empty).
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError>;
    /// Values of label `name` among series matching `matchers`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError>;
}

/// The label names of `series`, sorted and unique: `label_names` with
/// matchers, for any source.
pub fn label_names_of(series: &[Series]) -> Vec<String> {
    sorted_unique(
        series
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect(),
    )
}

/// The values of label `name` among `series`, sorted and unique.
pub fn label_values_of(series: &[Series], name: &str) -> Vec<String> {
    sorted_unique(
        series
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_owned))
            .collect(),
    )
}

pub fn sorted_unique(mut strings: Vec<String>) -> Vec<String> {
    strings.sort_unstable();
    strings.dedup();
    strings
}

/// Merges series from several sources (blocks oldest first, then the head).
/// Where two sources hold a sample at the same timestamp, the later source wins.
pub fn merge_sources(sources: Vec<Vec<(Labels, Vec<Sample>)>>) -> Vec<Series> {
    let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for source in sources {
        for (labels, samples) in source {
            match merged.get_mut(&labels) {
                None => {
                    merged.insert(labels, samples);
                }
                Some(existing) => *existing = merge_samples(existing, &samples),
            }
        }
    }
    merged
        .into_iter()
        .map(|(labels, samples)| Series { labels, samples })
        .collect()
}

/// Merges two sorted sample lists; on equal timestamps `newer` wins.
pub fn merge_samples(older: &[Sample], newer: &[Sample]) -> Vec<Sample> {
    if older
        .last()
        .is_none_or(|l| newer.first().is_none_or(|f| l.t < f.t))
    {
        return [older, newer].concat();
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < older.len() && j < newer.len() {
        match older[i].t.cmp(&newer[j].t) {
            std::cmp::Ordering::Less => {
                out.push(older[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(newer[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(newer[j]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&older[i..]);
    out.extend_from_slice(&newer[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_overlaps_and_dedupes() {
        let s = |t: i64, v: f64| Sample::new(t, v);
        let merged = merge_samples(
            &[s(1, 1.0), s(3, 3.0), s(5, 5.0)],
            &[s(3, 30.0), s(4, 4.0), s(6, 6.0)],
        );
        let got: Vec<(i64, f64)> = merged.iter().map(|x| (x.t, x.v)).collect();
        assert_eq!(got, vec![(1, 1.0), (3, 30.0), (4, 4.0), (5, 5.0), (6, 6.0)]);
        let a = Labels::of(&[("__name__", "a")]).unwrap();
        let b = Labels::of(&[("__name__", "b")]).unwrap();
        let series = merge_sources(vec![
            vec![(b.clone(), vec![s(1, 1.0)])],
            vec![(a.clone(), vec![s(1, 1.0)]), (b.clone(), vec![s(2, 2.0)])],
        ]);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels, a);
        assert_eq!(series[1].samples.len(), 2);
    }
}
