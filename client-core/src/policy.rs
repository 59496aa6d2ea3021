//! Per-tunnel access policy: who may reach a tunnel's public URL.
//!
//! [`Policy`] is what an owner sets (`tunnel start` flags, the `policy` object of
//! `POST /v1/tunnels` and `PATCH /v1/tunnels/{id}`, the console), secrets in clear;
//! [`Policy::validate`] holds the rules, so the CLI can refuse a bad flag before it
//! calls the server and the server says the same thing to a curl user.
//! [`PolicySummary`] is what the API shows back: never a secret.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod patch;
mod webhook;

pub use patch::{Patch, PolicyPatch, WebhookPatch};

pub use webhook::{
    DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX, DEFAULT_WEBHOOK_TOLERANCE_SECS,
    MAX_WEBHOOK_PREFIX_BYTES, MAX_WEBHOOK_SECRET_BYTES, MAX_WEBHOOK_TOLERANCE_SECS,
    STANDARD_SECRET_PREFIX, Webhook, WebhookProvider, WebhookSummary, parse_webhook_flag,
};

/// Header carrying a share token.
pub const SHARE_TOKEN_HEADER: &str = "x-tunnel-token";

/// Query parameter carrying a share token (for links a browser can open).
pub const SHARE_TOKEN_PARAM: &str = "tunnel_token";

/// Longest `user:password` pair. Far beyond any real one; it keeps a stored record and
/// a hashed header small.
pub const MAX_BASIC_AUTH_BYTES: usize = 256;

/// Shortest share token: anything shorter can be guessed by trying.
pub const MIN_SHARE_TOKEN_BYTES: usize = 8;

/// Longest share token.
pub const MAX_SHARE_TOKEN_BYTES: usize = 256;

/// Longest signature header name.
pub const MAX_HEADER_NAME_BYTES: usize = 64;

/// Most CIDRs in one allow-list: each request is matched against all of them.
pub const MAX_ALLOW_IPS: usize = 64;

/// What an offline inbox answers unless the owner sets another status: accepted, to be
/// processed later (what a webhook sender wants to hear).
pub const DEFAULT_INBOX_STATUS: u16 = 202;

/// Requests an inbox holds unless the owner sets another bound.
pub const DEFAULT_INBOX_MAX_REQUESTS: u32 = 100;

/// Most requests any inbox may be set to hold.
pub const MAX_INBOX_REQUESTS: u32 = 1000;

/// Largest request body an inbox takes. DynamoDB items stop at 400 KB, and the held
/// request (head and body) is one item; webhooks are far smaller.
pub const MAX_INBOX_BODY_BYTES: usize = 256 * 1024;

/// How long a held request waits for its client unless the owner sets another time.
pub const DEFAULT_INBOX_TTL_SECS: u64 = 24 * 60 * 60;

/// Longest time a held request may wait (a week).
pub const MAX_INBOX_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// Longest answer body an owner may set for held requests.
pub const MAX_INBOX_REPLY_BYTES: usize = 4096;

/// An access policy as its owner sets it. Every setting present must pass; an empty
/// policy admits everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// HTTP basic auth as `user:password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<String>,
    /// A token the caller sends as the `X-Tunnel-Token` header or the `tunnel_token`
    /// query parameter; it is removed before the request reaches the origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_token: Option<String>,
    /// Addresses allowed in, as CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or bare
    /// addresses; empty allows every address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    /// Webhook signature verification, in one sender's scheme (GitHub, Stripe,
    /// Slack, Shopify, Standard Webhooks) or the generic HMAC-SHA256 of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// The offline inbox: while no client serves the tunnel, admitted requests are
    /// held and answered for it, and delivered when its client comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<Inbox>,
}

/// Offline inbox settings; every field has a default, so `{}` turns it on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    /// Status the public gets for a held request; [`DEFAULT_INBOX_STATUS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body of that answer (sent as `text/plain`); a short JSON note when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Most requests held at once; [`DEFAULT_INBOX_MAX_REQUESTS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Seconds a held request waits before it is dropped; [`DEFAULT_INBOX_TTL_SECS`]
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

