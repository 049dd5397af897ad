//! The inverted index shared by the head and by blocks: label pair → sorted
//! series ids ("postings"), and how a set of matchers turns into the ids of
//! the series it selects. The on-disk form of a block's index is in
//! [`crate::block::index`]; the head keeps its own in memory.

pub mod postings;

pub use postings::{intersect, postings_for_matchers, union, PostingsSource, SeriesId};
