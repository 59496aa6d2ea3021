//! Public ingress: an HTTP request for `<name>.<base>` is admitted, held or refused
//! here, and an admitted one goes through the tunnel's WebSocket ([`crate::relay`]).
//!
//! Whether it goes at all is the admission pipeline's call
//! (`tunnel_backend::handlers::admission`, which tunnel-proxy calls too): this driver
//! reads the head, acts on the `Admission` (forward, hold in the inbox, or answer the
//! `Refusal`'s page), and reads the whole body first when the policy must verify it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use client_core::protocol::Headers;
use client_core::session::is_upgrade_request;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body as HttpBody, Incoming};
use tracing::Instrument as _;
use tunnel_backend::handlers::admission::{
    self, Admission, Admitted, Head, Refusal, Rules, Source, admit,
};
use tunnel_backend::handlers::inspect::Recording;
use tunnel_backend::handlers::proxy::{REQUEST_ID_HEADER, Target, for_origin};
use tunnel_backend::telemetry;

use client_core::policy::MAX_INBOX_BODY_BYTES;
use tunnel_backend::handlers::inbox;
use tunnel_backend::model::TunnelRecord;

use crate::inspector::Capture;
use crate::upload::read_up_to;
use crate::{Body, State, full};
use client_core::clock::now_ms;

/// A request body the ingress can forward: a public client's, or a replay's.
pub trait RequestBody:
    HttpBody<Data = Bytes, Error: std::fmt::Display> + Send + Unpin + 'static
{
}
impl<B> RequestBody for B where
    B: HttpBody<Data = Bytes, Error: std::fmt::Display> + Send + Unpin + 'static
{
}

/// How long the client may take to start answering. Below the CLI's own origin timeout
/// would cut it short; this covers a client that stopped answering altogether.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Public request body limit of the local stack, unless configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 100 * 1024 * 1024;

/// Metrics label for requests to names no tunnel holds.
pub const UNKNOWN_TUNNEL_LABEL: &str = telemetry::UNKNOWN_TUNNEL;

/// Longest caller-sent `X-Request-Id` logged, in characters.
pub const MAX_LOGGED_REQUEST_ID: usize = 128;

/// Forwards one public request for subdomain `domain`, and counts it.
pub async fn proxy(
    state: Arc<State>,
    domain: String,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let received = now_ms();
    let request_id = state.request_ids.next(received);
    // Every line logged about this request, here and in the handlers it calls, carries
    // the id the origin, the CLI and the inspector see. A caller's own X-Request-Id is
    // logged beside it (the origin never gets it: ours replaces it, see `for_origin`),
    // so a caller's trace can still be matched to ours.
    let caller_request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        // The caller chooses it: bounded, so it cannot make every line huge.
        .map(|v| v.chars().take(MAX_LOGGED_REQUEST_ID).collect::<String>());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        caller_request_id = caller_request_id.as_deref(),
        domain = %domain,
    );
    async move {
        let method = req.method().clone();
        let (response, known) =
            forward(state.clone(), &domain, req, remote, &request_id, received).await;
        let label = if known {
            domain.as_str()
        } else {
            UNKNOWN_TUNNEL_LABEL
        };
        let status = response.status().as_u16();
        let latency = started.elapsed();
        state.metrics.request(label, status, latency);
        tracing::info!(
            %method,
            status,
            latency_ms = latency.as_secs_f64() * 1e3,
            "public request answered"
        );
        response
    }
    .instrument(span)
    .await
}

