//! Admission: what becomes of a public request before anything of it reaches a
//! tunnel's client. Both ingresses (tunnel-server's `ingress.rs`, tunnel-proxy's
//! `functions/proxy.rs`) call [`admit`] with the request's head and the time, and act
//! on the one [`Admission`] it returns: forward to the client, hold in the offline
//! inbox, or answer with a [`Refusal`], whose page is built in one place
//! ([`Refusal::page`]) so both backends answer alike.
//!
//! The pipeline, in order: resolve the host to its tunnel (an expired tunnel is no
//! tunnel), the tunnel's rate limit, its access policy on the head (credentials,
//! allow-list, share token: the credentials meant for the tunnel are taken out and a
//! share token cut from the path), the body size, then the route: the connection
//! serving the tunnel, else its inbox, else offline. Webhook signatures need the
//! whole body: an admitted request with `needs_body_check` goes through
//! [`check_body`] once the driver has read it.
//!
//! Sans-IO but for the reads: the time is a parameter, and the store (and the
//! limiter) are the only awaits.

mod refusal;

use std::net::IpAddr;

use client_core::protocol::Headers;

pub use refusal::{Page, Refusal};

use super::inbox;
use super::policy::{self, PublicRequest};
use super::proxy::{ProxyError, resolve};
use crate::Backend;
use crate::model::TunnelRecord;

/// The head of a public request, as the driver read it.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The tunnel's subdomain, from the Host.
    pub domain: &'a str,
    /// Path and query, as received.
    pub path: &'a str,
    /// Headers, as received.
    pub headers: &'a Headers,
    /// The caller's address, when known.
    pub peer: Option<IpAddr>,
    /// The body's length, when known (whole, or declared by `Content-Length`).
    pub body_len: Option<u64>,
    /// Whether it asks for a WebSocket (which cannot be held).
    pub websocket: bool,
}

/// Who sends the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The public, through the tunnel's URL: the policy applies, an inbox may hold it.
    Public,
    /// The tunnel's owner replaying a captured request from the control plane: the
    /// policy guards the public URL only, and a replay is never held.
    Replay,
}

/// The deployment's rules beyond the tunnel's own.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Largest request body, bytes.
    pub max_body: u64,
}

/// How the exchange goes in the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capture {
    /// Most bytes of each body kept.
    pub max_bytes: usize,
    /// Whether the record must not show the share token (the policy has one): an
    /// admitted request is recorded with its admitted path, a refused one with the
    /// token's value hidden.
    pub hide_share_token: bool,
}

/// A request the tunnel takes.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The tunnel.
    pub tunnel: TunnelRecord,
    /// The connection serving it; `None` when its inbox is to hold the request.
    pub connection_id: Option<String>,
    /// Header names (lower case) that carried credentials for the tunnel itself, not
    /// for the origin.
    pub strip_headers: Vec<&'static str>,
    /// The path the origin gets, when the policy changed it (share token removed).
    pub path: Option<String>,
    /// How it is recorded.
    pub capture: Capture,
    /// Whether the whole body must pass [`check_body`] before anything is forwarded.
    pub needs_body_check: bool,
}

impl Admitted {
    /// `headers` as admitted: without the credentials meant for the tunnel.
    pub fn headers(&self, headers: Headers) -> Headers {
        headers
            .into_iter()
            .filter(|(n, _)| !self.strip_headers.iter().any(|s| n.eq_ignore_ascii_case(s)))
            .collect()
    }

    /// The path the origin gets: the admitted one, else `received`.
    pub fn path<'p>(&'p self, received: &'p str) -> &'p str {
        self.path.as_deref().unwrap_or(received)
    }

    /// What becomes of the request when the connection it was to go to turned out
    /// closed (the store still named it): the inbox holds it if the tunnel has one and
    /// it is a holdable public request, else the tunnel is offline.
    pub fn connection_gone(self, source: Source, websocket: bool) -> Admission {
        if source == Source::Public && !websocket && inbox::settings(&self.tunnel).is_some() {
            return Admission::Hold(Self {
                connection_id: None,
                ..self
            });
        }
        let capture = self.capture;
        Admission::Refuse(Refused {
            refusal: Refusal::Offline {
                domain: self.tunnel.domain.clone(),
            },
            logged: Some(Box::new(self.tunnel)),
            capture,
        })
    }
}

/// A request the tunnel answers itself.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Why, and the answer.
    pub refusal: Refusal,
    /// The tunnel whose request log records the refusal: a request its policy (or a
    /// limit, past the policy) refused. `None` where there is no tunnel, or nothing
    /// of the request was looked at (offline, rate limited).
    pub logged: Option<Box<TunnelRecord>>,
    /// How it is recorded, when it is.
    pub capture: Capture,
}

impl Refused {
    fn bare(refusal: Refusal, max_bytes: usize) -> Self {
        Self {
            refusal,
            logged: None,
            capture: Capture {
                max_bytes,
                hide_share_token: false,
            },
        }
    }
}

/// What becomes of a public request.
#[derive(Debug, Clone)]
pub enum Admission {
    /// Forward it to the client on `connection_id` (always `Some`).
    Forward(Admitted),
    /// Hold it in the offline tunnel's inbox (`connection_id` is `None`).
    Hold(Admitted),
    /// Answer it with a refusal.
    Refuse(Refused),
}

