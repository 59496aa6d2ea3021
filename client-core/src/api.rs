//! The REST control plane: its types and a sans-IO client.
//!
//! [`ApiClient`] builds [`HttpRequest`]s and turns [`HttpResponse`]s into typed results;
//! the CLI sends them with its HTTP stack, the web console with the browser's fetch.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `POST /v1/clients` answer: the new client and its key, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The client's id.
    pub client_id: String,
    /// The API key; only its hash is kept by the server.
    pub api_key: String,
}

/// `GET /v1/clients/me` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The client's id.
    pub client_id: String,
    /// Registration time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// `POST /v1/tunnels` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTunnel {
    /// Subdomain wanted; a random one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Whether the inspector masks credential headers (`Authorization`, `Cookie`,
    /// `Set-Cookie`, ...) of this tunnel's requests; default true. Fixed when the tunnel
    /// is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact_secrets: Option<bool>,
    /// Who may reach the public URL. Also applied when the call hands back the
    /// caller's own offline tunnel (a restarted CLI): the tunnel gets this policy, or
    /// none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::Policy>,
}

/// `PATCH /v1/tunnels/{id}` body: changes the tunnel's access policy field by field
/// (JSON Merge Patch, see [`crate::policy::PolicyPatch`]). `policy` left out changes
/// nothing; `"policy": null` removes every check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTunnel {
    /// The change to the policy.
    #[serde(default, skip_serializing_if = "crate::policy::Patch::is_keep")]
    pub policy: crate::policy::Patch<crate::policy::PolicyPatch>,
}

/// Whether a client serves the tunnel now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelStatus {
    /// A client is connected and serving.
    Online,
    /// No client is connected; public requests get 502.
    Offline,
}

impl std::fmt::Display for TunnelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TunnelStatus::Online => "online",
            TunnelStatus::Offline => "offline",
        })
    }
}

/// A tunnel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    /// The tunnel's id.
    pub tunnel_id: String,
    /// Its subdomain.
    pub domain: String,
    /// Where the public reaches it.
    pub public_url: String,
    /// Online or offline.
    pub status: TunnelStatus,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Exchanges in its request log now (the log keeps only the newest ones).
    #[serde(default)]
    pub request_count: u64,
    /// Whether its inspector masks credential headers.
    #[serde(default = "yes")]
    pub redact_secrets: bool,
    /// Its access policy, without secrets; absent when anyone may reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::PolicySummary>,
    /// While no client serves it (inactive): when it expires with its domain, policy,
    /// inbox and request log, seconds since the Unix epoch; `tunnel start --domain`
    /// resumes it before then. Absent while online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `GET /v1/tunnels` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelList {
    /// The caller's tunnels, oldest first.
    pub tunnels: Vec<Tunnel>,
}

/// `GET /v1/tunnels/{id}/stats` answer: whether the tunnel is served, and its traffic
/// over the last [`TunnelStats::window_secs`], computed from its request log (replays
/// not counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStats {
    /// The tunnel's id.
    pub tunnel_id: String,
    /// Its subdomain.
    pub domain: String,
    /// Where the public reaches it.
    pub public_url: String,
    /// Online or offline.
    pub status: TunnelStatus,
    /// When the client serving it now connected, seconds since the Unix epoch.
    #[serde(default)]
    pub connected_since: Option<u64>,
    /// Length of the window the counts cover, seconds.
    pub window_secs: u64,
    /// Public requests received in the window.
    pub requests: u64,
    /// Of those, the ones answered 5xx or not answered at all.
    pub errors: u64,
    /// Median time to the end of the answer, milliseconds; `None` without requests.
    #[serde(default)]
    pub p50_ms: Option<u64>,
    /// 99th percentile of the same.
    #[serde(default)]
    pub p99_ms: Option<u64>,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Whether the request log held fewer requests than the window had (it keeps
    /// only the newest ones), so the counts are a lower bound.
    #[serde(default)]
    pub truncated: bool,
    /// Requests its offline inbox holds now; `None` when it has no inbox.
    #[serde(default)]
    pub held: Option<u64>,
}

