//! Vigil's trace store (see ARCHITECTURE.md, "traces/"). So far it holds the
//! span model (`span`) and TraceQL: the lexer, the AST, the parser with
//! Tempo's error positions, and an evaluator over one trace at a time.
//! Ingest, storage and the Tempo routes come next (issue 5).

pub mod span;
pub mod traceql;
