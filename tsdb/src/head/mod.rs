//! The head: the most recent samples of every active series, in memory as
//! Gorilla chunks, backed by the WAL.
//!
//! Invariants:
//! - a sample is in memory only if the same commit wrote it to the WAL (or the
//!   commit failed, was answered with an error, and poisoned the WAL);
//! - a series' samples are strictly increasing in time;
//! - no chunk straddles a multiple of the block range, so cutting a block out
//!   of the head drops whole chunks;
//! - series refs increase and are never reused, so postings stay sorted by
//!   appending.

mod series;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use model::{LabelError, Labels, Matcher, Sample};
use parking_lot::{Mutex, RwLock};
use tracing::info;

use crate::index::{postings_for_matchers, PostingsSource, SeriesId};
use crate::metrics::{self, TsdbMetrics};
use crate::wal::record::{self, Record, RefMetadata, RefSample, SeriesRef};
use crate::wal::{segment, FsyncPolicy, Position, Wal, WalOptions};
pub use series::{AppendOutcome, MemSeries};

/// Why one sample was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Older than the newest sample of its series.
    OutOfOrder,
    /// Same timestamp as a stored sample, different value.
    Duplicate,
    /// Older than the head: that time range is already persisted in a block.
    TooOld,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::OutOfOrder => metrics::REASON_OUT_OF_ORDER,
            Rejection::Duplicate => metrics::REASON_DUPLICATE,
            Rejection::TooOld => metrics::REASON_TOO_OLD,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Rejection::OutOfOrder => "out of order sample",
            Rejection::Duplicate => "duplicate sample for timestamp",
            Rejection::TooOld => "out of bounds: sample is older than the head, whose time range is already in a block",
        }
    }
}

/// The result of a commit.
#[derive(Debug, Default)]
pub struct CommitReport {
    pub appended: usize,
    /// Samples identical to one already stored (a retried batch).
    pub duplicates_ignored: usize,
    pub rejected: usize,
    /// The first rejected sample, to name it in the answer.
    pub first_rejection: Option<(RefSample, Rejection)>,
    /// With [`FsyncPolicy::Always`], the caller syncs the WAL to here before acking.
    pub wal_position: Option<Position>,
}

#[derive(Default)]
struct HeadIndex {
    /// Hash of the canonical label bytes → refs (more than one only on a collision).
    by_hash: HashMap<u64, Vec<SeriesRef>>,
    series: BTreeMap<SeriesRef, Arc<MemSeries>>,
    postings: HashMap<String, BTreeMap<String, Vec<SeriesRef>>>,
    next_ref: SeriesRef,
}

impl HeadIndex {
    fn lookup(&self, hash: u64, eq: impl Fn(&Labels) -> bool) -> Option<SeriesRef> {
        self.by_hash
            .get(&hash)?
            .iter()
            .copied()
            .find(|r| self.series.get(r).is_some_and(|s| eq(&s.labels)))
    }

    fn insert(
        &mut self,
        series_ref: SeriesRef,
        labels: Labels,
        hash: u64,
        chunk_range: i64,
    ) -> Arc<MemSeries> {
        for label in labels.iter() {
            let refs = self
                .postings
                .entry(label.name.clone())
                .or_default()
                .entry(label.value.clone())
                .or_default();
            // Refs grow, except on WAL replay of a checkpoint followed by segments.
            match refs.last() {
                Some(&last) if last > series_ref => {
                    if let Err(i) = refs.binary_search(&series_ref) {
                        refs.insert(i, series_ref);
                    }
                }
                Some(&last) if last == series_ref => {}
                _ => refs.push(series_ref),
            }
        }
        let series = Arc::new(MemSeries::new(labels, chunk_range));
        self.by_hash.entry(hash).or_default().push(series_ref);
        self.series.insert(series_ref, series.clone());
        self.next_ref = self.next_ref.max(series_ref + 1);
        series
    }
}

impl PostingsSource for HeadIndex {
    fn all_postings(&self) -> Vec<SeriesId> {
        self.series.keys().copied().collect()
    }

