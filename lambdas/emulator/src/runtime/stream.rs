//! Streamed responses (`Lambda-Runtime-Function-Response-Mode: streaming`).
//!
//! The runtime POSTs `/response` with a chunked body. When its content type is
//! `application/vnd.awslambda.http-integration-response` (what a Function URL in
//! `RESPONSE_STREAM` mode expects, and what `lambda_runtime`'s `StreamResponse`
//! always sends) the body starts with a JSON prelude (`statusCode`, `headers`,
//! `cookies`) ended by 8 NUL bytes; the rest is the HTTP body. Lambda only splits the
//! prelude off; what it may hold is the Function URL's contract
//! ([`crate::function_url`]).
//!
//! A mid-stream error is, per AWS's custom-runtime contract, reported in HTTP trailers
//! `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body`
//! (base64). `lambda_runtime` 1.5 declares those trailers but writes them as the
//! *last data chunk* instead (`Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n
//! Lambda-Runtime-Function-Error-Body: <base64>\r\n`). The emulator accepts both: a final
//! chunk of exactly that form becomes the same error as the trailers would. What AWS
//! itself does with the chunk form is not documented; if it passes it through as body
//! bytes, a client there would see that text where a client here sees an error.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::api::{accepted, error_response};
use super::instance::{Instance, KillReason};
use super::{Event, InvokeError};
use crate::limits::{PRELUDE_DELIMITER, STREAM_UNTHROTTLED_BYTES};

/// Content type of a Function URL (HTTP integration) response stream.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// Chunks buffered between the runtime's upload and the caller. Small and bounded: a
/// slow reader slows the function's upload, as a slow client does on AWS.
const STREAM_QUEUE: usize = 16;

/// The trailer (or in-body line) naming a mid-stream error.
const ERROR_TYPE_TRAILER: &str = "lambda-runtime-function-error-type";
/// The trailer (or in-body line) carrying the base64 error document.
const ERROR_BODY_TRAILER: &str = "lambda-runtime-function-error-body";

/// The in-body error chunk `lambda_runtime` writes starts with this.
const ERROR_CHUNK_START: &[u8] = b"Lambda-Runtime-Function-Error-Type: ";
/// An in-body error chunk longer than this is taken for data.
const MAX_ERROR_CHUNK: usize = 64 * 1024;

/// Why a streamed body ended early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The function reported an error mid-stream.
    #[error("function error {error_type} mid-stream: {body}")]
    Function {
        /// `Lambda-Runtime-Function-Error-Type`, e.g. `Runtime.StreamError`.
        error_type: String,
        /// `Lambda-Runtime-Function-Error-Body`, base64-decoded when it is base64.
        body: String,
    },
    /// The stream reached [`Limits::max_streamed_response_bytes`](crate::Limits).
    #[error("the streamed response is over the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The function ran past its timeout while streaming; its instance was killed.
    #[error("the function timed out after {0:?} while streaming")]
    Timeout(Duration),
    /// The runtime stopped sending without finishing (it exited, or was killed).
    #[error("the response stream broke off: {0}")]
    Aborted(String),
}

/// Serves a streaming `/response`: splits off the prelude, hands the stream to the
/// invoker, and pumps the body into it within the size cap.
pub(crate) async fn respond(
    instance: &Arc<Instance>,
    id: &str,
    events: mpsc::Sender<Event>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let limits = &instance.ctx.limits;
    let is_http = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(HTTP_INTEGRATION_CONTENT_TYPE));
    let mut body = req.into_body();

    let (prelude, first) = if is_http {
        match read_prelude(&mut body, limits.max_prelude_bytes).await {
            Ok((prelude, rest)) => (Some(prelude), rest),
            Err(PreludeError::Broken) => {
                return error_response(StatusCode::BAD_REQUEST, "InvalidBody", "body read failed");
            }
            Err(PreludeError::Invalid(reason)) => {
                drain(&mut body).await;
                instance.clear_current(id);
                let _ =
                    events.try_send(Event::Failed(InvokeError::InvalidResponse(reason.clone())));
                return error_response(StatusCode::BAD_REQUEST, "InvalidPrelude", &reason);
            }
        }
    } else {
        (None, Bytes::new())
    };

    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    let _ = events.try_send(Event::Streamed { prelude, body: rx });
    let mut pump = Pump {
        instance: Arc::clone(instance),
        sink: Some(tx),
        held: None,
        total: 0,
        limit: limits.max_streamed_response_bytes,
        throttle: limits
            .stream_rate
            .map(|rate| Throttle { rate, since: None }),
    };
    let outcome = pump.run(&mut body, first).await;
    instance.clear_current(id);
    match outcome {
        Outcome::Complete { ok } => {
            let _ = events.try_send(Event::StreamDone { ok });
            accepted()
        }
        Outcome::TooLarge => {
            let _ = events.try_send(Event::StreamDone { ok: false });
            let limit = pump.limit;
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("the streamed response is over the {limit}-byte limit"),
            )
        }
        Outcome::Broken => {
            // A runtime whose upload broke off is in an unknown state: recycle it
            // (a no-op when it is already dead or being killed).
            instance.kill(KillReason::Broken);
            let _ = events.try_send(Event::StreamDone { ok: false });
            error_response(StatusCode::BAD_REQUEST, "InvalidBody", "body read failed")
        }
    }
}

