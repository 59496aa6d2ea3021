//! Webhooks signed by each provider's own library, sent through tunnels that verify
//! that provider's scheme, the same on both stacks: admitted as signed, and refused
//! (401, the body saying what failed) when the body was altered, the secret is
//! another, the signed timestamp is outside the tolerance, or a header is missing.
//!
//! The signers are tests/webhooks/sign.mjs (npm: `@octokit/webhooks-methods`,
//! `stripe`, `@shopify/shopify-api`) and tests/webhooks/sign.py (PyPI: `slack_sdk`,
//! `standardwebhooks`), installed by `scripts/setup.sh webhooks`.

use std::path::PathBuf;
use std::process::Stdio;

use client_core::clock::now_secs as unix_now;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::inspection::Rest;
use crate::scenarios::Stack;
use crate::{Origin, READY_TIMEOUT, public_client, wait_line};

/// Providers whose library is on npm; the others' are on PyPI.
const NODE_SIGNED: [&str; 3] = ["github", "stripe", "shopify"];

/// A request as a provider's library signed it.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Header lines to send.
    pub headers: Vec<(String, String)>,
    /// The body that was signed (exactly what to send).
    pub body: String,
}

fn signers() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("webhooks")
}

/// The venv holding the PyPI signers: `TUNNEL_WEBHOOKS_VENV`, else where
/// `scripts/setup.sh webhooks` makes it.
fn python() -> PathBuf {
    let venv = std::env::var_os("TUNNEL_WEBHOOKS_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is not set");
            PathBuf::from(home).join(".cache/tunnel-venv-webhooks")
        },
        PathBuf::from,
    );
    venv.join("bin/python")
}