impl Inbox {
    /// The status held requests are answered with.
    pub fn status(&self) -> u16 {
        self.status.unwrap_or(DEFAULT_INBOX_STATUS)
    }

    /// The most requests held at once.
    pub fn max_requests(&self) -> u32 {
        self.max_requests.unwrap_or(DEFAULT_INBOX_MAX_REQUESTS)
    }

    /// Seconds a held request waits.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs.unwrap_or(DEFAULT_INBOX_TTL_SECS)
    }

    /// The answer's media type and body.
    pub fn reply(&self) -> (&'static str, String) {
        match &self.body {
            Some(b) => ("text/plain; charset=utf-8", b.clone()),
            None => (
                "application/json",
                "{\"held\":true,\"detail\":\"The tunnel's client is offline; the request is held and will be delivered when it reconnects.\"}\n"
                    .to_owned(),
            ),
        }
    }

    fn validate(&self) -> Result<(), PolicyError> {
        if !(200..=599).contains(&self.status()) {
            return Err(PolicyError::InboxStatus(self.status()));
        }
        if self
            .body
            .as_ref()
            .is_some_and(|b| b.len() > MAX_INBOX_REPLY_BYTES)
        {
            return Err(PolicyError::InboxReplyTooLong);
        }
        if !(1..=MAX_INBOX_REQUESTS).contains(&self.max_requests()) {
            return Err(PolicyError::InboxMaxRequests);
        }
        if !(1..=MAX_INBOX_TTL_SECS).contains(&self.ttl_secs()) {
            return Err(PolicyError::InboxTtl);
        }
        Ok(())
    }
}

/// A policy as the API shows it: which checks are on, with no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySummary {
    /// The basic-auth user name, when basic auth is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth_user: Option<String>,
    /// Whether a share token is required.
    #[serde(default)]
    pub share_token: bool,
    /// The allow-list, normalised (`10.1.2.3/8` shows as `10.0.0.0/8`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    /// The webhook scheme, signature header and prefix, when verification is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSummary>,
    /// The offline inbox settings (none of them secret), when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<Inbox>,
}

