//! Full-text search over lines and labels with tantivy's query syntax (the
//! audit search: "who deleted deployment X in namespace Y"), newest first,
//! with the matched terms marked.
//!
//! The on-disk index knows which *blocks* hold a term, without positions
//! and without ids (tokens.rs). A search therefore runs in two steps:
//! 1. the query, *relaxed* so that it can only match more (phrases become
//!    conjunctions, negations are dropped, id-like terms become the marker
//!    their blocks carry), picks candidate blocks;
//! 2. the lines of those blocks (and of the head) are indexed in memory,
//!    one document per line with positions, and the exact query runs there.

use std::collections::HashSet;

use model::Labels;
use tantivy::collector::DocSetCollector;
use tantivy::query::{AllQuery, BooleanQuery, Occur, PhraseQuery, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, FAST};
use tantivy::{Index, TantivyDocument, Term};

use crate::error::Result;
use crate::partition::{self, Fields};
use crate::store::{Direction, LogStore, ReadStats};
use crate::tokens;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid search query: {0}")]
    Query(String),
    #[error(transparent)]
    Store(#[from] crate::LogsError),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Store(e.into())
    }
}

/// One matching line.
#[derive(Clone, Debug)]
pub struct Hit {
    pub timestamp_ns: i64,
    pub labels: Labels,
    pub line: String,
    /// Byte ranges of `line` holding a term of the query.
    pub highlights: Vec<(usize, usize)>,
}

#[derive(Debug, Default)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    pub stats: ReadStats,
}

/// The per-line index: the block schema's fields (same ids), `line` with
/// positions, plus the row of the line in the candidate list.
fn line_schema() -> (Schema, Fields, Field) {
    let (mut builder, fields) = partition::schema_builder(IndexRecordOption::WithFreqsAndPositions);
    let row = builder.add_u64_field("row", FAST);
    (builder.build(), fields, row)
}

/// An empty in-memory per-line index with the block index's tokenizer.
fn line_index(schema: &Schema) -> Index {
    let index = Index::create_in_ram(schema.clone());
    index
        .tokenizers()
        .register(partition::TOKENIZER, partition::analyzer());
    index
}

fn parser(index: &Index, fields: &Fields) -> QueryParser {
    let mut parser = QueryParser::for_index(index, vec![fields.line]);
    parser.set_conjunction_by_default();
    parser
}

/// A query that matches every block holding a line the exact query matches.
fn relax(query: &dyn Query, line: Field) -> Box<dyn Query> {
    let block_term = |term: &Term| -> Term {
        match term.value().as_str() {
            Some(text) if term.field() == line => {
                Term::from_field_text(line, tokens::index_term(text))
            }
            _ => term.clone(),
        }
    };
    if let Some(term_query) = query.downcast_ref::<TermQuery>() {
        return Box::new(TermQuery::new(
            block_term(term_query.term()),
            IndexRecordOption::Basic,
        ));
    }
    if let Some(phrase) = query.downcast_ref::<PhraseQuery>() {
        return Box::new(BooleanQuery::new(
            phrase
                .phrase_terms()
                .iter()
                .map(|t| {
                    let q: Box<dyn Query> =
                        Box::new(TermQuery::new(block_term(t), IndexRecordOption::Basic));
                    (Occur::Must, q)
                })
                .collect(),
        ));
    }
    if let Some(boolean) = query.downcast_ref::<BooleanQuery>() {
        let clauses: Vec<(Occur, Box<dyn Query>)> = boolean
            .clauses()
            .iter()
            .filter(|(occur, _)| *occur != Occur::MustNot)
            .map(|(occur, q)| (*occur, relax(q.as_ref(), line)))
            .collect();
        if clauses.is_empty() {
            return Box::new(AllQuery);
        }
        return Box::new(BooleanQuery::new(clauses));
    }
    // Anything else (ranges, regexes, fuzzy terms) is not relaxed: every block.
    Box::new(AllQuery)
}

impl LogStore {
    /// Lines in `[start_ns, end_ns)` matching a tantivy query over line
    /// text (default field) and `labels.<name>`, newest first.
    pub fn search(
        &self,
        query_text: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<SearchResult, SearchError> {
        let (schema, fields, row_field) = line_schema();
        let query = parser(&line_index(&schema), &fields)
            .parse_query(query_text)
            .map_err(|e| SearchError::Query(e.to_string()))?;
        let block_query = relax(query.as_ref(), fields.line);
        let mut query_terms: HashSet<String> = HashSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == fields.line {
                if let Some(text) = term.value().as_str() {
                    query_terms.insert(text.to_string());
                }
            }
        });

        let streams = self.streams(&[], start_ns, end_ns);
        let plan = self.plan_with(
            streams,
            start_ns,
            end_ns,
            &[],
            Some(block_query.as_ref()),
            Direction::Backward,
        )?;
        let mut result = SearchResult::default();
        for slab in 0..plan.slabs.len() {
            if result.hits.len() >= limit {
                let oldest_kept = result.hits[limit - 1].timestamp_ns;
                if plan.slabs[slab].max_ts < oldest_kept {
                    break;
                }
            }
            // Step 2: index this slab's candidate lines and run the exact query.
            let mut candidates: Vec<(i64, Labels, String)> = Vec::new();
            plan.read_slab(
                slab,
                start_ns,
                end_ns,
                &mut result.stats,
                &mut |labels, ts, line, _| {
                    candidates.push((ts, labels.clone(), line.to_string()));
                },
            )?;
            if candidates.is_empty() {
                continue;
            }
            let index = line_index(&schema);
            let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 32 << 20)?;
            for (row, (_, labels, line)) in candidates.iter().enumerate() {
                let mut document = TantivyDocument::new();
                document.add_text(fields.line, line);
                document.add_object(fields.labels, partition::labels_object(labels));
                document.add_u64(row_field, row as u64);
                writer.add_document(document)?;
            }
            writer.commit()?;
            let searcher = index.reader()?.searcher();
            let matched = searcher
                .search(query.as_ref(), &DocSetCollector)
                .map_err(|e| SearchError::Query(e.to_string()))?;
            for address in matched {
                let rows = searcher
                    .segment_reader(address.segment_ord)
                    .fast_fields()
                    .u64("row")?;
                let Some(row) = rows.first(address.doc_id) else {
                    continue;
                };
                let (ts, labels, line) = &candidates[row as usize];
                result.hits.push(Hit {
                    timestamp_ns: *ts,
                    labels: labels.clone(),
                    highlights: highlights(line, &query_terms),
                    line: line.clone(),
                });
            }
            result.hits.sort_by(|a, b| {
                b.timestamp_ns
                    .cmp(&a.timestamp_ns)
                    .then_with(|| a.line.cmp(&b.line))
            });
        }
        result.hits.truncate(limit);
        Ok(result)
    }
}

/// Byte ranges of the tokens of `line` that are query terms.
fn highlights(line: &str, terms: &HashSet<String>) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    tokens::for_each_token(line, |token| {
        if terms.contains(tokens::lowercase(token).as_ref()) {
            let start = token.as_ptr() as usize - line.as_ptr() as usize;
            ranges.push((start, start + token.len()));
        }
    });
    ranges
}
