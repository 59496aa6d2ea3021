//! The REST control plane as one router over the handlers.
//!
//! Servers (the local stack, the Lambda adapters) turn their requests into an
//! [`ApiRequest`] and send back the [`ApiResponse`]; routing, authentication, body
//! parsing and error bodies live here once.

use client_core::api::{CreateTunnel, TunnelList, UpdateTunnel};
use client_core::inspect::{ExchangeSummary, Filter, ReplayEdits};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Backend;
use crate::handlers::inbox;
use crate::handlers::inspect::{self, Replayer};
use crate::handlers::tunnels::Created;
use crate::handlers::{ApiFailure, Caller, clients, tunnels};
use crate::store::LogQuery;

/// Every route of the control plane, as `(method, path pattern)`; `{x}` is one path
/// segment. The OpenAPI document lists exactly these (a test holds the two together).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/clients"),
    ("GET", "/v1/clients/me"),
    ("POST", "/v1/clients/me/key"),
    ("POST", "/v1/tokens"),
    ("POST", "/v1/tunnels"),
    ("GET", "/v1/tunnels"),
    ("GET", "/v1/tunnels/{tunnel_id}"),
    ("PATCH", "/v1/tunnels/{tunnel_id}"),
    ("DELETE", "/v1/tunnels/{tunnel_id}"),
    ("GET", "/v1/tunnels/{tunnel_id}/stats"),
    ("GET", "/v1/tunnels/{tunnel_id}/requests"),
    ("DELETE", "/v1/tunnels/{tunnel_id}/requests"),
    ("GET", "/v1/tunnels/{tunnel_id}/requests/live"),
    ("GET", "/v1/requests/{request_id}"),
    ("POST", "/v1/requests/{request_id}/replay"),
    ("POST", "/v1/tunnels/{tunnel_id}/inbox/take"),
    ("POST", "/v1/tunnels/{tunnel_id}/inbox/deliveries"),
    ("GET", "/v1/openapi.json"),
];

/// The OpenAPI 3 document of the control plane, served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Milliseconds a browser waits before reopening a live feed that ended (the `retry`
/// field of a finite event stream, see [`live_snapshot`]).
pub const LIVE_RETRY_MS: u64 = 2000;

/// Largest request body the control plane reads.
pub const MAX_API_BODY_BYTES: usize = 64 * 1024;

/// A control-plane request, independent of the server that received it.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// Method, upper case.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The `Host` header, if any.
    pub host: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The query string, without `?`; empty when none.
    pub query: String,
    /// The `Last-Event-ID` header a browser sends when it reopens an event stream.
    pub last_event_id: Option<String>,
    /// The caller's address, for the registration rate limit and the limit on failed
    /// authentications.
    pub remote_ip: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A control-plane answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Media type of `body`.
    pub content_type: &'static str,
    /// The body; empty for 204.
    pub body: Vec<u8>,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
    /// The metrics scope of the rate limit that refused the call (429 answers).
    pub limit_scope: Option<&'static str>,
}

/// Media type of JSON answers.
pub const JSON: &str = "application/json";

/// Media type of the live feed.
pub const EVENT_STREAM: &str = "text/event-stream";

impl ApiResponse {
    /// A JSON answer.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                content_type: JSON,
                body,
                retry_after: None,
                limit_scope: None,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize API answer");
                Self::failure(&ApiFailure::new(
                    500,
                    client_core::api::ApiErrorCode::Internal,
                    "internal error",
                ))
            }
        }
    }

    fn failure(f: &ApiFailure) -> Self {
        Self {
            status: f.status,
            content_type: JSON,
            body: serde_json::to_vec(&f.body()).unwrap_or_default(),
            retry_after: f.retry_after,
            limit_scope: f.limit_scope,
        }
    }

    fn no_content() -> Self {
        Self {
            status: 204,
            content_type: JSON,
            body: Vec::new(),
            retry_after: None,
            limit_scope: None,
        }
    }

    /// An answer for a failure raised before routing (e.g. body too large).
    pub fn from_failure(f: &ApiFailure) -> Self {
        Self::failure(f)
    }
}

/// True when `path` belongs to the control plane.
pub fn is_api_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Handles one control-plane request at time `now` (seconds since the Unix epoch);
/// replays go out through `replayer`.
pub async fn handle(
    b: &Backend,
    req: ApiRequest,
    now: u64,
    replayer: &dyn Replayer,
) -> ApiResponse {
    match route(b, &req, now, replayer).await {
        Ok(r) => r,
        Err(f) => ApiResponse::failure(&f),
    }
}