async fn forward(
    state: Arc<State>,
    domain: &str,
    mut req: Request<Incoming>,
    remote: SocketAddr,
    request_id: &str,
    received: u64,
) -> (Response<Body>, bool) {
    let headers = lossy_headers(req.headers());
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let websocket = wants_websocket(req.headers());
    let head = Head {
        domain,
        path: &path,
        headers: &headers,
        peer: Some(remote.ip()),
        body_len: declared_length(req.headers()),
        websocket,
    };
    let rules = Rules {
        max_body: state.max_body,
    };
    let mut admission = admit(&state.backend, &head, Source::Public, rules, received).await;
    // The store may still name a connection that just closed (its detach is under
    // way): an inbox takes the request rather than it failing as offline. Only
    // tunnels with an inbox take the hub's lock for it here.
    if let Admission::Forward(a) = &admission
        && inbox::settings(&a.tunnel).is_some()
        && a.connection_id
            .as_deref()
            .is_some_and(|c| state.hub.get(c).is_none())
        && let Admission::Forward(a) = admission
    {
        admission = a.connection_gone(Source::Public, websocket);
    }
    let admitted = match admission {
        Admission::Forward(a) | Admission::Hold(a) => a,
        Admission::Refuse(refused) => {
            let known = refused.refusal.names_a_tunnel();
            let Some(tunnel) = &refused.logged else {
                match refused.refusal.error_kind() {
                    Some(kind) => state.metrics.error(kind),
                    None => state.metrics.rate_limited(telemetry::SCOPE_TUNNEL),
                }
                return (answer_for(&refused.refusal), known);
            };
            let recording = start_capture(&state, tunnel, request_id, &req, remote, received);
            let capture =
                Capture::counted(recording, state.inspector.clone(), state.metrics.clone());
            if refused.capture.hide_share_token {
                capture.hide_share_token(None);
            }
            return (logged_refusal(&refused.refusal, &capture), known);
        }
    };
    let recording = start_capture(&state, &admitted.tunnel, request_id, &req, remote, received);
    let capture = Capture::counted(recording, state.inspector.clone(), state.metrics.clone());
    // Taken before the request is rebuilt: hyper keeps the hook to the connection's
    // upgraded IO in the request's extensions.
    let on_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let req = match apply(&admitted, req, &headers, received, &capture).await {
        Ok(req) => req,
        Err(refused) => return (refused, true),
    };
    let remote_ip = remote.ip().to_string();
    let Admitted {
        tunnel,
        connection_id,
        ..
    } = admitted;
    let Some(connection_id) = connection_id else {
        return (
            hold(
                &state, &tunnel, req, &remote_ip, request_id, received, &capture,
            )
            .await,
            true,
        );
    };
    let target = Target {
        tunnel,
        connection_id,
    };
    (
        crate::relay::relay_with_upgrade(
            state,
            domain,
            req,
            Some(&remote_ip),
            target,
            request_id,
            Some(capture),
            on_upgrade,
        )
        .await,
        true,
    )
}

/// Headers as text, for admission and capture (a value that is not text is kept,
/// lossily: the check only compares, the record only shows).
fn lossy_headers(headers: &http::HeaderMap) -> Headers {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The body length a request declares with `Content-Length`.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Holds an admitted request in the offline tunnel's inbox and answers for it.
async fn hold(
    state: &State,
    tunnel: &TunnelRecord,
    req: Request<CheckedBody>,
    remote_ip: &str,
    request_id: &str,
    received: u64,
    capture: &Capture,
) -> Response<Body> {
    let Some(settings) = inbox::settings(tunnel) else {
        return fail(
            Some(capture),
            &Refusal::Offline {
                domain: tunnel.domain.clone(),
            },
        );
    };
    let (parts, mut body) = req.into_parts();
    let (whole, rest, fin) = match read_up_to(&mut body, MAX_INBOX_BODY_BYTES).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(error = %e, "public client broke off the upload");
            return fail(Some(capture), &Refusal::BodyUnreadable);
        }
    };
    capture.request_body(&whole);
    state.metrics.bytes_in(whole.len());
    let headers = match origin_headers(
        state,
        &tunnel.domain,
        &parts.headers,
        Some(remote_ip),
        request_id,
    ) {
        Ok(h) => h,
        Err(refusal) => return fail(Some(capture), &refusal),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = if fin && rest.is_empty() {
        inbox::hold(
            &state.backend,
            settings,
            inbox::Arrival {
                tunnel,
                request_id,
                received_ms: received,
                method: parts.method.as_str(),
                path,
                headers,
                body: &whole,
            },
        )
        .await
    } else {
        inbox::too_large(tunnel)
    };
    let headers = answer.headers();
    capture.response_head(answer.status, &headers);
    capture.response_body(&answer.body);
    capture.outcome(answer.outcome);
    let mut r = Response::new(full(answer.body));
    *r.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED);
    copy_headers(r.headers_mut(), headers);
    r
}

/// A public request's headers as the origin is to get them ([`for_origin`]), or why
/// not (a 400 for the caller: a header value the tunnel cannot carry).
pub(crate) fn origin_headers(
    state: &State,
    domain: &str,
    headers: &http::HeaderMap,
    remote_ip: Option<&str>,
    request_id: &str,
) -> Result<Headers, Refusal> {
    let mut lines = Headers::with_capacity(headers.len() + 6);
    for (name, value) in headers {
        let Ok(v) = value.to_str() else {
            return Err(Refusal::BadHeaderValue {
                name: name.as_str().to_owned(),
            });
        };
        lines.push((name.as_str().to_owned(), v.to_owned()));
    }
    let public = &state.backend.config.public;
    Ok(for_origin(lines, public, domain, remote_ip, request_id))
}

