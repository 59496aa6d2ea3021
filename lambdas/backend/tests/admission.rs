//! The admission pipeline both ingresses call, on a virtual clock over a temporary
//! embedded store: each outcome, each refusal's status and text, the rate limit
//! refilling as time passes, and an expired tunnel reading as no tunnel.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use client_core::inspect::Outcome;
use client_core::policy::{Inbox, Policy, Webhook};
use client_core::protocol::Headers;
use tunnel_backend::Backend;
use tunnel_backend::handlers::admission::{
    Admission, Admitted, Head, Refusal, Refused, Rules, Source, admit, check_body, reroute,
};
use tunnel_backend::handlers::policy::{MAX_VERIFIED_BODY_BYTES, sign_webhook, to_stored};
use tunnel_backend::limits::{MemoryLimiter, Rate};
use tunnel_backend::model::TunnelRecord;

/// The virtual clock's start, Unix milliseconds.
const T0: u64 = 1_700_000_000_000;
/// When an offline tunnel of these tests expires, Unix seconds.
const EXPIRES: u64 = T0 / 1000 + 3600;
const RULES: Rules = Rules { max_body: 1000 };
const CONN: &str = "conn-1";

struct World {
    b: Backend,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut b = common::backend(dir.path());
        b.config.public_rate = None;
        Self { b, _dir: dir }
    }

    /// A tunnel `domain` with `policy`, served by [`CONN`] when `online`.
    async fn tunnel(&self, domain: &str, policy: Policy, online: bool) -> TunnelRecord {
        let t = TunnelRecord {
            tunnel_id: format!("t-{domain}"),
            client_id: "c1".into(),
            domain: domain.into(),
            created_at: T0 / 1000,
            connection_id: None,
            redact_secrets: true,
            policy: to_stored(&policy).unwrap(),
            expires_at: Some(EXPIRES),
        };
        self.b.store.create_tunnel(&t, T0 / 1000).await.unwrap();
        if online {
            self.b
                .store
                .attach_connection(&t.tunnel_id, CONN, T0 / 1000)
                .await
                .unwrap();
        }
        t
    }

    async fn admit(&self, req: &Req, source: Source, now_ms: u64) -> Admission {
        admit(&self.b, &req.head(), source, RULES, now_ms).await
    }
}

/// A request's head, owned.
struct Req {
    domain: String,
    path: String,
    headers: Headers,
    peer: Option<IpAddr>,
    body_len: Option<u64>,
    websocket: bool,
}

impl Req {
    fn to(domain: &str) -> Self {
        Self {
            domain: domain.into(),
            path: "/".into(),
            headers: vec![("accept".into(), "*/*".into())],
            peer: Some("192.0.2.1".parse().unwrap()),
            body_len: None,
            websocket: false,
        }
    }

    fn header(mut self, n: &str, v: &str) -> Self {
        self.headers.push((n.into(), v.into()));
        self
    }

    fn head(&self) -> Head<'_> {
        Head {
            domain: &self.domain,
            path: &self.path,
            headers: &self.headers,
            peer: self.peer,
            body_len: self.body_len,
            websocket: self.websocket,
        }
    }
}

#[track_caller]
fn forwarded(a: Admission) -> Admitted {
    match a {
        Admission::Forward(a) => {
            assert_eq!(a.connection_id.as_deref(), Some(CONN));
            a
        }
        other => panic!("not forwarded: {other:?}"),
    }
}

#[track_caller]
fn refused(a: Admission) -> Refused {
    match a {
        Admission::Refuse(r) => r,
        other => panic!("not refused: {other:?}"),
    }
}

fn body_text(r: &Refusal) -> String {
    String::from_utf8(r.body()).unwrap()
}

fn header<'h>(h: &'h Headers, name: &str) -> Option<&'h str> {
    h.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_served_tunnel_without_policy_forwards_the_request_as_it_came() {
    let w = World::new();
    w.tunnel("app", Policy::default(), true).await;
    let a = forwarded(w.admit(&Req::to("app"), Source::Public, T0).await);
    assert_eq!(a.tunnel.domain, "app");
    assert!(a.strip_headers.is_empty() && a.path.is_none() && !a.needs_body_check);
    assert!(!a.capture.hide_share_token);
    assert_eq!(a.capture.max_bytes, w.b.config.capture_bytes);
    assert_eq!(a.path("/x?y=1"), "/x?y=1");
}

