//! The JSON log line, written as `tracing-subscriber`'s JSON format writes it (with
//! the current span, without the span list), for less CPU.
//!
//! Every public request logs one line inside its `request` span. The stock format keeps
//! a span's fields as the JSON text of an object and, on every line, parses that text
//! into a `serde_json::Value` map only to write it out again (its own source calls it a
//! stopgap). That text is already the compact, key-sorted serialization of the object
//! (`JsonFields` writes it from a `BTreeMap`), so here it is copied into the line as is,
//! with the span's `name` appended. Everything else is written as the stock format
//! writes it, key by key; the test below holds the two formats to the same bytes.
//!
//! One line for every native binary: `tunnel` (`--log-format json`), `tunnel-server`
//! and the Lambda functions (without the timestamp: CloudWatch stamps each line).

use std::fmt;
use std::io;

use serde::ser::SerializeMap as _;
use serde::{Serialize as _, Serializer as _};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_serde::fields::AsMap as _;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// One JSON object per event: `timestamp` (unless [`JsonLine::without_time`]),
/// `level`, `fields`, `target`, and `span` (the current span's fields and `name`) when
/// there is one.
#[derive(Debug)]
pub struct JsonLine<T = SystemTime> {
    timer: T,
    /// The stock format leaves the key out, not only its value, without a timer.
    timestamp: bool,
}

impl JsonLine {
    /// Lines stamped with the system clock, as the stock format's default.
    pub fn new() -> Self {
        Self {
            timer: SystemTime,
            timestamp: true,
        }
    }

    /// Lines with no `timestamp` key, as the stock format's `without_time()`.
    pub fn without_time() -> JsonLine<()> {
        JsonLine {
            timer: (),
            timestamp: false,
        }
    }
}

