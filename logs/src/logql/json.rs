//! A small, allocation-light JSON scanner that behaves like the
//! `buger/jsonparser` library Loki uses: it walks objects key by key without
//! building a document, tolerates trailing data, and fails with the same
//! error messages (which Loki puts in `__error_details__`).

use std::borrow::Cow;

pub(crate) const MALFORMED_OBJECT: &str =
    "Value looks like object, but can't find closing '}' symbol";
pub(crate) const MALFORMED_ARRAY: &str = "Value is array, but can't find closing ']' symbol";
pub(crate) const MALFORMED_STRING: &str = "Value is string, but can't find closing '\"' symbol";
pub(crate) const MALFORMED_JSON: &str = "Malformed JSON error";
pub(crate) const MALFORMED_STRING_ESCAPE: &str =
    "Encountered an invalid escape sequence in a string";
pub(crate) const UNKNOWN_VALUE_TYPE: &str = "Unknown value type";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonKind {
    String,
    Number,
    Object,
    Array,
    Boolean,
    Null,
}

/// One step of a `| json label="a.b[0]"` path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JsonPathElement {
    Key(String),
    Index(usize),
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Offset of the next non-whitespace byte.
fn next_token(data: &[u8]) -> Option<usize> {
    data.iter().position(|b| !is_space(*b))
}