/// Whether a public request asks for a WebSocket: an upgrade (RFC 9110 section 7.8)
/// to `websocket`. Other upgrades (h2c) go as plain requests, their hop-by-hop
/// headers dropped.
fn wants_websocket(headers: &http::HeaderMap) -> bool {
    let lines: Headers = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    is_upgrade_request(&lines)
        && headers
            .get_all(http::header::UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
}

/// A public request's body after admission: as it streams in, or read whole
/// (webhook verification needs all of it before anything is forwarded).
pub type CheckedBody = Either<Incoming, Full<Bytes>>;

/// Makes an admitted request what the origin is to get: the whole body checked when
/// the policy needs it ([`admission::check_body`]), the credentials meant for the
/// tunnel taken out, the path as admitted; the share token hidden from the record.
/// A refusal is answered here and recorded.
async fn apply(
    admitted: &Admitted,
    req: Request<Incoming>,
    headers: &Headers,
    received: u64,
    capture: &Capture,
) -> Result<Request<CheckedBody>, Response<Body>> {
    let (mut parts, body) = req.into_parts();
    let body = if admitted.needs_body_check {
        let whole = match read_at_most(body, admission::BODY_CHECK_READ_BYTES).await {
            Ok(whole) => whole,
            Err(e) => {
                tracing::debug!(error = %e, "public client broke off the upload");
                return Err(fail(Some(capture), &Refusal::BodyUnreadable));
            }
        };
        if let Err(refusal) = admission::check_body(admitted, headers, &whole, received) {
            if admitted.capture.hide_share_token {
                capture.hide_share_token(None);
            }
            capture.request_body(&whole);
            return Err(logged_refusal(&refusal, capture));
        }
        Either::Right(Full::new(whole))
    } else {
        Either::Left(body)
    };
    for name in &admitted.strip_headers {
        parts.headers.remove(*name);
    }
    if let Some(p) = &admitted.path {
        let mut uri = parts.uri.into_parts();
        uri.path_and_query = p.parse().ok();
        match http::Uri::from_parts(uri) {
            Ok(u) => parts.uri = u,
            Err(_) => return Err(fail(Some(capture), &Refusal::BadTarget)),
        }
    }
    if admitted.capture.hide_share_token {
        capture.hide_share_token(admitted.path.as_deref());
    }
    Ok(Request::from_parts(parts, body))
}

/// The answer to `refusal`.
pub(crate) fn answer_for(refusal: &Refusal) -> Response<Body> {
    let page = refusal.page();
    let mut r = Response::new(full(page.body));
    *r.status_mut() = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_headers(r.headers_mut(), page.headers);
    r
}

/// The answer to `refusal`, its outcome noted in `capture`.
pub(crate) fn fail(capture: Option<&Capture>, refusal: &Refusal) -> Response<Body> {
    if let Some(c) = capture {
        c.outcome(refusal.outcome());
    }
    answer_for(refusal)
}

/// The answer to a request refused before anything of it was forwarded, recorded
/// whole: the caller's request and the refusal it got.
fn logged_refusal(refusal: &Refusal, capture: &Capture) -> Response<Body> {
    let page = refusal.page();
    capture.response_head(page.status, &page.headers);
    capture.response_body(&page.body);
    capture.outcome(refusal.outcome());
    answer_for(refusal)
}

/// Reads up to `max` bytes of `body`; a longer body is cut there, which is enough for
/// the caller to see it is over its limit.
async fn read_at_most(mut body: Incoming, max: usize) -> Result<Bytes, hyper::Error> {
    let mut buf = Vec::new();
    while buf.len() < max {
        match body.frame().await {
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            None => break,
        }
    }
    buf.truncate(max);
    Ok(Bytes::from(buf))
}

/// The capture of a request about to go through `target`.
pub fn start_capture<B>(
    state: &State,
    tunnel: &TunnelRecord,
    request_id: &str,
    req: &Request<B>,
    remote: impl std::fmt::Display,
    received: u64,
) -> Recording {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Recording::start(
        tunnel,
        request_id,
        req.method().as_str(),
        path,
        &remote.to_string(),
        &lossy_headers(req.headers()),
        received,
        state.backend.config.capture_bytes,
    )
}

/// Copies header lines that are valid HTTP into `h`; others are dropped.
pub(crate) fn copy_headers(h: &mut http::HeaderMap, headers: Headers) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.append(n, v);
        }
    }
}
