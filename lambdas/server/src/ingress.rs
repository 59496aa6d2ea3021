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
use http::{Request, Response};
use hyper::body::{Body as HttpBody, Incoming};
use tracing::Instrument as _;
use tunnel_backend::handlers::admission::{Admission, Admitted, Head, Rules, Source, admit};
use tunnel_backend::handlers::inspect::Recording;
use tunnel_backend::handlers::proxy::{REQUEST_ID_HEADER, Target};
use tunnel_backend::telemetry;

use tunnel_backend::handlers::inbox;
use tunnel_backend::model::TunnelRecord;

use crate::answer::{answer_for, logged_refusal};
use crate::checked::apply;
use crate::heads::{declared_length, lossy_headers, wants_websocket};
use crate::hold::hold;
use crate::inspector::Capture;
use crate::{Body, State};
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
