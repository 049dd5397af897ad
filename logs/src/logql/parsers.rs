//! The label-extracting stages — `json`, `logfmt`, `regexp`, `pattern`,
//! `unpack` — with Loki's naming rules: keys are sanitised into label names
//! (invalid characters become `_`, a leading digit gets a `_` prefix, nested
//! JSON keys are joined with `_`), a name that collides with a stream label
//! gets the `_extracted` suffix, and malformed input sets
//! `__error__=JSONParserErr`/`LogfmtParserErr` with `__error_details__`.

use super::ast::{JsonParser, LabelExtraction, LogfmtParser, PatternParser, RegexpParser};
use super::json::{for_each_member, lookup, unescape, JsonKind};
use super::labels_builder::{LabelCategory, LabelsBuilder, JSON_PARSER_ERROR, LOGFMT_PARSER_ERROR};
use super::logfmt::LogfmtDecoder;

const PACKED_ENTRY_KEY: &str = "_entry";

fn is_label_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Loki's `sanitizeLabelKey(key, true)`.
pub(crate) fn sanitize_label_key(key: &str) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(
        key.chars()
            .map(|c| if is_label_name_char(c) { c } else { '_' }),
    );
    out
}

/// Loki's `appendSanitized`: appends a sanitised key to a prefix buffer.
fn append_sanitized(buffer: &mut String, key: &str) {
    let key = key.trim();
    if key.is_empty() {
        return;
    }
    if buffer.is_empty() && key.starts_with(|c: char| c.is_ascii_digit()) {
        buffer.push('_');
    }
    buffer.extend(
        key.chars()
            .map(|c| if is_label_name_char(c) { c } else { '_' }),
    );
}