#[tokio::test]
async fn an_unknown_name_is_a_404_that_says_how_to_start_one() {
    let w = World::new();
    let r = refused(w.admit(&Req::to("nope"), Source::Public, T0).await);
    assert!(r.logged.is_none());
    assert_eq!(
        r.refusal,
        Refusal::UnknownTunnel {
            domain: "nope".into()
        }
    );
    assert_eq!(r.refusal.status(), 404);
    let text = body_text(&r.refusal);
    assert!(text.contains("No tunnel is registered for nope"), "{text}");
    assert!(
        text.contains("`tunnel start &lt;port&gt; --domain nope`"),
        "{text}"
    );
    assert!(text.contains("<title>404 Not Found</title>"), "{text}");
    assert!(!r.refusal.names_a_tunnel());
    assert_eq!(r.refusal.error_kind(), Some("unknown_tunnel"));
}

#[tokio::test]
async fn an_expired_tunnel_is_no_tunnel() {
    let w = World::new();
    w.tunnel("old", Policy::default(), false).await;
    let just_before = refused(
        w.admit(&Req::to("old"), Source::Public, EXPIRES * 1000 - 1)
            .await,
    );
    assert_eq!(
        just_before.refusal,
        Refusal::Offline {
            domain: "old".into()
        }
    );
    let at = refused(
        w.admit(&Req::to("old"), Source::Public, EXPIRES * 1000)
            .await,
    );
    assert_eq!(
        at.refusal,
        Refusal::UnknownTunnel {
            domain: "old".into()
        }
    );
}

#[tokio::test]
async fn an_offline_tunnel_is_a_502_unless_its_inbox_can_hold_the_request() {
    let w = World::new();
    w.tunnel("away", Policy::default(), false).await;
    let r = refused(w.admit(&Req::to("away"), Source::Public, T0).await);
    assert!(r.logged.is_none(), "nothing of the request was looked at");
    assert_eq!(r.refusal.status(), 502);
    assert_eq!(r.refusal.outcome(), Outcome::TunnelOffline);
    assert!(r.refusal.names_a_tunnel());
    let text = body_text(&r.refusal);
    assert!(
        text.contains("The tunnel away exists but no client is connected to it"),
        "{text}"
    );

    let inbox = Policy {
        inbox: Some(Inbox::default()),
        ..Policy::default()
    };
    w.tunnel("held", inbox, false).await;
    match w.admit(&Req::to("held"), Source::Public, T0).await {
        Admission::Hold(a) => assert!(a.connection_id.is_none() && a.tunnel.domain == "held"),
        other => panic!("not held: {other:?}"),
    }
    // A WebSocket is a conversation, and a replay the owner's own call: neither is held.
    let mut ws = Req::to("held");
    ws.websocket = true;
    let r = refused(w.admit(&ws, Source::Public, T0).await);
    assert_eq!(
        r.refusal,
        Refusal::Offline {
            domain: "held".into()
        }
    );
    let r = refused(w.admit(&Req::to("held"), Source::Replay, T0).await);
    assert_eq!(
        r.refusal,
        Refusal::Offline {
            domain: "held".into()
        }
    );
}

#[tokio::test]
async fn a_connection_found_closed_turns_a_forward_into_a_hold_or_offline() {
    let w = World::new();
    let inbox = Policy {
        inbox: Some(Inbox::default()),
        ..Policy::default()
    };
    w.tunnel("both", inbox, true).await;
    let a = forwarded(w.admit(&Req::to("both"), Source::Public, T0).await);
    assert!(
        matches!(a.clone().connection_gone(Source::Public, false), Admission::Hold(h) if h.connection_id.is_none())
    );
    let r = refused(a.connection_gone(Source::Public, true));
    assert_eq!(
        r.refusal,
        Refusal::Offline {
            domain: "both".into()
        }
    );
    assert!(
        r.logged.is_some(),
        "its policy was checked: it goes in the log"
    );

    w.tunnel("plain", Policy::default(), true).await;
    let a = forwarded(w.admit(&Req::to("plain"), Source::Public, T0).await);
    let r = refused(a.connection_gone(Source::Public, false));
    assert_eq!(r.refusal.status(), 502);
}

