//! Chunk codecs: how a series' samples are compressed.
//!
//! - [`xor`]: the head's appendable chunk (Gorilla: delta-of-delta timestamps,
//!   XOR floats), about 120 samples each, cheap to append to.
//! - [`packed`]: the codec of persisted blocks. Not appendable; written once
//!   from a whole block's worth of a series, built to be compressed further by
//!   the block's page compressor.

pub mod packed;
pub mod xor;

/// A chunk's bytes did not decode. Always a sign of corruption or a bug.
#[derive(Debug, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct ChunkError(pub String);
