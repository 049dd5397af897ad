//! Vigil's trace store (see ARCHITECTURE.md, "traces/"). So far it holds the
//! TraceQL front end: the lexer, the AST and the parser, with Tempo's error
//! positions. Ingest, storage and evaluation come next (issue 5).

pub mod traceql;