impl Default for JsonLine {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, T> FormatEvent<S, JsonFields> for JsonLine<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events from the `log` crate carry their real target in fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        // The timestamp and level never need escaping.
        if self.timestamp {
            writer.write_str(r#"{"timestamp":""#)?;
            self.timer.format_time(&mut writer)?;
            write!(writer, r#"","level":"{}","fields":"#, meta.level())?;
        } else {
            write!(writer, r#"{{"level":"{}","fields":"#, meta.level())?;
        }
        let mut out = serde_json::Serializer::new(FmtWrite(&mut writer));
        event
            .field_map()
            .serialize(&mut out)
            .map_err(|_| fmt::Error)?;
        writer.write_str(r#","target":"#)?;
        let mut out = serde_json::Serializer::new(FmtWrite(&mut writer));
        meta.target().serialize(&mut out).map_err(|_| fmt::Error)?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(r#","span":"#)?;
            let extensions = span.extensions();
            let fields = extensions
                .get::<FormattedFields<JsonFields>>()
                .map_or("{}", |f| f.fields.as_str());
            write_span(&mut writer, fields, span.metadata().name())?;
        }
        writer.write_str("}\n")
    }
}

/// The span object: its fields, then `name`.
fn write_span(writer: &mut Writer<'_>, fields: &str, name: &str) -> fmt::Result {
    if let Some(open) = fields.strip_suffix('}').filter(|o| o.starts_with('{')) {
        writer.write_str(open)?;
        if open.len() > 1 {
            writer.write_char(',')?;
        }
        writer.write_str(r#""name":"#)?;
        let mut out = serde_json::Serializer::new(FmtWrite(writer));
        name.serialize(&mut out).map_err(|_| fmt::Error)?;
        return writer.write_char('}');
    }
    // Not the object JsonFields writes: what the stock format writes for it.
    let mut out = serde_json::Serializer::new(FmtWrite(writer));
    let mut map = (&mut out).serialize_map(None).map_err(|_| fmt::Error)?;
    let entry = match serde_json::from_str::<serde_json::Value>(fields) {
        Ok(serde_json::Value::Object(o)) => {
            o.iter().try_for_each(|(k, v)| map.serialize_entry(k, v))
        }
        Ok(value) => map
            .serialize_entry("field", &value)
            .and_then(|()| map.serialize_entry("field_error", "field was no a valid object")),
        Err(e) => map.serialize_entry("field_error", &e.to_string()),
    };
    entry
        .and_then(|()| map.serialize_entry("name", name))
        .and_then(|()| map.end())
        .map_err(|_| fmt::Error)
}

/// serde_json writes to an `io::Write`; the line is a `fmt::Write`.
struct FmtWrite<'a, 'b>(&'a mut Writer<'b>);

impl io::Write for FmtWrite<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // serde_json writes whole UTF-8 pieces.
        let s = std::str::from_utf8(buf).map_err(io::Error::other)?;
        self.0.write_str(s).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Both formats get the same clock reading.
    struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-12-05T17:00:00.000001Z")
        }
    }

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// Lines about requests and others: escapes, every kind of value, spans with no
    /// fields and with fields recorded later, an explicit parent, no span at all.
    fn events() {
        tracing::info!("no span");
        let caller = Some("a\\b\n\"c\"");
        let span = tracing::info_span!(
            "request",
            request_id = %"01JX\"y",
            caller_request_id = caller,
            domain = %"d\u{e9}mo",
        );
        span.in_scope(|| {
            tracing::info!(method = %"GET", status = 200u16, latency_ms = 0.25, "public request answered");
            tracing::warn!(
                ok = true,
                n = -3i64,
                big = u64::MAX,
                text = "\u{1}\t",
                dbg = ?vec![1, 2],
                "odd \"message\""
            );
            tracing::info_span!("empty").in_scope(|| tracing::error!("in a span with no fields"));
        });
        tracing::info!(parent: &span, "explicit parent");
        let later = tracing::info_span!("later", z = 1, a = tracing::field::Empty);
        later.record("a", "x");
        later.in_scope(|| tracing::info!(k = 1.5e300, "after record"));
        tracing::info_span!("no_caller", caller_request_id = None::<&str>, name = "dup")
            .in_scope(|| tracing::info!("a span field called name"));
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Format {
        Stock,
        Ours,
    }

    fn lines(format: Format, timestamp: bool) -> String {
        let out = Lines::default();
        let builder = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(out.clone());
        match (format, timestamp) {
            (Format::Ours, true) => {
                let line = JsonLine {
                    timer: Fixed,
                    timestamp: true,
                };
                let subscriber = builder.event_format(line).finish();
                tracing::subscriber::with_default(subscriber, events);
            }
            (Format::Ours, false) => {
                let subscriber = builder.event_format(JsonLine::without_time()).finish();
                tracing::subscriber::with_default(subscriber, events);
            }
            (Format::Stock, true) => {
                let subscriber = builder.with_timer(Fixed).finish();
                tracing::subscriber::with_default(subscriber, events);
            }
            (Format::Stock, false) => {
                let subscriber = builder.without_time().finish();
                tracing::subscriber::with_default(subscriber, events);
            }
        }
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    fn assert_same(ours: &str, stock: &str) {
        for (ours, stock) in ours.lines().zip(stock.lines()) {
            assert_eq!(ours, stock);
        }
        assert_eq!(ours, stock);
    }

    #[test]
    fn lines_are_the_stock_json_format_byte_for_byte() {
        let stock = lines(Format::Stock, true);
        assert_eq!(stock.lines().count(), 7, "{stock}");
        assert!(stock.contains(r#""span":{"caller_request_id":"#), "{stock}");
        assert!(stock.starts_with(r#"{"timestamp":"2026-"#), "{stock}");
        assert_same(&lines(Format::Ours, true), &stock);
    }

    #[test]
    fn lines_without_time_are_the_stock_format_without_time() {
        let stock = lines(Format::Stock, false);
        assert_eq!(stock.lines().count(), 7, "{stock}");
        assert!(stock.starts_with(r#"{"level":"INFO","fields":"#), "{stock}");
        assert!(!stock.contains("timestamp"), "{stock}");
        assert_same(&lines(Format::Ours, false), &stock);
    }

    #[test]
    fn span_fields_that_are_not_an_object_are_written_as_the_stock_format_writes_them() {
        let mut line = String::new();
        write_span(&mut Writer::new(&mut line), "[1]", "s").unwrap();
        assert_eq!(
            line,
            r#"{"field":[1],"field_error":"field was no a valid object","name":"s"}"#
        );
        let mut line = String::new();
        write_span(&mut Writer::new(&mut line), "{}", "s").unwrap();
        assert_eq!(line, r#"{"name":"s"}"#);
    }
}
