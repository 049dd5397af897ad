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

/// A selection resolved against the index: its series in label order,
/// read range by range (ranges may be read by several threads at once), so
/// that their samples need not all be held at once.
pub trait Selection: Send + Sync {
    /// How many series the selection may hold (some may turn out to have no
    /// samples in its time range; `visit` skips those).
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands the series at positions `range` with their samples to `visit`,
    /// in order. `samples` is only valid during the call; `visit` returns
    /// `false` to stop early.
    fn visit(
        &self,
        range: std::ops::Range<usize>,
        visit: &mut dyn FnMut(Labels, &[Sample]) -> bool,
    ) -> Result<(), QueryError>;
}

/// A selection already read into memory.
pub struct Materialized(pub Vec<Series>);

impl Selection for Materialized {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn visit(
        &self,
        range: std::ops::Range<usize>,
        visit: &mut dyn FnMut(Labels, &[Sample]) -> bool,
    ) -> Result<(), QueryError> {
        for series in &self.0[range] {
            if !visit(series.labels.clone(), &series.samples) {
                break;
            }
        }
        Ok(())
    }
}

/// What a query engine needs from storage. Implemented by [`crate::Db`].
pub trait Querier: Send + Sync {
    /// Series matching every matcher, with their samples in `[mint, maxt]`,
    /// sorted by labels.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64)
        -> Result<Vec<Series>, QueryError>;
    /// What `select` returns, as a [`Selection`] to read range by range.
    /// This default reads the whole selection at once.
    fn selection<'a>(
        &'a self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Selection + 'a>, QueryError> {
        Ok(Box::new(Materialized(self.select(matchers, mint, maxt)?)))
    }
    /// Label sets of the series matching `matchers` that have samples in
    /// `[mint, maxt]`, sorted. This default reads their samples; a store
    /// answers from its index.
    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        Ok(self
            .select(matchers, mint, maxt)?
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }
    /// Label names of series matching `matchers` (all named series when
    /// empty).
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError> {
        Ok(label_names_of(&self.series(
            &or_every_named(matchers),
            mint,
            maxt,
        )?))
    }
    /// Values of label `name` among series matching `matchers` (all named
    /// series when empty).
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError> {
        Ok(label_values_of(
            &self.series(&or_every_named(matchers), mint, maxt)?,
            name,
        ))
    }
}

/// `matchers`, or when there are none, one that selects every series with a
/// metric name.
fn or_every_named(matchers: &[Matcher]) -> Vec<Matcher> {
    if matchers.is_empty() {
        vec![
            Matcher::new(model::MatchOp::RegexMatch, model::METRIC_NAME, ".+")
                .expect("a valid regex"),
        ]
    } else {
        matchers.to_vec()
    }
}

/// The label names of `series`, sorted and unique: `label_names` with
/// matchers, for any source.
pub fn label_names_of(series: &[Labels]) -> Vec<String> {
    sorted_unique(
        series
            .iter()
            .flat_map(|labels| labels.iter().map(|l| l.name.clone()))
            .collect(),
    )
}

/// The values of label `name` among `series`, sorted and unique.
pub fn label_values_of(series: &[Labels], name: &str) -> Vec<String> {
    sorted_unique(
        series
            .iter()
            .filter_map(|labels| labels.get(name).map(str::to_owned))
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
