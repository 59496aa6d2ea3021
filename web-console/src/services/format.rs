//! How bodies, sizes and durations are shown. Pure functions, tested natively.

use client_core::inspect::CapturedBody;

/// Binary bodies show at most this many bytes as hex; the size says the rest.
pub const HEX_LIMIT: usize = 4096;

/// How a body is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyView {
    /// No bytes.
    Empty,
    /// JSON, pretty-printed (key order kept).
    Json(String),
    /// `application/x-www-form-urlencoded`, still encoded (decoded by the view).
    Form(String),
    /// UTF-8 text.
    Text(String),
    /// Anything else: a hex dump of the first bytes.
    Binary {
        /// The dump.
        hex: String,
        /// Bytes in the dump.
        shown: usize,
    },
}

/// Picks the view for `body` sent with `content_type`: the declared type first, then
/// what the bytes look like (a JSON body sent as text/plain is still shown as JSON).
pub fn body_view(content_type: Option<&str>, body: &CapturedBody) -> BodyView {
    if body.bytes.is_empty() {
        return BodyView::Empty;
    }
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(text) = as_text(&body.bytes) else {
        return binary(&body.bytes);
    };
    // A truncated JSON body does not parse: it is shown as the text it is.
    if let Some(pretty) = pretty_json(text) {
        return BodyView::Json(pretty);
    }
    if mime == "application/x-www-form-urlencoded" && !body.truncated {
        return BodyView::Form(text.to_owned());
    }
    BodyView::Text(text.to_owned())
}

/// The bytes as text, when they are UTF-8 with no control characters but whitespace.
fn as_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    printable.then_some(text)
}

fn binary(bytes: &[u8]) -> BodyView {
    let shown = bytes.len().min(HEX_LIMIT);
    BodyView::Binary {
        hex: hex_dump(&bytes[..shown]),
        shown,
    }
}

/// `text` re-indented by two spaces when it is one JSON value; `None` otherwise.
/// Works on the text rather than a parsed value, so key order and number spelling
/// stay as sent.
pub fn pretty_json(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Keep `{}` and `[]` on one line.
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// Sixteen bytes a line: offset, hex, and the printable ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", i * 16));
        for j in 0..16 {
            match line.get(j) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        out.extend(line.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// A byte count for people: `512 B`, `1.5 KB`, `2.0 MB` (powers of 1024).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for people: `15 ms`, `1.25 s`, `2 min 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.2} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// The CSS class of a status code's colour.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..300) => "st-2xx",
        Some(300..400) => "st-3xx",
        Some(400..500) => "st-4xx",
        Some(_) => "st-5xx",
        None => "st-none",
    }
}

/// The value of header `name` (any case), first of its kind.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_is_reindented_in_order() {
        let text = r#"{"b":1,"a":[1, 2,{}],"s":"x,{\"y\":[]}","e":[ ]}"#;
        assert_eq!(
            pretty_json(text).unwrap(),
            "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2,\n    {}\n  ],\n  \"s\": \"x,{\\\"y\\\":[]}\",\n  \"e\": []\n}"
        );
        assert_eq!(pretty_json("42").unwrap(), "42");
        assert_eq!(pretty_json("{\"a\":"), None);
        assert_eq!(pretty_json("hello"), None);
    }

    #[test]
    fn bodies_pick_their_view() {
        let full = |b: &[u8]| CapturedBody::full(b.to_vec());
        assert_eq!(body_view(None, &full(b"")), BodyView::Empty);
        assert!(matches!(
            body_view(Some("text/plain"), &full(br#"{"a":1}"#)),
            BodyView::Json(_)
        ));
        assert_eq!(
            body_view(
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                &full(b"a=1&b=x+y")
            ),
            BodyView::Form("a=1&b=x+y".into())
        );
        assert_eq!(
            body_view(Some("text/html"), &full(b"<p>hi</p>\n")),
            BodyView::Text("<p>hi</p>\n".into())
        );
        match body_view(Some("image/png"), &full(&[0x89, b'P', b'N', b'G', 0, 1])) {
            BodyView::Binary { hex, shown } => {
                assert_eq!(shown, 6);
                assert!(hex.starts_with("00000000  89 50 4e 47 00 01"), "{hex}");
                assert!(hex.trim_end().ends_with(".PNG.."), "{hex}");
            }
            other => panic!("{other:?}"),
        }
        let big = CapturedBody::full(vec![0; HEX_LIMIT + 10]);
        assert!(matches!(
            body_view(None, &big),
            BodyView::Binary {
                shown: HEX_LIMIT,
                ..
            }
        ));
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MB");
        assert_eq!(duration(15), "15 ms");
        assert_eq!(duration(1250), "1.25 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(status_class(Some(204)), "st-2xx");
        assert_eq!(status_class(Some(502)), "st-5xx");
        assert_eq!(status_class(None), "st-none");
        let h = vec![("Content-Type".to_owned(), "a".to_owned())];
        assert_eq!(header(&h, "content-type"), Some("a"));
    }
}
