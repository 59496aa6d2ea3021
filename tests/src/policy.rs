//! Per-tunnel access policies end to end, the same on both stacks: each check refuses
//! without its credential and admits with it, credentials meant for the tunnel never
//! reach the origin, refusals are in the request log, and the API never shows a
//! secret back.

use serde_json::{Value, json};
use tunnel_backend::handlers::policy::{MAX_VERIFIED_BODY_BYTES, sign_webhook};

use crate::inspection::Rest;
use crate::scenarios::Stack;
use crate::{public_client, wait_line};

fn echoed_headers(resp: &reqwest::Response) -> Vec<(String, String)> {
    let raw = resp.headers()["x-echo-headers"].to_str().unwrap();
    serde_json::from_str(raw).unwrap()
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Basic auth (kept through a PATCH of the allow-list), share token, IP allow-list (set
/// by flag, then changed by PATCH) and
/// webhook signatures, each on its own tunnel.
pub async fn access_policies(stack: &Stack) {
    const PASSWORD: &str = "pw-very-secret";
    const TOKEN: &str = "tok-share-secret";
    const HOOK_SECRET: &str = "hook-very-secret";
    let served = stack
        .serve("pbasic", &["--basic-auth", &format!("alice:{PASSWORD}")])
        .await;
    let user = &served.user;
    let port = served.origin.port.to_string();
    let mut token = user
        .start(&[&port, "--domain", "ptoken", "--share-token", TOKEN])
        .await;
    // The CLI says what guards the tunnel, without the secret.
    let said = wait_line(&mut token.stderr, "the access line", |l| {
        l.starts_with("Access: ")
    })
    .await;
    assert_eq!(said, "Access: share token");
    let ip = user
        .start(&[&port, "--domain", "pip", "--allow-ip", "10.0.0.0/8"])
        .await;
    let hook = user
        .start(&[&port, "--domain", "phook", "--verify-webhook", HOOK_SECRET])
        .await;
    let http = public_client(&stack.server, &["pbasic", "ptoken", "pip", "phook"]);
    let url = |name: &str| format!("http://{name}.localhost:{}", stack.server.port);
    let rest = Rest::new(stack, Some(&user.api_key()));

    // Basic auth: 401 with a challenge, then admitted without the header reaching
    // the origin.
    let r = http
        .get(format!("{}/a", url("pbasic")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let r = http
        .get(format!("{}/a", url("pbasic")))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/a", url("pbasic")))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!has_header(&echoed_headers(&r), "authorization"));

    // A PATCH of the allow-list alone merges: basic auth stays in force without its
    // password being sent again, and the new list applies on top of it.
    let basic_id = rest.tunnel_id("pbasic").await;
    let patch_ips = |ips: Value| {
        let rest = &rest;
        let path = format!("/v1/tunnels/{basic_id}");
        async move {
            rest.call("PATCH", &path, Some(json!({"policy": {"allow_ips": ips}})))
                .await
        }
    };
    let (status, body) = patch_ips(json!(["127.0.0.0/8", "::1"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["policy"]["basic_auth_user"], "alice", "{body}");
    let get = |auth: bool| {
        let r = http.get(format!("{}/a", url("pbasic")));
        let r = if auth {
            r.basic_auth("alice", Some(PASSWORD))
        } else {
            r
        };
        r.send()
    };
    assert_eq!(get(false).await.unwrap().status(), 401, "basic auth kept");
    assert_eq!(get(true).await.unwrap().status(), 200);
    let (status, _) = patch_ips(json!(["10.0.0.0/8"])).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(true).await.unwrap().status(),
        403,
        "the new list applies"
    );
    // A bad entry is refused naming the field, and nothing changes.
    let (status, body) = patch_ips(json!(["10.0.0.0/33"])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_policy", "{body}");
    assert_eq!(body["error"]["field"], "allow_ips", "{body}");
    assert_eq!(get(true).await.unwrap().status(), 403);
    let (status, _) = patch_ips(Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(get(false).await.unwrap().status(), 401);
    assert_eq!(get(true).await.unwrap().status(), 200);

    // The same through `tunnel policy`: with no flag it shows what is in force; a flag
    // changes its check only; a bad value is refused naming the flag, before any call.
    let shown = user.ok(&["policy", "pbasic"]).await;
    assert_eq!(
        shown,
        format!("Access to pbasic ({basic_id}): basic auth (user alice)\n")
    );
    let changed = user
        .ok(&[
            "policy",
            "pbasic",
            "--allow-ip",
            "127.0.0.0/8",
            "--allow-ip",
            "::1",
        ])
        .await;
    assert_eq!(
        changed,
        format!(
            "Access to pbasic ({basic_id}): basic auth (user alice); from 127.0.0.0/8, ::1/128\n"
        )
    );
    assert_eq!(get(false).await.unwrap().status(), 401, "basic auth kept");
    assert_eq!(get(true).await.unwrap().status(), 200);
    let bad = user
        .run(&["policy", "pbasic", "--allow-ip", "10.0.0.0/33"])
        .await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr
            .starts_with("error: --allow-ip: \"10.0.0.0/33\" is not an IP address or CIDR"),
        "{bad:?}"
    );
    let off = user.ok(&["policy", "pbasic", "--no-allow-ip"]).await;
    assert!(off.ends_with(": basic auth (user alice)\n"), "{off}");
    let both = user
        .run(&["policy", "pbasic", "--basic-auth", "a:b", "--no-basic-auth"])
        .await;
    assert_eq!(both.code, Some(2), "{both:?}");

    // Share token: header or query parameter, both stripped before the origin.
    let r = http
        .get(format!("{}/t", url("ptoken")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/t", url("ptoken")))
        .header("x-tunnel-token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!has_header(&echoed_headers(&r), "x-tunnel-token"));
    let r = http
        .get(format!("{}/q?a=1&tunnel_token={TOKEN}&b=2", url("ptoken")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-echo-target"], "/q?a=1&b=2");
    let r = http
        .get(format!("{}/q?tunnel_token=tok-wrong-one", url("ptoken")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        served
            .origin
            .seen()
            .iter()
            .all(|t| !t.contains(TOKEN) && !t.contains("tunnel_token")),
        "{:?}",
        served.origin.seen()
    );

    // IP allow-list: loopback is outside 10/8; PATCH lets it in.
    let r = http.get(format!("{}/i", url("pip"))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let ip_id = rest.tunnel_id("pip").await;
    let (status, body) = rest
        .call(
            "PATCH",
            &format!("/v1/tunnels/{ip_id}"),
            Some(json!({"policy": {"allow_ips": ["127.0.0.0/8", "::1"]}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["policy"]["allow_ips"],
        json!(["127.0.0.0/8", "::1/128"])
    );
    let r = http.get(format!("{}/i", url("pip"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = rest
        .call(
            "PATCH",
            &format!("/v1/tunnels/{ip_id}"),
            Some(json!({"policy": {"allow_ips": ["not-an-ip"]}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not-an-ip")
    );

    // Webhook signatures over the raw body.
    let payload = br#"{"action":"opened","n":1}"#.to_vec();
    let good = sign_webhook(HOOK_SECRET, "sha256=", &payload);
    let bad = sign_webhook("another-secret", "sha256=", &payload);
    let post = |sig: Option<&str>, body: Vec<u8>| {
        let mut r = http.post(format!("{}/hook", url("phook"))).body(body);
        if let Some(s) = sig {
            r = r.header("X-Hub-Signature-256", s);
        }
        r.send()
    };
    assert_eq!(post(None, payload.clone()).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(&bad), payload.clone()).await.unwrap().status(),
        401
    );
    assert_eq!(
        post(Some(&good), b"tampered".to_vec())
            .await
            .unwrap()
            .status(),
        401
    );
    let r = post(Some(&good), payload.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), payload.as_slice());
    // A body past the verification limit is 413 on both backends (the local stack
    // stops reading there; on AWS it is under the Function URL's own limit).
    let big = vec![b'x'; MAX_VERIFIED_BODY_BYTES + 1];
    let big_sig = sign_webhook(HOOK_SECRET, "sha256=", &big);
    assert_eq!(post(Some(&big_sig), big).await.unwrap().status(), 413);

    // Refusals are in the request log, with their status and reason (pbasic's also
    // has the 403s of its allow-list and the 401s of the checks after each PATCH).
    for (domain, refused, status) in [
        ("pbasic", 5, 401),
        ("ptoken", 2, 401),
        ("pip", 1, 403),
        ("phook", 3, 401),
    ] {
        let id = rest.tunnel_id(domain).await;
        let page = rest.wait_for(&id, refused + 1).await;
        let lines: Vec<_> = page
            .requests
            .iter()
            .filter(|s| {
                s.outcome == client_core::inspect::Outcome::Refused && s.status == Some(status)
            })
            .collect();
        assert_eq!(lines.len(), refused, "{domain}: {page:?}");
        let x = rest.exchange(&lines[0].request_id).await;
        let reason = x.response.unwrap().body;
        assert!(
            String::from_utf8_lossy(&reason.bytes).starts_with(if status == 403 {
                "forbidden"
            } else {
                "unauthorized"
            }),
            "{domain}"
        );
        if domain == "ptoken" {
            let shown = serde_json::to_string(&page).unwrap();
            assert!(!shown.contains(TOKEN), "{shown}");
        }
    }

    // The API shows which checks are on, never a secret.
    let (status, body) = rest.call("GET", "/v1/tunnels", None).await;
    assert_eq!(status, 200);
    let text = body.to_string();
    for secret in [PASSWORD, TOKEN, HOOK_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
    let policy_of = |domain: &str| -> Value {
        body["tunnels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["domain"] == domain)
            .unwrap()["policy"]
            .clone()
    };
    assert_eq!(policy_of("pbasic")["basic_auth_user"], "alice");
    assert_eq!(policy_of("ptoken")["share_token"], true);
    assert_eq!(
        policy_of("phook")["webhook"]["header"],
        "X-Hub-Signature-256"
    );

    // A bad flag is refused before anything is created, naming the flag.
    let out = user
        .run(&["start", &port, "--allow-ip", "10.0.0.300/8"])
        .await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("--allow-ip"), "{}", out.stderr);
    let out = user.run(&["start", &port, "--share-token", "short"]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("--share-token"), "{}", out.stderr);

    for t in [token, ip, hook] {
        t.interrupt().await;
    }
    served.tunnel.interrupt().await;
}
