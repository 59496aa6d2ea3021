//! Per-tunnel access policy: who may reach a tunnel's public URL.
//!
//! [`Policy`] is what an owner sets (`tunnel start` flags, the `policy` object of
//! `POST /v1/tunnels` and `PATCH /v1/tunnels/{id}`, the console), secrets in clear;
//! [`Policy::validate`] holds the rules, so the CLI can refuse a bad flag before it
//! calls the server and the server says the same thing to a curl user.
//! [`PolicySummary`] is what the API shows back: never a secret.

use serde::{Deserialize, Serialize};

mod cidr;
mod error;
mod inbox;
mod patch;
mod webhook;

pub use cidr::Cidr;
pub use error::{POLICY_FIELDS, PolicyError};
pub use inbox::{
    DEFAULT_INBOX_MAX_REQUESTS, DEFAULT_INBOX_STATUS, DEFAULT_INBOX_TTL_SECS, Inbox,
    MAX_INBOX_BODY_BYTES, MAX_INBOX_REPLY_BYTES, MAX_INBOX_REQUESTS, MAX_INBOX_TTL_SECS,
};
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

#[cfg(test)]
mod tests {
    use super::*;

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