/// `POST /v1/tokens` answer: a short-lived token for the WebSocket endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionToken {
    /// The signed token.
    pub token: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// WebSocket URL to connect to, with the token appended as `?token=`.
    pub ws_url: String,
}

/// Machine-readable kinds of API error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// No key, or a key the server does not know.
    Unauthorized,
    /// The resource does not exist or is not the caller's.
    NotFound,
    /// The request body or parameters are wrong.
    BadRequest,
    /// The subdomain breaks the naming rules.
    InvalidDomain,
    /// The subdomain is held by another tunnel.
    DomainTaken,
    /// An access-policy setting breaks its rules; the error's `field` names it.
    InvalidPolicy,
    /// Too many requests; retry later.
    RateLimited,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The server failed.
    Internal,
    /// A code this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// The error body every API failure carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Its kind.
    pub code: ApiErrorCode,
    /// What a person should do.
    pub message: String,
    /// The request field at fault, when one is (an `invalid_policy`'s policy field,
    /// like `allow_ips`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An HTTP request for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    /// Headers to set.
    pub headers: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<Vec<u8>>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A failed API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error.
    #[error("{message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Its kind.
        code: ApiErrorCode,
        /// Its message.
        message: String,
        /// The request field at fault, when the server named one.
        field: Option<String>,
    },
    /// The answer was not what this client expects (wrong server or version).
    #[error("unexpected answer from the server (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
}

impl ApiError {
    /// The error kind, when the server named one.
    pub fn code(&self) -> Option<ApiErrorCode> {
        match self {
            ApiError::Server { code, .. } => Some(*code),
            ApiError::Unexpected { .. } => None,
        }
    }

    /// The request field the server named as at fault.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::Server { field, .. } => field.as_deref(),
            ApiError::Unexpected { .. } => None,
        }
    }
}

/// A request together with how to read its answer.
#[derive(Debug)]
pub struct Call<T> {
    /// The request to send.
    pub request: HttpRequest,
    expect: u16,
    _out: PhantomData<fn() -> T>,
}

/// Marker output for calls whose success has no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoContent;

/// Outputs a [`Call`] can produce from a success body.
pub trait FromBody: Sized {
    /// Reads the body.
    fn from_body(body: &[u8]) -> Result<Self, String>;
}

impl<T: DeserializeOwned> FromBody for T {
    fn from_body(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

impl<T: FromBody> Call<T> {
    /// Reads the answer to [`Self::request`].
    pub fn parse(&self, response: &HttpResponse) -> Result<T, ApiError> {
        parse_response(self.expect, response)
    }
}

impl Call<NoContent> {
    /// Reads the answer to a call that returns no body.
    pub fn parse_empty(&self, response: &HttpResponse) -> Result<NoContent, ApiError> {
        if response.status == self.expect {
            Ok(NoContent)
        } else {
            Err(error_from(response))
        }
    }
}

fn parse_response<T: FromBody>(expect: u16, response: &HttpResponse) -> Result<T, ApiError> {
    // 200 for a resumed resource where 201 is usual for a new one: both are success.
    if response.status != expect && !(expect == 201 && response.status == 200) {
        return Err(error_from(response));
    }
    T::from_body(&response.body).map_err(|detail| ApiError::Unexpected {
        status: response.status,
        detail,
    })
}

fn error_from(response: &HttpResponse) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(ErrorBody { error }) => ApiError::Server {
            status: response.status,
            code: error.code,
            message: error.message,
            field: error.field,
        },
        Err(_) => ApiError::Unexpected {
            status: response.status,
            detail: String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect(),
        },
    }
}

/// Builds control-plane requests for one server and key.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base_url: String,
    api_key: Option<String>,
}