/// Decides what becomes of the public request `head` at `now_ms` (Unix milliseconds):
/// see the module's doc for the steps. Reads the store (tunnel, domain claim) and
/// takes a token from the tunnel's rate-limit bucket; writes nothing else.
pub async fn admit(
    b: &Backend,
    head: &Head<'_>,
    source: Source,
    rules: Rules,
    now_ms: u64,
) -> Admission {
    let max_bytes = b.config.capture_bytes;
    let refuse = |refusal| Admission::Refuse(Refused::bare(refusal, max_bytes));
    let domain = head.domain.to_owned();
    let (tunnel, connection_id) = match resolve(b, head.domain, now_ms / 1000).await {
        Ok(t) => (t.tunnel, Some(t.connection_id)),
        // An inbox takes what the tunnel's policy admits, so the checks still run.
        Err(ProxyError::Offline(t))
            if source == Source::Public && !head.websocket && inbox::settings(&t).is_some() =>
        {
            (*t, None)
        }
        Err(ProxyError::Offline(_)) => return refuse(Refusal::Offline { domain }),
        Err(ProxyError::UnknownTunnel(_)) => return refuse(Refusal::UnknownTunnel { domain }),
        Err(ProxyError::Store(e)) => {
            tracing::error!(error = %e, "store failure on admission");
            return refuse(Refusal::StoreUnavailable);
        }
    };
    if let Some(rate) = b.config.public_rate
        && let Err(limited) = b
            .limiter
            .take(&format!("tunnel:{}", tunnel.tunnel_id), rate, now_ms)
            .await
    {
        return refuse(Refusal::RateLimited {
            domain,
            retry_after: limited.retry_after_secs(),
        });
    }
    let policy = tunnel.policy.as_ref().filter(|_| source == Source::Public);
    let capture = Capture {
        max_bytes,
        hide_share_token: policy.is_some_and(|p| p.share_token.is_some()),
    };
    let logged = |refusal, tunnel: TunnelRecord| {
        Admission::Refuse(Refused {
            refusal,
            logged: Some(Box::new(tunnel)),
            capture,
        })
    };
    let admit = match policy {
        None => policy::Admit::default(),
        Some(p) => match policy::check_credentials(
            p,
            &PublicRequest {
                path: head.path,
                headers: head.headers,
                remote_ip: head.peer,
                body: &[],
                now: now_ms / 1000,
            },
        ) {
            Ok(a) => a,
            Err(r) => return logged(Refusal::Policy(r), tunnel),
        },
    };
    if head.body_len.is_some_and(|n| n > rules.max_body) {
        return logged(
            Refusal::TooLarge {
                max: rules.max_body,
            },
            tunnel,
        );
    }
    let needs_body_check = policy.is_some_and(crate::model::StoredPolicy::needs_body);
    let admitted = Admitted {
        tunnel,
        connection_id,
        strip_headers: admit.strip_headers,
        path: admit.path,
        capture,
        needs_body_check,
    };
    if admitted.connection_id.is_some() {
        Admission::Forward(admitted)
    } else {
        Admission::Hold(admitted)
    }
}

/// A new route for `admitted` after its connection `gone` turned out closed before
/// anything of the request reached it (a client reconnecting: the store may still
/// name `gone` until its disconnect has run), read at `now_ms`: the connection now
/// serving the tunnel, its inbox when it has gone offline and the request is
/// holdable, or a refusal when the tunnel is gone. `None` while no other client serves
/// it: the driver waits and asks again, or gives up with
/// [`Admitted::connection_gone`]. Takes no rate-limit token and checks no policy:
/// the request was admitted already.
pub async fn reroute(
    b: &Backend,
    admitted: &Admitted,
    gone: &str,
    source: Source,
    now_ms: u64,
) -> Option<Admission> {
    let refuse = |refusal| {
        Some(Admission::Refuse(Refused {
            refusal,
            logged: Some(Box::new(admitted.tunnel.clone())),
            capture: admitted.capture,
        }))
    };
    let domain = &admitted.tunnel.domain;
    match resolve(b, domain, now_ms / 1000).await {
        Ok(t) if t.connection_id != gone => Some(Admission::Forward(Admitted {
            tunnel: t.tunnel,
            connection_id: Some(t.connection_id),
            ..admitted.clone()
        })),
        Ok(_) => None,
        Err(ProxyError::Offline(t)) => {
            let holdable = source == Source::Public && inbox::settings(&t).is_some();
            holdable.then(|| {
                Admission::Hold(Admitted {
                    tunnel: *t,
                    connection_id: None,
                    ..admitted.clone()
                })
            })
        }
        Err(ProxyError::UnknownTunnel(_)) => refuse(Refusal::UnknownTunnel {
            domain: domain.clone(),
        }),
        Err(ProxyError::Store(e)) => {
            tracing::error!(error = %e, "store failure on reroute");
            refuse(Refusal::StoreUnavailable)
        }
    }
}

/// The second step for an admitted request with `needs_body_check`: the whole `body`
/// against the policy's webhook signature, at `now_ms`. `headers` as received.
pub fn check_body(
    admitted: &Admitted,
    headers: &Headers,
    body: &[u8],
    now_ms: u64,
) -> Result<(), Refusal> {
    match &admitted.tunnel.policy {
        Some(p) if admitted.needs_body_check => {
            policy::check_body(p, headers, body, now_ms / 1000).map_err(Refusal::Policy)
        }
        _ => Ok(()),
    }
}

/// The most bytes of a body [`check_body`] needs to see: one past its limit, enough
/// to tell a body is over it.
pub const BODY_CHECK_READ_BYTES: usize = policy::MAX_VERIFIED_BODY_BYTES + 1;
