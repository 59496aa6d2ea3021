//! A sans-IO reader of server-sent events (the live feed's `text/event-stream`), for
//! clients without a browser's `EventSource`: feed it bytes as they arrive, take the
//! complete events out.

/// Milliseconds to wait before reopening a stream that ended, unless the server says
/// otherwise with a `retry` field.
pub const DEFAULT_RETRY_MS: u64 = 3000;

/// Most bytes of one event kept while waiting for its end; a longer one is dropped,
/// so a broken server cannot grow the buffer without bound.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event` field.
    pub event: Option<String>,
    /// The `id` field.
    pub id: Option<String>,
    /// The `data` lines, joined by `\n`.
    pub data: String,
    /// The `retry` field, when it is a number.
    pub retry_ms: Option<u64>,
}

/// Splits a byte stream into events.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// `buf` up to here holds no blank line, so a push scans only what is new (and
    /// the few bytes before it a blank line may straddle). Without it each push
    /// rescanned the whole buffer: an event dripped in byte by byte took quadratic
    /// time, some 10^12 byte comparisons for one of [`MAX_EVENT_BYTES`].
    scanned: usize,
    /// The start of an oversized event was dropped; its tail, up to the next blank
    /// line, is dropped too rather than read as an event of its own.
    skipping: bool,
}

/// Blank lines: a line terminator (CRLF, LF or CR) right after another. CRLF CRLF
/// first, so it is consumed whole rather than leaving an LF behind.
const BLANK_LINES: [&[u8]; 7] = [
    b"\r\n\r\n",
    b"\r\n\r",
    b"\r\n\n",
    b"\n\r\n",
    b"\n\r",
    b"\n\n",
    b"\r\r",
];

impl Parser {
    /// Takes more of the stream; returns the events it completed. Comment lines and
    /// blocks with nothing but a `retry` are returned too (with empty data) so the
    /// caller learns the retry.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        // A blank line of up to 4 bytes may have begun in the last 3 bytes scanned.
        while let Some(end) = block_end(&self.buf, self.scanned.saturating_sub(3)) {
            let block: Vec<u8> = self.buf.drain(..end.0).collect();
            self.buf.drain(..end.1);
            self.scanned = 0;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if let Some(e) = parse_block(&String::from_utf8_lossy(&block)) {
                out.push(e);
            }
        }
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_EVENT_BYTES {
            self.buf.clear();
            self.scanned = 0;
            self.skipping = true;
        }
        out
    }
}

/// Where the first block ends, looking from `from` on: (its length, the length of
/// the blank line after it).
///
/// The separators used to be only CRLF CRLF, LF LF and CR CR, so a blank line after
/// a differently ended line (`data: a\n\r\n`, `data: a\r\n\rdata: b`) was missed
/// and two events came out as one (found by fuzz/sse_parser against the format's
/// line rules).
fn block_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..buf.len()).find_map(|i| {
        BLANK_LINES
            .iter()
            .find(|sep| buf[i..].starts_with(sep))
            .map(|sep| (i, sep.len()))
    })
}

fn parse_block(block: &str) -> Option<Event> {
    let mut e = Event::default();
    let mut data: Vec<&str> = Vec::new();
    let mut any = false;
    for line in block.split(['\n', '\r']) {
        if line.is_empty() || line.starts_with(':') {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_pushes_come_out_whole() {
        let mut p = Parser::default();
        assert!(p.push(b"retry: 2000\n\nid: a1\nevent: exch").len() == 1);
        let got = p.push(b"ange\ndata: {\"x\":1}\n\n: keep-alive\n\nid: a2\r\ndata: 2\r\n\r\n");
        assert_eq!(
            got,
            vec![
                Event {
                    event: Some("exchange".into()),
                    id: Some("a1".into()),
                    data: "{\"x\":1}".into(),
                    retry_ms: None
                },
                Event {
                    event: None,
                    id: Some("a2".into()),
                    data: "2".into(),
                    retry_ms: None
                },
            ]
        );
    }

    #[test]
    fn the_retry_field_is_read_and_an_oversized_event_is_dropped() {
        let mut p = Parser::default();
        assert_eq!(p.push(b"retry: 1500\n\n")[0].retry_ms, Some(1500));
        let mut big = b"data: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_EVENT_BYTES + 1));
        assert!(p.push(&big).is_empty());
        assert!(
            p.push(b"\n\n").is_empty(),
            "the cut event's tail is no event"
        );
        assert_eq!(p.push(b"data: ok\n\n")[0].data, "ok");
    }

    #[test]
    fn blank_lines_after_any_line_ending_end_an_event() {
        // Regression (fuzz/sse_parser): these came out as one event "a\nb".
        for stream in [
            &b"data: a\n\r\ndata: b\n\n"[..],
            b"data: a\n\rdata: b\n\n",
            b"data: a\r\n\rdata: b\r\r",
            b"data: a\r\n\ndata: b\r\n\r\n",
        ] {
            let whole: Vec<_> = Parser::default()
                .push(stream)
                .into_iter()
                .map(|e| e.data)
                .collect();
            assert_eq!(whole, ["a", "b"], "{stream:?}");
            // The same, one byte at a time.
            let mut p = Parser::default();
            let dripped: Vec<_> = stream
                .iter()
                .flat_map(|b| p.push(&[*b]))
                .map(|e| e.data)
                .collect();
            assert_eq!(dripped, ["a", "b"], "{stream:?} byte by byte");
        }
    }

    #[test]
    fn an_oversized_event_is_dropped_whole_and_a_long_one_parses_in_linear_time() {
        // The tail of a dropped event, with lines of its own, is not an event.
        let mut p = Parser::default();
        let mut big = b"data: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_EVENT_BYTES + 1));
        assert!(p.push(&big).is_empty());
        assert!(p.push(b"\nevent: exchange\ndata: tail\n\n").is_empty());
        assert_eq!(p.push(b"data: ok\n\n")[0].data, "ok");

        // Byte by byte: with a rescan of the whole buffer per push this was quadratic
        // (about 10^12 comparisons); it is linear now.
        let mut p = Parser::default();
        for _ in 0..MAX_EVENT_BYTES / 2 {
            assert!(p.push(b"y").is_empty());
        }
        let got = p.push(b"\n\n");
        assert_eq!(got.len(), 1);
        assert!(got[0].event.is_none() && got[0].data.is_empty());
    }
}
