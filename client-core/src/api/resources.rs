//! The REST resources: each request body and answer of the control plane, as the
//! server sends and reads them.

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
