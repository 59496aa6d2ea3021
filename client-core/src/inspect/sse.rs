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
}

impl Parser {
    /// Takes more of the stream; returns the events it completed. Comment lines and
    /// blocks with nothing but a `retry` are returned too (with empty data) so the
    /// caller learns the retry.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = block_end(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end.0).collect();
            self.buf.drain(..end.1);
            if let Some(e) = parse_block(&String::from_utf8_lossy(&block)) {
                out.push(e);
            }
        }
        if self.buf.len() > MAX_EVENT_BYTES {
            self.buf.clear();
        }
        out
    }
}

/// Where the first block ends: (its length, the length of the blank line after it).
fn block_end(buf: &[u8]) -> Option<(usize, usize)> {
    for i in 0..buf.len() {
        for sep in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if buf[i..].starts_with(sep) {
                return Some((i, sep.len()));
            }
        }
    }
    None
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
}
