//! Every answer the tunnel gives in place of the origin's: its status, headers and
//! text, built here once so both backends say the same thing in the same words.

use client_core::inspect::Outcome;
use client_core::protocol::{ErrorCode, HeadError, Headers};

use crate::handlers::policy;
use crate::handlers::proxy::{error_page, origin_failure};
use crate::telemetry;

/// Why the tunnel answers a public request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The host names no tunnel of this service (AWS: a Host outside the base domain).
    NotATunnelAddress {
        /// The host asked for.
        host: String,
    },
    /// No tunnel holds the subdomain (or it expired).
    UnknownTunnel {
        /// The subdomain.
        domain: String,
    },
    /// The tunnel exists but no client serves it, and no inbox can hold the request.
    Offline {
        /// The subdomain.
        domain: String,
    },
    /// The store could not be read.
    StoreUnavailable,
    /// The tunnel's request rate is over its limit.
    RateLimited {
        /// The subdomain.
        domain: String,
        /// Seconds for `Retry-After`.
        retry_after: u64,
    },
    /// The tunnel's access policy refused the caller (401, 403, or 413 for a webhook
    /// body too long to verify).
    Policy(policy::Refusal),
    /// The request body is over the deployment's limit.
    TooLarge {
        /// The limit, bytes.
        max: u64,
    },
    /// The request body could not be read (the caller broke off, or bad base64).
    BodyUnreadable,
    /// A header value the tunnel cannot carry.
    BadHeaderValue {
        /// The header's name.
        name: String,
    },
    /// The request target, rewritten by the policy, is not a valid one.
    BadTarget,
    /// The head breaks the protocol's limits.
    Head(HeadError),
    /// The head does not fit one message.
    HeadTooLarge {
        /// Why the encoder refused it.
        why: String,
    },
    /// Only from requests outside the public address (AWS: not through CloudFront).
    NotThroughPublicAddress,
    /// This deployment cannot carry protocol upgrades (AWS Lambda Function URL).
    UpgradeUnsupported,
    /// The tunnel carries as many WebSockets as it may.
    TooManyWebSockets {
        /// The subdomain.
        domain: String,
        /// The limit.
        max: usize,
    },
    /// The tunnel service could not reach its client (AWS: no return channel, or the
    /// post to the client failed).
    ClientUnreachable {
        /// The subdomain.
        domain: String,
    },
    /// The client went away before answering.
    Disconnected {
        /// The subdomain.
        domain: String,
    },
    /// The client did not start answering in time.
    Timeout {
        /// The subdomain.
        domain: String,
        /// The wait, seconds.
        secs: u64,
    },
    /// The client reported its origin failed.
    Origin {
        /// The client's error code.
        code: ErrorCode,
        /// The client's message.
        message: String,
    },
    /// The client's answer broke the protocol.
    BrokenAnswer {
        /// What was wrong.
        why: String,
    },
}