#[tokio::test]
async fn the_rate_limit_refuses_with_retry_after_and_refills_with_time() {
    let mut w = World::new();
    w.b.config.public_rate = Some(Rate::new(0.5, 2));
    w.b.limiter = Arc::new(MemoryLimiter::default());
    w.tunnel("busy", Policy::default(), true).await;
    let req = Req::to("busy");
    forwarded(w.admit(&req, Source::Public, T0).await);
    forwarded(w.admit(&req, Source::Public, T0).await);
    let r = refused(w.admit(&req, Source::Public, T0).await);
    assert!(r.logged.is_none());
    assert_eq!(
        r.refusal,
        Refusal::RateLimited {
            domain: "busy".into(),
            retry_after: 2
        }
    );
    assert_eq!(r.refusal.status(), 429);
    assert_eq!(header(&r.refusal.headers(), "retry-after"), Some("2"));
    assert_eq!(
        r.refusal.error_kind(),
        None,
        "counted as rate limited, not an error"
    );
    let text = body_text(&r.refusal);
    assert!(
        text.contains("more requests than its rate limit allows. Retry in 2 s."),
        "{text}"
    );
    // A token comes back every 2 s: 1999 ms is not enough, 2000 ms is.
    refused(w.admit(&req, Source::Public, T0 + 1999).await);
    forwarded(w.admit(&req, Source::Public, T0 + 2000).await);
    refused(w.admit(&req, Source::Public, T0 + 2000).await);
    // An unknown name takes no token (no bucket per name a caller makes up).
    let r = refused(w.admit(&Req::to("nope"), Source::Public, T0 + 2000).await);
    assert_eq!(r.refusal.status(), 404);
}