enum PreludeError {
    /// The connection broke.
    Broken,
    /// The stream is not a valid HTTP-integration stream.
    Invalid(String),
}

/// Reads up to and including the 8-NUL delimiter; returns the prelude and whatever
/// body bytes came in the same frames.
async fn read_prelude(body: &mut Incoming, max: usize) -> Result<(Bytes, Bytes), PreludeError> {
    let mut buf = BytesMut::new();
    loop {
        if let Some(pos) = find(&buf, &PRELUDE_DELIMITER) {
            if pos + PRELUDE_DELIMITER.len() > max {
                break;
            }
            let prelude = buf.split_to(pos).freeze();
            let rest = buf.split_off(PRELUDE_DELIMITER.len()).freeze();
            return Ok((prelude, rest));
        }
        if buf.len() >= max {
            break;
        }
        match body.frame().await {
            None => {
                return Err(PreludeError::Invalid(
                    "the stream ended before the prelude's 8-NUL delimiter".into(),
                ));
            }
            Some(Err(_)) => return Err(PreludeError::Broken),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    Err(PreludeError::Invalid(format!(
        "no 8-NUL prelude delimiter within the first {max} bytes"
    )))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads and drops the rest of a body, so the runtime's POST completes.
async fn drain(body: &mut Incoming) {
    while let Some(Ok(_)) = body.frame().await {}
}

enum Outcome {
    /// The body ended; `ok` is false when it ended with an error.
    Complete { ok: bool },
    /// Over the cap; the rest was drained.
    TooLarge,
    /// The connection broke.
    Broken,
}

/// AWS's bandwidth cap after the first 6 MB, when enabled.
struct Throttle {
    rate: u64,
    since: Option<Instant>,
}

impl Throttle {
    /// Waits until `total` bytes are within the cap.
    async fn pace(&mut self, total: u64) {
        let Some(over) = total.checked_sub(STREAM_UNTHROTTLED_BYTES) else {
            return;
        };
        let since = *self.since.get_or_insert_with(Instant::now);
        let due = Duration::from_secs_f64(over as f64 / self.rate.max(1) as f64);
        tokio::time::sleep_until(since + due).await;
    }
}

struct Pump {
    instance: Arc<Instance>,
    /// `None` once the reader has hung up or the stream has ended (then the rest is
    /// read and dropped).
    sink: Option<mpsc::Sender<Result<Bytes, StreamError>>>,
    /// A chunk that may be `lambda_runtime`'s in-body error report; it is only known
    /// to be one if nothing follows it.
    held: Option<BytesMut>,
    total: u64,
    limit: u64,
    throttle: Option<Throttle>,
}

impl Pump {
    /// Pumps the body; the sink is closed (or has had its error) when this returns.
    async fn run(&mut self, body: &mut Incoming, first: Bytes) -> Outcome {
        let outcome = self.pump(body, first).await;
        self.sink = None;
        outcome
    }

    async fn pump(&mut self, body: &mut Incoming, first: Bytes) -> Outcome {
        // The body bytes that came with the prelude go through the same checks as
        // every later frame.
        let mut pending = (!first.is_empty()).then(|| Ok(hyper::body::Frame::data(first)));
        loop {
            let frame = match pending.take() {
                Some(frame) => frame,
                None => match body.frame().await {
                    Some(frame) => frame,
                    None => break,
                },
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(_) => {
                    self.flush_held().await;
                    self.fail(broken_off(&self.instance)).await;
                    return Outcome::Broken;
                }
            };
            match frame.into_data() {
                Ok(data) => {
                    self.total += data.len() as u64;
                    if self.total > self.limit {
                        self.flush_held().await;
                        self.fail(StreamError::TooLarge { limit: self.limit }).await;
                        drain(body).await;
                        return Outcome::TooLarge;
                    }
                    if let Some(throttle) = &mut self.throttle {
                        throttle.pace(self.total).await;
                    }
                    self.data(data).await;
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers()
                        && let Some(error) = error_from_trailers(&trailers)
                    {
                        self.flush_held().await;
                        self.fail(error).await;
                        return Outcome::Complete { ok: false };
                    }
                }
            }
        }
        if let Some(held) = self.held.take() {
            if let Some(error) = error_from_chunk(&held) {
                self.fail(error).await;
                return Outcome::Complete { ok: false };
            }
            self.send(held.freeze()).await;
        }
        Outcome::Complete { ok: true }
    }

    async fn data(&mut self, data: Bytes) {
        if let Some(held) = &mut self.held {
            held.extend_from_slice(&data);
            if held.len() > MAX_ERROR_CHUNK {
                self.flush_held().await;
            }
        } else if data.starts_with(ERROR_CHUNK_START) && data.len() <= MAX_ERROR_CHUNK {
            self.held = Some(BytesMut::from(&data[..]));
        } else {
            self.send(data).await;
        }
    }

    async fn flush_held(&mut self) {
        if let Some(held) = self.held.take() {
            self.send(held.freeze()).await;
        }
    }

    async fn send(&mut self, data: Bytes) {
        if let Some(sink) = &self.sink
            && sink.send(Ok(data)).await.is_err()
        {
            self.sink = None;
        }
    }

    async fn fail(&mut self, error: StreamError) {
        if let Some(sink) = self.sink.take() {
            let _ = sink.send(Err(error)).await;
        }
    }
}

impl Drop for Pump {
    /// The monitor of a dead instance aborts its server, dropping this pump mid-body
    /// (perhaps while it waits for a slow reader). The reader must still learn that
    /// the body is incomplete, so the error is sent from a task of its own.
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let error = broken_off(&self.instance);
            runtime.spawn(async move {
                let _ = sink.send(Err(error)).await;
            });
        }
    }
}

/// The error of a body that stopped without its end: the timeout if that is why the
/// instance was killed.
fn broken_off(instance: &Instance) -> StreamError {
    match instance.kill_reason() {
        Some(KillReason::Timeout) => StreamError::Timeout(instance.ctx.spec.timeout),
        _ => {
            StreamError::Aborted("the runtime stopped mid-stream (it exited or was killed)".into())
        }
    }
}

fn error_from_trailers(trailers: &HeaderMap) -> Option<StreamError> {
    let error_type = trailers.get(ERROR_TYPE_TRAILER)?.to_str().ok()?.to_owned();
    let body = trailers
        .get(ERROR_BODY_TRAILER)
        .and_then(|v| v.to_str().ok())
        .map(decode_error_body)
        .unwrap_or_default();
    Some(StreamError::Function { error_type, body })
}

/// Recognises `lambda_runtime`'s in-body error report: exactly the two trailer lines.
fn error_from_chunk(chunk: &[u8]) -> Option<StreamError> {
    let text = std::str::from_utf8(chunk).ok()?;
    let mut lines = text.strip_suffix("\r\n")?.split("\r\n");
    let (type_name, error_type) = lines.next()?.split_once(": ")?;
    let (body_name, body) = lines.next()?.split_once(": ")?;
    if lines.next().is_some()
        || !type_name.eq_ignore_ascii_case(ERROR_TYPE_TRAILER)
        || !body_name.eq_ignore_ascii_case(ERROR_BODY_TRAILER)
    {
        return None;
    }
    Some(StreamError::Function {
        error_type: error_type.to_owned(),
        body: decode_error_body(body),
    })
}

fn decode_error_body(value: &str) -> String {
    BASE64_STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_body_error_report() {
        let body = BASE64_STANDARD.encode("boom");
        let chunk = format!(
            "Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: {body}\r\n"
        );
        assert_eq!(
            error_from_chunk(chunk.as_bytes()),
            Some(StreamError::Function {
                error_type: "Runtime.StreamError".into(),
                body: "boom".into()
            })
        );
        // Anything more, or less, is data.
        assert_eq!(error_from_chunk(format!("{chunk}x").as_bytes()), None);
        assert_eq!(
            error_from_chunk(b"Lambda-Runtime-Function-Error-Type: X\r\n"),
            None
        );
    }

    #[test]
    fn error_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert(ERROR_TYPE_TRAILER, "Custom".parse().unwrap());
        trailers.insert(
            ERROR_BODY_TRAILER,
            BASE64_STANDARD.encode("{\"a\":1}").parse().unwrap(),
        );
        assert_eq!(
            error_from_trailers(&trailers),
            Some(StreamError::Function {
                error_type: "Custom".into(),
                body: "{\"a\":1}".into()
            })
        );
        assert_eq!(error_from_trailers(&HeaderMap::new()), None);
    }

    #[test]
    fn delimiter_search() {
        assert_eq!(find(b"{}\0\0\0\0\0\0\0\0rest", &PRELUDE_DELIMITER), Some(2));
        assert_eq!(find(b"{}\0\0\0", &PRELUDE_DELIMITER), None);
    }
}
