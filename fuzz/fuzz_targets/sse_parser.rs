//! `sse::Parser` on any byte stream cut anywhere: never panics, the cuts do not change
//! the events, and the events are those the SSE format defines (a reference reading
//! below, line by line, as the WHATWG event-stream rules describe it).

#![no_main]

use client_core::inspect::sse::{Event, MAX_EVENT_BYTES, Parser};
use libfuzzer_sys::fuzz_target;

/// Lines end at CRLF, LF or CR; a blank line ends a block. A block yields an event
/// when it holds a field line (this parser's choice: a lone `retry` or an unknown
/// field counts, so the caller learns the retry).
fn reference(stream: &[u8]) -> Vec<Event> {
    let text = String::from_utf8_lossy(stream);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    let mut block: Vec<&str> = Vec::new();
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if let Some(e) = event(&block) {
                out.push(e);
            }
            block.clear();
        } else {
            block.push(line);
        }
    }
    out
}

fn event(lines: &[&str]) -> Option<Event> {
    let mut e = Event::default();
    let mut data = Vec::new();
    let mut any = false;
    for line in lines {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        any = true;
        match field {
            "event" => e.event = Some(value.to_owned()),
            "id" => e.id = Some(value.to_owned()),
            "data" => data.push(value),
            "retry" => e.retry_ms = value.parse().ok(),
            _ => {}
        }
    }
    e.data = data.join("\n");
    any.then_some(e)
}

// The first byte seeds where the stream is cut; the rest is the stream, so a seed is
// one byte and then readable event-stream text.
fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    if stream.len() > MAX_EVENT_BYTES {
        return;
    }
    let whole = Parser::default().push(stream);

    let mut parser = Parser::default();
    let mut pieces = Vec::new();
    let mut state = u32::from(seed);
    let mut at = 0;
    while at < stream.len() {
        // Pieces of 0 to 15 bytes, an empty push included.
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let end = (at + (state >> 16) as usize % 16).min(stream.len());
        pieces.extend(parser.push(&stream[at..end]));
        at = end;
    }
    assert_eq!(pieces, whole, "cutting the stream changed the events");

    // A byte sequence is cut into lines differently when it is not UTF-8 (lossy
    // decoding happens per block in the parser, per stream here), so compare on text.
    if std::str::from_utf8(stream).is_ok() {
        assert_eq!(
            whole,
            reference(stream),
            "not the events the format defines"
        );
    }
});