#[tokio::test]
async fn basic_auth_refuses_with_a_challenge_and_admits_without_the_credentials() {
    let w = World::new();
    let t = w
        .tunnel(
            "locked",
            Policy {
                basic_auth: Some("demo:s3cret".into()),
                ..Policy::default()
            },
            true,
        )
        .await;
    let r = refused(w.admit(&Req::to("locked"), Source::Public, T0).await);
    assert_eq!(
        r.logged.as_deref().map(|t| &t.tunnel_id),
        Some(&t.tunnel_id)
    );
    assert_eq!(r.refusal.status(), 401);
    assert_eq!(r.refusal.outcome(), Outcome::Refused);
    let h = r.refusal.headers();
    assert_eq!(
        header(&h, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(header(&h, "www-authenticate").is_some_and(|v| v.starts_with("Basic realm=")));
    assert_eq!(
        body_text(&r.refusal),
        "unauthorized: this tunnel requires basic auth\n"
    );

    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("demo:s3cret")
    );
    let req = Req::to("locked").header("Authorization", &auth);
    let a = forwarded(w.admit(&req, Source::Public, T0).await);
    assert_eq!(a.strip_headers, ["authorization"]);
    let kept = a.headers(req.headers.clone());
    assert!(header(&kept, "authorization").is_none() && header(&kept, "accept").is_some());
    // A replay is the owner's own request: the policy guards the public URL only.
    forwarded(w.admit(&Req::to("locked"), Source::Replay, T0).await);
}

#[tokio::test]
async fn a_share_token_is_cut_from_the_path_and_hidden_from_the_record() {
    let w = World::new();
    w.tunnel(
        "shared",
        Policy {
            share_token: Some("share-token-0123456789".into()),
            ..Policy::default()
        },
        true,
    )
    .await;
    let mut req = Req::to("shared");
    req.path = "/a?tunnel_token=share-token-0123456789&b=2".into();
    let a = forwarded(w.admit(&req, Source::Public, T0).await);
    assert_eq!(a.path.as_deref(), Some("/a?b=2"));
    assert_eq!(a.path(&req.path), "/a?b=2");
    assert!(a.capture.hide_share_token);
    assert_eq!(a.strip_headers, ["x-tunnel-token"]);

    req.path = "/a?tunnel_token=wrong".into();
    let r = refused(w.admit(&req, Source::Public, T0).await);
    assert_eq!(r.refusal.status(), 401);
    assert!(r.capture.hide_share_token, "a wrong token is hidden too");
    assert!(body_text(&r.refusal).contains("requires a share token"));
}

#[tokio::test]
async fn the_allow_list_refuses_other_addresses_with_403() {
    let w = World::new();
    w.tunnel(
        "office",
        Policy {
            allow_ips: vec!["10.0.0.0/8".into()],
            ..Policy::default()
        },
        true,
    )
    .await;
    let mut req = Req::to("office");
    req.peer = Some("10.1.2.3".parse().unwrap());
    forwarded(w.admit(&req, Source::Public, T0).await);
    req.peer = Some("11.0.0.0".parse().unwrap());
    let r = refused(w.admit(&req, Source::Public, T0).await);
    assert_eq!(r.refusal.status(), 403);
    assert!(body_text(&r.refusal).contains("not on this tunnel's allow-list"));
    req.peer = None;
    assert_eq!(
        refused(w.admit(&req, Source::Public, T0).await)
            .refusal
            .status(),
        403
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_at_its_edge_and_logged() {
    let w = World::new();
    w.tunnel("big", Policy::default(), true).await;
    let mut req = Req::to("big");
    req.body_len = Some(RULES.max_body);
    forwarded(w.admit(&req, Source::Public, T0).await);
    req.body_len = Some(RULES.max_body + 1);
    let r = refused(w.admit(&req, Source::Public, T0).await);
    assert!(r.logged.is_some());
    assert_eq!(r.refusal, Refusal::TooLarge { max: 1000 });
    assert_eq!(r.refusal.status(), 413);
    assert_eq!(r.refusal.outcome(), Outcome::TooLarge);
    assert!(body_text(&r.refusal).contains("larger than this service's limit of 1000 bytes"));
}

#[tokio::test]
async fn a_webhook_policy_admits_the_head_then_checks_the_whole_body() {
    let w = World::new();
    w.tunnel(
        "hooks",
        Policy {
            webhook: Some(Webhook::hmac("shh")),
            ..Policy::default()
        },
        true,
    )
    .await;
    let body = br#"{"zen":"hi"}"#;
    let sig = sign_webhook("shh", "sha256=", body);
    let req = Req::to("hooks").header("X-Hub-Signature-256", &sig);
    let a = forwarded(w.admit(&req, Source::Public, T0).await);
    assert!(a.needs_body_check);
    assert_eq!(check_body(&a, &req.headers, body, T0), Ok(()));
    let wrong = check_body(&a, &req.headers, b"{}", T0).unwrap_err();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.outcome(), Outcome::Refused);
    let big = vec![b'x'; MAX_VERIFIED_BODY_BYTES + 1];
    let too_big = check_body(&a, &req.headers, &big, T0).unwrap_err();
    assert_eq!(
        (too_big.status(), too_big.outcome()),
        (413, Outcome::TooLarge)
    );
    // A replay skips the policy, so has no body to check.
    let replay = forwarded(w.admit(&Req::to("hooks"), Source::Replay, T0).await);
    assert!(!replay.needs_body_check);
    assert_eq!(check_body(&replay, &req.headers, b"{}", T0), Ok(()));
}

#[tokio::test]
async fn a_reroute_finds_the_new_connection_or_the_inbox_and_waits_otherwise() {
    let w = World::new();
    let inbox = Policy {
        inbox: Some(Inbox::default()),
        ..Policy::default()
    };
    let t = w.tunnel("moving", inbox, true).await;
    let a = forwarded(w.admit(&Req::to("moving"), Source::Public, T0).await);
    // The store still names the closed connection: nothing yet.
    assert!(reroute(&w.b, &a, CONN, Source::Public, T0).await.is_none());
    // The client came back on a new connection.
    w.b.store
        .detach_connection(&t.tunnel_id, CONN, EXPIRES)
        .await
        .unwrap();
    w.b.store
        .attach_connection(&t.tunnel_id, "conn-2", T0 / 1000)
        .await
        .unwrap();
    match reroute(&w.b, &a, CONN, Source::Public, T0).await {
        Some(Admission::Forward(b)) => assert_eq!(b.connection_id.as_deref(), Some("conn-2")),
        other => panic!("not rerouted: {other:?}"),
    }
    // Offline: the inbox holds a public request; a replay waits.
    w.b.store
        .detach_connection(&t.tunnel_id, "conn-2", EXPIRES)
        .await
        .unwrap();
    let held = reroute(&w.b, &a, CONN, Source::Public, T0).await;
    assert!(matches!(held, Some(Admission::Hold(h)) if h.connection_id.is_none()));
    assert!(reroute(&w.b, &a, CONN, Source::Replay, T0).await.is_none());
    // Expired meanwhile: no tunnel.
    let gone = reroute(&w.b, &a, CONN, Source::Public, EXPIRES * 1000).await;
    assert!(matches!(gone, Some(Admission::Refuse(r)) if r.refusal.status() == 404));
}
