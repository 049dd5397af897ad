//! What the block index knows about the words of a line, and how a line
//! filter's literal becomes a condition on it.
//!
//! A token is a maximal run of alphanumeric characters, lowercased (tantivy's
//! `SimpleTokenizer` + `LowerCaser`, so the audit search's query parser
//! tokenizes queries the same way). Two kinds of tokens stay out of the term
//! dictionary, because they are most of its size and almost never searched
//! as words (logs/FORMAT.md, "What is indexed"):
//! - *id-like* tokens: hex strings of 8+ characters holding a digit (trace,
//!   request and commit ids, hashes) and decimal numbers of 5+ digits
//!   (timestamps, byte counts, durations);
//! - tokens over [`MAX_TERM_BYTES`].
//!
//! A block holding either kind gets a marker term ([`HEX_MARKER`],
//! [`LONG_MARKER`]) instead, and its id-like tokens go into the block's id
//! filter (id_filter.rs), so a substring that could hide inside such a
//! token still finds the block: pruning never loses a line.

/// Longer tokens are not terms (base64 blobs, minified payloads).
pub const MAX_TERM_BYTES: usize = 64;
/// Term of a block holding an id-like token. `#` never occurs in a token.
pub const HEX_MARKER: &str = "#hex";
/// Term of a block holding a token over [`MAX_TERM_BYTES`].
pub const LONG_MARKER: &str = "#long";

/// Calls `f` with every token of `text`, in order, not yet lowercased.
pub fn for_each_token<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                f(&text[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// Lowercases like tantivy's `LowerCaser`.
pub fn lowercase(token: &str) -> std::borrow::Cow<'_, str> {
    if token.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        std::borrow::Cow::Owned(token.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

fn all_hex(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a (lowercased) token is id-like: see the module docs.
pub fn is_id_like(token: &str) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    (digits == token.len() && digits >= 5) || (token.len() >= 8 && digits > 0 && all_hex(token))
}

/// Where a (lowercased) token goes in a block's index entry: its own term,
/// or one of the markers.
pub fn index_term(token: &str) -> &str {
    if token.len() > MAX_TERM_BYTES {
        LONG_MARKER
    } else if is_id_like(token) {
        HEX_MARKER
    } else {
        token
    }
}

/// Finds, in `terms` (each followed by `\n`, the first preceded by one),
/// the terms a [`TermCondition::Substring`] accepts.
pub fn terms_with<'t>(terms: &'t str, token: &str, at_start: bool, at_end: bool) -> Vec<&'t str> {
    let mut found: Vec<&str> = Vec::new();
    let bytes = terms.as_bytes();
    for at in memchr::memmem::find_iter(bytes, token.as_bytes()) {
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        let end = at
            + token.len()
            + memchr::memchr(b'\n', &bytes[at + token.len()..])
                .unwrap_or(bytes.len() - at - token.len());
        if (at_start && start != at) || (at_end && end != at + token.len()) {
            continue;
        }
        let term = &terms[start..end];
        if found.last() != Some(&term) {
            found.push(term);
        }
    }
    found
}

/// A condition on a block's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermCondition {
    /// The block has this term.
    Term(String),
    /// The block has a term containing `token`; with `at_start`, a term
    /// starting with it; with `at_end`, a term ending with it.
    Substring {
        token: String,
        at_start: bool,
        at_end: bool,
    },
    /// The block's id filter (id_filter.rs) may hold a token containing
    /// `token`; `whole` when the needle shows it with delimiters on both sides.
    Id { token: String, whole: bool },
    /// The block satisfies any of these.
    Any(Vec<TermCondition>),
}

