//! The Runtime API one instance talks to (`AWS_LAMBDA_RUNTIME_API`).
//!
//! The routes and headers of AWS's "Lambda runtime API" (version `2018-06-01`):
//!
//! | route | what |
//! | --- | --- |
//! | `GET /runtime/invocation/next` | long-poll; the event as body, its context in `Lambda-Runtime-*` headers |
//! | `POST /runtime/invocation/{id}/response` | the answer: buffered, or streamed (`Lambda-Runtime-Function-Response-Mode: streaming`) |
//! | `POST /runtime/invocation/{id}/error` | a function error, `Lambda-Runtime-Function-Error-Type` header |
//! | `POST /runtime/init/error` | an initialisation error; the instance is then reset |
//!
//! Answers follow the AWS Runtime Interface Emulator: 202 for accepted answers, 400 for
//! an unknown request id, 403 for a call out of turn, 413 for a response over the limit.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use super::instance::{Current, Instance};
use super::{Event, InvokeError, lock, stream};

/// The API version prefix every route has.
const PREFIX: &str = "/2018-06-01/runtime/";

/// Header of the error type on `/error` and `/init/error`.
pub(crate) const ERROR_TYPE: &str = "lambda-runtime-function-error-type";

/// Accepts the instance's connections until the task is aborted (by the monitor, when
/// the process ends); aborting drops the connection tasks with it.
pub(crate) async fn serve(listener: TcpListener, instance: Arc<Instance>) {
    crate::serve::serve(listener, instance, |instance, req| async move {
        route(&instance, req).await
    })
    .await;
}

async fn route(instance: &Arc<Instance>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return not_found();
    };
    let method = req.method().clone();
    if method == Method::GET && rest == "invocation/next" {
        return next(instance).await;
    }
    if method != Method::POST {
        return not_found();
    }
    if rest == "init/error" {
        return init_error(instance, req).await;
    }
    match rest
        .strip_prefix("invocation/")
        .and_then(|r| r.rsplit_once('/'))
    {
        Some((id, "response")) => response(instance, id, req).await,
        Some((id, "error")) => error(instance, id, req).await,
        _ => not_found(),
    }
}

/// The long-poll: waits for this instance's next job and hands it over.
async fn next(instance: &Instance) -> Response<Full<Bytes>> {
    if lock(&instance.current).is_some() {
        return error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "/next called before the current invocation was answered",
        );
    }
    let job = {
        let mut jobs = instance.jobs_rx.lock().await;
        jobs.recv().await
    };
    let Some(job) = job else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceShutdown",
            "the instance is shutting down",
        );
    };
    let timeout_ms = u64::try_from(instance.ctx.spec.timeout.as_millis()).unwrap_or(u64::MAX);
    let deadline_ms = client_core::clock::now_ms().saturating_add(timeout_ms);
    *lock(&instance.current) = Some(Current {
        request_id: job.request_id.clone(),
        events: job.events.clone(),
    });
    // The invoker starts the function's timeout from this moment.
    let _ = job.events.try_send(Event::Picked(Instant::now()));

    let mut response = Response::new(Full::new(job.payload));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", job.request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        instance.ctx.arn.clone(),
    );
    set("lambda-runtime-trace-id", trace_id());
    response
}

/// `/response`: a buffered answer, or the start of a streamed one.
async fn response(
    instance: &Arc<Instance>,
    id: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(events) = instance.current_events(id) else {
        return unknown_request(id);
    };
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if streaming {
        return stream::respond(instance, id, events, req).await;
    }
    let limit = instance.ctx.limits.max_buffered_response_bytes;
    match read_bounded(req.into_body(), limit).await {
        // The runtime's connection broke mid-body: the process is most likely gone,
        // and its monitor reports that.
        Err(()) => error_response(StatusCode::BAD_REQUEST, "InvalidBody", "body read failed"),
        Ok(Bounded::Over) => {
            instance.clear_current(id);
            let _ = events.try_send(Event::Failed(InvokeError::ResponseTooLarge { limit }));
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("the response is over the {limit}-byte limit"),
            )
        }
        Ok(Bounded::Fits(body)) => {
            instance.clear_current(id);
            let _ = events.try_send(Event::Buffered(body));
            accepted()
        }
    }
}