/// `body` signed by `provider`'s library with `secret` at `timestamp` (Unix seconds;
/// schemes without one ignore it), `id` as the delivery id.
pub async fn sign(provider: &str, secret: &str, timestamp: u64, id: &str, body: &str) -> Signed {
    let dir = signers();
    let mut cmd = if NODE_SIGNED.contains(&provider) {
        assert!(
            dir.join("node_modules").is_dir(),
            "{} has no node_modules: run `scripts/setup.sh node` (npm ci there)",
            dir.display()
        );
        let mut c = Command::new("node");
        c.arg("sign.mjs");
        c
    } else {
        let py = python();
        assert!(
            py.is_file(),
            "no Python at {}: run `scripts/setup.sh webhooks` (or point TUNNEL_WEBHOOKS_VENV at a venv with slack_sdk and standardwebhooks)",
            py.display()
        );
        let mut c = Command::new(py);
        c.arg("sign.py");
        c
    };
    let mut child = cmd
        .args([provider, secret, &timestamp.to_string(), id])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the {provider} signer: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(READY_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {provider} signer did not finish"))
        .unwrap();
    assert!(
        out.status.success(),
        "the {provider} signer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Signed {
        headers: serde_json::from_value(out["headers"].clone()).unwrap(),
        body: out["body"].as_str().unwrap().to_owned(),
    }
}

/// One provider's tunnel and what its sender would use.
struct Provider {
    name: &'static str,
    domain: &'static str,
    secret: &'static str,
    other_secret: &'static str,
    /// The header whose absence is refused by name.
    signature_header: &'static str,
    /// Seconds of tolerance, for schemes that sign a timestamp.
    tolerance: Option<u64>,
    body: &'static str,
}

const JSON_BODY: &str = r#"{"id":"evt_1","type":"ping","note":"café ☕ 日本"}"#;

const PROVIDERS: [Provider; 5] = [
    Provider {
        name: "github",
        domain: "hgithub",
        secret: "gh-webhook-secret",
        other_secret: "gh-other-secret",
        signature_header: "X-Hub-Signature-256",
        tolerance: None,
        body: JSON_BODY,
    },
    Provider {
        name: "stripe",
        domain: "hstripe",
        secret: "whsec_tunnelTestStripeSecret1234",
        other_secret: "whsec_anotherStripeSecret5678",
        signature_header: "Stripe-Signature",
        // Set by --webhook-tolerance: a delivery signed 180 s ago is refused here,
        // though the default (300 s) would admit it.
        tolerance: Some(120),
        body: JSON_BODY,
    },
    Provider {
        name: "slack",
        domain: "hslack",
        secret: "8f742231b10e8888abcd99yyyzzz85a5",
        other_secret: "0000000000e8888abcd99yyyzzz85a5",
        signature_header: "X-Slack-Signature",
        tolerance: Some(300),
        body: "token=xyz&team_id=T1&command=%2Fdeploy&text=caf%C3%A9",
    },
    Provider {
        name: "shopify",
        domain: "hshopify",
        secret: "shpss_tunnel_test_secret",
        other_secret: "shpss_another_secret",
        signature_header: "X-Shopify-Hmac-Sha256",
        tolerance: None,
        body: JSON_BODY,
    },
    Provider {
        name: "standard",
        domain: "hstandard",
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        other_secret: "whsec_b3RoZXIgc2VjcmV0IGtleSBieXRlcw==",
        signature_header: "webhook-signature",
        tolerance: Some(300),
        body: JSON_BODY,
    },
];

/// Each provider's library signs; the tunnel admits what it signed and refuses the
/// rest, saying why.
pub async fn provider_libraries(stack: &Stack) {
    let user = stack.user("hooks");
    user.register().await;
    let origin = Origin::start().await;
    let port = origin.port.to_string();
    let rest = Rest::new(stack, Some(&user.api_key()));

    // A wrong flag is refused before any tunnel exists, naming the flag.
    for (args, flag, says) in [
        (
            &["--verify-webhook", "standard:not-base64!"][..],
            "--verify-webhook",
            "whsec_",
        ),
        (
            &["--verify-webhook", "github:s", "--webhook-tolerance", "60"][..],
            "--webhook-tolerance",
            "no timestamp",
        ),
        (
            &[
                "--verify-webhook",
                "stripe:s",
                "--webhook-tolerance",
                "3601",
            ][..],
            "--webhook-tolerance",
            "1 to 3600",
        ),
        (
            &["--verify-webhook", "slack:s", "--webhook-header", "X-Sig"][..],
            "--webhook-header",
            "fixed signature header",
        ),
    ] {
        let mut full = vec!["start", port.as_str()];
        full.extend_from_slice(args);
        let out = user.run(&full).await;
        assert_ne!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(flag) && out.stderr.contains(says),
            "{args:?}: {}",
            out.stderr
        );
    }

    // Tunnels: by flag, except Shopify's, set through the REST API.
    let mut running = Vec::new();
    for p in &PROVIDERS {
        let mut args = vec![port.as_str(), "--domain", p.domain];
        let flag = format!("{}:{}", p.name, p.secret);
        if p.name != "shopify" {
            args.extend(["--verify-webhook", flag.as_str()]);
        }
        if p.name == "stripe" {
            args.extend(["--webhook-tolerance", "120"]);
        }
        let mut t = user.start(&args).await;
        if p.name == "stripe" {
            let said = wait_line(&mut t.stderr, "the access line", |l| {
                l.starts_with("Access: ")
            })
            .await;
            assert_eq!(
                said,
                "Access: Stripe webhook signature (timestamp within 120 s)"
            );
        }
        running.push(t);
    }
    let shopify_id = rest.tunnel_id("hshopify").await;
    let (status, body) = rest
        .call(
            "PATCH",
            &format!("/v1/tunnels/{shopify_id}"),
            Some(json!({"policy": {"webhook": {"provider": "shopify", "secret": PROVIDERS[3].secret}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["policy"]["webhook"],
        json!({"provider": "shopify", "header": "X-Shopify-Hmac-Sha256", "prefix": ""})
    );

    let domains: Vec<&str> = PROVIDERS.iter().map(|p| p.domain).collect();
    let http = public_client(&stack.server, &domains);
    let post = |p: &Provider, headers: &[(String, String)], body: &str| {
        let mut r = http
            .post(format!(
                "http://{}.localhost:{}/hook",
                p.domain, stack.server.port
            ))
            .body(body.to_owned());
        for (n, v) in headers {
            r = r.header(n.as_str(), v.as_str());
        }
        r.send()
    };
    let refused = async |p: &Provider, headers: &[(String, String)], body: &str, says: &str| {
        let r = post(p, headers, body).await.unwrap();
        assert_eq!(r.status(), 401, "{}: {says}", p.name);
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with(&format!("unauthorized: {says}")),
            "{}: {text}",
            p.name
        );
    };

    for p in &PROVIDERS {
        let now = unix_now();
        let good = sign(p.name, p.secret, now, "delivery-1", p.body).await;
        let r = post(p, &good.headers, &good.body).await.unwrap();
        assert_eq!(r.status(), 200, "{}: {:?}", p.name, good.headers);
        let seen: Vec<(String, String)> =
            serde_json::from_str(r.headers()["x-echo-headers"].to_str().unwrap()).unwrap();
        assert!(
            seen.iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(p.signature_header)),
            "{}: the origin gets the signature to check itself",
            p.name
        );
        assert_eq!(r.text().await.unwrap(), good.body, "{}", p.name);

        // The body changed after signing.
        let tampered = good
            .body
            .replacen("evt_1", "evt_2", 1)
            .replacen("xyz", "xyw", 1);
        assert_ne!(tampered, good.body);
        refused(p, &good.headers, &tampered, "bad webhook signature").await;
        // Signed with another secret.
        let other = sign(p.name, p.other_secret, now, "delivery-1", p.body).await;
        refused(p, &other.headers, &other.body, "bad webhook signature").await;
        // Without its signature header.
        let unsigned: Vec<_> = good
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(p.signature_header))
            .cloned()
            .collect();
        refused(
            p,
            &unsigned,
            &good.body,
            &format!("missing {} header", p.signature_header),
        )
        .await;

        // Replays: a minute past the tolerance either way is refused, a minute
        // inside it admitted (a minute: the signers take a moment to start).
        if let Some(tolerance) = p.tolerance {
            for at in [now - tolerance - 60, now + tolerance + 60] {
                let stale = sign(p.name, p.secret, at, "delivery-1", p.body).await;
                refused(p, &stale.headers, &stale.body, "stale webhook timestamp").await;
            }
            let late = sign(p.name, p.secret, now - tolerance + 60, "delivery-1", p.body).await;
            let r = post(p, &late.headers, &late.body).await.unwrap();
            assert_eq!(r.status(), 200, "{}: inside the tolerance", p.name);
        }
    }

    // Svix sends Standard Webhooks under its own header names.
    let standard = &PROVIDERS[4];
    let signed = sign(
        "standard",
        standard.secret,
        unix_now(),
        "msg_svix",
        JSON_BODY,
    )
    .await;
    let svix: Vec<(String, String)> = signed
        .headers
        .iter()
        .map(|(n, v)| (n.replacen("webhook-", "svix-", 1), v.clone()))
        .collect();
    let r = post(standard, &svix, &signed.body).await.unwrap();
    assert_eq!(r.status(), 200, "{svix:?}");

    for t in running {
        t.interrupt().await;
    }
}
