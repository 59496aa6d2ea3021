//! Public ingress: an HTTP request for `<name>.<base>` goes through the tunnel's
//! WebSocket to the client and its answer comes back, streamed both ways.
//!
//! Whether it goes at all is the admission pipeline's call
//! (`tunnel_backend::handlers::admission`, which tunnel-proxy calls too): this driver
//! reads the head, acts on the `Admission` (forward, hold in the inbox, or answer the
//! `Refusal`'s page), and reads the whole body first when the policy must verify it.
//!
//! The request head travels at once, with what body is already at hand; the rest
//! follows as BODY chunks as it arrives (`upload`), while this task waits for the
//! answer, so an origin sees a slow upload as it comes and may answer before it ends.
//! The answer's body is streamed to the public client as it arrives. Dropping the
//! answer early (the public client went away) sends CANCEL so the client stops
//! working on it; an answer complete before the upload ends stops the upload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use client_core::inspect::Outcome;
use client_core::protocol::limits::MAX_UPGRADED_STREAMS;
use client_core::protocol::{
    ChunkReader, ChunkWriter, Headers, ServerFrame, StreamId, check_head, encode,
};
use client_core::session::{SWITCHING_PROTOCOLS, is_upgrade_request};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tracing::Instrument as _;
use tunnel_backend::handlers::admission::{
    self, Admission, Admitted, Head, Refusal, Rules, Source, admit,
};
use tunnel_backend::handlers::inspect::{Recording, new_request_id};
use tunnel_backend::handlers::proxy::{REQUEST_ID_HEADER, Target, end_to_end, for_origin};
use tunnel_backend::telemetry;

use client_core::policy::MAX_INBOX_BODY_BYTES;
use tunnel_backend::handlers::inbox;
use tunnel_backend::model::TunnelRecord;

