//! The records the store keeps. Field names are the attribute names on every backend.

use serde::{Deserialize, Serialize};

/// A registered client. Its API key is kept only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Public id, also embedded in the API key so the key finds its record.
    pub client_id: String,
    /// SHA-256 of the API key's secret part, hex.
    pub key_hash: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

/// A tunnel: a claimed subdomain and, while a client serves it, its connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRecord {
    /// Random id.
    pub tunnel_id: String,
    /// Owner.
    pub client_id: String,
    /// Claimed subdomain.
    pub domain: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// The WebSocket connection serving it now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Whether captured exchanges have their credential headers masked. Records from
    /// before this field existed read as true.
    #[serde(default = "yes")]
    pub redact_secrets: bool,
    /// Who may reach the public URL; absent (and on records from before policies)
    /// means anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<StoredPolicy>,
    /// While no client serves it: when it expires (seconds since the Unix epoch),
    /// [`INACTIVE_TUNNEL_TTL_SECS`] after it went inactive. Set on detach and at
    /// creation, cleared on attach; the DynamoDB TTL attribute. An expired tunnel reads
    /// as absent (see [`expired`]) and its domain is free to claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// How long a tunnel no client serves is kept, with its domain, policy, inbox and
/// request log, before it expires: 7 days. Long enough to survive a weekend or a
/// week's holiday away from a demo (the CLI resumes it with `tunnel start PORT
/// --domain NAME`), short enough that a name someone stopped using frees itself
/// within a week, and within DynamoDB's TTL deletion, which only promises "a few
/// days".
pub const INACTIVE_TUNNEL_TTL_SECS: u64 = 7 * 24 * 3600;

/// Whether a record with expiry `expires_at` has expired at `now` (both seconds
/// since the Unix epoch): it lives until the second it expires, not a second less.
/// The one rule every store applies to tunnels and domain claims.
pub fn expired(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_some_and(|t| t <= now)
}

/// An access policy as stored: the basic-auth password and the share token only as
/// salted hashes; the webhook secret in clear, since checking an HMAC needs it (it
/// is never shown back: the API shows [`client_core::policy::PolicySummary`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// Basic auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<StoredBasicAuth>,
    /// The share token's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_token: Option<SaltedHash>,
    /// Allowed networks, normalised CIDRs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    /// Webhook verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<client_core::policy::Webhook>,
    /// The offline inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<client_core::policy::Inbox>,
}

/// Basic auth as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBasicAuth {
    /// User name, in clear (shown back to the owner).
    pub user: String,
    /// The password's hash.
    pub password: SaltedHash,
}

/// HMAC-SHA256 of a secret keyed by a random salt, both hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaltedHash {
    /// Random salt, hex.
    pub salt: String,
    /// The digest, hex.
    pub hash: String,
}

fn yes() -> bool {
    true
}

/// The claim of a subdomain. One per domain, enforced by a conditional write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// The subdomain.
    pub domain: String,
    /// The tunnel holding it.
    pub tunnel_id: String,
    /// That tunnel's owner.
    pub client_id: String,
    /// The tunnel's [`TunnelRecord::expires_at`], kept beside the claim so that a
    /// claim of an expired tunnel is free to take with one conditional write (and
    /// DynamoDB's TTL removes it with its tunnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// A live WebSocket connection, so `$disconnect` (which knows only the connection id)
/// can find what to release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Connection id (API Gateway's, or the local stack's).
    pub connection_id: String,
    /// The authorized client.
    pub client_id: String,
    /// The tunnel it serves, once CONNECT succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<String>,
    /// Seconds since the Unix epoch.
    pub connected_at: u64,
    /// The client fetches and puts bodies by URL (CONNECT's `body_urls`), so a
    /// large request body may go to it as a `body_url`. Absent: false (older
    /// records, older clients).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_urls: bool,
}
