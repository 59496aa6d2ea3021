//! The same end-to-end suite against the AWS deployment: `tunnel-emulator`
//! runs the real Lambda bootstrap binaries behind emulated API Gateway (REST and
//! WebSocket) and a Function URL, over moto's DynamoDB.

#![allow(clippy::unwrap_used)]

use e2e::random_bytes;
use e2e::scenarios::{self, Kind, Served, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_round_trip_byte_exact() {
    scenarios::round_trip(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_domains_and_taken_or_invalid_ones() {
    scenarios::domains(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_stop_status_and_auth() {
    scenarios::list_stop_status_and_auth(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tunnel_and_refused_origin_pages() {
    scenarios::error_pages(&Stack::start(Kind::Aws).await).await;
}

/// Set-Cookie goes to the Function URL's `cookies`, never comma-joined; the strict
/// emulator answers 502 to a prelude that lists a header's values instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_pass_both_ways_as_sent() {
    e2e::fidelity::cookies_both_ways(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_answers_its_own_refusals_as_aws_does() {
    e2e::fidelity::rest_api_edges(&Stack::start(Kind::Aws).await).await;
}

/// `--lambda-concurrency 2`: two tunnel-proxy invocations at once pass, a third is
/// answered 429 at once, as a Function URL answers a throttle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_concurrency_at_its_limit_and_one_past_it() {
    e2e::fidelity::function_concurrency_edge(2).await;
}

fn total(stats: &serde_json::Value, field: &str) -> u64 {
    stats["functions"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| f[field].as_u64().unwrap())
        .sum()
}

/// What one small proxied GET costs, averaged over 100 in a row: the figures of
/// docs/cost.md, and the issue's bound (2 invocations, 2 reads, 1 write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_get_costs_two_invocations_and_two_reads() {
    let stack = Stack::start(Kind::Aws).await;
    let Served {
        tunnel,
        http,
        origin: _origin,
        ..
    } = stack.serve("cheap", &[]).await;
    // Warm-up: new sandboxes (and their return channels: an authorizer and a relay
    // invocation each) are a per-sandbox cost, not a per-request one.
    for _ in 0..20 {
        assert_eq!(
            http.get(format!("{}/warm", tunnel.url))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let before = stack.stats().await;
    const N: u64 = 100;
    for i in 0..N {
        let r = http
            .get(format!("{}/{i}", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let after = stack.stats().await;
    let per = |a: u64, b: u64| (b - a) as f64 / N as f64;
    let invocations = per(total(&before, "invocations"), total(&after, "invocations"));
    let reads = per(
        before["dynamodb"]["reads"].as_u64().unwrap(),
        after["dynamodb"]["reads"].as_u64().unwrap(),
    );
    let writes = per(
        before["dynamodb"]["writes"].as_u64().unwrap(),
        after["dynamodb"]["writes"].as_u64().unwrap(),
    );
    let write_units = per(
        before["dynamodb"]["write_units"].as_u64().unwrap(),
        after["dynamodb"]["write_units"].as_u64().unwrap(),
    );
    let s3_requests = per(
        before["s3"]["requests"].as_u64().unwrap(),
        after["s3"]["requests"].as_u64().unwrap(),
    );
    let messages = per(
        before["websocket"]["messages_in"].as_u64().unwrap()
            + before["websocket"]["messages_out"].as_u64().unwrap(),
        after["websocket"]["messages_in"].as_u64().unwrap()
            + after["websocket"]["messages_out"].as_u64().unwrap(),
    );
    // A proxy sandbox started during the run (the emulator, like Lambda, starts one
    // when none is idle) opens its return channel once: one authorizer and one relay
    // invocation. That is a per-sandbox cost; it is counted apart.
    let delta = |f: &str| {
        after["functions"][f]["invocations"].as_u64().unwrap()
            - before["functions"][f]["invocations"].as_u64().unwrap()
    };
    let channel_opens = delta("authorize-connection");
    let steady = invocations - (2 * channel_opens) as f64 / N as f64;
    let by_function: Vec<_> = after["functions"]
        .as_object()
        .unwrap()
        .keys()
        .map(|f| (f.clone(), delta(f)))
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!(
        "per small GET: {invocations} invocations ({steady} without {channel_opens} return-channel \
         opens; {by_function:?}), {reads} reads, {writes} writes ({write_units} write units), \
         {s3_requests} S3 requests, {messages} WebSocket messages"
    );
    assert!(
        steady <= 2.0,
        "{steady} invocations per request: {by_function:?}"
    );
    assert!(
        channel_opens <= 3,
        "{channel_opens} new return channels in a warm run"
    );
    assert!(reads <= 2.0, "{reads} DynamoDB reads per request");
    assert!(writes <= 1.0, "{writes} DynamoDB writes per request");
    // The request log's item, the one write: under 1 KB, with no index to copy it.
    assert!(
        write_units <= 1.0,
        "{write_units} write units per request: the log item is over 1 KB"
    );
    assert_eq!(s3_requests, 0.0, "a small exchange stays in its item");
    assert!(stack.has_moto());
    tunnel.interrupt().await;
}

/// Bodies over what a Lambda invocation accepts are refused with 413, not a hang.
/// An exchange too large for its log item goes to the log bucket whole (two 300 KiB
/// bodies: the DynamoDB item alone cut them to 200 KiB together), one PUT of its own, and comes
/// back through the REST route, the CLI and a replay; clearing the log removes the
/// objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_captures_go_to_the_log_bucket_whole() {
    let stack = Stack::start(Kind::Aws).await;
    let served = stack.serve("bulky", &[]).await;
    let rest = e2e::inspection::Rest::new(&stack, Some(&served.user.api_key()));
    let tunnel_id = rest.tunnel_id("bulky").await;
    let body = random_bytes(300 * 1024);
    let s3 = |s: &serde_json::Value, op: &str| s["s3"]["operations"][op].as_u64().unwrap_or(0);

    let before = stack.stats().await;
    let r = served
        .http
        .post(format!("{}/up", served.tunnel.url))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), body, "echoed");
    let page = rest.wait_for(&tunnel_id, 1).await;
    let id = page.requests[0].request_id.clone();
    assert_eq!(page.requests[0].request_size, body.len() as u64);
    let stored = stack.stats().await;
    // Both bodies are past STORED_BODY_MIN_BYTES: the proxy put the request body and
    // the client the answer (through presigned URLs, e2e::stored_bodies); then the
    // capture, one object.
    assert_eq!(s3(&stored, "PutObject") - s3(&before, "PutObject"), 3);
    assert_eq!(
        stored["s3"]["presigned"].as_u64().unwrap() - before["s3"]["presigned"].as_u64().unwrap(),
        2,
        "the client's GET and PUT"
    );
    let put_bytes =
        stored["s3"]["bytes_in"].as_u64().unwrap() - before["s3"]["bytes_in"].as_u64().unwrap();
    assert!(
        put_bytes > 600 * 1024,
        "both bodies stored: {put_bytes} bytes"
    );
    let units = stored["dynamodb"]["write_units"].as_u64().unwrap()
        - before["dynamodb"]["write_units"].as_u64().unwrap();
    assert_eq!(units, 1, "the item keeps only the list line");

    let x = rest.exchange(&id).await;
    assert_eq!(x.request.body.bytes, body);
    assert!(!x.request.body.truncated);
    let response = x.response.expect("answered");
    assert_eq!(response.body.bytes, body);
    assert!(!response.body.truncated);
    assert_eq!(
        s3(&stack.stats().await, "GetObject") - s3(&stored, "GetObject"),
        1
    );

    // The CLI's export reads the same exchange; a replay sends the whole body again.
    let har: serde_json::Value =
        serde_json::from_str(&served.user.ok(&["requests", "export", &id, "--har"]).await).unwrap();
    assert_eq!(
        har["log"]["entries"][0]["request"]["bodySize"],
        body.len() as u64
    );
    let (status, replay) = rest
        .call("POST", &format!("/v1/requests/{id}/replay"), None)
        .await;
    assert_eq!(status, 201, "{replay}");
    let replay: client_core::inspect::Exchange = serde_json::from_value(replay).unwrap();
    assert_eq!(replay.response.expect("answered").body.bytes, body);

    // Another client cannot read it.
    let other = stack.user("other");
    other.register().await;
    let stranger = e2e::inspection::Rest::new(&stack, Some(&other.api_key()));
    let (status, _) = stranger
        .call("GET", &format!("/v1/requests/{id}"), None)
        .await;
    assert_eq!(status, 404);

    let before_clear = stack.stats().await;
    let (status, body) = rest
        .call("DELETE", &format!("/v1/tunnels/{tunnel_id}/requests"), None)
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert_eq!(
        s3(&stack.stats().await, "DeleteObject") - s3(&before_clear, "DeleteObject"),
        2,
        "the exchange's object and its replay's"
    );
    let (status, _) = rest.call("GET", &format!("/v1/requests/{id}"), None).await;
    assert_eq!(status, 404);
    served.tunnel.interrupt().await;
}

/// Large bodies through S3: threshold-1, threshold and threshold+1 bytes each way,
/// 4 MiB up and 5 MiB down, byte-exact over the path their size calls for, and the
/// request log keeps stored bodies whole (e2e::stored_bodies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_take_s3_from_the_threshold() {
    let stack = Stack::start(Kind::Aws).await;
    e2e::stored_bodies::bodies_take_s3_from_the_threshold(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_answers_keep_the_websocket() {
    let stack = Stack::start(Kind::Aws).await;
    e2e::stored_bodies::streamed_answers_keep_the_websocket(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_client_gets_large_bodies_as_chunks() {
    let stack = Stack::start(Kind::Aws).await;
    e2e::stored_bodies::an_older_client_gets_chunks(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_invocation_limit_get_413() {
    let stack = Stack::start(Kind::Aws).await;
    let Served {
        tunnel,
        http,
        origin: _origin,
        ..
    } = stack.serve("big", &[]).await;
    let r = http
        .post(format!("{}/up", tunnel.url))
        .body(random_bytes(6 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    tunnel.interrupt().await;
}

/// With the WebSocket caps at seconds: the client renews its connection ahead of the
/// age cap and reconnects after the idle cap drops it, and no request sent meanwhile is
/// lost or delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_drop_connections_without_losing_or_duplicating_requests() {
    let stack =
        Stack::start_with(Kind::Aws, &["--ws-idle-timeout", "6", "--ws-max-age", "12"]).await;
    let Served {
        tunnel,
        http,
        origin,
        ..
    } = stack.serve("capped", &[]).await;
    let mut sent = Vec::new();
    let send = async |i: usize| {
        let target = format!("/seq/{i}");
        let r = http
            .get(format!("{}{target}", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{target}: {}",
            r.text().await.unwrap_or_default()
        );
        target
    };

    // Past two renewals (every 6 s of a 12 s cap) under steady traffic.
    let start = std::time::Instant::now();
    let mut i = 0;
    while start.elapsed() < std::time::Duration::from_secs(14) {
        sent.push(send(i).await);
        i += 1;
    }
    // Silence until the idle cap has closed the client's connection (bounded wait on
    // the emulator's own counter), then traffic right away, during the reconnect.
    let idle_before = stack.stats().await["websocket"]["idle_closes"]
        .as_u64()
        .unwrap();
    let waited = std::time::Instant::now();
    loop {
        let s = stack.stats().await;
        if s["websocket"]["idle_closes"].as_u64().unwrap() > idle_before {
            break;
        }
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(20),
            "the idle cap never fired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for _ in 0..20 {
        sent.push(send(i).await);
        i += 1;
    }

    let stats = stack.stats().await;
    let connections = stats["websocket"]["connections"].as_u64().unwrap();
    assert!(
        connections >= 4,
        "renewals and the idle reconnect open new connections: {stats}"
    );
    let connect_route = stats["functions"]["tunnel-connect"]["invocations"]
        .as_u64()
        .unwrap();
    assert!(
        connect_route >= 3,
        "CONNECT, RELEASE, CONNECT at least: {stats}"
    );
    let seen = origin.seen();
    for target in &sent {
        let n = seen.iter().filter(|t| *t == target).count();
        assert_eq!(n, 1, "{target} reached the origin {n} times");
    }
    tunnel.interrupt().await;
}

/// The WebSocket API's documented refusals: binary frames close with 1003, frames over
/// 32 KB with 1009, a bad token is refused at `$connect`, and `@connections` answers
/// 410 Gone for a connection that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_limits_are_enforced() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let stack = Stack::start(Kind::Aws).await;
    let user = stack.user("u");
    let key = user.register().await;
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/v1/tokens", stack.server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}?token={}",
        token["ws_url"].as_str().unwrap(),
        token["token"].as_str().unwrap()
    );

    let refused = tokio_tungstenite::connect_async(format!(
        "{}?token=forged",
        token["ws_url"].as_str().unwrap()
    ))
    .await;
    assert!(refused.is_err(), "a forged token is refused at $connect");

    let close_code = |url: String, message: Message| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(message).await.unwrap();
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return Some(frame.code),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    };
    assert_eq!(
        close_code(url.clone(), Message::Binary(vec![1u8, 2, 3].into())).await,
        Some(CloseCode::Unsupported)
    );
    let big = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(40 * 1024));
    assert_eq!(
        close_code(url.clone(), Message::Text(big.into())).await,
        Some(CloseCode::Size)
    );

    let gone = http
        .post(format!(
            "{}/_aws/ws/@connections/nosuchconnection",
            stack.server.url
        ))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    assert_eq!(gone.headers()["x-amzn-errortype"], "GoneException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_origin_gets_504_at_the_origin_timeout() {
    scenarios::hung_origin(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_captured_replayed_and_isolated() {
    e2e::inspection::capture_replay_and_isolation(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_resumes_after_the_last_event() {
    e2e::inspection::live_feed(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    scenarios::rate_limits(Kind::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_wrong_callers_and_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    e2e::authz::matrix(Kind::Aws, &dir.path().join("server.log")).await;
}

/// On AWS nothing arrives from a killed client: the proxy learns it from `$disconnect`
/// deleting the connection record, checked every `LIVENESS_PROBE` of silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_killed_mid_request_gives_502_within_2_s() {
    scenarios::cli_killed_mid_request(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_policies_refuse_admit_and_are_logged() {
    e2e::policy::access_policies(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_inbox_holds_then_delivers_once_in_order() {
    e2e::inbox::offline_inbox(&Stack::start(Kind::Aws).await).await;
}

/// A Function URL cannot carry an upgraded connection: the proxy says so with 501
/// instead of passing the upgrade on as a plain request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_get_501_with_the_reason() {
    let stack = Stack::start(Kind::Aws).await;
    let Served {
        tunnel,
        http,
        origin,
        ..
    } = stack.serve("nows", &[]).await;
    let r = http
        .get(format!("{}/chat", tunnel.url))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    let text = r.text().await.unwrap();
    assert!(text.contains("not carried by this deployment"), "{text}");
    assert!(
        origin.seen().is_empty(),
        "the origin saw {:?}",
        origin.seen()
    );
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarding_headers_and_request_ids_never_reach_the_origin() {
    e2e::forwarded::spoofed_headers_never_reach_the_origin(&Stack::start(Kind::Aws).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_keys_gets_429_while_the_right_key_from_elsewhere_works() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let stack = Stack::start_logging(Kind::Aws, &log).await;
    e2e::auth_limit::a_burst_of_wrong_keys_gets_429(&stack, Some(&log)).await;
}

/// Webhooks signed by GitHub's, Stripe's, Slack's, Shopify's and Standard Webhooks'
/// own libraries pass; altered, stale, wrongly signed and unsigned ones are refused,
/// saying why (the signers come from `scripts/setup.sh webhooks`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_signed_by_the_providers_libraries() {
    e2e::webhooks::provider_libraries(&Stack::start(Kind::Aws).await).await;
}

/// Ctrl-C keeps a tunnel with a chosen name, its policy and its log; a restart
/// without flags resumes it protected; flags replace only what they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_and_log_survive_ctrl_c() {
    e2e::keep::policy_and_log_survive_ctrl_c(&Stack::start(Kind::Aws).await).await;
}

/// A random-name tunnel is deleted on Ctrl-C unless a policy is on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_names_keep_only_a_policy() {
    e2e::keep::random_names_keep_only_a_policy(&Stack::start(Kind::Aws).await).await;
}

/// An expired tunnel's name is free for another client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_names_are_free() {
    e2e::keep::expired_names_are_free(Kind::Aws).await;
}

/// The measurement of docs/cost.md, repeatable: one tunnel, 20 warm-up requests, then
/// the counters before and after 100 small GETs and 10 POSTs of 1 MiB echoed back.
/// Prints, per request, what each workload used and what that costs per million at
/// list prices (the prices and memory sizes of docs/cost.md). Ignored by default (a
/// minute of traffic); run with
/// `cargo test --workspace --test aws_emulator cost_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run it to update docs/cost.md"]
async fn cost_figures() {
    let stack = Stack::start(Kind::Aws).await;
    let Served {
        tunnel,
        http,
        origin: _origin,
        ..
    } = stack.serve("costs", &[]).await;
    for _ in 0..20 {
        let r = http
            .get(format!("{}/warm", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let before = stack.stats().await;
    let started = std::time::Instant::now();
    for i in 0..100 {
        let r = http
            .get(format!("{}/{i}", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let small_rtt = started.elapsed() / 100;
    let small = settled(&stack, &before, 100).await;
    let body = random_bytes(1024 * 1024);
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let r = http
            .post(format!("{}/up", tunnel.url))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().len(), body.len());
    }
    let large_rtt = started.elapsed() / 10;
    let large = settled(&stack, &small, 10).await;
    // The public client's wall clock per exchange, sent one after another.
    eprintln!("round trip: small GET {small_rtt:?}, 1 MiB POST echoed {large_rtt:?}");
    report("small GET", &before, &small, 100);
    report("1 MiB POST echoed", &small, &large, 10);
    tunnel.interrupt().await;
}

/// The stats once the `n` exchanges since `since` are all in the request log: the
/// proxy may store a streamed answer's capture just after its last byte went out.
async fn settled(stack: &Stack, since: &serde_json::Value, n: u64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = stack.stats().await;
        let writes = now["dynamodb"]["writes"].as_u64().unwrap()
            - since["dynamodb"]["writes"].as_u64().unwrap();
        if writes >= n || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Prints the per-request figures between two snapshots of `/_emulator/stats`.
fn report(what: &str, a: &serde_json::Value, b: &serde_json::Value, n: u64) {
    // us-east-1 list prices (docs/cost.md): Lambda per request and per GB-second,
    // WebSocket messages, DynamoDB on-demand units, S3 Standard requests.
    const LAMBDA_REQUEST: f64 = 0.20e-6;
    const LAMBDA_GB_SECOND: f64 = 0.000_016_666_7;
    const WS_MESSAGE: f64 = 1.00e-6;
    const READ_UNIT: f64 = 0.125e-6;
    const WRITE_UNIT: f64 = 0.625e-6;
    const S3_PUT: f64 = 0.005e-3;
    const S3_GET: f64 = 0.0004e-3;
    let d = |path: &[&str]| {
        let get = |v: &serde_json::Value| path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0);
        (get(b) - get(a)) as f64 / n as f64
    };
    let mut invocations = 0.0;
    let mut gb_seconds = 0.0;
    let mut per_function = Vec::new();
    for f in b["functions"].as_object().unwrap().keys() {
        let count = d(&["functions", f, "invocations"]);
        if count == 0.0 {
            continue;
        }
        let ms = d(&["functions", f, "total_duration_ms"]);
        let memory_gb = if matches!(f.as_str(), "tunnel-proxy" | "replay-request") {
            0.25
        } else {
            0.125
        };
        invocations += count;
        gb_seconds += ms / 1000.0 * memory_gb;
        per_function.push(format!("{f} {count:.2} ({:.1} ms each)", ms / count));
    }
    let messages = d(&["websocket", "messages_in"]) + d(&["websocket", "messages_out"]);
    let reads = d(&["dynamodb", "reads"]);
    let write_units = d(&["dynamodb", "write_units"]);
    let puts = d(&["s3", "operations", "PutObject"]);
    let gets = d(&["s3", "operations", "GetObject"]);
    let million = 1e6;
    let lines = [
        ("Lambda requests", invocations * LAMBDA_REQUEST),
        ("Lambda duration", gb_seconds * LAMBDA_GB_SECOND),
        ("WebSocket messages", messages * WS_MESSAGE),
        ("DynamoDB reads", reads * READ_UNIT),
        ("DynamoDB writes", write_units * WRITE_UNIT),
        ("S3 requests", puts * S3_PUT + gets * S3_GET),
    ];
    let total: f64 = lines.iter().map(|(_, usd)| usd).sum();
    eprintln!(
        "{what}, per request: invocations {invocations:.2} [{}]; {gb_seconds:.4} GB-s; \
         WebSocket messages {messages:.1} (in {:.1}, out {:.1}); DynamoDB reads {reads:.2}, \
         writes {:.2} ({write_units:.2} units); S3 PUT {puts:.2}, GET {gets:.2}, {:.0} bytes in",
        per_function.join(", "),
        d(&["websocket", "messages_in"]),
        d(&["websocket", "messages_out"]),
        d(&["dynamodb", "writes"]),
        d(&["s3", "bytes_in"]),
    );
    for (line, usd) in lines {
        eprintln!("  {line}: ${:.2} per million", usd * million);
    }
    eprintln!("  total (no storage): ${:.2} per million", total * million);
}
