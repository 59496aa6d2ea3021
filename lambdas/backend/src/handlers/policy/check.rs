//! The check every public request passes before it is forwarded: the allow-list,
//! the credentials in the head ([`check_credentials`]), then the body's size and
//! webhook signature ([`check_body`]), giving what to strip ([`Admit`]) or the
//! answer to send ([`Refusal`]).

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::policy::{SHARE_TOKEN_HEADER, SHARE_TOKEN_PARAM};
use client_core::protocol::Headers;
use subtle::ConstantTimeEq;

use crate::model::{StoredBasicAuth, StoredPolicy};

/// Largest body read whole to verify a webhook signature (413 above). Only tunnels
/// with webhook verification buffer bodies; this keeps that buffer bounded, and sits
/// under the AWS proxy's own 4.5 MB request limit so both backends agree.
pub const MAX_VERIFIED_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The realm a browser shows in its basic-auth prompt.
pub const BASIC_REALM: &str = "tunnel";

/// The parts of a public request the check reads.
#[derive(Debug, Clone, Copy)]
pub struct PublicRequest<'a> {
    /// Path and query, as received.
    pub path: &'a str,
    /// Headers as received.
    pub headers: &'a Headers,
    /// The caller's address, when known.
    pub remote_ip: Option<IpAddr>,
    /// The whole body when [`StoredPolicy::needs_body`]; otherwise ignored.
    pub body: &'a [u8],
    /// When the request is checked, Unix seconds: a signed webhook timestamp is
    /// compared with it. The ingress reads the clock; the check never does.
    pub now: u64,
}

/// An admitted request: what to take out of it before the origin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admit {
    /// Header names (lower case) that carried credentials for the tunnel itself.
    pub strip_headers: Vec<&'static str>,
    /// The path without the share-token parameter, when the policy has a share token.
    pub path: Option<String>,
}

impl Admit {
    /// `headers` without the ones the policy consumed.
    pub fn headers(&self, headers: Headers) -> Headers {
        headers
            .into_iter()
            .filter(|(n, _)| !self.strip_headers.iter().any(|s| n.eq_ignore_ascii_case(s)))
            .collect()
    }
}

/// A refused request: the answer the public client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403 or 413.
    pub status: u16,
    /// A short reason, the body of the answer (and what the inspector shows).
    pub reason: String,
    /// `WWW-Authenticate` value, for a basic-auth refusal.
    pub www_authenticate: Option<String>,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            www_authenticate: None,
        }
    }

    /// The answer's headers.
    pub fn headers(&self) -> Headers {
        let mut h = vec![(
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )];
        if let Some(v) = &self.www_authenticate {
            h.push(("www-authenticate".to_owned(), v.clone()));
        }
        h
    }

    /// The answer's body.
    pub fn body(&self) -> Vec<u8> {
        format!("{}\n", self.reason).into_bytes()
    }
}

fn header<'h>(headers: &'h Headers, name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Checks `req` against `policy`: every setting must pass. The allow-list goes first
/// (it needs no secret), then the credentials in the head, then the body's size and
/// signature ([`check_credentials`], then [`check_body`]).
pub fn check(policy: &StoredPolicy, req: &PublicRequest<'_>) -> Result<Admit, Refusal> {
    let admit = check_credentials(policy, req)?;
    check_body(policy, req.headers, req.body, req.now)?;
    Ok(admit)
}

/// The checks that need no body (`req.body` is not read): an ingress that streams
/// bodies runs these before it buffers one for [`check_body`], so a caller who is
/// refused anyway cannot make it hold a large body.
pub fn check_credentials(policy: &StoredPolicy, req: &PublicRequest<'_>) -> Result<Admit, Refusal> {
    let mut admit = Admit::default();
    if !policy.allow_ips.is_empty() {
        let allowed = req.remote_ip.is_some_and(|ip| {
            policy.allow_ips.iter().any(|c| {
                c.parse::<client_core::policy::Cidr>()
                    .is_ok_and(|c| c.contains(ip))
            })
        });
        if !allowed {
            return Err(Refusal::new(
                403,
                "forbidden: your address is not on this tunnel's allow-list",
            ));
        }
    }
    if let Some(basic) = &policy.basic_auth {
        if !header(req.headers, "authorization").any(|v| basic_matches(basic, v)) {
            return Err(Refusal {
                www_authenticate: Some(format!("Basic realm=\"{BASIC_REALM}\", charset=\"UTF-8\"")),
                ..Refusal::new(401, "unauthorized: this tunnel requires basic auth")
            });
        }
        admit.strip_headers.push("authorization");
    }
    if let Some(token) = &policy.share_token {
        let (path, from_query) = take_query_param(req.path, SHARE_TOKEN_PARAM);
        let ok = header(req.headers, SHARE_TOKEN_HEADER)
            .chain(from_query)
            .any(|t| token.matches(t));
        if !ok {
            return Err(Refusal::new(
                401,
                "unauthorized: this tunnel requires a share token (X-Tunnel-Token header or tunnel_token query parameter)",
            ));
        }
        admit.strip_headers.push(SHARE_TOKEN_HEADER);
        admit.path = Some(path);
    }
    Ok(admit)
}

/// The checks on the whole body: its size, then the webhook signature in the
/// policy's scheme, at `now` (Unix seconds). A refusal says what failed: a missing
/// or malformed header, a bad signature, or a stale timestamp.
pub fn check_body(
    policy: &StoredPolicy,
    headers: &Headers,
    body: &[u8],
    now: u64,
) -> Result<(), Refusal> {
    let Some(w) = &policy.webhook else {
        return Ok(());
    };
    if body.len() > MAX_VERIFIED_BODY_BYTES {
        return Err(Refusal::new(
            413,
            format!(
                "payload too large: this tunnel verifies webhook signatures over bodies of at most {MAX_VERIFIED_BODY_BYTES} bytes"
            ),
        ));
    }
    crate::handlers::webhook::verify(w, headers, body, now)
        .map_err(|failure| Refusal::new(401, format!("unauthorized: {failure}")))
}

fn basic_matches(basic: &StoredBasicAuth, value: &str) -> bool {
    let Some((scheme, b64)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(b64.trim()) else {
        return false;
    };
    let Ok(pair) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, pass)) = pair.split_once(':') else {
        return false;
    };
    // Both halves are always compared, so the time taken does not say which was wrong.
    let user_ok = user.as_bytes().ct_eq(basic.user.as_bytes());
    let pass_ok = basic.password.matches(pass);
    bool::from(user_ok) & pass_ok
}

/// `path` without every `name=` query parameter, and the values it had.
pub fn take_query_param<'p>(path: &'p str, name: &str) -> (String, Vec<&'p str>) {
    let Some((base, query)) = path.split_once('?') else {
        return (path.to_owned(), Vec::new());
    };
    let mut values = Vec::new();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if k == name {
                values.push(v);
                false
            } else {
                true
            }
        })
        .collect();
    let out = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (out, values)
}
