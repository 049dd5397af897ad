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

pub mod label_key;
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

/// Cardinality of the head, for `/api/v1/status/tsdb`.
#[derive(Debug, Default)]
pub struct Cardinality {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub series_by_metric_name: Vec<(String, u64)>,
    pub values_by_label_name: Vec<(String, u64)>,
    pub bytes_by_label_name: Vec<(String, u64)>,
    pub series_by_label_pair: Vec<(String, u64)>,
}

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

/// Keys that are already hashes need no second hashing.
#[derive(Default, Clone, Copy)]
struct PrehashedKey;

impl std::hash::BuildHasher for PrehashedKey {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

struct PrehashedHasher(u64);

impl std::hash::Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Series by ref. Refs are dense from 1, so a vector indexed by ref; removed
/// series leave an empty slot (refs are never reused).
#[derive(Default)]
struct SeriesTable {
    slots: Vec<Option<Arc<MemSeries>>>,
    len: usize,
}

impl SeriesTable {
    fn get(&self, r: &SeriesRef) -> Option<&Arc<MemSeries>> {
        self.slots.get(*r as usize)?.as_ref()
    }

    fn contains_key(&self, r: &SeriesRef) -> bool {
        self.get(r).is_some()
    }

    fn insert(&mut self, r: SeriesRef, series: Arc<MemSeries>) {
        let i = r as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        if self.slots[i].replace(series).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, r: &SeriesRef) -> Option<Arc<MemSeries>> {
        let removed = self.slots.get_mut(*r as usize)?.take();
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = (SeriesRef, &Arc<MemSeries>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i as SeriesRef, s.as_ref()?)))
    }

    fn keys(&self) -> impl Iterator<Item = SeriesRef> + '_ {
        self.iter().map(|(r, _)| r)
    }

    fn values(&self) -> impl Iterator<Item = &Arc<MemSeries>> {
        self.iter().map(|(_, s)| s)
    }
}

#[derive(Default)]
struct HeadIndex {
    /// Hash of the label key → the first series with that hash. Kept flat
    /// (no per-entry allocation): the ingest path probes it for every sample.
    by_hash: HashMap<u64, SeriesRef, PrehashedKey>,
    /// Further series whose hash collides with one in `by_hash`.
    collisions: HashMap<u64, Vec<SeriesRef>, PrehashedKey>,
    series: SeriesTable,
    postings: HashMap<String, BTreeMap<String, Vec<SeriesRef>>>,
    next_ref: SeriesRef,
}

impl HeadIndex {
    fn lookup(&self, hash: u64, key: &[u8]) -> Option<SeriesRef> {
        let is_it = |r: &SeriesRef| self.series.get(r).is_some_and(|s| s.key() == key);
        let first = *self.by_hash.get(&hash)?;
        if is_it(&first) {
            return Some(first);
        }
        self.collisions.get(&hash)?.iter().copied().find(is_it)
    }

    fn unlink_hash(&mut self, hash: u64, series_ref: SeriesRef) {
        let others = self.collisions.get_mut(&hash);
        if self.by_hash.get(&hash) == Some(&series_ref) {
            match others.and_then(|o| o.pop().map(|next| (next, o.is_empty()))) {
                Some((next, now_empty)) => {
                    self.by_hash.insert(hash, next);
                    if now_empty {
                        self.collisions.remove(&hash);
                    }
                }
                None => {
                    self.by_hash.remove(&hash);
                }
            }
        } else if let Some(others) = others {
            others.retain(|r| *r != series_ref);
            if others.is_empty() {
                self.collisions.remove(&hash);
            }
        }
    }

    fn insert(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        key: Box<[u8]>,
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
        let series = Arc::new(MemSeries::new(key, chunk_range));
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(series_ref);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(hash).or_default().push(series_ref)
            }
        }
        self.series.insert(series_ref, series.clone());
        self.next_ref = self.next_ref.max(series_ref + 1);
        series
    }
}