/// An answer ready to send: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Headers (`content-type` first).
    pub headers: Headers,
    /// Body.
    pub body: Vec<u8>,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotATunnelAddress { .. } | Self::UnknownTunnel { .. } => 404,
            Self::Offline { .. }
            | Self::ClientUnreachable { .. }
            | Self::Disconnected { .. }
            | Self::BrokenAnswer { .. } => 502,
            Self::StoreUnavailable | Self::TooManyWebSockets { .. } => 503,
            Self::RateLimited { .. } => 429,
            Self::Policy(r) => r.status,
            Self::TooLarge { .. } => 413,
            Self::BodyUnreadable | Self::BadHeaderValue { .. } | Self::BadTarget => 400,
            Self::Head(HeadError::PathTooLong { .. }) => 414,
            Self::Head(HeadError::ControlCharacter { .. }) => 400,
            Self::Head(_) | Self::HeadTooLarge { .. } => 431,
            Self::NotThroughPublicAddress => 403,
            Self::UpgradeUnsupported => 501,
            Self::Timeout { .. } => 504,
            Self::Origin { code, message } => origin_failure(*code, message).0,
        }
    }

    /// What the public is told, in one sentence or two.
    pub fn text(&self) -> String {
        match self {
            Self::NotATunnelAddress { host } => format!("{host} is not a tunnel address."),
            Self::UnknownTunnel { domain: d } => format!(
                "No tunnel is registered for {d}. Check the address, or start one with `tunnel start <port> --domain {d}`."
            ),
            Self::Offline { domain: d } => format!(
                "The tunnel {d} exists but no client is connected to it. Run `tunnel start <port> --domain {d}` on the machine that serves it."
            ),
            Self::StoreUnavailable => {
                "The tunnel service could not reach its store. Try again shortly.".to_owned()
            }
            Self::RateLimited {
                domain,
                retry_after,
            } => format!(
                "The tunnel {domain} is receiving more requests than its rate limit allows. Retry in {retry_after} s."
            ),
            Self::Policy(r) => r.reason.clone(),
            Self::TooLarge { max } => {
                format!("The request body is larger than this service's limit of {max} bytes.")
            }
            Self::BodyUnreadable => "The request body could not be read.".to_owned(),
            // `to_str` takes printable ASCII and tabs only; the message used to promise
            // UTF-8, which a raw `café` showed it refused (tests/tests/bad_input.rs).
            Self::BadHeaderValue { name } => format!(
                "The value of header {name} is not plain text; the tunnel carries header values of printable ASCII only."
            ),
            Self::BadTarget => "The request target is invalid.".to_owned(),
            Self::Head(e) => e.to_string(),
            Self::HeadTooLarge { why } => format!(
                "The request head (method, target and headers) is too large to carry through the tunnel: {why}."
            ),
            Self::NotThroughPublicAddress => {
                "Requests must come through the tunnel's public address.".to_owned()
            }
            Self::UpgradeUnsupported => "WebSocket and other protocol upgrades are not carried by this deployment (AWS Lambda Function URL); they work on the self-hosted tunnel-server.".to_owned(),
            Self::TooManyWebSockets { domain, max } => format!(
                "The tunnel {domain} already carries {max} WebSocket connections, its limit. Try again when one closes."
            ),
            Self::ClientUnreachable { domain } => {
                format!("The tunnel service could not reach the client of {domain}. Try again.")
            }
            Self::Disconnected { domain } => {
                format!("The tunnel client for {domain} disconnected before answering.")
            }
            Self::Timeout { domain, secs } => {
                format!("The tunnel client for {domain} did not answer within {secs}s.")
            }
            Self::Origin { code, message } => origin_failure(*code, message).1,
            Self::BrokenAnswer { why } => format!("The tunnel client sent a broken answer: {why}."),
        }
    }

    /// The answer's headers: a policy refusal's are plain text (and may ask for basic
    /// auth), every other an HTML page; a rate limit says when to retry.
    pub fn headers(&self) -> Headers {
        match self {
            Self::Policy(r) => r.headers(),
            Self::RateLimited { retry_after, .. } => vec![
                ("content-type".into(), HTML.into()),
                ("retry-after".into(), retry_after.to_string()),
            ],
            _ => vec![("content-type".into(), HTML.into())],
        }
    }

    /// The answer's body.
    pub fn body(&self) -> Vec<u8> {
        match self {
            Self::Policy(r) => r.body(),
            _ => {
                let status = self.status();
                error_page(status, title(status), &self.text())
            }
        }
    }

    /// Status, headers and body together.
    pub fn page(&self) -> Page {
        Page {
            status: self.status(),
            headers: self.headers(),
            body: self.body(),
        }
    }

    /// How the request log records the exchange this refusal ends.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Policy(r) if r.status == 413 => Outcome::TooLarge,
            Self::TooLarge { .. } => Outcome::TooLarge,
            Self::Offline { .. } | Self::ClientUnreachable { .. } | Self::Disconnected { .. } => {
                Outcome::TunnelOffline
            }
            Self::Timeout { .. } => Outcome::Timeout,
            Self::Origin { code, .. } => match code {
                ErrorCode::OriginRefused => Outcome::OriginRefused,
                ErrorCode::OriginTimeout => Outcome::OriginTimeout,
                _ => Outcome::OriginFailed,
            },
            Self::BrokenAnswer { .. } => Outcome::OriginFailed,
            Self::BodyUnreadable => Outcome::ClientDisconnected,
            _ => Outcome::Refused,
        }
    }

    /// The metrics `kind` of the failure (`None`: a rate limit, counted as such).
    pub fn error_kind(&self) -> Option<&'static str> {
        match self {
            Self::NotATunnelAddress { .. } | Self::UnknownTunnel { .. } => {
                Some(telemetry::KIND_UNKNOWN_TUNNEL)
            }
            Self::StoreUnavailable => Some(telemetry::KIND_STORE),
            Self::RateLimited { .. } => None,
            other => telemetry::error_kind(other.outcome()),
        }
    }

    /// Whether the request reached a tunnel that exists (its metrics go under the
    /// tunnel's name; otherwise under the one label for unknown names).
    pub fn names_a_tunnel(&self) -> bool {
        !matches!(
            self,
            Self::NotATunnelAddress { .. } | Self::UnknownTunnel { .. } | Self::StoreUnavailable
        )
    }
}

const HTML: &str = "text/html; charset=utf-8";