/// Offset just past the closing quote of a string whose opening quote was
/// already consumed.
fn string_end(data: &[u8]) -> Option<usize> {
    let mut index = 0;
    while index < data.len() {
        match data[index] {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// Offset just past the bracket closing the block that starts at `data[0]`.
fn block_end(data: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    let mut index = 0;
    while index < data.len() {
        match data[index] {
            b'"' => index += string_end(&data[index + 1..])?,
            b if b == open => depth += 1,
            b if b == close => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// Offset of the end of a scalar token.
fn token_end(data: &[u8]) -> usize {
    data.iter()
        .position(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']'))
        .unwrap_or(data.len())
}

/// Reads the value at the start of `data`: its bytes (a string's without the
/// quotes, still escaped), its kind, and the offset just past it.
pub(crate) fn read_value(data: &[u8]) -> Result<(&[u8], JsonKind, usize), &'static str> {
    let start = next_token(data).ok_or(MALFORMED_JSON)?;
    let rest = &data[start..];
    match rest[0] {
        b'"' => {
            let end = string_end(&rest[1..]).ok_or(MALFORMED_STRING)?;
            Ok((&rest[1..end], JsonKind::String, start + end + 1))
        }
        b'[' => {
            let end = block_end(rest, b'[', b']').ok_or(MALFORMED_ARRAY)?;
            Ok((&rest[..end], JsonKind::Array, start + end))
        }
        b'{' => {
            let end = block_end(rest, b'{', b'}').ok_or(MALFORMED_OBJECT)?;
            Ok((&rest[..end], JsonKind::Object, start + end))
        }
        first => {
            let end = token_end(rest);
            let value = &rest[..end];
            let kind = match first {
                b't' | b'f' if value == b"true" || value == b"false" => JsonKind::Boolean,
                b'n' | b'u' if value == b"null" => JsonKind::Null,
                b'0'..=b'9' | b'-' => JsonKind::Number,
                _ => return Err(UNKNOWN_VALUE_TYPE),
            };
            Ok((value, kind, start + end))
        }
    }
}

/// Calls `visit(key, value, kind)` for each member of the object at the
/// start of `data`, stopping at the first error (from the scan or `visit`).
pub(crate) fn for_each_member<'a>(
    data: &'a [u8],
    visit: &mut dyn FnMut(Cow<'a, [u8]>, &'a [u8], JsonKind) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    let mut offset = next_token(data).ok_or(MALFORMED_OBJECT)?;
    if data[offset] != b'{' {
        return Err(MALFORMED_OBJECT);
    }
    offset += 1;
    offset += next_token(&data[offset..]).ok_or(MALFORMED_JSON)?;
    if data[offset] == b'}' {
        return Ok(());
    }
    while offset < data.len() {
        match data[offset] {
            b'"' => offset += 1,
            b'}' => return Ok(()),
            _ => return Err(MALFORMED_OBJECT),
        }
        let key_length = string_end(&data[offset..]).ok_or(MALFORMED_JSON)?;
        let raw_key = &data[offset..offset + key_length - 1];
        offset += key_length;
        let key = if raw_key.contains(&b'\\') {
            Cow::Owned(
                unescape(raw_key)
                    .ok_or(MALFORMED_STRING_ESCAPE)?
                    .into_bytes(),
            )
        } else {
            Cow::Borrowed(raw_key)
        };
        offset += next_token(&data[offset..]).ok_or(MALFORMED_JSON)?;
        if data[offset] != b':' {
            return Err(MALFORMED_JSON);
        }
        offset += 1;
        let (value, kind, consumed) = read_value(&data[offset..])?;
        visit(key, value, kind)?;
        offset += consumed;
        offset += next_token(&data[offset..]).ok_or(MALFORMED_ARRAY)?;
        match data[offset] {
            b'}' => return Ok(()),
            b',' => offset += 1,
            _ => return Err(MALFORMED_OBJECT),
        }
        offset += next_token(&data[offset..]).ok_or(MALFORMED_ARRAY)?;
    }
    Err(MALFORMED_OBJECT)
}

/// The value at `path` inside `data`, or `None` when absent or malformed.
pub(crate) fn lookup(data: &[u8], path: &[JsonPathElement]) -> Option<(Vec<u8>, JsonKind)> {
    let (mut value, mut kind, _) = read_value(data).ok()?;
    for element in path {
        let (next_value, next_kind) = match element {
            JsonPathElement::Key(wanted) => {
                if kind != JsonKind::Object {
                    return None;
                }
                let mut found = None;
                let _ = for_each_member(value, &mut |key, member, member_kind| {
                    if found.is_none() && key.as_ref() == wanted.as_bytes() {
                        found = Some((member, member_kind));
                    }
                    Ok(())
                });
                found?
            }
            JsonPathElement::Index(wanted) => {
                if kind != JsonKind::Array {
                    return None;
                }
                array_element(value, *wanted)?
            }
        };
        value = next_value;
        kind = next_kind;
    }
    Some((value.to_vec(), kind))
}

fn array_element(data: &[u8], wanted: usize) -> Option<(&[u8], JsonKind)> {
    let mut offset = 1;
    offset += next_token(&data[offset..])?;
    if data[offset] == b']' {
        return None;
    }
    let mut index = 0;
    loop {
        let (value, kind, consumed) = read_value(&data[offset..]).ok()?;
        if index == wanted {
            return Some((value, kind));
        }
        offset += consumed;
        offset += next_token(&data[offset..])?;
        match data[offset] {
            b',' => offset += 1,
            _ => return None,
        }
        index += 1;
    }
}

/// Decodes JSON string escapes; `None` on an invalid escape. Invalid UTF-16
/// surrogates become spaces, as Loki replaces U+FFFD with a space.
pub(crate) fn unescape(raw: &[u8]) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let byte = raw[index];
        if byte != b'\\' {
            out.push(byte);
            index += 1;
            continue;
        }
        let escape = *raw.get(index + 1)?;
        index += 2;
        let simple = match escape {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let high = hex4(raw.get(index..index + 4)?)?;
        index += 4;
        let decoded = if (0xD800..0xDC00).contains(&high) {
            let low = raw
                .get(index..index + 6)
                .filter(|s| s.starts_with(b"\\u"))
                .and_then(|s| hex4(&s[2..]))
                .filter(|low| (0xDC00..0xE000).contains(low));
            match low {
                Some(low) => {
                    index += 6;
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                }
                None => None,
            }
        } else {
            char::from_u32(high)
        };
        let mut buffer = [0u8; 4];
        out.extend_from_slice(decoded.unwrap_or(' ').encode_utf8(&mut buffer).as_bytes());
    }
    let text = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Some(if text.contains('\u{fffd}') {
        text.replace('\u{fffd}', " ")
    } else {
        text
    })
}

fn hex4(digits: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(digits).ok()?;
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Parses a `| json` extraction expression: `a.b`, `a["b c"]`, `a[0]`, `["a"].b`.
pub(crate) fn parse_path(expression: &str) -> Result<Vec<JsonPathElement>, String> {
    let chars: Vec<char> = expression.chars().collect();
    let mut path = Vec::new();
    let mut index = 0;
    let unexpected = |c: char| format!("unexpected char {c}");
    let skip_spaces = |index: &mut usize| {
        while matches!(chars.get(*index), Some(' ' | '\t' | '\n')) {
            *index += 1;
        }
    };
    let mut expect_field = true;
    loop {
        skip_spaces(&mut index);
        let Some(&c) = chars.get(index) else {
            break;
        };
        match c {
            '[' => {
                index += 1;
                skip_spaces(&mut index);
                match chars.get(index) {
                    Some('"') => {
                        index += 1;
                        let start = index;
                        while chars.get(index).is_some_and(|c| *c != '"' && *c != ']') {
                            index += 1;
                        }
                        path.push(JsonPathElement::Key(chars[start..index].iter().collect()));
                        if chars.get(index) == Some(&'"') {
                            index += 1;
                        }
                    }
                    Some(d) if d.is_ascii_digit() => {
                        let start = index;
                        while chars.get(index).is_some_and(char::is_ascii_digit) {
                            index += 1;
                        }
                        if chars.get(index) == Some(&'.') {
                            return Err("cannot use float as array index".to_owned());
                        }
                        let digits: String = chars[start..index].iter().collect();
                        let value = digits
                            .parse()
                            .map_err(|_| "syntax error: invalid index".to_owned())?;
                        path.push(JsonPathElement::Index(value));
                    }
                    Some(other) => return Err(unexpected(*other)),
                    None => return Err("syntax error: unexpected $end".to_owned()),
                }
                skip_spaces(&mut index);
                match chars.get(index) {
                    Some(']') => index += 1,
                    Some(other) => return Err(unexpected(*other)),
                    None => return Err("syntax error: unexpected $end, expecting RSB".to_owned()),
                }
                expect_field = false;
            }
            '.' if !path.is_empty() && !expect_field => {
                index += 1;
                expect_field = true;
                skip_spaces(&mut index);
                if !chars
                    .get(index)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
                {
                    return Err("syntax error: unexpected $end, expecting FIELD".to_owned());
                }
            }
            c if (c.is_ascii_alphabetic() || c == '_') && expect_field => {
                let start = index;
                while chars
                    .get(index)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    index += 1;
                }
                path.push(JsonPathElement::Key(chars[start..index].iter().collect()));
                expect_field = false;
            }
            other => return Err(unexpected(other)),
        }
    }
    if path.is_empty() {
        return Err("syntax error: unexpected $end".to_owned());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(data: &str) -> Result<Vec<(String, String, JsonKind)>, &'static str> {
        let mut out = Vec::new();
        for_each_member(data.as_bytes(), &mut |key, value, kind| {
            out.push((
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
                kind,
            ));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn walks_object_members_with_kinds() {
        let found = members(
            r#" {"a": "x\"y", "b": 12.5, "c": true, "d": null, "e": {"f": [1, 2]}, "g\u0041": [] } trailing"#,
        );
        assert_eq!(
            found,
            Ok(vec![
                ("a".into(), "x\\\"y".into(), JsonKind::String),
                ("b".into(), "12.5".into(), JsonKind::Number),
                ("c".into(), "true".into(), JsonKind::Boolean),
                ("d".into(), "null".into(), JsonKind::Null),
                ("e".into(), "{\"f\": [1, 2]}".into(), JsonKind::Object),
                ("gA".into(), "[]".into(), JsonKind::Array),
            ])
        );
    }

    #[test]
    fn malformed_input_uses_jsonparser_messages() {
        assert_eq!(members("level=info"), Err(MALFORMED_OBJECT));
        assert_eq!(members(r#"{"a": "x"#), Err(MALFORMED_STRING));
        assert_eq!(members(r#"{"a" 1}"#), Err(MALFORMED_JSON));
        assert_eq!(members(r#"{"a": nope}"#), Err(UNKNOWN_VALUE_TYPE));
        // jsonparser reports a missing closing brace after a value this way.
        assert_eq!(members(r#"{"a": {"b": 1}"#), Err(MALFORMED_ARRAY));
        assert_eq!(members(""), Err(MALFORMED_OBJECT));
    }

    #[test]
    fn unescapes_strings() {
        assert_eq!(
            unescape(br#"a\"b\\c\/d\n\u00e9"#),
            Some("a\"b\\c/d\né".to_owned())
        );
        assert_eq!(unescape(br"\ud83d\ude00"), Some("😀".to_owned()));
        assert_eq!(unescape(br"\ud83d x"), Some("  x".to_owned()));
        assert_eq!(unescape(br"\q"), None);
    }

    #[test]
    fn paths_and_lookups() {
        let path = parse_path(r#"a.b[1]["c d"]"#);
        assert_eq!(
            path,
            Ok(vec![
                JsonPathElement::Key("a".into()),
                JsonPathElement::Key("b".into()),
                JsonPathElement::Index(1),
                JsonPathElement::Key("c d".into()),
            ])
        );
        let data = br#"{"a": {"b": [{"x": 1}, {"c d": "found"}]}}"#;
        let found = path.ok().and_then(|p| lookup(data, &p));
        assert_eq!(found, Some((b"found".to_vec(), JsonKind::String)));
        let object = lookup(data, &[JsonPathElement::Key("a".into())]);
        assert_eq!(object.map(|(_, kind)| kind), Some(JsonKind::Object));
        assert_eq!(lookup(data, &[JsonPathElement::Key("zzz".into())]), None);
        assert!(parse_path("a[1.5]").is_err());
        assert!(parse_path("").is_err());
    }
}