impl PolicySummary {
    /// One line for people: which checks guard the tunnel.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(user) = &self.basic_auth_user {
            parts.push(format!("basic auth (user {user})"));
        }
        if self.share_token {
            parts.push("share token".to_owned());
        }
        if !self.allow_ips.is_empty() {
            parts.push(format!("from {}", self.allow_ips.join(", ")));
        }
        if let Some(w) = &self.webhook {
            parts.push(w.describe());
        }
        if let Some(i) = &self.inbox {
            parts.push(format!(
                "offline inbox (up to {} requests for {} s, answered {})",
                i.max_requests(),
                i.ttl_secs(),
                i.status()
            ));
        }
        if parts.is_empty() {
            "anyone".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Why a policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Basic auth is not `user:password` with both parts present.
    #[error(
        "basic auth must be USER:PASSWORD with a non-empty user (no ':') and a non-empty password"
    )]
    BasicAuthFormat,
    /// Basic auth is too long.
    #[error("basic auth is longer than {MAX_BASIC_AUTH_BYTES} bytes")]
    BasicAuthTooLong,
    /// A share token's length is out of bounds.
    #[error(
        "the share token must be {MIN_SHARE_TOKEN_BYTES} to {MAX_SHARE_TOKEN_BYTES} characters long"
    )]
    ShareTokenLength,
    /// A share token holds characters a URL would have to escape.
    #[error("the share token may hold only letters, digits and - . _ ~ (it travels in URLs)")]
    ShareTokenCharacters,
    /// An allow-list entry is not a CIDR.
    #[error("{0:?} is not an IP address or CIDR (like 10.0.0.0/8 or 2001:db8::/32)")]
    Cidr(String),
    /// The allow-list is too long.
    #[error("at most {MAX_ALLOW_IPS} allow-list entries")]
    TooManyCidrs,
    /// The webhook secret is empty or too long.
    #[error("the webhook secret must be 1 to {MAX_WEBHOOK_SECRET_BYTES} bytes long")]
    WebhookSecretLength,
    /// No webhook scheme has this name.
    #[error("{0:?} is not a webhook provider: use one of {names}", names = WebhookProvider::names())]
    WebhookProvider(String),
    /// A Standard Webhooks secret that is not base64.
    #[error(
        "a Standard Webhooks secret is {STANDARD_SECRET_PREFIX} followed by base64, as the sender shows it (like whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw)"
    )]
    WebhookStandardSecret,
    /// A header or prefix set for a scheme that fixes its own.
    #[error(
        "{} webhooks have a fixed signature header: set a header or prefix only for the generic hmac form",
        .0.label()
    )]
    WebhookFixedHeader(WebhookProvider),
    /// A tolerance set for a scheme without a timestamp.
    #[error(
        "{} signatures carry no timestamp: a tolerance applies only to stripe, slack and standard",
        .0.label()
    )]
    WebhookNoTimestamp(WebhookProvider),
    /// The tolerance is out of range.
    #[error("the webhook timestamp tolerance must be 1 to {MAX_WEBHOOK_TOLERANCE_SECS} seconds")]
    WebhookTolerance,
    /// The signature header name is not an HTTP header name.
    #[error(
        "{0:?} is not an HTTP header name (1 to {MAX_HEADER_NAME_BYTES} letters, digits and !#$%&'*+-.^_`|~)"
    )]
    HeaderName(String),
    /// The signature prefix is too long or not printable.
    #[error("the signature prefix must be at most {MAX_WEBHOOK_PREFIX_BYTES} printable characters")]
    WebhookPrefix,
    /// A webhook check set without a secret, where none is in force for that sender.
    #[error("the webhook check needs its secret: one is kept only when the sender stays the same")]
    WebhookSecretMissing,
    /// The inbox's answer status is not a final HTTP status.
    #[error("the inbox's answer status must be 200 to 599, not {0}")]
    InboxStatus(u16),
    /// The inbox's answer body is too long.
    #[error("the inbox's answer body must be at most {MAX_INBOX_REPLY_BYTES} bytes")]
    InboxReplyTooLong,
    /// The inbox's bound is out of range.
    #[error("the inbox may hold 1 to {MAX_INBOX_REQUESTS} requests")]
    InboxMaxRequests,
    /// The inbox's time to live is out of range.
    #[error("held requests may wait 1 to {MAX_INBOX_TTL_SECS} seconds")]
    InboxTtl,
}

/// The names of a policy's fields, as in JSON, flags' words aside.
pub const POLICY_FIELDS: [&str; 5] = ["basic_auth", "share_token", "allow_ips", "webhook", "inbox"];

impl PolicyError {
    /// The policy field at fault, as named in JSON (one of [`POLICY_FIELDS`]): the REST
    /// error carries it, and the CLI and the console show the message beside the flag
    /// or input it belongs to.
    pub fn field(&self) -> &'static str {
        use PolicyError as E;
        match self {
            E::BasicAuthFormat | E::BasicAuthTooLong => "basic_auth",
            E::ShareTokenLength | E::ShareTokenCharacters => "share_token",
            E::Cidr(_) | E::TooManyCidrs => "allow_ips",
            E::WebhookSecretLength
            | E::WebhookProvider(_)
            | E::WebhookStandardSecret
            | E::WebhookFixedHeader(_)
            | E::WebhookNoTimestamp(_)
            | E::WebhookTolerance
            | E::HeaderName(_)
            | E::WebhookPrefix
            | E::WebhookSecretMissing => "webhook",
            E::InboxStatus(_) | E::InboxReplyTooLong | E::InboxMaxRequests | E::InboxTtl => "inbox",
        }
    }
}

