//! Session tokens: accepted wherever the API key is, renewable with themselves, but
//! never past the session's end; expired and tampered ones refused.

#![allow(clippy::unwrap_used)]

mod common;

use common::NoReplays;
use serde_json::Value;
use tunnel_backend::Backend;
use tunnel_backend::api::{self, ApiRequest};
use tunnel_backend::config::TOKEN_TTL_SECS;
use tunnel_backend::handlers::clients::SESSION_MAX_SECS;

async fn call(b: &Backend, method: &str, path: &str, auth: Option<&str>, now: u64) -> (u16, Value) {
    let req = ApiRequest {
        method: method.into(),
        path: path.into(),
        authorization: auth.map(|a| format!("Bearer {a}")),
        ..ApiRequest::default()
    };
    let r = api::handle(b, req, now, &NoReplays).await;
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn tokens_renew_within_their_session_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let b = common::backend(dir.path());
    let t0 = 1_000_000;
    let (_, reg) = call(&b, "POST", "/v1/clients", None, t0).await;
    let key = reg["api_key"].as_str().unwrap().to_owned();
    let (status, first) = call(&b, "POST", "/v1/tokens", Some(&key), t0).await;
    assert_eq!(status, 201);
    assert_eq!(first["expires_at"], t0 + TOKEN_TTL_SECS);
    let token = first["token"].as_str().unwrap().to_owned();

    // The token works like the key, until its expiry.
    assert_eq!(
        call(&b, "GET", "/v1/tunnels", Some(&token), t0).await.0,
        200
    );
    let last_second = t0 + TOKEN_TTL_SECS - 1;
    assert_eq!(
        call(&b, "GET", "/v1/tunnels", Some(&token), last_second)
            .await
            .0,
        200
    );
    let (status, body) = call(&b, "GET", "/v1/tunnels", Some(&token), t0 + TOKEN_TTL_SECS).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Renewing with tokens walks up to the session's end, not past it.
    let end = t0 + SESSION_MAX_SECS;
    let mut current = token;
    let mut now = t0;
    loop {
        now += TOKEN_TTL_SECS - 60;
        let (status, renewed) = call(&b, "POST", "/v1/tokens", Some(&current), now).await;
        if now >= end {
            assert_eq!(status, 401, "no renewal once the session is over");
            break;
        }
        assert_eq!(status, 201);
        let exp = renewed["expires_at"].as_u64().unwrap();
        assert!(
            exp <= end,
            "a renewed token ends with the session at the latest"
        );
        current = renewed["token"].as_str().unwrap().to_owned();
    }

    // A tampered token is refused.
    // One character of the claims changed: the signature no longer matches.
    let mut tampered = current.clone().into_bytes();
    let i = current.find('.').unwrap() + 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        call(&b, "GET", "/v1/tunnels", Some(&tampered), t0).await.0,
        401
    );
}