/// Replaces U+FFFD (which Prometheus rejects) with a space, as Loki does.
fn without_replacement_chars(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains('\u{fffd}') {
        std::borrow::Cow::Owned(value.replace('\u{fffd}', " "))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn json_scalar(value: &[u8], kind: JsonKind) -> String {
    match kind {
        JsonKind::String => unescape(value).unwrap_or_default(),
        JsonKind::Boolean | JsonKind::Number => String::from_utf8_lossy(value).into_owned(),
        _ => String::new(),
    }
}

/// `| json`: every scalar field, nested objects flattened with `_`; arrays
/// and nulls are skipped.
fn extract_all_json(line: &str, labels: &mut LabelsBuilder<'_>) {
    fn walk(
        data: &[u8],
        prefix: &mut String,
        labels: &mut LabelsBuilder<'_>,
        depth: usize,
    ) -> Result<(), &'static str> {
        if depth > 64 {
            // Deeper than any real log: stop descending rather than risk the stack.
            return Ok(());
        }
        for_each_member(data, &mut |key, value, kind| {
            let key = String::from_utf8_lossy(&key);
            match kind {
                JsonKind::String | JsonKind::Number | JsonKind::Boolean => {
                    let mut name = prefix.clone();
                    if name.is_empty() {
                        name = sanitize_label_key(&key);
                    } else {
                        name.push('_');
                        append_sanitized(&mut name, &key);
                    }
                    if name.is_empty() {
                        return Ok(());
                    }
                    let name = labels.non_colliding_name(&name);
                    labels.set(LabelCategory::Parsed, &name, &json_scalar(value, kind));
                    Ok(())
                }
                JsonKind::Object => {
                    let saved = prefix.len();
                    if !prefix.is_empty() {
                        prefix.push('_');
                    }
                    append_sanitized(prefix, &key);
                    let result = walk(value, prefix, labels, depth + 1);
                    prefix.truncate(saved);
                    result
                }
                JsonKind::Array | JsonKind::Null => Ok(()),
            }
        })
    }
    let mut prefix = String::new();
    if let Err(message) = walk(line.as_bytes(), &mut prefix, labels, 0) {
        labels.set_error_with_details(JSON_PARSER_ERROR, Some(message));
    }
}

/// `| json label="path", ...`: only the listed paths; missing ones become `""`.
fn extract_json_paths(line: &str, expressions: &[LabelExtraction], labels: &mut LabelsBuilder<'_>) {
    if line.is_empty() {
        return;
    }
    if !line.starts_with(['"', '{', '[']) {
        labels.set_error_with_details(JSON_PARSER_ERROR, None);
        return;
    }
    let mut found = 0;
    for expression in expressions {
        let Some((raw, kind)) = lookup(line.as_bytes(), &expression.json_path) else {
            continue;
        };
        let value = match kind {
            JsonKind::Null => String::new(),
            JsonKind::Object => String::from_utf8_lossy(&raw).into_owned(),
            _ => unescape(&raw).unwrap_or_default(),
        };
        let name = labels.non_colliding_name(&expression.label);
        labels.set(LabelCategory::Parsed, &name, &value);
        found += 1;
    }
    if found < expressions.len() {
        for expression in expressions {
            if labels.get(&expression.label).is_none() {
                labels.set(LabelCategory::Parsed, &expression.label, "");
            }
        }
    }
}

pub(crate) fn apply_json(parser: &JsonParser, line: &str, labels: &mut LabelsBuilder<'_>) {
    if parser.expressions.is_empty() {
        extract_all_json(line, labels);
    } else {
        extract_json_paths(line, &parser.expressions, labels);
    }
}

/// `| logfmt`.
pub(crate) fn apply_logfmt(parser: &LogfmtParser, line: &str, labels: &mut LabelsBuilder<'_>) {
    if !parser.expressions.is_empty() {
        apply_logfmt_expressions(parser, line, labels);
        return;
    }
    let mut decoder = LogfmtDecoder::new(line);
    while !decoder.at_end() {
        if !decoder.scan_key_value() {
            if parser.strict {
                break;
            }
            continue;
        }
        let key = sanitize_label_key(&String::from_utf8_lossy(decoder.key()));
        if key.is_empty() {
            continue;
        }
        let value = String::from_utf8_lossy(decoder.value());
        let value = without_replacement_chars(&value);
        if !parser.keep_empty && value.is_empty() {
            continue;
        }
        let name = labels.non_colliding_name(&key);
        labels.set(LabelCategory::Parsed, &name, &value);
    }
    if parser.strict {
        if let Some(error) = decoder.error() {
            labels.set_error_with_details(LOGFMT_PARSER_ERROR, Some(error));
        }
    }
}

/// `| logfmt label="key", ...`: only the listed keys, pre-set to `""`.
fn apply_logfmt_expressions(parser: &LogfmtParser, line: &str, labels: &mut LabelsBuilder<'_>) {
    for expression in &parser.expressions {
        if !labels.stream_has(&expression.label) {
            labels.set(LabelCategory::Parsed, &expression.label, "");
        }
    }
    let mut decoder = LogfmtDecoder::new(line);
    while !decoder.at_end() {
        if !decoder.scan_key_value() {
            if parser.strict {
                break;
            }
            continue;
        }
        let mut key = sanitize_label_key(&String::from_utf8_lossy(decoder.key()));
        if key.is_empty() {
            continue;
        }
        if let Some(expression) = parser.expressions.iter().find(|e| e.expression == key) {
            key = expression.label.clone();
        }
        if !parser.expressions.iter().any(|e| e.label == key) {
            continue;
        }
        let value = String::from_utf8_lossy(decoder.value());
        let value = if value.contains('\u{fffd}') {
            "".into()
        } else {
            value
        };
        let name = labels.non_colliding_name(&key);
        labels.set(LabelCategory::Parsed, &name, &value);
    }
    if parser.strict {
        if let Some(error) = decoder.error() {
            labels.set_error_with_details(LOGFMT_PARSER_ERROR, Some(error));
        }
    }
}

/// `| regexp`: named groups of the first match; no match extracts nothing.
pub(crate) fn apply_regexp(parser: &RegexpParser, line: &str, labels: &mut LabelsBuilder<'_>) {
    let Some(captures) = parser.regex.captures(line) else {
        return;
    };
    for (index, name) in &parser.names {
        let value = captures.get(*index).map_or("", |m| m.as_str());
        let name = labels.non_colliding_name(name);
        labels.set(LabelCategory::Parsed, &name, value);
    }
}

/// `| pattern`.
pub(crate) fn apply_pattern(parser: &PatternParser, line: &str, labels: &mut LabelsBuilder<'_>) {
    let names = parser.matcher.names();
    for (name, value) in names.iter().zip(parser.matcher.captures(line)) {
        let name = labels.non_colliding_name(name);
        labels.set(LabelCategory::Parsed, &name, value);
    }
}

/// `| unpack`: string fields become labels and `_entry` becomes the line —
/// but only for packed entries (objects that have an `_entry` key).
/// Returns the new line, if any.
pub(crate) fn apply_unpack(line: &str, labels: &mut LabelsBuilder<'_>) -> Option<String> {
    if line.is_empty() {
        return None;
    }
    if !line.starts_with('{') {
        labels.set_error_with_details(
            JSON_PARSER_ERROR,
            Some("expecting json object(6), but it is not"),
        );
        return None;
    }
    let mut entry: Option<String> = None;
    let mut buffered: Vec<(String, String)> = Vec::new();
    let result = for_each_member(line.as_bytes(), &mut |key, value, kind| {
        if kind != JsonKind::String {
            return Ok(());
        }
        let key = String::from_utf8_lossy(&key);
        if key == PACKED_ENTRY_KEY {
            match unescape(value) {
                Some(text) => entry = Some(text),
                None => return Err(super::json::MALFORMED_STRING_ESCAPE),
            }
            return Ok(());
        }
        let name = labels.non_colliding_name(&key);
        buffered.push((
            sanitize_label_key(&name),
            unescape(value).unwrap_or_default(),
        ));
        Ok(())
    });
    if let Err(message) = result {
        labels.set_error_with_details(JSON_PARSER_ERROR, Some(message));
        return None;
    }
    let entry = entry?;
    for (name, value) in &buffered {
        labels.set(LabelCategory::Parsed, name, value);
    }
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::json::parse_path;
    use crate::logql::labels_builder::sorted_labels;
    use model::{Label, Labels};

    fn stream() -> Labels {
        sorted_labels(vec![Label::new("app", "api")])
    }

    fn extraction(label: &str, expression: &str) -> LabelExtraction {
        LabelExtraction {
            label: label.to_owned(),
            expression: expression.to_owned(),
            json_path: parse_path(expression).unwrap_or_default(),
        }
    }

    fn run(stream: &Labels, apply: impl FnOnce(&mut LabelsBuilder<'_>)) -> String {
        let mut builder = LabelsBuilder::new(stream);
        apply(&mut builder);
        builder.labels().to_string()
    }

    #[test]
    fn json_flattens_nested_objects_and_renames_collisions() {
        let stream = stream();
        let line = r#"{"app":"web","level":"info","req":{"method":"GET","1st":{"x":1}},"tags":["a"],"n":null,"ok":true,"42":"answer","bad key":"v"}"#;
        let labels = run(&stream, |b| apply_json(&JsonParser::default(), line, b));
        assert_eq!(
            labels,
            r#"{_42="answer", app="api", app_extracted="web", bad_key="v", level="info", ok="true", req_1st_x="1", req_method="GET"}"#
        );
    }

    #[test]
    fn json_errors_keep_labels_found_before_the_error() {
        let stream = stream();
        let labels = run(&stream, |b| {
            apply_json(&JsonParser::default(), "level=info", b)
        });
        assert_eq!(
            labels,
            r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol", app="api"}"#
        );
        let labels = run(&stream, |b| {
            apply_json(&JsonParser::default(), r#"{"a":"1","b":tru}"#, b)
        });
        assert_eq!(
            labels,
            r#"{__error__="JSONParserErr", __error_details__="Unknown value type", a="1", app="api"}"#
        );
    }

    #[test]
    fn json_expressions() {
        let stream = stream();
        let parser = JsonParser {
            expressions: vec![
                extraction("first", "servers[0]"),
                extraction("method", r#"req["method"]"#),
                extraction("obj", "req"),
                extraction("missing", "nope.deeper"),
                extraction("app", "app"),
            ],
        };
        let line = r#"{"servers":["a","b"],"req":{"method":"GET"},"app":"x"}"#;
        assert_eq!(
            run(&stream, |b| apply_json(&parser, line, b)),
            r#"{app="api", app_extracted="x", first="a", method="GET", missing="", obj="{\"method\":\"GET\"}"}"#
        );
        assert_eq!(
            run(&stream, |b| apply_json(&parser, "not json", b)),
            r#"{__error__="JSONParserErr", app="api"}"#
        );
    }

    #[test]
    fn logfmt_flags() {
        let stream = stream();
        let line = r#"level=info app=web empty= msg="a b" 1x=y"#;
        assert_eq!(
            run(&stream, |b| apply_logfmt(&LogfmtParser::default(), line, b)),
            r#"{_1x="y", app="api", app_extracted="web", level="info", msg="a b"}"#
        );
        let keep_empty = LogfmtParser {
            keep_empty: true,
            ..LogfmtParser::default()
        };
        assert!(run(&stream, |b| apply_logfmt(&keep_empty, line, b)).contains(r#"empty="""#));
        let bad = r#"a=1 b="unterminated"#;
        assert_eq!(
            run(&stream, |b| apply_logfmt(&LogfmtParser::default(), bad, b)),
            r#"{a="1", app="api"}"#
        );
        let strict = LogfmtParser {
            strict: true,
            ..LogfmtParser::default()
        };
        assert_eq!(
            run(&stream, |b| apply_logfmt(&strict, bad, b)),
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 20 : unterminated quoted value", a="1", app="api"}"#
        );
    }

    #[test]
    fn logfmt_expressions() {
        let stream = stream();
        let parser = LogfmtParser {
            expressions: vec![extraction("lvl", "level"), extraction("missing", "missing")],
            ..LogfmtParser::default()
        };
        assert_eq!(
            run(&stream, |b| apply_logfmt(&parser, "level=warn other=1", b)),
            r#"{app="api", lvl="warn", missing=""}"#
        );
    }

    #[test]
    fn unpack_replaces_the_line_with_the_packed_entry() {
        let stream = stream();
        let mut builder = LabelsBuilder::new(&stream);
        let line = apply_unpack(
            r#"{"_entry":"original line","app":"web","pod":"p1","n":1}"#,
            &mut builder,
        );
        assert_eq!(line.as_deref(), Some("original line"));
        assert_eq!(
            builder.labels().to_string(),
            r#"{app="api", app_extracted="web", pod="p1"}"#
        );
        let mut builder = LabelsBuilder::new(&stream);
        assert_eq!(apply_unpack(r#"{"pod":"p1"}"#, &mut builder), None);
        assert_eq!(builder.labels().to_string(), r#"{app="api"}"#);
        let mut builder = LabelsBuilder::new(&stream);
        assert_eq!(apply_unpack("plain", &mut builder), None);
        assert_eq!(builder.error(), "JSONParserErr");
    }
}