    fn postings_where(&self, name: &str, keep: &dyn Fn(&str) -> bool) -> Vec<SeriesId> {
        let Some(values) = self.postings.get(name) else {
            return Vec::new();
        };
        let lists: Vec<Vec<SeriesId>> = values
            .iter()
            .filter(|(value, _)| keep(value))
            .map(|(_, refs)| refs.clone())
            .collect();
        crate::index::union(lists)
    }

    fn postings(&self, name: &str, value: &str) -> Vec<SeriesId> {
        self.postings
            .get(name)
            .and_then(|values| values.get(value))
            .cloned()
            .unwrap_or_default()
    }
}

/// Reusable buffers of the commit path, guarded by the commit lock.
#[derive(Default)]
struct CommitBuffers {
    accepted: Vec<RefSample>,
    payload: Vec<u8>,
    framed: Vec<u8>,
}

pub struct Head {
    index: RwLock<HeadIndex>,
    commit: Mutex<CommitBuffers>,
    wal: Wal,
    metadata: RwLock<BTreeMap<String, RefMetadata>>,
    /// Samples older than this are in blocks already and are refused.
    min_valid_time: AtomicI64,
    mint: AtomicI64,
    maxt: AtomicI64,
    chunk_range: i64,
    metrics: Arc<TsdbMetrics>,
}

/// The bytes a label set is hashed over: `name 0xff value 0xff …`, sorted.
fn label_key<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>, key: &mut Vec<u8>) {
    key.clear();
    for (name, value) in pairs {
        key.extend_from_slice(name);
        key.push(0xff);
        key.extend_from_slice(value);
        key.push(0xff);
    }
}

fn hash_labels(labels: &Labels, key: &mut Vec<u8>) -> u64 {
    label_key(
        labels
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
        key,
    );
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Whether wire-order pairs are already canonical (sorted, unique, non-empty
/// values), so their bytes hash the same as the validated label set's.
fn is_canonical<'a>(mut pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    let mut previous: Option<&[u8]> = None;
    pairs.all(|(name, value)| {
        let ok = !value.is_empty() && previous.is_none_or(|p| p < name);
        previous = Some(name);
        ok
    })
}

fn raw_equals<'a>(labels: &Labels, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    let mut stored = labels.iter();
    for (name, value) in pairs {
        match stored.next() {
            Some(l) if l.name.as_bytes() == name && l.value.as_bytes() == value => {}
            _ => return false,
        }
    }
    stored.next().is_none()
}