/// Conditions every block holding a line that contains `needle` (case
/// sensitively, as `|=` means) satisfies. Empty when the index cannot help.
pub fn needle_conditions(needle: &str) -> Vec<TermCondition> {
    let mut spans = Vec::new();
    for_each_token(needle, |token| {
        let start = token.as_ptr() as usize - needle.as_ptr() as usize;
        spans.push((token, start == 0, start + token.len() == needle.len()));
    });
    let mut conditions = Vec::new();
    for (token, open_left, open_right) in spans {
        let token = lowercase(token);
        let token = token.as_ref();
        if !open_left && !open_right {
            // The needle shows this token whole: the line has exactly it.
            match index_term(token) {
                HEX_MARKER => conditions.push(TermCondition::Id {
                    token: token.to_string(),
                    whole: true,
                }),
                term => conditions.push(TermCondition::Term(term.to_string())),
            }
            continue;
        }
        // The needle may show only part of a token of the line: the line's
        // token ends with it (open on the left), starts with it (open on the
        // right), or contains it.
        let mut any = vec![
            TermCondition::Substring {
                token: token.to_string(),
                at_start: !open_left,
                at_end: !open_right,
            },
            TermCondition::Term(LONG_MARKER.to_string()),
        ];
        if all_hex(token) {
            // Only an id-like token can be all hex and hold it, and those
            // are in the block's id filter.
            any.push(TermCondition::Id {
                token: token.to_string(),
                whole: false,
            });
        }
        conditions.push(TermCondition::Any(any));
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each_token(text, |t| out.push(t));
        out
    }

    #[test]
    fn tokens_are_alphanumeric_runs() {
        assert_eq!(
            tokens("GET /api/v1/users?id=42 HTTP/1.1 \"ünï\""),
            ["GET", "api", "v1", "users", "id", "42", "HTTP", "1", "1", "ünï"]
        );
        assert_eq!(tokens("  "), Vec::<&str>::new());
    }

    #[test]
    fn substrings_find_their_terms() {
        let terms = "\nerror\nerrors\nmirror\nterror\nwarn\n";
        assert_eq!(
            terms_with(terms, "rror", false, false),
            ["error", "errors", "mirror", "terror"]
        );
        assert_eq!(terms_with(terms, "error", true, false), ["error", "errors"]);
        assert_eq!(
            terms_with(terms, "rror", false, true),
            ["error", "mirror", "terror"]
        );
        assert_eq!(terms_with(terms, "warn", true, true), ["warn"]);
        assert_eq!(terms_with(terms, "zebra", false, false), Vec::<&str>::new());
    }

    #[test]
    fn ids_and_long_tokens_are_not_terms() {
        assert_eq!(index_term("4bf92f3577b34da6a3ce929d0e0e4736"), HEX_MARKER);
        assert_eq!(index_term("1700000000"), HEX_MARKER);
        assert_eq!(index_term("deadbeef"), "deadbeef"); // a word, no digit
        assert_eq!(index_term("404"), "404");
        assert_eq!(index_term("error"), "error");
        assert_eq!(index_term(&"a".repeat(65)), LONG_MARKER);
    }

    fn substring(token: &str, at_start: bool, at_end: bool) -> TermCondition {
        TermCondition::Substring {
            token: token.into(),
            at_start,
            at_end,
        }
    }

    #[test]
    fn whole_tokens_become_terms_and_edges_become_substrings() {
        use TermCondition::*;
        assert_eq!(
            needle_conditions("level=Error msg"),
            [
                Any(vec![
                    substring("level", false, true),
                    Term(LONG_MARKER.into())
                ]),
                Term("error".into()),
                Any(vec![
                    substring("msg", true, false),
                    Term(LONG_MARKER.into())
                ]),
            ]
        );
        // A bare hex needle could be inside any id: the id filter decides.
        assert_eq!(
            needle_conditions("4bf92f35"),
            [Any(vec![
                substring("4bf92f35", false, false),
                Term(LONG_MARKER.into()),
                Id {
                    token: "4bf92f35".into(),
                    whole: false
                }
            ])]
        );
        // A whole id is looked up in the id filter alone.
        assert_eq!(
            needle_conditions(" 4bf92f3577B3 "),
            [Id {
                token: "4bf92f3577b3".into(),
                whole: true
            }]
        );
        assert_eq!(needle_conditions("!!"), []);
    }
}
