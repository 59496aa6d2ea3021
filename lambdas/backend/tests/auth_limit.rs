//! Failed authentications per source address, on a virtual clock: the budget's last
//! failure is a 401, the one after it a 429 with `Retry-After`, for the right key from
//! that address too; other addresses are unaffected; what is not a guess is not
//! counted; the REST API and the WebSocket connect share one budget.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::NoReplays;
use serde_json::Value;
use tunnel_backend::Backend;
use tunnel_backend::api::{self, ApiRequest};
use tunnel_backend::auth_limit::{AUTH_FAILURE_BURST, AUTH_FAILURES_PER_MINUTE};
use tunnel_backend::handlers::connection::authorize_connection;
use tunnel_backend::limits::MemoryLimiter;

const ATTACKER: &str = "203.0.113.1";
const ELSEWHERE: &str = "203.0.113.2";

/// Seconds until one failure is allowed again after the burst.
const REFILL_ONE: u64 = 60 / AUTH_FAILURES_PER_MINUTE as u64;

async fn call(b: &Backend, from: &str, auth: Option<&str>, now: u64) -> (u16, Option<u64>, Value) {
    let req = ApiRequest {
        method: "GET".into(),
        path: "/v1/tunnels".into(),
        authorization: auth.map(|a| format!("Bearer {a}")),
        remote_ip: Some(from.into()),
        ..ApiRequest::default()
    };
    let r = api::handle(b, req, now, &NoReplays).await;
    (
        r.status,
        r.retry_after,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn limited_backend(dir: &std::path::Path) -> Backend {
    let mut b = common::backend(dir);
    b.failures = Arc::new(MemoryLimiter::default());
    b
}

async fn register(b: &Backend, now: u64) -> String {
    let req = ApiRequest {
        method: "POST".into(),
        path: "/v1/clients".into(),
        ..ApiRequest::default()
    };
    let r = api::handle(b, req, now, &NoReplays).await;
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    body["api_key"].as_str().unwrap().to_owned()
}

/// The key with its secret changed: the right shape, the wrong secret.
fn wrong(key: &str) -> String {
    let (head, secret) = key.rsplit_once('_').unwrap();
    let flipped = if secret.starts_with('0') { '1' } else { '0' };
    format!("{head}_{flipped}{}", &secret[1..])
}

#[tokio::test]
async fn the_budget_holds_at_its_edge_and_only_for_the_guessing_address() {
    let dir = tempfile::tempdir().unwrap();
    let b = limited_backend(dir.path());
    let t0 = 1_000_000;
    let key = register(&b, t0).await;
    let bad = wrong(&key);

    for i in 1..=AUTH_FAILURE_BURST {
        let (status, _, body) = call(&b, ATTACKER, Some(&bad), t0).await;
        assert_eq!(
            status, 401,
            "failure {i} of {AUTH_FAILURE_BURST} is answered: {body}"
        );
    }
    let (status, retry, body) = call(&b, ATTACKER, Some(&bad), t0).await;
    assert_eq!(status, 429, "one failure too many: {body}");
    assert_eq!(retry, Some(REFILL_ONE));
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{body}"
    );
    // The right key from there waits too; from elsewhere it works, and elsewhere has
    // its own budget.
    assert_eq!(call(&b, ATTACKER, Some(&key), t0).await.0, 429);
    assert_eq!(call(&b, ELSEWHERE, Some(&key), t0).await.0, 200);
    assert_eq!(call(&b, ELSEWHERE, Some(&bad), t0).await.0, 401);

    // One more failure comes back after REFILL_ONE seconds, not before.
    assert_eq!(
        call(&b, ATTACKER, Some(&bad), t0 + REFILL_ONE - 1).await.0,
        429
    );
    assert_eq!(call(&b, ATTACKER, Some(&bad), t0 + REFILL_ONE).await.0, 401);
    assert_eq!(call(&b, ATTACKER, Some(&bad), t0 + REFILL_ONE).await.0, 429);
    let later = t0 + 2 * REFILL_ONE;
    assert_eq!(call(&b, ATTACKER, Some(&key), later).await.0, 200);
}

#[tokio::test]
async fn what_is_not_a_guess_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let b = limited_backend(dir.path());
    let t0 = 1_000_000;
    let key = register(&b, t0).await;
    let req = ApiRequest {
        method: "POST".into(),
        path: "/v1/tokens".into(),
        authorization: Some(format!("Bearer {key}")),
        remote_ip: Some(ATTACKER.into()),
        ..ApiRequest::default()
    };
    let token: Value =
        serde_json::from_slice(&api::handle(&b, req, t0, &NoReplays).await.body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let expired_at = token_expiry(&b, &token, t0);
    for _ in 0..=AUTH_FAILURE_BURST {
        assert_eq!(call(&b, ATTACKER, None, t0).await.0, 401, "no credential");
        assert_eq!(
            call(&b, ATTACKER, Some(&token), expired_at).await.0,
            401,
            "our own token, expired"
        );
    }
    assert_eq!(call(&b, ATTACKER, Some(&key), t0).await.0, 200);
}

fn token_expiry(b: &Backend, token: &str, now: u64) -> u64 {
    b.signer.verify(token, now).unwrap().exp
}

#[tokio::test]
async fn the_websocket_connect_shares_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let b = limited_backend(dir.path());
    let t0 = 1_000_000;
    let key = register(&b, t0).await;
    // Forged tokens on the connect count...
    for _ in 0..AUTH_FAILURE_BURST {
        let e = authorize_connection(&b, Some(ATTACKER), Some("a.b.c"), t0)
            .await
            .unwrap_err();
        assert_eq!(e.status, 401);
    }
    // ... against the same address's REST calls, and the other way round.
    let (status, retry, _) = call(&b, ATTACKER, Some(&wrong(&key)), t0).await;
    assert_eq!((status, retry), (429, Some(REFILL_ONE)));
    let e = authorize_connection(&b, Some(ATTACKER), Some("a.b.c"), t0)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.retry_after), (429, Some(REFILL_ONE)));
    assert_eq!(e.limit_scope, Some(tunnel_backend::telemetry::SCOPE_AUTH));
    assert_eq!(
        authorize_connection(&b, Some(ELSEWHERE), Some("a.b.c"), t0)
            .await
            .unwrap_err()
            .status,
        401
    );
    // A valid session token still passes from the address over budget, on the
    // connect and on REST: checking it saves no store read, and refusing it would
    // let one guesser lock out everyone behind the same NAT or CDN edge. A right API
    // key from there still waits (checking one is a store read).
    let req = ApiRequest {
        method: "POST".into(),
        path: "/v1/tokens".into(),
        authorization: Some(format!("Bearer {key}")),
        remote_ip: Some(ELSEWHERE.into()),
        ..ApiRequest::default()
    };
    let token: Value =
        serde_json::from_slice(&api::handle(&b, req, t0, &NoReplays).await.body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    assert!(
        authorize_connection(&b, Some(ATTACKER), Some(&token), t0)
            .await
            .is_ok()
    );
    assert_eq!(call(&b, ATTACKER, Some(&token), t0).await.0, 200);
    assert_eq!(call(&b, ATTACKER, Some(&key), t0).await.0, 429);
}
