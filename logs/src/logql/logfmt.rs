//! A logfmt decoder with the exact tokenisation and error messages of the
//! go-logfmt decoder Loki vendors (`logfmt syntax error at pos N : ...`).

use std::borrow::Cow;

pub struct LogfmtDecoder<'a> {
    line: &'a [u8],
    position: usize,
    key: Option<&'a [u8]>,
    value: Option<Cow<'a, [u8]>>,
    error: Option<String>,
}

impl<'a> LogfmtDecoder<'a> {
    pub fn new(line: &'a str) -> LogfmtDecoder<'a> {
        LogfmtDecoder {
            line: line.as_bytes(),
            position: 0,
            key: None,
            value: None,
            error: None,
        }
    }

    pub fn at_end(&self) -> bool {
        self.position >= self.line.len()
    }

    pub fn key(&self) -> &'a [u8] {
        self.key.unwrap_or_default()
    }

    pub fn value(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }

    /// The last syntax error, as Loki reports it in `__error_details__`.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn syntax_error(&mut self, message: &str) {
        self.error = Some(format!(
            "logfmt syntax error at pos {} : {}",
            self.position + 1,
            message
        ));
    }

    fn unexpected_byte(&mut self, byte: u8) {
        let shown = match byte {
            b'"' => "'\"'".to_owned(),
            b'=' => "'='".to_owned(),
            other => format!("'{}'", other as char),
        };
        self.syntax_error(&format!("unexpected {shown}"));
    }

    fn key_has_invalid_utf8(key: &[u8]) -> bool {
        let text = String::from_utf8_lossy(key);
        text.contains('\u{fffd}')
    }

    /// Advances to the next key/value pair; false at the end or on an error
    /// (after which scanning may continue).
    pub fn scan_key_value(&mut self) -> bool {
        self.key = None;
        self.value = None;
        let line = self.line;

        // Skip garbage.
        match line[self.position.min(line.len())..]
            .iter()
            .position(|c| *c > b' ')
        {
            Some(offset) => self.position += offset,
            None => {
                self.position = line.len();
                return false;
            }
        }

        // Key.
        let start = self.position;
        let mut multibyte = false;
        let mut offset = 0;
        while start + offset < line.len() {
            let c = line[start + offset];
            if c == b'=' {
                self.position = start + offset;
                if self.position > start {
                    let key = &line[start..self.position];
                    if multibyte && Self::key_has_invalid_utf8(key) {
                        self.syntax_error("invalid key");
                        return self.skip_value();
                    }
                    self.key = Some(key);
                }
                if self.key.is_none() {
                    self.unexpected_byte(c);
                    return self.skip_value();
                }
                return self.scan_value();
            } else if c == b'"' {
                self.position = start + offset;
                self.unexpected_byte(c);
                return self.skip_value();
            } else if c <= b' ' {
                self.position = start + offset;
                if self.position > start {
                    let key = &line[start..self.position];
                    if multibyte && Self::key_has_invalid_utf8(key) {
                        self.syntax_error("invalid key");
                        return false;
                    }
                    self.key = Some(key);
                }
                return true;
            } else if c >= 0x80 {
                multibyte = true;
            }
            offset += 1;
        }
        self.position = line.len();
        if self.position > start {
            let key = &line[start..];
            if multibyte && Self::key_has_invalid_utf8(key) {
                self.syntax_error("invalid key");
                return false;
            }
            self.key = Some(key);
        }
        true
    }

    /// After the `=`.
    fn scan_value(&mut self) -> bool {
        let line = self.line;
        self.position += 1;
        if self.position >= line.len() {
            return true;
        }
        match line[self.position] {
            c if c <= b' ' => return true,
            b'"' => return self.scan_quoted_value(),
            _ => {}
        }
        let start = self.position;
        let mut offset = 0;
        while start + offset < line.len() {
            let c = line[start + offset];
            if c == b'=' || c == b'"' {
                self.position = start + offset;
                self.unexpected_byte(c);
                return self.skip_value();
            }
            if c <= b' ' {
                self.position = start + offset;
                if self.position > start {
                    self.value = Some(Cow::Borrowed(&line[start..self.position]));
                }
                return true;
            }
            offset += 1;
        }
        self.position = line.len();
        if self.position > start {
            self.value = Some(Cow::Borrowed(&line[start..]));
        }
        true
    }

    fn skip_value(&mut self) -> bool {
        let line = self.line;
        match line[self.position.min(line.len())..]
            .iter()
            .position(|c| *c <= b' ')
        {
            Some(offset) => self.position += offset,
            None => self.position = line.len(),
        }
        false
    }

    fn scan_quoted_value(&mut self) -> bool {
        let line = self.line;
        let start = self.position;
        let mut has_escape = false;
        let mut escaped = false;
        let mut index = start + 1;
        while index < line.len() {
            let c = line[index];
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                has_escape = true;
                escaped = true;
            } else if c == b'"' {
                self.position = index + 1;
                if has_escape {
                    match unquote(&line[start..self.position]) {
                        Some(value) => self.value = Some(Cow::Owned(value)),
                        None => {
                            self.syntax_error("invalid quoted value");
                            return false;
                        }
                    }
                } else if index > start + 1 {
                    self.value = Some(Cow::Borrowed(&line[start + 1..index]));
                }
                return true;
            }
            index += 1;
        }
        self.position = line.len();
        self.syntax_error("unterminated quoted value");
        false
    }
}

