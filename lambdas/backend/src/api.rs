//! The REST control plane as one router over the handlers.
//!
//! Servers (the local stack, the Lambda adapters) turn their requests into an
//! [`ApiRequest`] and send back the [`ApiResponse`]; routing, authentication, body
//! parsing and error bodies live here once.

use client_core::api::{CreateTunnel, TunnelList};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Backend;
use crate::handlers::tunnels::Created;
use crate::handlers::{ApiFailure, Caller, clients, tunnels};

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
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A control-plane answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body; empty for 204.
    pub body: Vec<u8>,
}

impl ApiResponse {
    fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self { status, body },
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
            body: serde_json::to_vec(&f.body()).unwrap_or_default(),
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

/// Handles one control-plane request at time `now` (seconds since the Unix epoch).
pub async fn handle(b: &Backend, req: ApiRequest, now: u64) -> ApiResponse {
    match route(b, &req, now).await {
        Ok(r) => r,
        Err(f) => ApiResponse::failure(&f),
    }
}

async fn route(b: &Backend, req: &ApiRequest, now: u64) -> Result<ApiResponse, ApiFailure> {
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method.as_str();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "clients"]) => {
            let r = clients::register_client(b, now).await?;
            Ok(ApiResponse::json(201, &r))
        }
        ("GET", ["v1", "clients", "me"]) => {
            let caller = auth(b, req).await?;
            Ok(ApiResponse::json(
                200,
                &clients::client_info(b, &caller).await?,
            ))
        }
        ("POST", ["v1", "tokens"]) => {
            let caller = auth(b, req).await?;
            Ok(ApiResponse::json(
                201,
                &clients::issue_token(b, &caller, req.host.as_deref(), now),
            ))
        }
        ("POST", ["v1", "tunnels"]) => {
            let caller = auth(b, req).await?;
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
            let caller = auth(b, req).await?;
            let tunnels = tunnels::list_tunnels(b, &caller).await?;
            Ok(ApiResponse::json(200, &TunnelList { tunnels }))
        }
        ("GET", ["v1", "tunnels", id]) => {
            let caller = auth(b, req).await?;
            let t = tunnels::get_tunnel(b, &caller, id).await?;
            Ok(ApiResponse::json(200, &tunnels::view(b, &t)))
        }
        ("DELETE", ["v1", "tunnels", id]) => {
            let caller = auth(b, req).await?;
            tunnels::delete_tunnel(b, &caller, id).await?;
            Ok(ApiResponse {
                status: 204,
                body: Vec::new(),
            })
        }
        (
            _,
            ["v1", "clients"]
            | ["v1", "clients", "me"]
            | ["v1", "tokens"]
            | ["v1", "tunnels"]
            | ["v1", "tunnels", _],
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

async fn auth(b: &Backend, req: &ApiRequest) -> Result<Caller, ApiFailure> {
    clients::authenticate(b, req.authorization.as_deref()).await
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure::bad_request(format!(
            "the request body is not valid JSON for this route: {e}"
        ))
    })
}
