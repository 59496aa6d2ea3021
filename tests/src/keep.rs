//! A tunnel keeps what protects it: Ctrl-C leaves a tunnel inactive, not deleted, with
//! its policy and request log; a restart resumes it with the policy in force; an
//! inactive tunnel expires, and then its name is free. Run against both backends.

#![allow(clippy::missing_panics_doc)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::inspection::Rest;
use crate::scenarios::{Kind, Stack};
use crate::{Origin, READY_TIMEOUT, wait_line};

const USER: &str = "demo-user";
const PASSWORD: &str = "demo-password";

/// Basic auth and an allow-list set from outside the CLI (as the console does), then
/// Ctrl-C of the real `tunnel` and `tunnel start --domain` again without flags: the
/// policy still guards the tunnel and the log still holds the earlier requests.
pub async fn policy_and_log_survive_ctrl_c(stack: &Stack) {
    let served = stack.serve("keepme", &[]).await;
    let (user, origin, http) = (served.user, served.origin, served.http);
    let url = served.tunnel.url.clone();
    let rest = Rest::new(stack, Some(&user.api_key()));
    let id = rest.tunnel_id("keepme").await;
    let r = http.get(format!("{url}/before")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let (status, t) = rest
        .call(
            "PATCH",
            &format!("/v1/tunnels/{id}"),
            Some(json!({"policy": {
                "basic_auth": format!("{USER}:{PASSWORD}"),
                "allow_ips": ["127.0.0.1", "::1"],
            }})),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    let r = http.get(format!("{url}/guarded")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the console's policy is in force");
    let r = http
        .get(format!("{url}/with-auth"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let before = rest.wait_for(&id, 3).await;

    let (code, said) = served.tunnel.interrupt_with_stderr().await;
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("tunnel keepme kept, inactive until"),
        "{said}"
    );
    assert!(said.contains("basic auth (user demo-user)"), "{said}");
    assert!(said.contains("`tunnel stop keepme` deletes it"), "{said}");
    let (status, t) = rest.call("GET", &format!("/v1/tunnels/{id}"), None).await;
    assert_eq!(status, 200, "kept: {t}");
    assert_eq!(t["status"], "offline");
    assert!(
        t["expires_at"].as_u64().is_some(),
        "says when it expires: {t}"
    );

    // Started again with no policy flags: the same tunnel, the same protection.
    let port = origin.port.to_string();
    let mut again = user.start(&[&port, "--domain", "keepme"]).await;
    let line = wait_line(&mut again.stderr, "the protection line", |l| {
        l.starts_with("Protected by: ")
    })
    .await;
    assert!(line.contains("basic auth (user demo-user)"), "{line}");
    assert!(line.contains("from 127.0.0.1/32"), "{line}");
    assert!(line.contains("`tunnel policy keepme` changes it"), "{line}");
    assert_eq!(rest.tunnel_id("keepme").await, id, "resumed, not recreated");
    let r = http.get(format!("{url}/after")).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "an unauthenticated request is still refused"
    );
    let r = http
        .get(format!("{url}/after-auth"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = rest.wait_for(&id, 5).await;
    let paths: Vec<&str> = log.requests.iter().map(|s| s.path.as_str()).collect();
    for earlier in &before.requests {
        assert!(
            paths.contains(&earlier.path.as_str()),
            "the log keeps {} across Ctrl-C: {paths:?}",
            earlier.path
        );
    }
    let (status, t) = rest.call("GET", &format!("/v1/tunnels/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        t["expires_at"],
        Value::Null,
        "served again, it does not expire"
    );

    // Flags replace only what they name: the allow-list changes, basic auth stays.
    assert_eq!(again.interrupt().await, Some(0));
    let mut narrowed = user
        .start(&[&port, "--domain", "keepme", "--allow-ip", "10.0.0.0/8"])
        .await;
    let line = wait_line(&mut narrowed.stderr, "the access line", |l| {
        l.starts_with("Access: ")
    })
    .await;
    assert!(line.contains("basic auth (user demo-user)"), "{line}");
    assert!(line.contains("from 10.0.0.0/8"), "{line}");
    let r = http
        .get(format!("{url}/outside"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "loopback is no longer allowed");
    assert_eq!(narrowed.interrupt().await, Some(0));
    user.ok(&["stop", "keepme"]).await;
    let (status, _) = rest.call("GET", &format!("/v1/tunnels/{id}"), None).await;
    assert_eq!(status, 404, "`tunnel stop` deletes it");
}

/// A random-name tunnel is deleted on Ctrl-C, unless a policy is on it at that
/// moment (set while it ran, from outside the CLI): then it is kept, and said so.
pub async fn random_names_keep_only_a_policy(stack: &Stack) {
    let user = stack.user("r");
    user.register().await;
    let origin = Origin::start().await;
    let port = origin.port.to_string();
    let rest = Rest::new(stack, Some(&user.api_key()));

    let plain = user.start(&[&port]).await;
    let plain_id = rest.tunnel_id(&plain.domain()).await;
    let (code, said) = plain.interrupt_with_stderr().await;
    assert_eq!(code, Some(0), "{said}");
    assert!(!said.contains("kept"), "{said}");
    let (status, _) = rest
        .call("GET", &format!("/v1/tunnels/{plain_id}"), None)
        .await;
    assert_eq!(status, 404, "a random name with nothing on it is deleted");

    let guarded = user.start(&[&port]).await;
    let name = guarded.domain();
    let id = rest.tunnel_id(&name).await;
    let (status, t) = rest
        .call(
            "PATCH",
            &format!("/v1/tunnels/{id}"),
            Some(json!({"policy": {"share_token": "share-token-1234"}})),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    let (code, said) = guarded.interrupt_with_stderr().await;
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!("tunnel {name} kept because a policy is on it")),
        "{said}"
    );
    let (status, t) = rest.call("GET", &format!("/v1/tunnels/{id}"), None).await;
    assert_eq!(status, 200, "a policy is never dropped unasked: {t}");
    assert_eq!(t["policy"]["share_token"], true);
    user.ok(&["stop", &name]).await;
}

/// With a short inactive TTL: the name is held while the tunnel is inactive, and free
/// for another client once it has expired; the expired tunnel is gone for its owner.
pub async fn expired_names_are_free(kind: Kind) {
    let stack = Stack::start_with(kind, &["--inactive-ttl", "2"]).await;
    let served = stack.serve("shortlived", &[]).await;
    let owner = Rest::new(&stack, Some(&served.user.api_key()));
    let id = owner.tunnel_id("shortlived").await;
    let (code, said) = served.tunnel.interrupt_with_stderr().await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("kept, inactive until"), "{said}");

    let other = stack.user("other");
    other.register().await;
    let rival = Rest::new(&stack, Some(&other.api_key()));
    let claim = json!({"domain": "shortlived"});
    let (status, body) = rival.call("POST", "/v1/tunnels", Some(claim.clone())).await;
    assert_eq!(status, 409, "held while inactive: {body}");
    // Expiry is a point in time on the server's clock: ask until it has passed.
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let taken = loop {
        let (status, body) = rival.call("POST", "/v1/tunnels", Some(claim.clone())).await;
        if status == 201 {
            break body;
        }
        assert_eq!(status, 409, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the name never came free: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(taken["tunnel_id"], id.as_str());
    let (status, _) = owner.call("GET", &format!("/v1/tunnels/{id}"), None).await;
    assert_eq!(status, 404, "the expired tunnel is gone");
    let (_, list) = owner.call("GET", "/v1/tunnels", None).await;
    assert_eq!(list["tunnels"], json!([]), "{list}");
}