use crate::hub::{Conn, ResponsePart, SendError, UpgradeSlot};
use crate::inspector::Capture;
use crate::upload::{Upload, UploadError, read_ready, read_up_to};
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
    let request_id = new_request_id(received);
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
        relay_with_upgrade(
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
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
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
fn origin_headers(
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
fn answer_for(refusal: &Refusal) -> Response<Body> {
    let page = refusal.page();
    let mut r = Response::new(full(page.body));
    *r.status_mut() = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_headers(r.headers_mut(), page.headers);
    r
}

/// The answer to `refusal`, its outcome noted in `capture`.
fn fail(capture: Option<&Capture>, refusal: &Refusal) -> Response<Body> {
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

/// Sends one request through `target`'s client and answers with what comes back,
/// filling in `capture` on the way.
pub async fn relay<B: RequestBody>(
    state: Arc<State>,
    domain: &str,
    req: Request<B>,
    remote_ip: Option<&str>,
    target: Target,
    request_id: &str,
    capture: Option<Capture>,
) -> Response<Body> {
    relay_with_upgrade(
        state, domain, req, remote_ip, target, request_id, capture, None,
    )
    .await
}

/// [`relay`], carrying a WebSocket upgrade through when `on_upgrade` is given and the
/// client said in CONNECT that it can; otherwise the request goes as a plain one.
#[allow(clippy::too_many_arguments)]
async fn relay_with_upgrade<B: RequestBody>(
    state: Arc<State>,
    domain: &str,
    req: Request<B>,
    remote_ip: Option<&str>,
    target: Target,
    request_id: &str,
    capture: Option<Capture>,
    on_upgrade: Option<OnUpgrade>,
) -> Response<Body> {
    let fail = |refusal: Refusal| fail(capture.as_ref(), &refusal);
    let Some(conn) = state.hub.get(&target.connection_id) else {
        return fail(Refusal::Offline {
            domain: domain.to_owned(),
        });
    };
    let (parts, body) = req.into_parts();
    let headers = match origin_headers(&state, domain, &parts.headers, remote_ip, request_id) {
        Ok(h) => h,
        Err(refusal) => return fail(refusal),
    };
    let upgrade_value = parts
        .headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("websocket")
        .to_owned();
    let mut headers = headers;
    let upgrade = match on_upgrade.filter(|_| conn.upgrade()) {
        None => None,
        Some(on_upgrade) => match conn.try_upgrade_slot(MAX_UPGRADED_STREAMS) {
            Some(slot) => {
                // for_origin dropped them as hop-by-hop; an upgrade is the one hop
                // where the origin must see them.
                headers.push(("connection".into(), "upgrade".into()));
                headers.push(("upgrade".into(), upgrade_value));
                Some((on_upgrade, slot))
            }
            None => {
                return fail(Refusal::TooManyWebSockets {
                    domain: domain.to_owned(),
                    max: MAX_UPGRADED_STREAMS,
                });
            }
        },
    };
    tracing::debug!(request_id, %domain, method = %parts.method, "public request forwarded");
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();

    let max_body = state.max_body;
    // Admission checked a public request's; a replay's is checked here.
    if declared_length(&parts.headers).is_some_and(|n| n > max_body) {
        return fail(Refusal::TooLarge { max: max_body });
    }

    let (id, responses) = conn.open_stream();
    let mut guard = StreamGuard {
        conn: conn.clone(),
        id,
        done: false,
        upload: Upload::none(),
    };
    if let Err(e) = check_head(id, &path, &headers) {
        return fail(Refusal::Head(e));
    }
    let mut body = body;
    let max_chunk = state.backend.config.max_chunk;
    // The head goes at once: the origin sees a slow upload as it arrives, and may
    // answer (401, 413) before it ends.
    let (first, rest, fin) = match read_ready(&mut body, max_chunk).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(error = %e, "public client broke off the upload");
            return answer_for(&Refusal::BodyUnreadable);
        }
    };
    if (first.len() + rest.len()) as u64 > max_body {
        return fail(Refusal::TooLarge { max: max_body });
    }
    if let Some(c) = &capture {
        c.request_body(&first);
    }
    state.metrics.bytes_in(first.len());
    // An upgrade keeps the request side open: after a 101 it carries the public
    // client's bytes; after any other answer an empty last chunk closes it.
    let fin = fin && upgrade.is_none();
    let head = ServerFrame::Request {
        id,
        method: parts.method.as_str().to_owned(),
        path,
        headers,
        body: first.to_vec(),
        fin,
        reply_to: None,
        secret: None,
    };
    // Encoded here rather than in `send`, which answers any failure as "offline": a
    // head too large for one message is the request's doing. check_head bounds the
    // target and headers, not the method, and hyper takes a method of any length
    // (a 140 KB one came back as a 502 saying no client was connected).
    let message = match encode(&head) {
        Ok(m) => m,
        Err(e) => return fail(Refusal::HeadTooLarge { why: e.to_string() }),
    };
    if conn.send(message).await.is_err() {
        return fail(Refusal::Offline {
            domain: domain.to_owned(),
        });
    }
    if let Some(c) = &capture {
        c.forwarded();
    }
    if !fin && upgrade.is_none() {
        guard.upload = Upload::start(
            state.clone(),
            conn.clone(),
            id,
            body,
            rest,
            first.len() as u64,
            capture.clone(),
        );
    }
    answer(&state, guard, responses, domain, capture, upgrade).await
}

async fn send(conn: &Conn, frame: &ServerFrame) -> bool {
    match conn.send_frame(frame).await {
        Ok(()) => true,
        Err(SendError::Encode(e)) => {
            tracing::error!(error = %e, "cannot encode frame");
            false
        }
        Err(SendError::Gone(_)) => false,
    }
}

/// Waits for the client's answer, watching the upload as it goes.
async fn answer(
    state: &Arc<State>,
    mut guard: StreamGuard,
    mut responses: mpsc::Receiver<ResponsePart>,
    domain: &str,
    capture: Option<Capture>,
    upgrade: Option<(OnUpgrade, UpgradeSlot)>,
) -> Response<Body> {
    let fail = |refusal: Refusal| fail(capture.as_ref(), &refusal);
    let max_body = state.max_body;
    let upgrade_value = upgrade.is_some();
    let deadline = tokio::time::sleep(RESPONSE_TIMEOUT);
    tokio::pin!(deadline);
    let first = tokio::select! {
        part = responses.recv() => part,
        () = &mut deadline => {
            return fail(Refusal::Timeout { domain: domain.to_owned(), secs: RESPONSE_TIMEOUT.as_secs() });
        }
        e = guard.upload.failed() => match e {
            UploadError::TooLarge => return fail(Refusal::TooLarge { max: max_body }),
            UploadError::Client(e) => {
                tracing::debug!(error = %e, "public client broke off the upload");
                return answer_for(&Refusal::BodyUnreadable);
            }
            UploadError::Tunnel => return fail(Refusal::Offline { domain: domain.to_owned() }),
        },
    };
    let (status, headers, body, fin) = match first {
        Some(ResponsePart::Head {
            status,
            headers,
            body,
            fin,
        }) => (status, headers, body, fin),
        Some(ResponsePart::Error(e)) => {
            guard.finish();
            return fail(Refusal::Origin {
                code: e.code,
                message: e.message,
            });
        }
        Some(ResponsePart::Body(_)) => {
            return fail(Refusal::BrokenAnswer {
                why: "a body before its response head".into(),
            });
        }
        None => {
            return fail(Refusal::Disconnected {
                domain: domain.to_owned(),
            });
        }
    };
    let Ok(status) = StatusCode::from_u16(status) else {
        return fail(Refusal::BrokenAnswer {
            why: format!("the invalid status {status}"),
        });
    };
    let switching = status.as_u16() == SWITCHING_PROTOCOLS;
    if switching && (!upgrade_value || fin) {
        return fail(Refusal::BrokenAnswer {
            why: "switching protocols where no WebSocket was asked for".into(),
        });
    }
    if !switching && upgrade_value {
        // The origin declined the upgrade: close the request side left open for it.
        let close = ChunkWriter::new().write(guard.id, &[], true, 1);
        for chunk in close {
            if !send(&guard.conn, &ServerFrame::Body(chunk)).await {
                return fail(Refusal::Offline {
                    domain: domain.to_owned(),
                });
            }
        }
    }
    state.metrics.bytes_out(body.len());
    if let Some(c) = &capture {
        c.response_head(status.as_u16(), &headers);
        c.response_body(&body);
    }
    if let (true, Some((on_upgrade, slot))) = (switching, upgrade) {
        let upgrade_header = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("upgrade"))
            .map_or_else(|| "websocket".to_owned(), |(_, v)| v.clone());
        let pipe = Pipe {
            state: state.clone(),
            guard,
            responses,
            first: body,
            capture,
            _slot: slot,
        };
        tokio::spawn(pipe.run(on_upgrade).in_current_span());
        let mut response = Response::new(full(Vec::new()));
        *response.status_mut() = status;
        let h = response.headers_mut();
        copy_headers(h, end_to_end(headers));
        h.insert(
            http::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        if let Ok(v) = HeaderValue::from_str(&upgrade_header) {
            h.insert(http::header::UPGRADE, v);
        }
        return response;
    }
    let mut response = if fin {
        guard.finish();
        if let Some(c) = &capture {
            c.outcome(Outcome::Completed);
        }
        Response::new(full(body))
    } else {
        Response::new(stream_body(state.clone(), guard, responses, body, capture))
    };
    *response.status_mut() = status;
    copy_headers(response.headers_mut(), end_to_end(headers));
    response
}

fn copy_headers(h: &mut http::HeaderMap, headers: Headers) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.append(n, v);
        }
    }
}