async fn route(
    b: &Backend,
    req: &ApiRequest,
    now: u64,
    replayer: &dyn Replayer,
) -> Result<ApiResponse, ApiFailure> {
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method.as_str();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "clients"]) => {
            let source = req.remote_ip.as_deref().unwrap_or("unknown");
            limit(b, "address", source, b.config.register_rate).await?;
            let r = clients::register_client(b, now).await?;
            Ok(ApiResponse::json(201, &r))
        }
        ("GET", ["v1", "clients", "me"]) => {
            let caller = auth(b, req, now).await?;
            Ok(ApiResponse::json(
                200,
                &clients::client_info(b, &caller).await?,
            ))
        }
        ("POST", ["v1", "clients", "me", "key"]) => {
            let caller = auth(b, req, now).await?;
            Ok(ApiResponse::json(
                201,
                &clients::rotate_key(b, &caller).await?,
            ))
        }
        ("POST", ["v1", "tokens"]) => {
            let caller = auth(b, req, now).await?;
            Ok(ApiResponse::json(
                201,
                &clients::issue_token(b, &caller, req.host.as_deref(), now),
            ))
        }
        ("POST", ["v1", "tunnels"]) => {
            let caller = auth(b, req, now).await?;
            let body: CreateTunnel = if req.body.is_empty() {
                CreateTunnel::default()
            } else {
                parse_json(&req.body)?
            };
            let (t, created) = tunnels::create_tunnel(b, &caller, body, now).await?;
            let status = if created == Created::New { 201 } else { 200 };
            Ok(ApiResponse::json(status, &t))
        }
        ("GET", ["v1", "tunnels"]) => {
            let caller = auth(b, req, now).await?;
            let tunnels = tunnels::list_tunnels(b, &caller, now).await?;
            Ok(ApiResponse::json(200, &TunnelList { tunnels }))
        }
        ("GET", ["v1", "tunnels", id]) => {
            let caller = auth(b, req, now).await?;
            let t = tunnels::get_tunnel(b, &caller, id, now).await?;
            Ok(ApiResponse::json(200, &tunnels::describe(b, &t).await?))
        }
        ("PATCH", ["v1", "tunnels", id]) => {
            let caller = auth(b, req, now).await?;
            let body: UpdateTunnel = if req.body.is_empty() {
                UpdateTunnel::default()
            } else {
                parse_json(&req.body)?
            };
            Ok(ApiResponse::json(
                200,
                &tunnels::update_tunnel(b, &caller, id, body, now).await?,
            ))
        }
        ("DELETE", ["v1", "tunnels", id]) => {
            let caller = auth(b, req, now).await?;
            tunnels::delete_tunnel(b, &caller, id, now).await?;
            Ok(ApiResponse::no_content())
        }
        ("GET", ["v1", "tunnels", id, "stats"]) => {
            let caller = auth(b, req, now).await?;
            let stats =
                crate::handlers::stats::tunnel_stats(b, &caller, id, client_core::clock::now_ms())
                    .await?;
            Ok(ApiResponse::json(200, &stats))
        }
        ("GET", ["v1", "tunnels", id, "requests"]) => {
            let caller = auth(b, req, now).await?;
            let page = inspect::list_requests(b, &caller, id, &req.query, now).await?;
            Ok(ApiResponse::json(200, &page))
        }
        ("DELETE", ["v1", "tunnels", id, "requests"]) => {
            let caller = auth(b, req, now).await?;
            inspect::clear_requests(b, &caller, id, now).await?;
            Ok(ApiResponse::no_content())
        }
        ("GET", ["v1", "tunnels", id, "requests", "live"]) => {
            let caller = live_caller(b, req, now).await?;
            live_snapshot(b, &caller, id, req, now).await
        }
        ("GET", ["v1", "requests", id]) => {
            let caller = auth(b, req, now).await?;
            Ok(ApiResponse::json(
                200,
                &inspect::get_request(b, &caller, id, now).await?,
            ))
        }
        ("POST", ["v1", "requests", id, "replay"]) => {
            let caller = auth(b, req, now).await?;
            let edits: ReplayEdits = if req.body.is_empty() {
                ReplayEdits::default()
            } else {
                parse_json(&req.body)?
            };
            let x = inspect::replay_request(b, &caller, id, &edits, replayer, now).await?;
            Ok(ApiResponse::json(201, &x))
        }
        ("POST", ["v1", "tunnels", id, "inbox", "take"]) => {
            let caller = auth(b, req, now).await?;
            Ok(ApiResponse::json(
                200,
                &inbox::take(b, &caller, id, now).await?,
            ))
        }
        ("POST", ["v1", "tunnels", id, "inbox", "deliveries"]) => {
            let caller = auth(b, req, now).await?;
            let report = parse_json(&req.body)?;
            Ok(ApiResponse::json(
                201,
                &inbox::report(b, &caller, id, report, replayer).await?,
            ))
        }
        ("GET", ["v1", "openapi.json"]) => Ok(ApiResponse {
            status: 200,
            content_type: JSON,
            body: OPENAPI.as_bytes().to_vec(),
            retry_after: None,
            limit_scope: None,
        }),
        (
            _,
            ["v1", "clients"]
            | ["v1", "clients", "me"]
            | ["v1", "clients", "me", "key"]
            | ["v1", "tokens"]
            | ["v1", "tunnels"]
            | ["v1", "tunnels", _]
            | ["v1", "tunnels", _, "stats"]
            | ["v1", "tunnels", _, "requests"]
            | ["v1", "tunnels", _, "requests", "live"]
            | ["v1", "requests", _]
            | ["v1", "requests", _, "replay"]
            | ["v1", "tunnels", _, "inbox", "take" | "deliveries"]
            | ["v1", "openapi.json"],
        ) => Err(ApiFailure::new(
            405,
            client_core::api::ApiErrorCode::BadRequest,
            format!("{method} is not allowed on {}", req.path),
        )),
        _ => Err(ApiFailure::new(
            404,
            client_core::api::ApiErrorCode::NotFound,
            format!(
                "no API route {method} {}; the routes are under /v1 (see the README)",
                req.path
            ),
        )),
    }
}