impl Head {
    /// Opens the WAL in `wal_dir` and replays it into a new head.
    pub fn open(
        wal_dir: &Path,
        wal_options: WalOptions,
        chunk_range: i64,
        min_valid_time: i64,
        metrics: Arc<TsdbMetrics>,
    ) -> io::Result<Head> {
        let mut index = HeadIndex::default();
        let mut metadata = BTreeMap::new();
        let mut key = Vec::new();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut unknown_refs = 0u64;
        let mut skipped = 0u64;
        let mut samples_replayed = 0u64;
        let (wal, stats) = Wal::open(
            wal_dir,
            wal_options,
            metrics.clone(),
            |record| match record {
                Record::Series(series) => {
                    for (series_ref, labels) in series {
                        if index.series.contains_key(&series_ref) {
                            continue;
                        }
                        let hash = hash_labels(&labels, &mut key);
                        index.insert(series_ref, labels, hash, chunk_range);
                    }
                }
                Record::Samples(samples) => {
                    for s in samples {
                        if s.t < min_valid_time {
                            skipped += 1;
                            continue;
                        }
                        let Some(series) = index.series.get(&s.series) else {
                            unknown_refs += 1;
                            continue;
                        };
                        match series.append(s.t, s.v) {
                            AppendOutcome::Appended => {
                                samples_replayed += 1;
                                mint = mint.min(s.t);
                                maxt = maxt.max(s.t);
                            }
                            AppendOutcome::Rejected(_) | AppendOutcome::DuplicateIgnored => {
                                skipped += 1
                            }
                        }
                    }
                }
                Record::Metadata(entries) => {
                    for m in entries {
                        metadata.insert(m.metric_family.clone(), m);
                    }
                }
            },
        )?;
        if unknown_refs > 0 {
            tracing::warn!(
                samples = unknown_refs,
                "WAL replay dropped samples whose series record was lost to corruption"
            );
        }
        info!(
            segments = stats.segments,
            records = stats.records,
            series = index.series.len(),
            samples = samples_replayed,
            samples_already_in_blocks_or_repeated = skipped,
            bytes_dropped = stats.bytes_dropped,
            "WAL replayed"
        );
        metrics.head_series.set(index.series.len() as i64);
        Ok(Head {
            index: RwLock::new(index),
            commit: Mutex::new(CommitBuffers::default()),
            wal,
            metadata: RwLock::new(metadata),
            min_valid_time: AtomicI64::new(min_valid_time),
            mint: AtomicI64::new(mint),
            maxt: AtomicI64::new(maxt),
            chunk_range,
            metrics,
        })
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Oldest and newest sample time in the head, if it holds any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (mint, maxt) = (
            self.mint.load(Ordering::Acquire),
            self.maxt.load(Ordering::Acquire),
        );
        (mint <= maxt).then_some((mint, maxt))
    }

    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Acquire)
    }

    pub fn num_series(&self) -> usize {
        self.index.read().series.len()
    }

    /// Resolves each series (given as wire label pairs) to its ref, creating
    /// the missing ones and logging them to the WAL in one record.
    pub fn get_or_create<'a, I>(&self, all: &[I]) -> io::Result<Vec<Result<SeriesRef, LabelError>>>
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let mut key = Vec::new();
        let mut results: Vec<Option<Result<SeriesRef, LabelError>>> = vec![None; all.len()];
        let mut missing: Vec<(usize, Labels, u64)> = Vec::new();
        {
            let index = self.index.read();
            for (i, pairs) in all.iter().enumerate() {
                if is_canonical(pairs.clone()) {
                    label_key(pairs.clone(), &mut key);
                    let hash = xxhash_rust::xxh3::xxh3_64(&key);
                    if let Some(r) = index.lookup(hash, |l| raw_equals(l, pairs.clone())) {
                        results[i] = Some(Ok(r));
                        continue;
                    }
                }
                match Labels::from_raw_pairs(pairs.clone()) {
                    Ok(labels) => {
                        let hash = hash_labels(&labels, &mut key);
                        match index.lookup(hash, |l| *l == labels) {
                            Some(r) => results[i] = Some(Ok(r)),
                            None => missing.push((i, labels, hash)),
                        }
                    }
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
        }
        if !missing.is_empty() {
            self.create(missing, &mut results)?;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every series resolved"))
            .collect())
    }

    /// Resolves one validated label set (recording rules, tests).
    pub fn get_or_create_labels(&self, labels: &Labels) -> io::Result<SeriesRef> {
        let pairs = labels
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes()));
        let mut resolved = self.get_or_create(&[pairs])?;
        Ok(resolved
            .pop()
            .expect("one in, one out")
            .expect("labels are already valid"))
    }

    fn create(
        &self,
        missing: Vec<(usize, Labels, u64)>,
        results: &mut [Option<Result<SeriesRef, LabelError>>],
    ) -> io::Result<()> {
        let mut index = self.index.write();
        let mut created: Vec<(SeriesRef, Labels, u64)> = Vec::new();
        for (i, labels, hash) in missing {
            // Another request may have created it meanwhile, or this one twice.
            let existing = index.lookup(hash, |l| *l == labels).or_else(|| {
                created
                    .iter()
                    .find(|(_, l, h)| *h == hash && *l == labels)
                    .map(|(r, _, _)| *r)
            });
            if let Some(r) = existing {
                results[i] = Some(Ok(r));
                continue;
            }
            let series_ref = index.next_ref.max(1) + created.len() as u64;
            created.push((series_ref, labels, hash));
            results[i] = Some(Ok(series_ref));
        }
        if created.is_empty() {
            return Ok(());
        }
        // Log before the series becomes visible: no sample may reach the WAL
        // ahead of its series record.
        let mut payload = Vec::new();
        let refs: Vec<(SeriesRef, &Labels)> = created.iter().map(|(r, l, _)| (*r, l)).collect();
        record::encode_series(&refs, &mut payload);
        let mut framed = Vec::with_capacity(payload.len() + segment::FRAME_LEN);
        segment::frame(record::TYPE_SERIES, &payload, &mut framed);
        self.wal.append(&framed, i64::MIN)?;
        let count = created.len();
        for (series_ref, labels, hash) in created {
            index.insert(series_ref, labels, hash, self.chunk_range);
        }
        self.metrics.series_created.inc_by(count as u64);
        self.metrics.head_series.set(index.series.len() as i64);
        Ok(())
    }

    /// Appends samples of resolved series: each is checked against its
    /// series, the accepted ones are written to the WAL, then kept in memory.
    pub fn commit(&self, samples: &[RefSample]) -> io::Result<CommitReport> {
        let mut buffers = self.commit.lock();
        let CommitBuffers {
            accepted,
            payload,
            framed,
        } = &mut *buffers;
        accepted.clear();
        let mut report = CommitReport::default();
        let min_valid = self.min_valid_time();
        let (mut batch_mint, mut batch_maxt) = (i64::MAX, i64::MIN);
        {
            let index = self.index.read();
            let reject = |s: &RefSample, why: Rejection, report: &mut CommitReport| {
                report.rejected += 1;
                self.metrics.reject(why.reason(), 1);
                report.first_rejection.get_or_insert((*s, why));
            };
            for s in samples {
                if s.t < min_valid {
                    reject(s, Rejection::TooOld, &mut report);
                    continue;
                }
                let series = index
                    .series
                    .get(&s.series)
                    .expect("refs come from get_or_create on this head");
                match series.append(s.t, s.v) {
                    AppendOutcome::Appended => {
                        accepted.push(*s);
                        batch_mint = batch_mint.min(s.t);
                        batch_maxt = batch_maxt.max(s.t);
                    }
                    AppendOutcome::DuplicateIgnored => report.duplicates_ignored += 1,
                    AppendOutcome::Rejected(why) => reject(s, why, &mut report),
                }
            }
        }
        report.appended = accepted.len();
        if accepted.is_empty() {
            return Ok(report);
        }
        payload.clear();
        framed.clear();
        record::encode_samples(accepted, payload);
        segment::frame(record::TYPE_SAMPLES, payload, framed);
        let position = self.wal.append(framed, batch_maxt)?;
        self.mint.fetch_min(batch_mint, Ordering::AcqRel);
        self.maxt.fetch_max(batch_maxt, Ordering::AcqRel);
        self.metrics.samples_appended.inc_by(accepted.len() as u64);
        if self.wal.fsync_policy() == FsyncPolicy::Always {
            report.wal_position = Some(position);
        }
        Ok(report)
    }

    /// Stores metric metadata (type, help, unit) from remote-write.
    pub fn set_metadata(&self, entries: Vec<RefMetadata>) -> io::Result<()> {
        let changed: Vec<RefMetadata> = {
            let current = self.metadata.read();
            entries
                .into_iter()
                .filter(|m| current.get(&m.metric_family) != Some(m))
                .collect()
        };
        if changed.is_empty() {
            return Ok(());
        }
        let mut payload = Vec::new();
        record::encode_metadata(&changed, &mut payload);
        let mut framed = Vec::new();
        segment::frame(record::TYPE_METADATA, &payload, &mut framed);
        self.wal.append(&framed, i64::MIN)?;
        let mut current = self.metadata.write();
        for m in changed {
            current.insert(m.metric_family.clone(), m);
        }
        Ok(())
    }

    pub fn metadata(&self) -> Vec<RefMetadata> {
        self.metadata.read().values().cloned().collect()
    }

    pub fn series_labels(&self, series_ref: SeriesRef) -> Option<Labels> {
        self.index
            .read()
            .series
            .get(&series_ref)
            .map(|s| s.labels.clone())
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]`.
    pub fn select(
        &self,
        matchers: &[&Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<Sample>)> {
        let selected: Vec<Arc<MemSeries>> = {
            let index = self.index.read();
            postings_for_matchers(&*index, matchers)
                .into_iter()
                .filter_map(|r| index.series.get(&r).cloned())
                .collect()
        };
        selected
            .into_iter()
            .filter_map(|s| {
                let samples = s.samples_in(mint, maxt);
                (!samples.is_empty()).then(|| (s.labels.clone(), samples))
            })
            .collect()
    }

    /// Every series of the head with its samples in `[mint, maxt)`, sorted by
    /// labels: the content of a block cut from the head.
    pub fn series_for_block(&self, mint: i64, maxt: i64) -> Vec<(Labels, Vec<Sample>)> {
        let all: Vec<Arc<MemSeries>> = self.index.read().series.values().cloned().collect();
        let mut out: Vec<(Labels, Vec<Sample>)> = all
            .into_iter()
            .filter_map(|s| {
                let samples = s.samples_in(mint, maxt - 1);
                (!samples.is_empty()).then(|| (s.labels.clone(), samples))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Label names and values present in the head (for the labels APIs).
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.index
            .read()
            .postings
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.index.read().postings.keys().cloned().collect();
        names.sort();
        names
    }

    /// Drops everything older than `cut` (now persisted in a block), removes
    /// series left empty, and truncates the WAL behind a checkpoint.
    pub fn truncate_before(&self, cut: i64) -> io::Result<()> {
        self.min_valid_time.fetch_max(cut, Ordering::AcqRel);
        {
            let mut index = self.index.write();
            let mut removed = Vec::new();
            for (r, series) in &index.series {
                if series.truncate_before(cut) {
                    removed.push(*r);
                }
            }
            let mut key = Vec::new();
            for r in &removed {
                let series = index.series.remove(r).expect("listed above");
                let hash = hash_labels(&series.labels, &mut key);
                if let Some(refs) = index.by_hash.get_mut(&hash) {
                    refs.retain(|x| x != r);
                    if refs.is_empty() {
                        index.by_hash.remove(&hash);
                    }
                }
                for label in series.labels.iter() {
                    let values = index
                        .postings
                        .get_mut(&label.name)
                        .expect("indexed on insert");
                    let refs = values.get_mut(&label.value).expect("indexed on insert");
                    refs.retain(|x| x != r);
                    if refs.is_empty() {
                        values.remove(&label.value);
                        if values.is_empty() {
                            index.postings.remove(&label.name);
                        }
                    }
                }
            }
            self.metrics.head_series.set(index.series.len() as i64);
            info!(
                cut,
                series_removed = removed.len(),
                series_left = index.series.len(),
                "head truncated"
            );
        }
        self.mint.fetch_max(cut, Ordering::AcqRel);
        self.wal.truncate_before(cut, |out| {
            let index = self.index.read();
            let mut payload = Vec::new();
            let series: Vec<(SeriesRef, &Labels)> =
                index.series.iter().map(|(r, s)| (*r, &s.labels)).collect();
            for batch in series.chunks(10_000) {
                payload.clear();
                record::encode_series(batch, &mut payload);
                segment::frame(record::TYPE_SERIES, &payload, out);
            }
            let metadata = self.metadata();
            if !metadata.is_empty() {
                payload.clear();
                record::encode_metadata(&metadata, &mut payload);
                segment::frame(record::TYPE_METADATA, &payload, out);
            }
        })
    }

    /// Estimated heap bytes held by the head; also updates the gauges.
    pub fn memory_bytes(&self) -> usize {
        let index = self.index.read();
        let series_bytes: usize = index.series.values().map(|s| s.heap_bytes()).sum();
        let postings_bytes: usize = index
            .postings
            .iter()
            .map(|(name, values)| {
                name.len()
                    + values
                        .iter()
                        .map(|(v, refs)| v.len() + 48 + refs.capacity() * 8)
                        .sum::<usize>()
            })
            .sum();
        let total =
            series_bytes + postings_bytes + index.by_hash.capacity() * 40 + index.series.len() * 40;
        self.metrics.head_memory_bytes.set(total as i64);
        if !index.series.is_empty() {
            self.metrics
                .head_memory_bytes_per_series
                .set((total / index.series.len()) as i64);
        }
        total
    }
}
