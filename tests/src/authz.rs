//! Every REST route with no key, a malformed key, a revoked key, another client's key
//! and the right key; and no key or token in any log line of the server (or of the
//! emulated Lambda functions).

use std::path::Path;

use serde_json::{Value, json};
use tunnel_backend::api::ROUTES;

use crate::inspection::Rest;
use crate::scenarios::{Kind, Stack};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum As {
    Nobody,
    Malformed,
    Revoked,
    Other,
    Owner,
}

/// The status each caller gets on one route.
struct Expect {
    other: u16,
    owner: u16,
}

/// Secrets of the policy the matrix sets with PATCH, which no log line may hold.
const POLICY_SECRETS: [&str; 3] = ["authz-pw-secret", "authz-token-secret", "authz-hook-secret"];

/// Runs the matrix on a stack whose server logs into `log`.
pub async fn matrix(kind: Kind, log: &Path) {
    let stack = Stack::start_logging(kind, log).await;
    let served = stack.serve("authz", &["--log"]).await;
    let owner = served.user.api_key();
    let rest = Rest::new(&stack, Some(&owner));
    let tunnel_id = rest.tunnel_id("authz").await;
    let url = format!("http://authz.localhost:{}", stack.server.port);
    served
        .http
        .post(format!("{url}/hook"))
        .body("x")
        .send()
        .await
        .unwrap();
    let request_id = rest.wait_for(&tunnel_id, 1).await.requests[0]
        .request_id
        .clone();

    let other_user = stack.user("other");
    let other = other_user.register().await;
    let revoked_user = stack.user("revoked");
    let revoked = revoked_user.register().await;
    let rotated = revoked_user.ok(&["auth", "rotate"]).await;
    assert!(rotated.contains("new API key"), "{rotated}");
    assert_ne!(revoked_user.api_key(), revoked);
    let malformed = "tk_not-a-key";

    // Order matters: reads first, then what changes state; rotation last.
    let mut order: Vec<(&str, &str)> = ROUTES.to_vec();
    let rank = |(m, p): &(&str, &str)| match (*m, *p) {
        ("GET", _) => 0,
        ("POST", "/v1/requests/{request_id}/replay") => 1,
        ("DELETE", "/v1/tunnels/{tunnel_id}/requests") => 2,
        ("POST", _) if !p.ends_with("/key") => 3,
        ("PATCH", _) => 3,
        ("DELETE", _) => 4,
        _ => 5,
    };
    order.sort_by_key(rank);
    for (method, pattern) in order {
        let path = pattern
            .replace("{tunnel_id}", &tunnel_id)
            .replace("{request_id}", &request_id);
        let (expect, body): (Option<Expect>, Option<Value>) = match (method, pattern) {
            // Open routes: anyone, any key.
            ("POST", "/v1/clients") | ("GET", "/v1/openapi.json") => (None, None),
            ("GET", "/v1/clients/me") | ("GET", "/v1/tunnels") => (
                Some(Expect {
                    other: 200,
                    owner: 200,
                }),
                None,
            ),
            ("POST", "/v1/tokens") => (
                Some(Expect {
                    other: 201,
                    owner: 201,
                }),
                None,
            ),
            ("POST", "/v1/tunnels") => (
                Some(Expect {
                    other: 201,
                    owner: 201,
                }),
                None,
            ),
            ("POST", "/v1/clients/me/key") => (
                Some(Expect {
                    other: 201,
                    owner: 201,
                }),
                None,
            ),
            ("GET", "/v1/tunnels/{tunnel_id}")
            | ("GET", "/v1/tunnels/{tunnel_id}/stats")
            | ("GET", "/v1/tunnels/{tunnel_id}/requests")
            | ("GET", "/v1/tunnels/{tunnel_id}/requests/live")
            | ("GET", "/v1/requests/{request_id}") => (
                Some(Expect {
                    other: 404,
                    owner: 200,
                }),
                None,
            ),
            ("POST", "/v1/requests/{request_id}/replay") => (
                Some(Expect {
                    other: 404,
                    owner: 201,
                }),
                Some(json!({})),
            ),
            ("DELETE", "/v1/tunnels/{tunnel_id}/requests")
            | ("DELETE", "/v1/tunnels/{tunnel_id}") => (
                Some(Expect {
                    other: 404,
                    owner: 204,
                }),
                None,
            ),
            ("PATCH", "/v1/tunnels/{tunnel_id}") => (
                Some(Expect {
                    other: 404,
                    owner: 200,
                }),
                Some(json!({"policy": {
                    "basic_auth": format!("alice:{}", POLICY_SECRETS[0]),
                    "share_token": POLICY_SECRETS[1],
                    "webhook": {"secret": POLICY_SECRETS[2]},
                }})),
            ),
            ("POST", "/v1/tunnels/{tunnel_id}/inbox/take") => (
                Some(Expect {
                    other: 404,
                    owner: 200,
                }),
                None,
            ),
            ("POST", "/v1/tunnels/{tunnel_id}/inbox/deliveries") => {
                let now = client_core::clock::now_ms();
                (
                    Some(Expect {
                        other: 404,
                        owner: 201,
                    }),
                    Some(json!({
                        "request_id": request_id,
                        "method": "POST",
                        "path": "/hook",
                        "outcome": "completed",
                        "status": 200,
                        "started_ms": now,
                        "done_ms": now,
                    })),
                )
            }
            _ => panic!("route {method} {pattern} is not in the auth matrix: add it"),
        };
        for who in [As::Nobody, As::Malformed, As::Revoked, As::Other, As::Owner] {
            let key = match who {
                As::Nobody => None,
                As::Malformed => Some(malformed),
                As::Revoked => Some(revoked.as_str()),
                As::Other => Some(other.as_str()),
                As::Owner => Some(owner.as_str()),
            };
            let status = status_of(&stack, method, &path, key, body.clone()).await;
            let want = match (&expect, who) {
                (None, _) if method == "POST" => 201,
                (None, _) => 200,
                (Some(_), As::Nobody | As::Malformed | As::Revoked) => 401,
                (Some(e), As::Other) => e.other,
                (Some(e), As::Owner) => e.owner,
            };
            assert_eq!(status, want, "{method} {path} as {who:?}");
        }
    }

    // The logs: the server's (and the functions') at debug level, the CLI's stderr.
    drop(served);
    let logs = std::fs::read_to_string(log).unwrap();
    assert!(!logs.is_empty(), "the server logged nothing at debug level");
    if kind == Kind::Local {
        // Not a terminal: one JSON object per line, for log tools.
        for line in logs.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
            assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        }
    }
    for secret in [&owner, &other, &revoked, &revoked_user.api_key()] {
        let secret_part = secret.rsplit('_').next().unwrap();
        assert!(
            !logs.contains(secret_part),
            "an API key appears in the server's log"
        );
    }
    for secret in POLICY_SECRETS {
        assert!(
            !logs.contains(secret),
            "an access-policy secret appears in the server's log"
        );
    }
    assert!(
        !logs.contains("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."),
        "a session token appears in the server's log"
    );
}

async fn status_of(
    stack: &Stack,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> u16 {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut r = http.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", stack.server.url),
    );
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    // Only the status: a live feed's body stays open.
    r.send().await.unwrap().status().as_u16()
}