impl PostingsSource for HeadIndex {
    fn all_postings(&self) -> Vec<SeriesId> {
        self.series.keys().collect()
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

/// Series identity: the hash of the [`label_key`] bytes.
fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Whether wire-order pairs are already canonical (sorted, unique, non-empty
/// values), so their key is the validated label set's key.
fn is_canonical<'a>(mut pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    let mut previous: Option<&[u8]> = None;
    pairs.all(|(name, value)| {
        let ok = !value.is_empty() && previous.is_none_or(|p| p < name);
        previous = Some(name);
        ok
    })
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
                        label_key::of_labels(&labels, &mut key);
                        let hash = hash_key(&key);
                        let boxed = key.as_slice().into();
                        index.insert(series_ref, &labels, boxed, hash, chunk_range);
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
        let mut missing: Vec<(usize, Labels, Box<[u8]>, u64)> = Vec::new();
        // The fast path, for label sets already in canonical order (what
        // Prometheus sends), in stages over the whole request: each stage's
        // lookups are independent of one another, so their cache misses
        // overlap instead of forming one long chain per series.
        let mut keys: Vec<u8> = Vec::new();
        let mut spans: Vec<(usize, std::ops::Range<usize>, u64)> = Vec::with_capacity(all.len());
        for (i, pairs) in all.iter().enumerate() {
            if is_canonical(pairs.clone()) {
                let start = keys.len();
                for (name, value) in pairs.clone() {
                    keys.extend_from_slice(name);
                    keys.push(label_key::SEPARATOR);
                    keys.extend_from_slice(value);
                    keys.push(label_key::SEPARATOR);
                }
                spans.push((i, start..keys.len(), hash_key(&keys[start..])));
            }
        }
        {
            let index = self.index.read();
            let first: Vec<Option<SeriesRef>> = spans
                .iter()
                .map(|(_, _, hash)| index.by_hash.get(hash).copied())
                .collect();
            let series: Vec<Option<&Arc<MemSeries>>> = first
                .iter()
                .map(|r| r.and_then(|r| index.series.get(&r)))
                .collect();
            for (((i, span, hash), r), s) in spans.iter().zip(first).zip(series) {
                let key = &keys[span.clone()];
                results[*i] = match (r, s) {
                    (Some(r), Some(s)) if s.key() == key => Some(Ok(r)),
                    // A collision or an unknown series: the general path below.
                    _ => index.lookup(*hash, key).map(Ok),
                };
            }
            for (i, pairs) in all.iter().enumerate() {
                if results[i].is_some() {
                    continue;
                }
                match Labels::from_raw_pairs(pairs.clone()) {
                    Ok(labels) => {
                        label_key::of_labels(&labels, &mut key);
                        let hash = hash_key(&key);
                        match index.lookup(hash, &key) {
                            Some(r) => results[i] = Some(Ok(r)),
                            None => missing.push((i, labels, key.as_slice().into(), hash)),
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
        missing: Vec<(usize, Labels, Box<[u8]>, u64)>,
        results: &mut [Option<Result<SeriesRef, LabelError>>],
    ) -> io::Result<()> {
        let mut index = self.index.write();
        let mut created: Vec<(SeriesRef, Labels, Box<[u8]>, u64)> = Vec::new();
        for (i, labels, key, hash) in missing {
            // Another request may have created it meanwhile, or this one twice.
            let existing = index.lookup(hash, &key).or_else(|| {
                created
                    .iter()
                    .find(|(_, _, k, h)| *h == hash && *k == key)
                    .map(|(r, ..)| *r)
            });
            if let Some(r) = existing {
                results[i] = Some(Ok(r));
                continue;
            }
            let series_ref = index.next_ref.max(1) + created.len() as u64;
            created.push((series_ref, labels, key, hash));
            results[i] = Some(Ok(series_ref));
        }
        if created.is_empty() {
            return Ok(());
        }
        // Log before the series becomes visible: no sample may reach the WAL
        // ahead of its series record.
        let mut payload = Vec::new();
        let refs: Vec<(SeriesRef, &Labels)> = created.iter().map(|(r, l, ..)| (*r, l)).collect();
        record::encode_series(&refs, &mut payload);
        let mut framed = Vec::with_capacity(payload.len() + segment::FRAME_LEN);
        segment::frame(record::TYPE_SERIES, &payload, &mut framed);
        self.wal.append(&framed, i64::MIN)?;
        let count = created.len();
        for (series_ref, labels, key, hash) in created {
            index.insert(series_ref, &labels, key, hash, self.chunk_range);
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
            .map(|s| s.labels())
    }

    /// Refs of the series matching `matchers`, sorted: the postings step of
    /// a selection, without reading samples.
    pub fn series_refs(&self, matchers: &[&Matcher]) -> Vec<SeriesRef> {
        postings_for_matchers(&*self.index.read(), matchers)
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
                (!samples.is_empty()).then(|| (s.labels(), samples))
            })
            .collect()
    }

    /// The series matching `matchers`, in label order: the postings step of
    /// a selection; samples are read from each as it is visited.
    pub fn selected_series(&self, matchers: &[&Matcher]) -> Vec<Arc<MemSeries>> {
        let mut selected: Vec<Arc<MemSeries>> = {
            let index = self.index.read();
            postings_for_matchers(&*index, matchers)
                .into_iter()
                .filter_map(|r| index.series.get(&r).cloned())
                .collect()
        };
        selected.sort_unstable_by(|a, b| label_key::cmp(a.key(), b.key()));
        selected
    }

    /// Every series of the head with its samples in `[mint, maxt)`, sorted by
    /// labels: the content of a block cut from the head. Samples are decoded
    /// one series at a time, as the iterator is consumed.
    pub fn series_for_block(
        &self,
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = (Labels, Vec<Sample>)> {
        let mut all: Vec<Arc<MemSeries>> = self.index.read().series.values().cloned().collect();
        all.sort_unstable_by(|a, b| label_key::cmp(a.key(), b.key()));
        all.into_iter().filter_map(move |s| {
            let samples = s.samples_in(mint, maxt - 1);
            (!samples.is_empty()).then(|| (s.labels(), samples))
        })
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
            for (r, series) in index.series.iter() {
                if series.truncate_before(cut) {
                    removed.push(r);
                }
            }
            for r in &removed {
                let series = index.series.remove(r).expect("listed above");
                let hash = hash_key(series.key());
                index.unlink_hash(hash, *r);
                for (name, value) in label_key::pairs(series.key()) {
                    let values = index.postings.get_mut(name).expect("indexed on insert");
                    let refs = values.get_mut(value).expect("indexed on insert");
                    refs.retain(|x| x != r);
                    if refs.is_empty() {
                        values.remove(value);
                        if values.is_empty() {
                            index.postings.remove(name);
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
            let series: Vec<(SeriesRef, Labels)> =
                index.series.iter().map(|(r, s)| (r, s.labels())).collect();
            for batch in series.chunks(10_000) {
                let batch: Vec<(SeriesRef, &Labels)> = batch.iter().map(|(r, l)| (*r, l)).collect();
                payload.clear();
                record::encode_series(&batch, &mut payload);
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

    /// Cardinality statistics of the head, each list the `limit` largest.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let index = self.index.read();
        let top = |mut list: Vec<(String, u64)>| {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(limit);
            list
        };
        let mut pairs = Vec::new();
        let mut values_by_name = Vec::new();
        let mut bytes_by_name = Vec::new();
        for (name, values) in &index.postings {
            values_by_name.push((name.clone(), values.len() as u64));
            bytes_by_name.push((
                name.clone(),
                values
                    .iter()
                    .map(|(v, refs)| (v.len() * refs.len()) as u64)
                    .sum(),
            ));
            for (value, refs) in values {
                pairs.push((format!("{name}={value}"), refs.len() as u64));
            }
        }
        let by_metric = index
            .postings
            .get(model::METRIC_NAME)
            .map(|values| {
                values
                    .iter()
                    .map(|(v, refs)| (v.clone(), refs.len() as u64))
                    .collect()
            })
            .unwrap_or_default();
        Cardinality {
            num_series: index.series.len() as u64,
            num_label_pairs: pairs.len() as u64,
            series_by_metric_name: top(by_metric),
            values_by_label_name: top(values_by_name),
            bytes_by_label_name: top(bytes_by_name),
            series_by_label_pair: top(pairs),
        }
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
            series_bytes + postings_bytes + index.by_hash.capacity() * 24 + index.series.len() * 40;
        self.metrics.head_memory_bytes.set(total as i64);
        if !index.series.is_empty() {
            self.metrics
                .head_memory_bytes_per_series
                .set((total / index.series.len()) as i64);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_identity_hashes_do_not_pile_up() {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::open(
            dir.path(),
            WalOptions::default(),
            7_200_000,
            i64::MIN,
            TsdbMetrics::unregistered(),
        )
        .unwrap();
        let sets: Vec<Labels> = (0..20_000)
            .map(|i| {
                Labels::of(&[
                    ("__name__", "m"),
                    ("instance", &format!("host-{}", i / 100)),
                    ("cpu", &(i % 100).to_string()),
                ])
                .unwrap()
            })
            .collect();
        let pairs: Vec<_> = sets
            .iter()
            .map(|l| l.iter().map(|x| (x.name.as_bytes(), x.value.as_bytes())))
            .collect();
        let refs: Vec<SeriesRef> = head
            .get_or_create(&pairs)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let again: Vec<SeriesRef> = head
            .get_or_create(&pairs)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(refs, again);
        let index = head.index.read();
        assert_eq!(index.by_hash.len(), sets.len());
        assert!(index.collisions.is_empty());
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_their_keys() {
        let mut index = HeadIndex::default();
        let a = Labels::of(&[("__name__", "a")]).unwrap();
        let b = Labels::of(&[("__name__", "b")]).unwrap();
        let key = |l: &Labels| {
            let mut k = Vec::new();
            label_key::of_labels(l, &mut k);
            k
        };
        // Force one hash for both.
        index.insert(1, &a, key(&a).into(), 42, 1000);
        index.insert(2, &b, key(&b).into(), 42, 1000);
        assert_eq!(index.lookup(42, &key(&a)), Some(1));
        assert_eq!(index.lookup(42, &key(&b)), Some(2));
        index.unlink_hash(42, 1);
        assert_eq!(index.lookup(42, &key(&a)), None);
        assert_eq!(index.lookup(42, &key(&b)), Some(2));
        index.unlink_hash(42, 2);
        assert!(index.by_hash.is_empty() && index.collisions.is_empty());
    }
}
