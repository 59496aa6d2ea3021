//! The offline inbox end to end, the same on both stacks: while the client is
//! stopped, admitted requests are held and answered for it (bounded by count and
//! body size, the policy still applied); when it starts again they reach the origin
//! once each, in arrival order, and each delivery is in the request log beside the
//! request it delivers.

use std::time::Duration;

use client_core::inspect::{Exchange, ExchangeSummary, Outcome};
use client_core::policy::{MAX_INBOX_BODY_BYTES, SHARE_TOKEN_HEADER};

use crate::inspection::Rest;
use crate::scenarios::Stack;
use crate::{READY_TIMEOUT, wait_line};

const TOKEN: &str = "tok-inbox-secret";
const HELD: usize = 3;

/// Waits until the API says the tunnel has no client.
async fn wait_offline(rest: &Rest, tunnel_id: &str) {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let (status, body) = rest
            .call("GET", &format!("/v1/tunnels/{tunnel_id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "offline" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tunnel stays online: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the tunnel's stats say its inbox holds.
async fn held_now(rest: &Rest, tunnel_id: &str) -> Option<u64> {
    let (status, stats) = rest
        .call("GET", &format!("/v1/tunnels/{tunnel_id}/stats"), None)
        .await;
    assert_eq!(status, 200, "{stats}");
    stats["held"].as_u64()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Requests sent while the client is stopped are delivered exactly once, in order,
/// after it restarts.
pub async fn offline_inbox(stack: &Stack) {
    let max = HELD.to_string();
    let flags = ["--inbox", "--inbox-max", &max, "--share-token", TOKEN];
    let served = stack.serve("pinbox", &flags).await;
    let (user, origin, http) = (served.user, served.origin, served.http);
    let mut tunnel = served.tunnel;
    let said = wait_line(&mut tunnel.stderr, "the access line", |l| {
        l.starts_with("Access: ")
    })
    .await;
    assert!(said.contains("offline inbox (up to 3 requests"), "{said}");
    let url = tunnel.url.clone();
    let rest = Rest::new(stack, Some(&user.api_key()));
    let tunnel_id = rest.tunnel_id("pinbox").await;
    let post = |path: &str, body: Vec<u8>, token: Option<&str>| {
        let mut r = http.post(format!("{url}{path}")).body(body);
        if let Some(t) = token {
            r = r.header(SHARE_TOKEN_HEADER, t);
        }
        r.send()
    };

    // Online, requests go straight through.
    let r = post("/live", b"live".to_vec(), Some(TOKEN)).await.unwrap();
    assert_eq!(r.status(), 200);

    // Ctrl-C keeps a tunnel with an inbox, and says how to get it back.
    let (code, said) = tunnel.interrupt_with_stderr().await;
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("tunnel pinbox kept, inactive until"),
        "{said}"
    );
    assert!(said.contains("are held in its inbox meanwhile"), "{said}");
    wait_offline(&rest, &tunnel_id).await;

    // Offline: the policy still refuses (and nothing is held), a body over the limit
    // is 413, then up to the bound requests are held and answered 202, the next 503.
    let r = post("/hook/refused", b"x".to_vec(), None).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(
        "/hook/big",
        vec![b'b'; MAX_INBOX_BODY_BYTES + 1],
        Some(TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    let mut held_ids = Vec::new();
    for n in 1..=HELD {
        // The largest body the inbox takes, on the last one.
        let body = if n == HELD {
            vec![b'z'; MAX_INBOX_BODY_BYTES]
        } else {
            format!("event {n}").into_bytes()
        };
        let r = post(&format!("/hook/{n}?q={n}"), body, Some(TOKEN))
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let note: serde_json::Value = r.json().await.unwrap();
        assert_eq!(note["held"], true);
    }
    let r = post("/hook/overflow", b"o".to_vec(), Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        origin.seen(),
        ["/live"],
        "nothing reached the origin offline"
    );
    assert_eq!(held_now(&rest, &tunnel_id).await, Some(HELD as u64));

    // The log shows them held, answered 202; the refused and oversize ones not held.
    let page = rest.wait_for(&tunnel_id, 1 + 1 + 1 + HELD + 1).await;
    let held: Vec<&ExchangeSummary> = page
        .requests
        .iter()
        .filter(|x| x.outcome == Outcome::Held)
        .collect();
    assert_eq!(held.len(), HELD, "{page:?}");
    // Found by path: the log sorts by request id, which orders by the millisecond
    // only, and these came quicker than that.
    for n in 1..=HELD {
        let path = format!("/hook/{n}?q={n}");
        let x = held
            .iter()
            .find(|x| x.path == path)
            .unwrap_or_else(|| panic!("{path} not held: {page:?}"));
        assert_eq!(x.status, Some(202));
        held_ids.push(x.request_id.clone());
    }

    // Back: each reaches the origin once, in arrival order, then the inbox is empty.
    let port = origin.port.to_string();
    let mut again = user
        .start(&[
            &port,
            "--domain",
            "pinbox",
            "--inbox",
            "--inbox-max",
            &max,
            "--share-token",
            TOKEN,
        ])
        .await;
    wait_line(&mut again.stderr, "the delivery line", |l| {
        l.starts_with(&format!("delivered {HELD} held request"))
    })
    .await;
    let expected: Vec<String> = std::iter::once("/live".to_owned())
        .chain((1..=HELD).map(|n| format!("/hook/{n}?q={n}")))
        .collect();
    assert_eq!(origin.seen(), expected);
    let (status, taken) = rest
        .call("POST", &format!("/v1/tunnels/{tunnel_id}/inbox/take"), None)
        .await;
    assert_eq!(status, 200, "{taken}");
    assert!(taken["request"].is_null(), "{taken}");
    assert_eq!(held_now(&rest, &tunnel_id).await, Some(0));

    // Each delivery is logged, linked to its held request, with the origin's answer:
    // the held request's id travelled as X-Request-Id, the share token did not.
    let page = rest.wait_for(&tunnel_id, 1 + 1 + 1 + 2 * HELD + 1).await;
    for (n, id) in held_ids.iter().enumerate() {
        let delivery = page
            .requests
            .iter()
            .find(|x| x.inbox_of.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no delivery of {id}: {page:?}"));
        assert_eq!(delivery.outcome, Outcome::Completed);
        assert_eq!(delivery.status, Some(200));
        let x: Exchange = rest.exchange(&delivery.request_id).await;
        let response = x.response.expect("the origin's answer");
        let seen: Vec<(String, String)> =
            serde_json::from_str(header(&response.headers, "x-echo-headers").unwrap()).unwrap();
        assert_eq!(header(&seen, "x-request-id"), Some(id.as_str()));
        assert_eq!(header(&seen, SHARE_TOKEN_HEADER), None);
        if n + 1 < HELD {
            assert_eq!(response.body.bytes, format!("event {}", n + 1).into_bytes());
        } else {
            assert_eq!(response.body.size, MAX_INBOX_BODY_BYTES as u64);
        }
    }

    // Another client can neither take nor report for this tunnel.
    let other = stack.user("other");
    other.register().await;
    let stranger = Rest::new(stack, Some(&other.api_key()));
    let (status, _) = stranger
        .call("POST", &format!("/v1/tunnels/{tunnel_id}/inbox/take"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(again.interrupt().await, Some(0));
}