impl Policy {
    /// True when no check is set.
    pub fn is_empty(&self) -> bool {
        self.basic_auth.is_none()
            && self.share_token.is_none()
            && self.allow_ips.is_empty()
            && self.webhook.is_none()
            && self.inbox.is_none()
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(pair) = &self.basic_auth {
            split_basic_auth(pair)?;
        }
        if let Some(token) = &self.share_token {
            validate_share_token(token)?;
        }
        self.cidrs()?;
        if let Some(w) = &self.webhook {
            w.validate()?;
        }
        if let Some(i) = &self.inbox {
            i.validate()?;
        }
        Ok(())
    }

    /// The allow-list, parsed.
    pub fn cidrs(&self) -> Result<Vec<Cidr>, PolicyError> {
        if self.allow_ips.len() > MAX_ALLOW_IPS {
            return Err(PolicyError::TooManyCidrs);
        }
        self.allow_ips.iter().map(|s| s.parse()).collect()
    }
}

/// `user:password` split at the first `:`, checked.
pub fn split_basic_auth(pair: &str) -> Result<(&str, &str), PolicyError> {
    if pair.len() > MAX_BASIC_AUTH_BYTES {
        return Err(PolicyError::BasicAuthTooLong);
    }
    match pair.split_once(':') {
        Some((user, pass))
            if !user.is_empty() && !pass.is_empty() && !pair.chars().any(char::is_control) =>
        {
            Ok((user, pass))
        }
        _ => Err(PolicyError::BasicAuthFormat),
    }
}

fn validate_share_token(token: &str) -> Result<(), PolicyError> {
    if !(MIN_SHARE_TOKEN_BYTES..=MAX_SHARE_TOKEN_BYTES).contains(&token.len()) {
        return Err(PolicyError::ShareTokenLength);
    }
    // Unreserved URL characters only, so the query parameter needs no decoding and
    // compares byte for byte with the header form.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(PolicyError::ShareTokenCharacters);
    }
    Ok(())
}

/// Checks an HTTP header name (RFC 9110 token), bounded by [`MAX_HEADER_NAME_BYTES`].
pub fn validate_header_name(name: &str) -> Result<(), PolicyError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES || !name.bytes().all(token) {
        return Err(PolicyError::HeaderName(name.to_owned()));
    }
    Ok(())
}

/// An IP network: an address and a prefix length, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` is inside. An IPv4 address carried as IPv6 (`::ffff:a.b.c.d`, as
    /// a dual-stack socket reports it) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