/// `/error`: the function failed; the instance stays warm.
async fn error(instance: &Instance, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(events) = instance.current_events(id) else {
        return unknown_request(id);
    };
    let header_type = error_type_header(&req);
    let limit = instance.ctx.limits.max_buffered_response_bytes;
    let payload = match read_bounded(req.into_body(), limit).await {
        Err(()) => {
            return error_response(StatusCode::BAD_REQUEST, "InvalidBody", "body read failed");
        }
        Ok(Bounded::Fits(body)) => body,
        // An error document over the limit is cut rather than lost.
        Ok(Bounded::Over) => {
            Bytes::from_static(b"{\"errorType\":\"Function.ResponseSizeTooLarge\"}")
        }
    };
    let (error_type, error_message) = describe_error(&payload, header_type);
    instance.clear_current(id);
    let _ = events.try_send(Event::Failed(InvokeError::Function {
        error_type,
        error_message,
        payload,
    }));
    accepted()
}

/// `/init/error`: the runtime could not start; the instance is reset.
async fn init_error(instance: &Instance, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let header_type = error_type_header(&req);
    let limit = instance.ctx.limits.max_buffered_response_bytes;
    let payload = match read_bounded(req.into_body(), limit).await {
        Ok(Bounded::Fits(body)) => body,
        Ok(Bounded::Over) | Err(()) => Bytes::new(),
    };
    let (error_type, error_message) = describe_error(&payload, header_type);
    instance.fail_init(InvokeError::Init {
        error_type,
        error_message,
        payload,
    });
    accepted()
}

fn error_type_header(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get(ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `errorType`/`errorMessage` of an error document (what `lambda_runtime`'s
/// `Diagnostic` holds), falling back to the header (`lambda_runtime` sends
/// `unhandled` there) and then to `Unhandled`.
fn describe_error(payload: &[u8], header_type: Option<String>) -> (String, String) {
    let doc: Option<serde_json::Value> = serde_json::from_slice(payload).ok();
    let field = |name: &str| {
        doc.as_ref()
            .and_then(|d| d.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let error_type = field("errorType")
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".to_owned());
    (error_type, field("errorMessage").unwrap_or_default())
}

/// A body read with a size limit.
pub(crate) enum Bounded {
    Fits(Bytes),
    /// Over the limit; the rest was read and dropped so the runtime's POST completes
    /// and its connection stays usable.
    Over,
}

/// Reads a whole body, keeping at most `limit` bytes. `Err` when the connection broke.
pub(crate) async fn read_bounded(mut body: Incoming, limit: usize) -> Result<Bounded, ()> {
    let mut buf = BytesMut::new();
    let mut over = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Ok(data) = frame.into_data() {
            if !over && buf.len() + data.len() <= limit {
                buf.extend_from_slice(&data);
            } else {
                over = true;
                buf = BytesMut::new();
            }
        }
    }
    Ok(if over {
        Bounded::Over
    } else {
        Bounded::Fits(buf.freeze())
    })
}

/// An X-Ray trace header for the event, as Lambda sends one even when tracing is off.
fn trace_id() -> String {
    let secs = client_core::clock::now_secs();
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let root: [u8; 12] = rand::random();
    let parent: [u8; 8] = rand::random();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        hex(&root),
        hex(&parent)
    )
}

pub(crate) fn accepted() -> Response<Full<Bytes>> {
    json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned())
}

fn unknown_request(id: &str) -> Response<Full<Bytes>> {
    error_response(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("{id:?} is not the invocation this runtime holds"),
    )
}

fn not_found() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        "no such Runtime API route",
    )
}

pub(crate) fn error_response(
    status: StatusCode,
    kind: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errorType": kind, "errorMessage": message });
    json(status, body.to_string())
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents() {
        let doc = br#"{"errorType":"&alloc::string::String","errorMessage":"boom"}"#;
        assert_eq!(
            describe_error(doc, Some("unhandled".into())),
            ("&alloc::string::String".into(), "boom".into())
        );
        assert_eq!(
            describe_error(b"not json", Some("Custom".into())),
            ("Custom".into(), String::new())
        );
        assert_eq!(
            describe_error(b"", None),
            ("Unhandled".into(), String::new())
        );
    }

    #[test]
    fn trace_ids_have_the_xray_form() {
        let t = trace_id();
        assert!(t.starts_with("Root=1-"), "{t}");
        assert!(t.ends_with(";Sampled=0"), "{t}");
        assert_eq!(
            t.len(),
            "Root=1-".len() + 8 + 1 + 24 + ";Parent=".len() + 16 + 10
        );
    }
}
