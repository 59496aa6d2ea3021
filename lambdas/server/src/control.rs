//! Requests for the service itself: the REST control plane, the WebSocket upgrade and
//! the landing page.

use std::sync::Arc;

use client_core::clock::now_secs as unix_now;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tunnel_backend::api::{self, ApiRequest, ApiResponse, MAX_API_BODY_BYTES};
use tunnel_backend::handlers::ApiFailure;
use tunnel_backend::handlers::clients::WS_PATH;
use tunnel_backend::handlers::connection::authorize_connection;

use crate::replay::LocalReplayer;
use crate::{Body, State, full, live, socket};

const LANDING: &str = "tunnel-server\n\n\
REST API:   /v1 (JSON; see the README)\n\
WebSocket:  /v1/connect (tunnel clients)\n\
Tunnels:    http://<name>.<this host>\n\n\
Web console: not in this build. Start with --console-dir DIR (built by\n\
scripts/console-build.sh DIR), or use a release build (scripts/release.sh),\n\
which has it built in.\n";

/// Handles a request addressed to the service rather than to a tunnel.
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: std::net::SocketAddr,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == WS_PATH {
        return upgrade(state, req, remote).await;
    }
    if api::is_api_path(&path) {
        return rest(state, req, remote).await;
    }
    if let Some(r) = probe(&state, &path).await {
        return r;
    }
    if let Some(console) = &state.console {
        let accept = header_str(&req, header::ACCEPT_ENCODING);
        if let Some(r) = console.serve(req.method(), &path, accept.as_deref()).await {
            return r;
        }
    }
    if path == "/" {
        let mut r = Response::new(full(LANDING));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    let mut r = Response::new(full(format!(
        "Not found: {path}. The API is under /v1; tunnels are reached at http://<name>.<this host>.\n"
    )));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// `/metrics` and `/healthz`, answered on the bare host and on `--metrics-listen`.
pub async fn probe(state: &State, path: &str) -> Option<Response<Body>> {
    match path {
        "/metrics" => {
            let mut r = Response::new(full(state.metrics.render(
                state.hub.len(),
                state.backend.store.read_transactions().unwrap_or(0),
            )));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Some(r)
        }
        "/healthz" => Some(health(state).await),
        _ => None,
    }
}

/// What `--metrics-listen` serves: [`probe`] and nothing else, so the address can be
/// open to a scraper without exposing the API or any tunnel.
#[derive(Debug)]
pub struct ProbeOnly(pub Arc<State>);

impl crate::Handler for ProbeOnly {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        _remote: std::net::SocketAddr,
    ) -> Response<Body> {
        let path = req.uri().path().to_owned();
        match probe(&self.0, &path).await {
            Some(r) => r,
            None => {
                let mut r = Response::new(full("Only /metrics and /healthz are served here.\n"));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        }
    }
}

/// `/healthz` for load balancers and probes: 200 when the store answers, 503 when it
/// does not, with uptime and version either way.
async fn health(state: &State) -> Response<Body> {
    let store_ok = state
        .backend
        .store
        .get_client("healthz-probe")
        .await
        .is_ok();
    let body = serde_json::json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "store": if store_ok { "ok" } else { "unreachable" },
        "uptime_secs": state.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let mut r = json(ApiResponse {
        status: if store_ok { 200 } else { 503 },
        content_type: api::JSON,
        body: body.to_string().into_bytes(),
        retry_after: None,
        limit_scope: None,
    });
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A control-plane answer as an HTTP response.
pub fn json(resp: ApiResponse) -> Response<Body> {
    let mut r = Response::new(full(resp.body));
    *r.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if resp.status != 204 {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(resp.content_type),
        );
    }
    if let Some(secs) = resp.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn rest(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: std::net::SocketAddr,
) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let host = header_str(&req, header::HOST);
    let authorization = header_str(&req, header::AUTHORIZATION);
    let query = req.uri().query().unwrap_or_default().to_owned();
    let last_event_id = header_str(&req, header::HeaderName::from_static("last-event-id"));
    let body = match Limited::new(req.into_body(), MAX_API_BODY_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return json(ApiResponse::from_failure(&ApiFailure::new(
                413,
                client_core::api::ApiErrorCode::PayloadTooLarge,
                format!("control-plane request bodies are limited to {MAX_API_BODY_BYTES} bytes"),
            )));
        }
    };
    let req = ApiRequest {
        method,
        path,
        host,
        authorization,
        query,
        last_event_id,
        remote_ip: Some(remote.ip().to_string()),
        body,
    };
    if let Some(tunnel_id) = live::feed_path(&req) {
        return live::serve(state, req, tunnel_id).await;
    }
    let replayer = LocalReplayer(state.clone());
    let answer = api::handle(&state.backend, req, unix_now(), &replayer).await;
    if answer.status == 429 {
        let scope = answer
            .limit_scope
            .unwrap_or(tunnel_backend::telemetry::SCOPE_API);
        state.metrics.rate_limited(scope);
    }
    json(answer)
}

/// The session token, from `?token=` (what browsers and API Gateway authorizers can
/// pass) or `Authorization: Bearer`.
fn token_of(req: &Request<Incoming>) -> Option<String> {
    let from_query = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_owned())
    });
    from_query.or_else(|| {
        header_str(req, header::AUTHORIZATION)
            .and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned))
    })
}

async fn upgrade(
    state: Arc<State>,
    mut req: Request<Incoming>,
    remote: std::net::SocketAddr,
) -> Response<Body> {
    let source = remote.ip().to_string();
    let token = token_of(&req);
    let authorized =
        authorize_connection(&state.backend, Some(&source), token.as_deref(), unix_now()).await;
    let caller = match authorized {
        Ok(c) => c,
        Err(f) => {
            if let Some(scope) = f.limit_scope {
                state.metrics.rate_limited(scope);
            }
            return json(ApiResponse::from_failure(&f));
        }
    };
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return json(ApiResponse::from_failure(&ApiFailure::bad_request(
            "this endpoint speaks WebSocket only; connect with a WebSocket client",
        )));
    };
    if !is_upgrade {
        return json(ApiResponse::from_failure(&ApiFailure::bad_request(
            "missing 'Upgrade: websocket'",
        )));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => socket::run(state, upgraded, caller).await,
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    switching_protocols(&key)
}

/// The 101 answer that completes a WebSocket handshake for `key`.
pub fn switching_protocols(key: &HeaderValue) -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}
