//! tunnel-proxy's metrics line per public request: what went wrong with it
//! ([`Tally`], noted wherever it is found out) and the bytes that went out, printed
//! as one CloudWatch embedded-metric line once the answer has gone out.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use lambda_runtime::streaming::Response;
use tunnel_backend::telemetry::{self, Emf};

use super::outcome::Outcome;

/// What went wrong with one public request, noted wherever it is found out and
/// printed with the request's metrics line once its answer has gone out.
#[derive(Debug, Default)]
pub struct Tally {
    error: std::sync::Mutex<Option<&'static str>>,
    pub(super) rate_limited: std::sync::atomic::AtomicBool,
}

impl Tally {
    pub(super) fn error(&self, kind: &'static str) {
        if let Ok(mut e) = self.error.lock() {
            *e = Some(kind);
        }
    }

    pub(super) fn error_kind(&self) -> Option<&'static str> {
        self.error.lock().ok().and_then(|e| *e)
    }
}

pub(super) fn note(tally: Option<&Arc<Tally>>, kind: &'static str) {
    if let Some(t) = tally {
        t.error(kind);
    }
}

/// `outcome` with its body counted, and the request's metrics line printed once it
/// has gone out.
pub(super) fn metered(
    outcome: Outcome,
    tunnel_label: &str,
    received_ms: u64,
    started: Instant,
    bytes_in: usize,
    tally: Arc<Tally>,
) -> Outcome {
    let status = outcome.metadata_prelude.status_code.as_u16();
    let line = Emf::new(received_ms)
        .label(telemetry::TUNNEL, tunnel_label)
        .label(telemetry::STATUS_CLASS, telemetry::status_class(status))
        .value(telemetry::REQUESTS, 1.0)
        .value(telemetry::BYTES_IN, bytes_in as f64)
        .value(telemetry::PROXY_LATENCY, started.elapsed().as_secs_f64());
    let Response {
        metadata_prelude,
        stream,
    } = outcome;
    Response {
        metadata_prelude,
        stream: Box::pin(Counted {
            inner: stream,
            bytes_out: 0,
            line: Some((line, tally)),
        }),
    }
}

/// The response body, counted; the request's metrics line is printed when it ends
/// (or is dropped: the public client went away), so it holds the bytes sent.
struct Counted {
    inner:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    bytes_out: u64,
    line: Option<(Emf, Arc<Tally>)>,
}

impl Counted {
    fn flush(&mut self) {
        let Some((line, tally)) = self.line.take() else {
            return;
        };
        let mut line = line.value(telemetry::BYTES_OUT, self.bytes_out as f64);
        if let Some(kind) = tally.error_kind() {
            line = line
                .label(telemetry::ERROR_KIND, kind)
                .value(telemetry::ERRORS, 1.0);
        }
        if tally
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            line = line
                .label(telemetry::SCOPE, telemetry::SCOPE_TUNNEL)
                .value(telemetry::RATE_LIMITED, 1.0);
        }
        line.emit();
    }
}

impl futures_util::Stream for Counted {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(b))) => self.bytes_out += b.len() as u64,
            std::task::Poll::Ready(None) => self.flush(),
            _ => {}
        }
        polled
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.flush();
    }
}