/// An upgraded stream: the public client's raw bytes go to the client as request
/// BODY chunks, and the origin's, arriving as response BODY chunks, go back. Bytes,
/// not WebSocket messages, so frames, pings and close codes pass untouched.
struct Pipe {
    state: Arc<State>,
    guard: StreamGuard,
    responses: mpsc::Receiver<ResponsePart>,
    first: Vec<u8>,
    capture: Option<Capture>,
    /// Held for as long as the pipe runs.
    _slot: UpgradeSlot,
}

impl Pipe {
    async fn run(mut self, on_upgrade: OnUpgrade) {
        // Any early return drops the guard, which sends CANCEL so the client closes
        // its origin connection too.
        let outcome = match self.pipe(on_upgrade).await {
            Ok(()) => {
                self.guard.finish();
                Outcome::Completed
            }
            Err(e) => {
                tracing::debug!(reason = e, "upgraded stream ended early");
                Outcome::ClientDisconnected
            }
        };
        if let Some(c) = &self.capture {
            c.outcome(outcome);
        }
    }

    async fn pipe(&mut self, on_upgrade: OnUpgrade) -> Result<(), &'static str> {
        let upgraded = on_upgrade
            .await
            .map_err(|_| "the public client left before the upgrade")?;
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
        if !self.first.is_empty() {
            wr.write_all(&self.first)
                .await
                .map_err(|_| "public client write failed")?;
        }
        let (conn, id) = (self.guard.conn.clone(), self.guard.id);
        let max_chunk = self.state.backend.config.max_chunk;
        let (mut writer, mut reader) = (ChunkWriter::new(), ChunkReader::new());
        let mut buf = vec![0u8; max_chunk];
        let (mut public_done, mut origin_done) = (false, false);
        let idle_after = self.state.upgrade_idle;
        let idle = tokio::time::sleep(idle_after);
        tokio::pin!(idle);
        while !(public_done && origin_done) {
            tokio::select! {
                read = rd.read(&mut buf), if !public_done => {
                    let n = read.map_err(|_| "public client read failed")?;
                    public_done = n == 0;
                    self.state.metrics.bytes_in(n);
                    for chunk in writer.write(id, &buf[..n], public_done, max_chunk) {
                        if !send(&conn, &ServerFrame::Body(chunk)).await {
                            return Err("tunnel client gone");
                        }
                    }
                }
                part = self.responses.recv(), if !origin_done => {
                    let Some(ResponsePart::Body(chunk)) = part else {
                        return Err("tunnel client ended the stream");
                    };
                    reader
                        .accept(&chunk, u64::MAX)
                        .map_err(|_| "tunnel client broke the chunk sequence")?;
                    self.state.metrics.bytes_out(chunk.data.len());
                    wr.write_all(&chunk.data)
                        .await
                        .map_err(|_| "public client write failed")?;
                    if chunk.fin {
                        origin_done = true;
                        let _ = wr.shutdown().await;
                        // The origin closed its connection; a tunnel cannot tell that
                        // from a half-close, and a WebSocket has no use for one, so
                        // the public side ends too rather than hold its place open.
                        if !public_done {
                            public_done = true;
                            for chunk in writer.write(id, &[], true, max_chunk) {
                                if !send(&conn, &ServerFrame::Body(chunk)).await {
                                    return Err("tunnel client gone");
                                }
                            }
                        }
                    }
                }
                () = &mut idle => return Err("idle"),
            }
            idle.as_mut()
                .reset(tokio::time::Instant::now() + idle_after);
        }
        Ok(())
    }
}