/// The authenticated caller, within its control-plane rate.
async fn auth(b: &Backend, req: &ApiRequest, now: u64) -> Result<Caller, ApiFailure> {
    let source = req.remote_ip.as_deref();
    let caller = clients::authenticate(b, source, req.authorization.as_deref(), now).await?;
    limit(b, "client", &caller.client_id, b.config.control_rate).await?;
    Ok(caller)
}

/// Takes a token from the bucket of `kind:key` when `rate` is set.
pub async fn limit(
    b: &Backend,
    kind: &str,
    key: &str,
    rate: Option<crate::limits::Rate>,
) -> Result<(), ApiFailure> {
    let Some(rate) = rate else { return Ok(()) };
    b.limiter
        .take(&format!("{kind}:{key}"), rate, client_core::clock::now_ms())
        .await
        .map_err(|l| ApiFailure::rate_limited(&format!("this {kind}"), l))
}

/// The query parameter carrying a session token on the live feed.
pub const ACCESS_TOKEN_PARAM: &str = "access_token";

/// The value of query parameter `name` (taken as is: the values this API reads from
/// it are ids and tokens, which need no decoding).
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The query string without the live feed's own parameters, for the filter.
pub fn filter_query(query: &str) -> String {
    query
        .split('&')
        .filter(|kv| {
            let key = kv.split_once('=').map_or(*kv, |(k, _)| k);
            !matches!(key, ACCESS_TOKEN_PARAM | "after")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The caller of the live feed: the `Authorization` header, or a session token in
/// `?access_token=` (a browser's `EventSource` cannot send headers; API keys are not
/// taken there, as query strings end up in logs).
pub async fn live_caller(b: &Backend, req: &ApiRequest, now: u64) -> Result<Caller, ApiFailure> {
    let source = req.remote_ip.as_deref();
    let caller = match (
        &req.authorization,
        query_param(&req.query, ACCESS_TOKEN_PARAM),
    ) {
        (None, Some(token)) => clients::authenticate_token(b, source, token, now).await?,
        _ => clients::authenticate(b, source, req.authorization.as_deref(), now).await?,
    };
    limit(b, "client", &caller.client_id, b.config.control_rate).await?;
    Ok(caller)
}

/// One server-sent event for a captured exchange; its id lets a reopened stream
/// resume after it.
pub fn live_event(summary: &ExchangeSummary) -> String {
    let data = serde_json::to_string(summary).unwrap_or_default();
    format!(
        "id: {}\nevent: exchange\ndata: {data}\n\n",
        summary.request_id
    )
}

/// The live feed as a finite event stream, for servers that cannot hold a response
/// open (API Gateway): the exchanges after `Last-Event-ID` (or `?after=`), oldest
/// first, then the stream ends and the browser reopens it after [`LIVE_RETRY_MS`].
/// A first connection gets only the retry field, so it starts from now.
async fn live_snapshot(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    req: &ApiRequest,
    now: u64,
) -> Result<ApiResponse, ApiFailure> {
    let tunnel = tunnels::get_tunnel(b, caller, tunnel_id, now).await?;
    let filter = Filter::from_query(&filter_query(&req.query))
        .map_err(|e| ApiFailure::bad_request(e.to_string()))?;
    let after = req
        .last_event_id
        .as_deref()
        .or_else(|| query_param(&req.query, "after"))
        .filter(|id| inspect::is_request_id(id));
    let mut body = format!("retry: {LIVE_RETRY_MS}\n\n");
    if let Some(after) = after {
        let page = b
            .store
            .list_exchanges(LogQuery {
                tunnel_id: &tunnel.tunnel_id,
                before: None,
                filter: &filter,
                limit: inspect::MAX_PAGE,
            })
            .await?;
        for s in page
            .exchanges
            .iter()
            .rev()
            .filter(|s| s.request_id.as_str() > after)
        {
            body.push_str(&live_event(s));
        }
    }
    Ok(ApiResponse {
        status: 200,
        content_type: EVENT_STREAM,
        body: body.into_bytes(),
        retry_after: None,
        limit_scope: None,
    })
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure::bad_request(format!(
            "the request body is not valid JSON for this route: {e}"
        ))
    })
}
