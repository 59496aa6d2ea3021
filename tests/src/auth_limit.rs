//! Failed authentications limited per source address, end to end on both stacks: a
//! burst of wrong keys from 127.0.0.2 (loopback too) gets 429 with `Retry-After`, and
//! so does that address's WebSocket connect; the right key from 127.0.0.1 keeps
//! working; the refusals are counted in the metrics.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use serde_json::Value;
use tunnel_backend::auth_limit::{AUTH_FAILURE_BURST, AUTH_FAILURES_PER_MINUTE};

use crate::READY_TIMEOUT;
use crate::scenarios::{Kind, Stack};

/// Wrong-key calls in the burst, as in the issue.
pub const BURST_CALLS: usize = 400;

/// A client whose connections come from `ip` (any 127.x address is loopback).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .unwrap()
}

/// The key with its secret changed: the right shape, the wrong secret.
fn wrong(key: &str) -> String {
    let (head, secret) = key.rsplit_once('_').unwrap();
    let flipped = if secret.starts_with('0') { '1' } else { '0' };
    format!("{head}_{flipped}{}", &secret[1..])
}

/// What a WebSocket connect to `ws_url` from `ip` is answered: 101, or the refusal's
/// status and `Retry-After`.
async fn connect_from(ip: [u8; 4], ws_url: &str) -> (u16, Option<String>) {
    let addr = ws_url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((Ipv4Addr::from(ip), 0).into()).unwrap();
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    match tokio_tungstenite::client_async(ws_url, stream).await {
        Ok((mut ws, response)) => {
            let _ = ws.close(None).await;
            (response.status().as_u16(), None)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => (
            r.status().as_u16(),
            r.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ),
        Err(e) => panic!("connect from {ip:?}: {e}"),
    }
}

/// Forged connects sent after the burst (see their use).
const FORGED_TRIES: usize = 2;

/// The whole scenario; `log` is the server's log file (the AWS stack's EMF lines).
pub async fn a_burst_of_wrong_keys_gets_429(stack: &Stack, log: Option<&std::path::Path>) {
    let user = stack.user("u");
    let key = user.register().await;
    let api = format!("{}/v1/tunnels", stack.server.url);
    let here = client_from([127, 0, 0, 1]);
    let attacker = client_from([127, 0, 0, 2]);
    let token: Value = here
        .post(format!("{}/v1/tokens", stack.server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws_url = token["ws_url"].as_str().unwrap().to_owned();
    let ws_url = format!("{ws_url}?token={}", token["token"].as_str().unwrap());

    let bad = wrong(&key);
    let started = Instant::now();
    let (mut unauthorized, mut limited) = (0usize, 0usize);
    for i in 0..BURST_CALLS {
        let r = attacker.get(&api).bearer_auth(&bad).send().await.unwrap();
        match r.status().as_u16() {
            // A 401 after a 429 is a failure that came back with the refill.
            401 => unauthorized += 1,
            429 if i < AUTH_FAILURE_BURST as usize => {
                panic!("call {i} refused within the burst of {AUTH_FAILURE_BURST}")
            }
            429 => {
                let retry: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                limited += 1;
            }
            other => panic!("wrong key answered {other}"),
        }
    }
    // The burst, plus what came back while the loop ran.
    let refilled = (started.elapsed().as_secs_f64() * f64::from(AUTH_FAILURES_PER_MINUTE) / 60.0)
        .ceil() as usize;
    let burst = AUTH_FAILURE_BURST as usize;
    assert!(
        (burst..=burst + refilled).contains(&unauthorized),
        "{unauthorized} answered 401 (burst {burst}, {refilled} refilled)"
    );
    assert_eq!(unauthorized + limited, BURST_CALLS);

    // That address waits, even with the right key; the right key from elsewhere
    // works, REST and WebSocket alike.
    let r = attacker.get(&api).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        here.get(&api)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(connect_from([127, 0, 0, 1], &ws_url).await.0, 101);
    // A forged token on the WebSocket connect from there is refused by the limit. The
    // bucket refills a token every 2 s, and the calls since the burst took some time:
    // a forged token may first spend a token that came back (answered as a plain
    // failure), so up to FORGED_TRIES are sent, and the next finds the bucket empty.
    let forged = format!("{}?token=a.b.c", ws_url.split('?').next().unwrap());
    match stack.kind {
        Kind::Local => {
            let mut refused = None;
            for _ in 0..FORGED_TRIES {
                let (status, retry) = connect_from([127, 0, 0, 2], &forged).await;
                if status == 429 {
                    refused = Some(retry);
                    break;
                }
                assert_eq!(status, 401, "a forged token within the budget");
            }
            let retry = refused.expect("no forged connect refused by the limit");
            assert!(retry.is_some(), "no Retry-After on the refused connect");
            // A valid token still connects from there: checking it costs no store
            // read, so others' guesses at a shared address (a NAT) lock nobody out.
            assert_eq!(connect_from([127, 0, 0, 2], &ws_url).await.0, 101);
        }
        // A Lambda authorizer can only allow or deny: API Gateway answers 403 either
        // way, so the count below tells the limit's refusal from a plain one.
        Kind::Aws => {
            for _ in 0..FORGED_TRIES {
                assert_eq!(connect_from([127, 0, 0, 2], &forged).await.0, 403);
            }
        }
    }

    // Counted: scope `auth` of tunnel_rate_limited_total.
    match (stack.kind, log) {
        (Kind::Local, _) => {
            let metrics = reqwest::get(format!("{}/metrics", stack.server.url))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let line = metrics
                .lines()
                .find(|l| l.starts_with("tunnel_rate_limited_total{scope=\"auth\"}"))
                .unwrap_or_else(|| panic!("no auth refusals counted:\n{metrics}"));
            let count: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(
                count >= limited + 2,
                "{line}: {limited} REST refusals, the right key's and a forged connect's"
            );
        }
        (Kind::Aws, Some(log)) => {
            let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
            loop {
                let text = std::fs::read_to_string(log).unwrap();
                let counted = text
                    .lines()
                    .filter(|l| {
                        l.contains("\"tunnel_rate_limited_total\"")
                            && l.contains("\"Scope\":\"auth\"")
                    })
                    .count();
                // The REST refusals, the right key's, and at least one forged connect's.
                if counted >= limited + 2 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{counted} EMF lines for {limited} + 2 refusals"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        (Kind::Aws, None) => panic!("the AWS stack's refusals are read from its log"),
    }
}
