//! One selection across the head and the blocks, read in label order, range
//! by range: the [`Selection`] the query engine splits between threads.
//!
//! Resolving a selection reads only postings (and, when several sources
//! hold the time range, the labels needed to line their series up). Samples
//! are read when a range is visited, in batches, so a query holds one
//! batch's samples per thread rather than every selected sample.

use std::ops::Range;
use std::sync::Arc;

use model::{Labels, Matcher, Sample};

use crate::block::{Block, PageCache};
use crate::head::{Head, MemSeries};
use crate::querier::{merge_samples, QueryError, Selection};

/// Series read from the blocks at a time, per thread.
const BATCH: usize = 1024;

/// Decompressed pages a reading thread keeps per block across its batches.
const PAGE_CACHE_BYTES: usize = 16 << 20;

/// Where one series of the selection lives.
struct Entry {
    head: Option<Arc<MemSeries>>,
    /// Its ordinal in each block (`None` where the block lacks it).
    ordinals: Vec<Option<u32>>,
}

pub struct DbSelection {
    mint: i64,
    maxt: i64,
    /// Overlapping blocks, oldest first: on equal timestamps later sources
    /// (and the head last) win.
    blocks: Vec<Arc<Block>>,
    entries: Vec<Entry>,
}

impl DbSelection {
    pub fn new(
        head: &Head,
        blocks: Vec<Arc<Block>>,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<DbSelection, QueryError> {
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let head_overlaps = head
            .time_range()
            .is_some_and(|(lo, hi)| lo <= maxt && hi >= mint);
        let in_head = if head_overlaps {
            head.selected_series(&refs)
        } else {
            Vec::new()
        };
        let in_blocks: Vec<Vec<u32>> = blocks
            .iter()
            .map(|b| {
                b.series_ids(&refs)
                    .into_iter()
                    .map(|id| id as u32)
                    .collect()
            })
            .collect();
        let entries = match (in_blocks.as_slice(), in_head.is_empty()) {
            // One source: its own order is label order, nothing to line up.
            ([], _) => in_head
                .into_iter()
                .map(|s| Entry {
                    head: Some(s),
                    ordinals: Vec::new(),
                })
                .collect(),
            ([ordinals], true) => ordinals
                .iter()
                .map(|&o| Entry {
                    head: None,
                    ordinals: vec![Some(o)],
                })
                .collect(),
            _ => line_up(&blocks, &in_blocks, in_head)?,
        };
        Ok(DbSelection {
            mint,
            maxt,
            blocks,
            entries,
        })
    }

    fn visit_batch(
        &self,
        entries: &[Entry],
        pages: &mut [PageCache],
        visit: &mut dyn FnMut(Labels, &[Sample]) -> bool,
    ) -> Result<bool, QueryError> {
        // Each block's part of the batch, decoded page by page at once.
        let mut from_blocks: Vec<std::vec::IntoIter<(Labels, Vec<Sample>)>> = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let ordinals: Vec<u32> = entries.iter().filter_map(|e| e.ordinals[i]).collect();
            from_blocks.push(
                block
                    .read_ordinals(&ordinals, self.mint, self.maxt, &mut pages[i])?
                    .into_iter(),
            );
        }
        // Two buffers that trade places, so that head-only series (the
        // common case) allocate nothing.
        let (mut samples, mut head_samples) = (Vec::new(), Vec::new());
        for entry in entries {
            samples.clear();
            let mut labels = None;
            for (i, from_block) in from_blocks.iter_mut().enumerate() {
                if entry.ordinals[i].is_none() {
                    continue;
                }
                let (block_labels, block_samples) =
                    from_block.next().expect("one result per ordinal");
                samples = if samples.is_empty() {
                    block_samples
                } else {
                    merge_samples(&samples, &block_samples)
                };
                labels.get_or_insert(block_labels);
            }
            if let Some(series) = &entry.head {
                head_samples.clear();
                series.samples_into(self.mint, self.maxt, &mut head_samples);
                if samples.is_empty() {
                    std::mem::swap(&mut samples, &mut head_samples);
                } else if !head_samples.is_empty() {
                    samples = merge_samples(&samples, &head_samples);
                }
            }
            if samples.is_empty() {
                continue;
            }
            let labels = match labels {
                Some(labels) => labels,
                None => entry.head.as_ref().expect("a source").labels(),
            };
            if !visit(labels, &samples) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Lines the sources' series up by labels: one entry per distinct label
/// set, in label order. Each source lists its series in label order, so this
/// is a k-way merge.
fn line_up(
    blocks: &[Arc<Block>],
    in_blocks: &[Vec<u32>],
    in_head: Vec<Arc<MemSeries>>,
) -> Result<Vec<Entry>, QueryError> {
    // Every source's series with their labels, as (labels, source, handle).
    let mut lists: Vec<std::iter::Peekable<std::vec::IntoIter<(Labels, u32)>>> = Vec::new();
    for (block, ordinals) in blocks.iter().zip(in_blocks) {
        let labelled = ordinals
            .iter()
            .map(|&o| Ok((block.series_labels(o)?, o)))
            .collect::<Result<Vec<_>, QueryError>>()?;
        lists.push(labelled.into_iter().peekable());
    }
    let head_list: Vec<(Labels, u32)> = in_head
        .iter()
        .enumerate()
        .map(|(i, s)| (s.labels(), i as u32))
        .collect();
    lists.push(head_list.into_iter().peekable());
    let head_index = blocks.len();
    let mut entries = Vec::new();
    loop {
        // The source whose next series sorts first.
        let mut first: Option<(usize, &Labels)> = None;
        for (source, list) in lists.iter_mut().enumerate() {
            if let Some((labels, _)) = list.peek() {
                if first.is_none_or(|(_, smallest)| labels < smallest) {
                    first = Some((source, labels));
                }
            }
        }
        let Some((first, _)) = first else {
            break;
        };
        let (smallest, handle) = lists[first].next().expect("peeked");
        let mut entry = Entry {
            head: None,
            ordinals: vec![None; blocks.len()],
        };
        let mut place = |source: usize, handle: u32| {
            if source == head_index {
                entry.head = Some(in_head[handle as usize].clone());
            } else {
                entry.ordinals[source] = Some(handle);
            }
        };
        place(first, handle);
        for (source, list) in lists.iter_mut().enumerate().skip(first + 1) {
            if let Some((_, handle)) = list.next_if(|(labels, _)| *labels == smallest) {
                place(source, handle);
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

impl Selection for DbSelection {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn visit(
        &self,
        range: Range<usize>,
        visit: &mut dyn FnMut(Labels, &[Sample]) -> bool,
    ) -> Result<(), QueryError> {
        // Pages are worth keeping only when several batches share them.
        let limit = if range.len() > BATCH {
            PAGE_CACHE_BYTES
        } else {
            0
        };
        let mut pages: Vec<PageCache> = self.blocks.iter().map(|_| PageCache::new(limit)).collect();
        for batch in self.entries[range].chunks(BATCH) {
            if !self.visit_batch(batch, &mut pages, visit)? {
                break;
            }
        }
        Ok(())
    }
}