/// The reason phrase of each status a refusal has (RFC 9110).
fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> String {
        "app".into()
    }

    #[test]
    fn every_refusal_has_its_status_outcome_and_one_text() {
        let policy = policy::Refusal {
            status: 403,
            reason: "forbidden: your address is not on this tunnel's allow-list".into(),
            www_authenticate: None,
        };
        let head = HeadError::PathTooLong {
            size: 9000,
            max: 8192,
        };
        let cases: Vec<(Refusal, u16, Outcome, &str)> = vec![
            (
                Refusal::NotATunnelAddress {
                    host: "x.example".into(),
                },
                404,
                Outcome::Refused,
                "x.example is not a tunnel address.",
            ),
            (
                Refusal::UnknownTunnel { domain: d() },
                404,
                Outcome::Refused,
                "No tunnel is registered for app. Check the address",
            ),
            (
                Refusal::Offline { domain: d() },
                502,
                Outcome::TunnelOffline,
                "The tunnel app exists but no client is connected to it.",
            ),
            (
                Refusal::StoreUnavailable,
                503,
                Outcome::Refused,
                "could not reach its store. Try again shortly.",
            ),
            (
                Refusal::RateLimited {
                    domain: d(),
                    retry_after: 3,
                },
                429,
                Outcome::Refused,
                "Retry in 3 s.",
            ),
            (
                Refusal::Policy(policy),
                403,
                Outcome::Refused,
                "forbidden: your address",
            ),
            (
                Refusal::TooLarge { max: 5 },
                413,
                Outcome::TooLarge,
                "this service's limit of 5 bytes",
            ),
            (
                Refusal::BodyUnreadable,
                400,
                Outcome::ClientDisconnected,
                "The request body could not be read.",
            ),
            (
                Refusal::BadHeaderValue { name: "x-a".into() },
                400,
                Outcome::Refused,
                "The value of header x-a is not plain text",
            ),
            (
                Refusal::BadTarget,
                400,
                Outcome::Refused,
                "The request target is invalid.",
            ),
            (
                Refusal::Head(head),
                414,
                Outcome::Refused,
                "exceeds the limit of 8192",
            ),
            (
                Refusal::Head(HeadError::HeadersTooLarge {
                    size: 20_000,
                    max: 16_384,
                }),
                431,
                Outcome::Refused,
                "exceed the limit of 16384",
            ),
            (
                Refusal::HeadTooLarge {
                    why: "too big".into(),
                },
                431,
                Outcome::Refused,
                "too large to carry through the tunnel: too big.",
            ),
            (
                Refusal::NotThroughPublicAddress,
                403,
                Outcome::Refused,
                "must come through the tunnel's public address",
            ),
            (
                Refusal::UpgradeUnsupported,
                501,
                Outcome::Refused,
                "not carried by this deployment",
            ),
            (
                Refusal::TooManyWebSockets {
                    domain: d(),
                    max: 4,
                },
                503,
                Outcome::Refused,
                "already carries 4 WebSocket connections",
            ),
            (
                Refusal::ClientUnreachable { domain: d() },
                502,
                Outcome::TunnelOffline,
                "could not reach the client of app",
            ),
            (
                Refusal::Disconnected { domain: d() },
                502,
                Outcome::TunnelOffline,
                "for app disconnected before answering",
            ),
            (
                Refusal::Timeout {
                    domain: d(),
                    secs: 25,
                },
                504,
                Outcome::Timeout,
                "did not answer within 25s",
            ),
            (
                Refusal::Origin {
                    code: ErrorCode::OriginRefused,
                    message: "ECONNREFUSED".into(),
                },
                502,
                Outcome::OriginRefused,
                "the local port refused the connection (ECONNREFUSED)",
            ),
            (
                Refusal::Origin {
                    code: ErrorCode::OriginTimeout,
                    message: "30s".into(),
                },
                504,
                Outcome::OriginTimeout,
                "did not answer in time (30s)",
            ),
            (
                Refusal::BrokenAnswer {
                    why: "no head".into(),
                },
                502,
                Outcome::OriginFailed,
                "a broken answer: no head.",
            ),
        ];
        for (r, status, outcome, words) in cases {
            assert_eq!(r.status(), status, "{r:?}");
            assert_eq!(r.outcome(), outcome, "{r:?}");
            assert!(r.text().contains(words), "{r:?}: {}", r.text());
            let page = r.page();
            assert_eq!(page.status, status);
            assert_eq!(page.headers, r.headers());
            let body = String::from_utf8(page.body).unwrap();
            if let Refusal::Policy(p) = &r {
                assert_eq!(body, format!("{}\n", p.reason));
                assert_eq!(page.headers[0].1, "text/plain; charset=utf-8");
            } else {
                assert_eq!(page.headers[0].1, HTML);
                assert!(
                    body.contains(&format!("<h1>{status} {}</h1>", title(status))),
                    "{body}"
                );
                assert_ne!(title(status), "Error", "{status} has a reason phrase");
            }
        }
    }

    #[test]
    fn pages_escape_what_the_caller_chose() {
        let r = Refusal::NotATunnelAddress {
            host: "<script>".into(),
        };
        let body = String::from_utf8(r.body()).unwrap();
        assert!(body.contains("&lt;script&gt;") && !body.contains("<script>"));
    }

    #[test]
    fn names_and_kinds_for_metrics() {
        assert!(!Refusal::UnknownTunnel { domain: d() }.names_a_tunnel());
        assert!(!Refusal::StoreUnavailable.names_a_tunnel());
        assert!(Refusal::Offline { domain: d() }.names_a_tunnel());
        assert_eq!(
            Refusal::StoreUnavailable.error_kind(),
            Some(telemetry::KIND_STORE)
        );
        assert_eq!(
            Refusal::Offline { domain: d() }.error_kind(),
            Some(Outcome::TunnelOffline.as_str())
        );
    }
}