/// `encoding/json`-style unquoting of a quoted logfmt value (quotes included).
fn unquote(quoted: &[u8]) -> Option<Vec<u8>> {
    let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
    let mut out = Vec::with_capacity(inner.len());
    let mut index = 0;
    while index < inner.len() {
        let c = inner[index];
        match c {
            b'\\' => {
                let escape = *inner.get(index + 1)?;
                index += 2;
                match escape {
                    b'"' | b'\\' | b'/' | b'\'' => out.push(escape),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let high = hex4(inner.get(index..index + 4)?)?;
                        index += 4;
                        let mut decoded = char::from_u32(high);
                        if (0xD800..0xDC00).contains(&high) {
                            decoded = None;
                            if let Some(low) = inner
                                .get(index..index + 6)
                                .filter(|s| s.starts_with(b"\\u"))
                                .and_then(|s| hex4(&s[2..]))
                                .filter(|low| (0xDC00..0xE000).contains(low))
                            {
                                index += 6;
                                decoded = char::from_u32(
                                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00),
                                );
                            }
                        }
                        let mut buffer = [0u8; 4];
                        out.extend_from_slice(
                            decoded
                                .unwrap_or('\u{fffd}')
                                .encode_utf8(&mut buffer)
                                .as_bytes(),
                        );
                    }
                    _ => return None,
                }
            }
            b'"' => return None,
            c if c < b' ' => return None,
            _ => {
                out.push(c);
                index += 1;
            }
        }
    }
    Some(out)
}

fn hex4(digits: &[u8]) -> Option<u32> {
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str) -> (Vec<(String, String)>, Option<String>) {
        let mut decoder = LogfmtDecoder::new(line);
        let mut out = Vec::new();
        let mut first_error = None;
        while !decoder.at_end() {
            if decoder.scan_key_value() {
                out.push((
                    String::from_utf8_lossy(decoder.key()).into_owned(),
                    String::from_utf8_lossy(decoder.value()).into_owned(),
                ));
            } else if first_error.is_none() {
                first_error = decoder.error().map(str::to_owned);
            }
        }
        (out, first_error)
    }

    #[test]
    fn decodes_plain_and_quoted_values() {
        let (found, error) = pairs(r#"level=info msg="hello \"world\"" empty= bare ts=1"#);
        assert_eq!(error, None);
        assert_eq!(
            found,
            vec![
                ("level".into(), "info".into()),
                ("msg".into(), "hello \"world\"".into()),
                ("empty".into(), "".into()),
                ("bare".into(), "".into()),
                ("ts".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn reports_go_logfmt_errors() {
        let (found, error) = pairs(r#"a=1 "b"=2 c=3"#);
        assert_eq!(
            error.as_deref(),
            Some(r#"logfmt syntax error at pos 5 : unexpected '"'"#)
        );
        assert_eq!(
            found,
            vec![("a".into(), "1".into()), ("c".into(), "3".into())]
        );
        let (_, error) = pairs(r#"msg="open"#);
        assert_eq!(
            error.as_deref(),
            Some("logfmt syntax error at pos 10 : unterminated quoted value")
        );
        let (_, error) = pairs("a=b=c");
        assert_eq!(
            error.as_deref(),
            Some("logfmt syntax error at pos 4 : unexpected '='")
        );
        let (_, error) = pairs("=x");
        assert_eq!(
            error.as_deref(),
            Some("logfmt syntax error at pos 1 : unexpected '='")
        );
    }
}