// A shift by the type's width overflows, so /0 is its own case.
fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl FromStr for Cidr {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PolicyError::Cidr(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            // Digits only: `u8::from_str` would take `+8`.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(u32::from(a), prefix).into()),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(u128::from(a), prefix).into()),
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_normalise_and_match() {
        // (input, normalised or None for invalid)
        let cases: &[(&str, Option<&str>)] = &[
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.1.2.3/8", Some("10.0.0.0/8")),
            ("10.1.2.3", Some("10.1.2.3/32")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("1.2.3.4/32", Some("1.2.3.4/32")),
            ("1.2.3.4/33", None),
            ("2001:db8::1/32", Some("2001:db8::/32")),
            ("::/0", Some("::/0")),
            ("::1", Some("::1/128")),
            ("::1/128", Some("::1/128")),
            ("::1/129", None),
            ("10.0.0.0/", None),
            ("10.0.0.0/+8", None),
            ("10.0.0.0/0008", None),
            ("10.0.0/8", None),
            ("example.com", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<Cidr>().ok().map(|c| c.to_string());
            assert_eq!(got.as_deref(), *want, "{input}");
        }
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(
            net.contains(ip("::ffff:10.1.1.1")),
            "v4-mapped counts as v4"
        );
        assert!(!net.contains(ip("2001:db8::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::")));
    }

    #[test]
    fn validation_edges() {
        let ok = |p: Policy| p.validate();
        let basic = |s: &str| Policy {
            basic_auth: Some(s.into()),
            ..Policy::default()
        };
        assert_eq!(ok(basic("u:p")), Ok(()));
        assert_eq!(ok(basic("u:p:with:colons")), Ok(()));
        for bad in ["u", ":p", "u:", "", "u:p\n"] {
            assert_eq!(ok(basic(bad)), Err(PolicyError::BasicAuthFormat), "{bad:?}");
        }
        let long = format!("u:{}", "p".repeat(MAX_BASIC_AUTH_BYTES - 2));
        assert_eq!(ok(basic(&long)), Ok(()));
        assert_eq!(
            ok(basic(&format!("{long}p"))),
            Err(PolicyError::BasicAuthTooLong)
        );

        let token = |s: String| Policy {
            share_token: Some(s),
            ..Policy::default()
        };
        assert_eq!(ok(token("a".repeat(MIN_SHARE_TOKEN_BYTES))), Ok(()));
        assert_eq!(ok(token("a".repeat(MAX_SHARE_TOKEN_BYTES))), Ok(()));
        for n in [MIN_SHARE_TOKEN_BYTES - 1, MAX_SHARE_TOKEN_BYTES + 1] {
            assert_eq!(ok(token("a".repeat(n))), Err(PolicyError::ShareTokenLength));
        }
        assert_eq!(
            ok(token("abcdefg&h".into())),
            Err(PolicyError::ShareTokenCharacters)
        );
        assert_eq!(ok(token("aZ09-._~".into())), Ok(()));

        let ips = |n: usize| Policy {
            allow_ips: vec!["10.0.0.0/8".into(); n],
            ..Policy::default()
        };
        assert_eq!(ok(ips(MAX_ALLOW_IPS)), Ok(()));
        assert_eq!(ok(ips(MAX_ALLOW_IPS + 1)), Err(PolicyError::TooManyCidrs));

        let hook = |secret: &str, header: Option<&str>, prefix: Option<&str>| Policy {
            webhook: Some(Webhook {
                header: header.map(Into::into),
                prefix: prefix.map(Into::into),
                ..Webhook::hmac(secret)
            }),
            ..Policy::default()
        };
        assert_eq!(ok(hook("s", None, None)), Ok(()));
        assert_eq!(
            ok(hook("", None, None)),
            Err(PolicyError::WebhookSecretLength)
        );
        let secret = "s".repeat(MAX_WEBHOOK_SECRET_BYTES);
        assert_eq!(ok(hook(&secret, None, None)), Ok(()));
        assert_eq!(
            ok(hook(&format!("{secret}s"), None, None)),
            Err(PolicyError::WebhookSecretLength)
        );
        let name = "h".repeat(MAX_HEADER_NAME_BYTES);
        assert_eq!(ok(hook("s", Some(&name), None)), Ok(()));
        for bad in [
            format!("{name}h"),
            String::new(),
            "X Sig".into(),
            "X:S".into(),
        ] {
            assert!(
                matches!(
                    ok(hook("s", Some(&bad), None)),
                    Err(PolicyError::HeaderName(_))
                ),
                "{bad:?}"
            );
        }
        let prefix = "p".repeat(MAX_WEBHOOK_PREFIX_BYTES);
        assert_eq!(ok(hook("s", None, Some(&prefix))), Ok(()));
        assert_eq!(ok(hook("s", None, Some(""))), Ok(()));
        assert_eq!(
            ok(hook("s", None, Some(&format!("{prefix}p")))),
            Err(PolicyError::WebhookPrefix)
        );
        assert_eq!(
            ok(hook("s", None, Some("v1 "))),
            Err(PolicyError::WebhookPrefix)
        );
    }

    #[test]
    fn inbox_settings_are_checked_at_their_edges() {
        let ok = |i: Inbox| {
            Policy {
                inbox: Some(i),
                ..Policy::default()
            }
            .validate()
        };
        assert_eq!(ok(Inbox::default()), Ok(()));
        for s in [200, 599] {
            let i = Inbox {
                status: Some(s),
                ..Inbox::default()
            };
            assert_eq!(ok(i), Ok(()));
        }
        for s in [199, 600, 101] {
            let i = Inbox {
                status: Some(s),
                ..Inbox::default()
            };
            assert_eq!(ok(i), Err(PolicyError::InboxStatus(s)));
        }
        let body = |n: usize| Inbox {
            body: Some("b".repeat(n)),
            ..Inbox::default()
        };
        assert_eq!(ok(body(MAX_INBOX_REPLY_BYTES)), Ok(()));
        assert_eq!(
            ok(body(MAX_INBOX_REPLY_BYTES + 1)),
            Err(PolicyError::InboxReplyTooLong)
        );
        let max = |n: u32| Inbox {
            max_requests: Some(n),
            ..Inbox::default()
        };
        assert_eq!(ok(max(1)), Ok(()));
        assert_eq!(ok(max(MAX_INBOX_REQUESTS)), Ok(()));
        assert_eq!(ok(max(0)), Err(PolicyError::InboxMaxRequests));
        assert_eq!(
            ok(max(MAX_INBOX_REQUESTS + 1)),
            Err(PolicyError::InboxMaxRequests)
        );
        let ttl = |n: u64| Inbox {
            ttl_secs: Some(n),
            ..Inbox::default()
        };
        assert_eq!(ok(ttl(1)), Ok(()));
        assert_eq!(ok(ttl(MAX_INBOX_TTL_SECS)), Ok(()));
        assert_eq!(ok(ttl(0)), Err(PolicyError::InboxTtl));
        assert_eq!(ok(ttl(MAX_INBOX_TTL_SECS + 1)), Err(PolicyError::InboxTtl));
        let defaults = Inbox::default();
        assert_eq!(defaults.status(), DEFAULT_INBOX_STATUS);
        assert_eq!(defaults.max_requests(), DEFAULT_INBOX_MAX_REQUESTS);
        assert_eq!(defaults.ttl_secs(), DEFAULT_INBOX_TTL_SECS);
        assert_eq!(defaults.reply().0, "application/json");
        let (_, note) = defaults.reply();
        assert!(serde_json::from_str::<serde_json::Value>(&note).is_ok());
    }

    #[test]
    fn summaries_read_as_one_line() {
        assert_eq!(PolicySummary::default().describe(), "anyone");
        let s = PolicySummary {
            basic_auth_user: Some("alice".into()),
            share_token: true,
            allow_ips: vec!["10.0.0.0/8".into(), "::1/128".into()],
            webhook: Some(WebhookSummary {
                provider: WebhookProvider::Hmac,
                header: "X-Sig".into(),
                prefix: "sha256=".into(),
                tolerance_secs: None,
            }),
            inbox: Some(Inbox::default()),
        };
        assert_eq!(
            s.describe(),
            "basic auth (user alice); share token; from 10.0.0.0/8, ::1/128; webhook signature in X-Sig; offline inbox (up to 100 requests for 86400 s, answered 202)"
        );
    }

    #[test]
    fn json_shape() {
        let p: Policy = serde_json::from_str(
            r#"{"basic_auth":"u:p","allow_ips":["10.0.0.0/8"],"webhook":{"secret":"s"}}"#,
        )
        .unwrap();
        assert_eq!(p.webhook.as_ref().unwrap().header(), DEFAULT_WEBHOOK_HEADER);
        assert!(!p.is_empty() && Policy::default().is_empty());
        let p: Policy = serde_json::from_str(r#"{"inbox":{}}"#).unwrap();
        assert!(!p.is_empty());
        assert_eq!(p.inbox, Some(Inbox::default()));
        assert_eq!(serde_json::to_string(&Policy::default()).unwrap(), "{}");
    }
}