/// The rest of the answer's body, streamed as BODY frames arrive.
fn stream_body(
    state: Arc<State>,
    guard: StreamGuard,
    responses: mpsc::Receiver<ResponsePart>,
    first: Vec<u8>,
    capture: Option<Capture>,
) -> Body {
    struct St {
        state: Arc<State>,
        guard: StreamGuard,
        rx: mpsc::Receiver<ResponsePart>,
        reader: ChunkReader,
        first: Option<Vec<u8>>,
        failed: bool,
        capture: Option<Capture>,
    }
    let st = St {
        state,
        guard,
        rx: responses,
        reader: ChunkReader::new(),
        first: (!first.is_empty()).then_some(first),
        failed: false,
        capture,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok(Frame::data(Bytes::from(first))), st));
        }
        if st.failed {
            return None;
        }
        if st.reader.is_finished() {
            st.guard.finish();
            if let Some(c) = &st.capture {
                c.outcome(Outcome::Completed);
            }
            return None;
        }
        // An error ends the body abruptly, which tells the public client it is
        // incomplete; nothing follows it.
        st.failed = true;
        let err = |m: &str| std::io::Error::other(m.to_owned());
        // The upload may still run beside a streamed answer (an origin that answers
        // while it reads); its failure ends the exchange.
        let next = tokio::select! {
            biased;
            part = st.rx.recv() => part,
            e = st.guard.upload.failed() => {
                let (outcome, why) = match e {
                    UploadError::TooLarge => (Outcome::TooLarge, "the request body passed the server's limit"),
                    UploadError::Client(_) => (Outcome::ClientDisconnected, "the public client broke off its upload"),
                    UploadError::Tunnel => (Outcome::TunnelOffline, "the tunnel client is gone"),
                };
                if let Some(c) = &st.capture {
                    c.outcome(outcome);
                }
                return Some((Err(err(why)), st));
            }
        };
        match next {
            Some(ResponsePart::Body(chunk)) => match st.reader.accept(&chunk, u64::MAX) {
                Ok(()) => {
                    st.failed = false;
                    st.state.metrics.bytes_out(chunk.data.len());
                    if let Some(c) = &st.capture {
                        c.response_body(&chunk.data);
                    }
                    Some((Ok(Frame::data(Bytes::from(chunk.data))), st))
                }
                Err(e) => Some((Err(err(&e.to_string())), st)),
            },
            Some(ResponsePart::Error(e)) => {
                st.guard.finish();
                if let Some(c) = &st.capture {
                    c.outcome(Outcome::OriginFailed);
                }
                Some((Err(err(&e.message)), st))
            }
            Some(ResponsePart::Head { .. }) => Some((Err(err("second response head")), st)),
            None => Some((Err(err("tunnel client disconnected mid-body")), st)),
        }
    });
    http_body_util::StreamBody::new(stream).boxed_unsync()
}

/// Closes the stream when the exchange ends, and tells the client to stop if it
/// ended before the answer did. An upload still running then is cut: the answer is
/// all the public client gets, and the client hears CANCEL instead of the rest of
/// the body it was waiting for.
struct StreamGuard {
    conn: Arc<Conn>,
    id: StreamId,
    done: bool,
    upload: Upload,
}

impl StreamGuard {
    /// The exchange ended normally: no CANCEL is due.
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.conn.close_stream(self.id);
        let cut = self.upload.cut();
        if (!self.done || cut)
            && let Ok(m) = encode(&ServerFrame::Cancel { id: self.id })
        {
            self.conn.try_send(m);
        }
    }
}