impl ApiClient {
    /// A client for the API at `base_url` (e.g. `http://localhost:8080`).
    pub fn new(base_url: &str, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
        }
    }

    /// The API's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /v1/clients`: register a new client (no key needed).
    pub fn register(&self) -> Call<Registration> {
        self.call("POST", "/v1/clients", None, 201)
    }

    /// `GET /v1/clients/me`: who the key belongs to.
    pub fn me(&self) -> Call<ClientInfo> {
        self.call("GET", "/v1/clients/me", None, 200)
    }

    /// `POST /v1/clients/me/key`: a new API key; the current one stops working.
    pub fn rotate_key(&self) -> Call<Registration> {
        self.call("POST", "/v1/clients/me/key", None, 201)
    }

    /// `POST /v1/tokens`: a short-lived token for the WebSocket endpoint.
    pub fn session_token(&self) -> Call<SessionToken> {
        self.call("POST", "/v1/tokens", None, 201)
    }

    /// `POST /v1/tunnels`: create a tunnel, on `domain` or a random one.
    pub fn create_tunnel(&self, domain: Option<&str>) -> Call<Tunnel> {
        self.create_tunnel_with(&CreateTunnel {
            domain: domain.map(str::to_owned),
            ..CreateTunnel::default()
        })
    }

    /// `POST /v1/tunnels` with every setting.
    pub fn create_tunnel_with(&self, body: &CreateTunnel) -> Call<Tunnel> {
        self.call("POST", "/v1/tunnels", Some(json(body)), 201)
    }

    /// `PATCH /v1/tunnels/{id}`: changes the tunnel's access policy field by field.
    pub fn update_tunnel(&self, tunnel_id: &str, body: &UpdateTunnel) -> Call<Tunnel> {
        self.call(
            "PATCH",
            &format!("/v1/tunnels/{tunnel_id}"),
            Some(json(body)),
            200,
        )
    }

    /// `GET /v1/tunnels`: the caller's tunnels.
    pub fn list_tunnels(&self) -> Call<TunnelList> {
        self.call("GET", "/v1/tunnels", None, 200)
    }

    /// `GET /v1/tunnels/{id}`.
    pub fn get_tunnel(&self, tunnel_id: &str) -> Call<Tunnel> {
        self.call("GET", &format!("/v1/tunnels/{tunnel_id}"), None, 200)
    }

    /// `GET /v1/tunnels/{id}/stats`.
    pub fn tunnel_stats(&self, tunnel_id: &str) -> Call<TunnelStats> {
        self.call("GET", &format!("/v1/tunnels/{tunnel_id}/stats"), None, 200)
    }

    /// `DELETE /v1/tunnels/{id}`.
    pub fn delete_tunnel(&self, tunnel_id: &str) -> Call<NoContent> {
        self.call("DELETE", &format!("/v1/tunnels/{tunnel_id}"), None, 204)
    }

    /// `GET /v1/tunnels/{id}/requests`: a page of the tunnel's captured exchanges,
    /// newest first, after `cursor` (a previous page's `next_cursor`).
    pub fn list_requests(
        &self,
        tunnel_id: &str,
        filter: &crate::inspect::Filter,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Call<crate::inspect::RequestPage> {
        let mut query = filter.to_query();
        let mut add = |k: &str, v: &str| {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("{k}={v}"));
        };
        if let Some(c) = cursor {
            add("cursor", c);
        }
        if let Some(l) = limit {
            add("limit", &l.to_string());
        }
        let sep = if query.is_empty() { "" } else { "?" };
        self.call(
            "GET",
            &format!("/v1/tunnels/{tunnel_id}/requests{sep}{query}"),
            None,
            200,
        )
    }

    /// `GET /v1/requests/{id}`: one captured exchange.
    pub fn get_request(&self, request_id: &str) -> Call<crate::inspect::Exchange> {
        self.call("GET", &format!("/v1/requests/{request_id}"), None, 200)
    }

    /// `DELETE /v1/tunnels/{id}/requests`: empties the tunnel's log.
    pub fn clear_requests(&self, tunnel_id: &str) -> Call<NoContent> {
        self.call(
            "DELETE",
            &format!("/v1/tunnels/{tunnel_id}/requests"),
            None,
            204,
        )
    }

    /// `POST /v1/requests/{id}/replay`: sends the request again with `edits`.
    pub fn replay(
        &self,
        request_id: &str,
        edits: &crate::inspect::ReplayEdits,
    ) -> Call<crate::inspect::Exchange> {
        self.call(
            "POST",
            &format!("/v1/requests/{request_id}/replay"),
            Some(json(edits)),
            201,
        )
    }

    /// `POST /v1/tunnels/{id}/inbox/take`: the oldest request the offline inbox holds,
    /// removed from it.
    pub fn take_held(&self, tunnel_id: &str) -> Call<crate::inbox::Taken> {
        self.call(
            "POST",
            &format!("/v1/tunnels/{tunnel_id}/inbox/take"),
            None,
            200,
        )
    }

    /// `POST /v1/tunnels/{id}/inbox/deliveries`: records how a held request's delivery
    /// went.
    pub fn report_delivery(
        &self,
        tunnel_id: &str,
        report: &crate::inbox::DeliveryReport,
    ) -> Call<crate::inspect::ExchangeSummary> {
        self.call(
            "POST",
            &format!("/v1/tunnels/{tunnel_id}/inbox/deliveries"),
            Some(json(report)),
            201,
        )
    }

    /// URL of the live feed of `tunnel_id` (server-sent events), authenticated by a
    /// session token in the query string for clients that cannot send headers.
    pub fn live_url(&self, tunnel_id: &str, session_token: Option<&str>) -> String {
        let base = format!("{}/v1/tunnels/{tunnel_id}/requests/live", self.base_url);
        match session_token {
            Some(t) => format!("{base}?access_token={t}"),
            None => base,
        }
    }

    fn call<T>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Vec<u8>>,
        expect: u16,
    ) -> Call<T> {
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        if let Some(key) = &self.api_key {
            headers.push(("authorization".to_owned(), format!("Bearer {key}")));
        }
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        Call {
            request: HttpRequest {
                method,
                url: format!("{}{path}", self.base_url),
                headers,
                body,
            },
            expect,
            _out: PhantomData,
        }
    }
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_authorized_requests() {
        let api = ApiClient::new("http://localhost:8080/", Some("k".into()));
        let call = api.create_tunnel(Some("myapp"));
        assert_eq!(call.request.url, "http://localhost:8080/v1/tunnels");
        assert_eq!(call.request.method, "POST");
        assert!(
            call.request
                .headers
                .contains(&("authorization".into(), "Bearer k".into()))
        );
        assert_eq!(
            call.request.body.as_deref(),
            Some(br#"{"domain":"myapp"}"#.as_slice())
        );
    }

    #[test]
    fn parses_success_and_errors() {
        let api = ApiClient::new("http://x", None);
        let call = api.register();
        let ok = HttpResponse {
            status: 201,
            body: br#"{"client_id":"c","api_key":"k"}"#.to_vec(),
        };
        assert_eq!(call.parse(&ok).unwrap().client_id, "c");
        let err = HttpResponse {
            status: 409,
            body: br#"{"error":{"code":"domain_taken","message":"taken"}}"#.to_vec(),
        };
        let e = call.parse(&err).unwrap_err();
        assert_eq!(e.code(), Some(ApiErrorCode::DomainTaken));
        assert_eq!(e.to_string(), "taken");
        let html = HttpResponse {
            status: 502,
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert!(matches!(
            call.parse(&html),
            Err(ApiError::Unexpected { status: 502, .. })
        ));
        let newer = HttpResponse {
            status: 418,
            body: br#"{"error":{"code":"teapot","message":"m"}}"#.to_vec(),
        };
        assert_eq!(
            call.parse(&newer).unwrap_err().code(),
            Some(ApiErrorCode::Unknown)
        );
    }

    #[test]
    fn delete_expects_no_content() {
        let call = ApiClient::new("http://x", Some("k".into())).delete_tunnel("t1");
        assert_eq!(
            call.parse_empty(&HttpResponse {
                status: 204,
                body: vec![]
            }),
            Ok(NoContent)
        );
    }
}
