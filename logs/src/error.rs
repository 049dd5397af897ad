//! The log store's errors. The HTTP layer maps them to Loki's status codes.

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// Writes come faster than flushes: the client should retry later.
    #[error("{0}")]
    Overloaded(String),
    #[error("corrupt {what} in {path}: {reason}")]
    Corrupt {
        what: &'static str,
        path: String,
        reason: String,
    },
}

pub type Result<T, E = LogsError> = std::result::Result<T, E>;
