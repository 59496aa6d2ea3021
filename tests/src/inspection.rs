//! The request inspector end to end, the same on both stacks: capture through a real
//! tunnel, the REST routes, replay through the tunnel, the live feed, the CLI's
//! commands and exports, and isolation between clients.

use std::time::Duration;

use client_core::inspect::{Exchange, REDACTED, RequestPage};
use serde_json::{Value, json};

use crate::scenarios::Stack;
use crate::{READY_TIMEOUT, User};

/// The REST API as one user (or anyone, without a key).
#[derive(Debug, Clone)]
pub struct Rest {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Rest {
    /// Calls to `stack`'s API with `key`.
    pub fn new(stack: &Stack, key: Option<&str>) -> Self {
        Self {
            base: stack.server.url.clone(),
            key: key.map(str::to_owned),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// Sends `method path` with an optional JSON body; returns status and body. A 429
    /// is waited out as its `Retry-After` says and the call sent again, as a careful
    /// client does: tests that poll (waiting for the log to catch up on a loaded
    /// machine) would otherwise trip the per-client control-plane rate.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let mut r = self.http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.base),
            );
            if let Some(k) = &self.key {
                r = r.bearer_auth(k);
            }
            if let Some(b) = &body {
                r = r.json(b);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let text = resp.text().await.unwrap();
            if let (429, Some(secs)) = (status, wait)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                continue;
            }
            return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
        }
    }

    /// The id of the caller's tunnel on `domain`.
    pub async fn tunnel_id(&self, domain: &str) -> String {
        let (status, body) = self.call("GET", "/v1/tunnels", None).await;
        assert_eq!(status, 200, "{body}");
        body["tunnels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["domain"] == domain)
            .map(|t| t["tunnel_id"].as_str().unwrap().to_owned())
            .expect("the tunnel is listed")
    }

    /// The first page of a tunnel's log with `query`.
    pub async fn page(&self, tunnel_id: &str, query: &str) -> RequestPage {
        let (status, body) = self
            .call(
                "GET",
                &format!("/v1/tunnels/{tunnel_id}/requests?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// Waits until the log of `tunnel_id` holds `n` exchanges (capture is stored
    /// asynchronously), and returns that page.
    pub async fn wait_for(&self, tunnel_id: &str, n: usize) -> RequestPage {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let page = self.page(tunnel_id, "limit=200").await;
            if page.requests.len() >= n {
                return page;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the log of {tunnel_id} did not reach {n} exchanges: {page:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One whole exchange.
    pub async fn exchange(&self, request_id: &str) -> Exchange {
        let (status, body) = self
            .call("GET", &format!("/v1/requests/{request_id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A request through a tunnel is captured with its bodies and headers, secrets masked;
/// replay with an edited header reaches the origin and is recorded, linked; filters,
/// paging, clearing, exports and the CLI work; another client sees nothing.
pub async fn capture_replay_and_isolation(stack: &Stack) {
    let served = stack.serve("inspect", &[]).await;
    let key = api_key(&served.user);
    let rest = Rest::new(stack, Some(&key));
    let tunnel_id = rest.tunnel_id("inspect").await;
    let url = format!("http://inspect.localhost:{}", stack.server.port);

    let resp = served
        .http
        .post(format!("{url}/hook?event=push"))
        .header("authorization", "Bearer webhook-secret")
        .header("cookie", "session=abc")
        .header("x-custom", "kept")
        .body("payload-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "payload-1");

    let page = rest.wait_for(&tunnel_id, 1).await;
    let first = &page.requests[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/hook?event=push")
    );
    assert_eq!(first.status, Some(200));
    assert_eq!(first.request_size, 9);

    let x = rest.exchange(&first.request_id).await;
    assert_eq!(x.tunnel_id, tunnel_id);
    assert_eq!(x.request.body.bytes, b"payload-1");
    assert!(!x.request.body.truncated);
    assert_eq!(header(&x.request.headers, "authorization"), Some(REDACTED));
    assert_eq!(header(&x.request.headers, "cookie"), Some(REDACTED));
    assert_eq!(header(&x.request.headers, "x-custom"), Some("kept"));
    let response = x.response.as_ref().expect("the origin answered");
    assert_eq!(response.status, 200);
    assert_eq!(response.body.bytes, b"payload-1");
    assert!(header(&response.headers, "x-echo-method").is_some());
    let t = x.timings;
    assert!(t.forwarded_ms.is_some() && t.first_byte_ms.is_some() && t.done_ms.is_some());
    assert!(t.received_ms <= t.done_ms.unwrap());
    let origin_headers: Vec<(String, String)> =
        serde_json::from_str(header(&response.headers, "x-echo-headers").unwrap()).unwrap();
    assert_eq!(
        header(&origin_headers, "x-request-id"),
        Some(x.request_id.as_str()),
        "the origin got the inspector's request id"
    );

    // Replay with an edited header: it reaches the origin and is recorded, linked.
    let seen_before = served.origin.seen().len();
    let (status, body) = rest
        .call(
            "POST",
            &format!("/v1/requests/{}/replay", x.request_id),
            Some(json!({"set_headers": [["x-replayed", "yes"]]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let replay: Exchange = serde_json::from_value(body).unwrap();
    assert_eq!(replay.replay_of.as_deref(), Some(x.request_id.as_str()));
    assert_eq!(served.origin.seen().len(), seen_before + 1);
    let replayed = replay.response.as_ref().expect("the replay was answered");
    let at_origin: Vec<(String, String)> =
        serde_json::from_str(header(&replayed.headers, "x-echo-headers").unwrap()).unwrap();
    assert_eq!(header(&at_origin, "x-replayed"), Some("yes"));
    assert_eq!(header(&at_origin, "x-custom"), Some("kept"));
    assert_eq!(
        header(&at_origin, "authorization"),
        None,
        "a masked credential is not replayed as the mask"
    );
    assert_eq!(replayed.body.bytes, b"payload-1");
    let page = rest.wait_for(&tunnel_id, 2).await;
    assert_eq!(
        page.requests[0].request_id, replay.request_id,
        "newest first"
    );
    assert_eq!(
        page.requests[0].replay_of.as_deref(),
        Some(x.request_id.as_str())
    );

    // Edits that are not HTTP are refused with the reason.
    let (status, body) = rest
        .call(
            "POST",
            &format!("/v1/requests/{}/replay", x.request_id),
            Some(json!({"method": "GE T"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // Filters and paging.
    let get = served
        .http
        .get(format!("{url}/missing/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    rest.wait_for(&tunnel_id, 3).await;
    let gets = rest.page(&tunnel_id, "method=GET").await;
    assert_eq!(gets.requests.len(), 1);
    assert_eq!(gets.requests[0].path, "/missing/thing");
    assert_eq!(
        rest.page(&tunnel_id, "path_prefix=/hook")
            .await
            .requests
            .len(),
        2
    );
    assert_eq!(rest.page(&tunnel_id, "status=5xx").await.requests.len(), 0);
    let one = rest.page(&tunnel_id, "limit=1").await;
    let cursor = one.next_cursor.clone().expect("more pages");
    let two = rest
        .page(&tunnel_id, &format!("limit=1&cursor={cursor}"))
        .await;
    assert_ne!(one.requests[0].request_id, two.requests[0].request_id);
    let (status, body) = rest
        .call(
            "GET",
            &format!("/v1/tunnels/{tunnel_id}/requests?colour=red"),
            None,
        )
        .await;
    assert_eq!(
        status, 400,
        "an unknown filter is an error, not everything: {body}"
    );

    // The tunnel's view counts its log.
    let (_, t) = rest
        .call("GET", &format!("/v1/tunnels/{tunnel_id}"), None)
        .await;
    assert_eq!(t["request_count"], 3);

    // The CLI: list, show, export, replay.
    let listed = served.user.ok(&["requests", "inspect"]).await;
    assert!(
        listed.contains(&x.request_id) && listed.contains("/hook?event=push"),
        "{listed}"
    );
    let json_page: RequestPage = serde_json::from_str(
        &served
            .user
            .ok(&["requests", "--json", "--method", "GET"])
            .await,
    )
    .unwrap();
    assert_eq!(json_page.requests.len(), 1);
    let shown = served.user.ok(&["requests", "show", &x.request_id]).await;
    assert!(
        shown.contains("payload-1") && shown.contains("x-custom: kept"),
        "{shown}"
    );
    // What --json has that a person needs: when, how long, from where.
    let iso = client_core::inspect::export::iso8601_utc(x.timings.received_ms);
    let when = format!("{} UTC", iso.trim_end_matches('Z').replacen('T', " ", 1));
    for line in [
        format!("time:     {when}"),
        format!("duration: {} ms (", x.timings.duration_ms().unwrap()),
        format!("client:   {}", x.remote_addr),
    ] {
        assert!(shown.contains(&line), "{line:?} missing:\n{shown}");
    }
    let har: Value = serde_json::from_str(
        &served
            .user
            .ok(&["requests", "export", &x.request_id, "--har"])
            .await,
    )
    .unwrap();
    check_har(&har);
    let curl = served
        .user
        .ok(&["requests", "export", &x.request_id, "--curl"])
        .await;
    assert!(
        curl.lines().any(|l| l.starts_with("curl '")) && curl.contains("/hook?event=push"),
        "{curl}"
    );
    assert!(!curl.contains("webhook-secret"));
    let body_file = stack.dir.path().join("body.txt");
    std::fs::write(&body_file, "from-a-file").unwrap();
    let replayed = served
        .user
        .ok(&[
            "replay",
            &x.request_id,
            "--header",
            "X-Env: cli",
            "--body",
            &format!("@{}", body_file.display()),
            "--json",
        ])
        .await;
    let replayed: Exchange = serde_json::from_str(&replayed).unwrap();
    assert_eq!(replayed.request.body.bytes, b"from-a-file");
    assert_eq!(replayed.response.unwrap().body.bytes, b"from-a-file");
    let bad = served
        .user
        .run(&["replay", &x.request_id, "--header", "nocolon"])
        .await;
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("NAME:VALUE"), "{bad:?}");

    // Another client: 404 on every inspection route, as for an absent id.
    let other = stack.user("other");
    let other_key = other.register().await;
    let stranger = Rest::new(stack, Some(&other_key));
    for (method, path) in [
        ("GET", format!("/v1/tunnels/{tunnel_id}/requests")),
        ("DELETE", format!("/v1/tunnels/{tunnel_id}/requests")),
        ("GET", format!("/v1/tunnels/{tunnel_id}/requests/live")),
        ("GET", format!("/v1/requests/{}", x.request_id)),
        ("POST", format!("/v1/requests/{}/replay", x.request_id)),
    ] {
        let (status, body) = stranger.call(method, &path, None).await;
        assert_eq!(status, 404, "{method} {path} as another client: {body}");
        let (status, _) = Rest::new(stack, None).call(method, &path, None).await;
        assert_eq!(status, 401, "{method} {path} without a key");
    }
    assert_eq!(
        rest.page(&tunnel_id, "").await.requests.len(),
        4,
        "nothing was cleared"
    );

    // A session token works like the key (what the web console keeps).
    let (status, token) = rest.call("POST", "/v1/tokens", None).await;
    assert_eq!(status, 201);
    let by_token = Rest::new(stack, token["token"].as_str());
    assert_eq!(by_token.page(&tunnel_id, "").await.requests.len(), 4);
    let mut tampered = token["token"].as_str().unwrap().to_owned();
    tampered.pop();
    let (status, _) = Rest::new(stack, Some(&tampered))
        .call("GET", "/v1/tunnels", None)
        .await;
    assert_eq!(status, 401);

    // Clearing empties the log.
    let (status, _) = rest
        .call("DELETE", &format!("/v1/tunnels/{tunnel_id}/requests"), None)
        .await;
    assert_eq!(status, 204);
    assert!(rest.page(&tunnel_id, "").await.requests.is_empty());
}

/// The HAR 1.2 structure a HAR reader needs (the fields the spec marks required).
pub fn check_har(har: &Value) {
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert!(log["creator"]["name"].is_string() && log["creator"]["version"].is_string());
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert!(e["startedDateTime"].is_string() && e["time"].is_number());
    for part in ["request", "response"] {
        let p = &e[part];
        assert!(p["httpVersion"].is_string(), "{part}.httpVersion");
        assert!(
            p["headers"].is_array() && p["cookies"].is_array(),
            "{part} lists"
        );
        assert!(
            p["headersSize"].is_number() && p["bodySize"].is_number(),
            "{part} sizes"
        );
    }
    assert!(e["request"]["method"].is_string() && e["request"]["url"].is_string());
    assert!(e["request"]["queryString"].is_array());
    assert!(e["response"]["status"].is_number() && e["response"]["content"].is_object());
    assert!(e["cache"].is_object() && e["timings"]["wait"].is_number());
}

fn api_key(user: &User) -> String {
    user.api_key()
}

/// The live feed pushes new exchanges as server-sent events; a reopened stream with
/// `Last-Event-ID` gets what came after it.
pub async fn live_feed(stack: &Stack) {
    let served = stack.serve("livefeed", &[]).await;
    let key = api_key(&served.user);
    let rest = Rest::new(stack, Some(&key));
    let tunnel_id = rest.tunnel_id("livefeed").await;
    let url = format!("http://livefeed.localhost:{}", stack.server.port);
    let live = format!("{}/v1/tunnels/{tunnel_id}/requests/live", stack.server.url);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // A token in the query string, as a browser's EventSource must send it.
    let (_, token) = rest.call("POST", "/v1/tokens", None).await;
    let token = token["token"].as_str().unwrap().to_owned();
    let mut stream = http
        .get(format!("{live}?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let keyed = http
        .get(format!("{live}?access_token={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        keyed.status(),
        401,
        "an API key is not taken in a query string"
    );

    served
        .http
        .get(format!("{url}/first"))
        .send()
        .await
        .unwrap();
    let first = rest.wait_for(&tunnel_id, 1).await.requests[0]
        .request_id
        .clone();
    match stack.kind {
        crate::scenarios::Kind::Local => {
            let got = next_exchange(&mut stream).await;
            assert_eq!(got["path"], "/first");
            assert_eq!(got["request_id"], first.as_str());
        }
        // A finite stream there: it ends, and the browser reopens it.
        crate::scenarios::Kind::Aws => {
            let text = stream.text().await.unwrap();
            assert!(text.contains("retry:"), "{text}");
        }
    }
    served
        .http
        .get(format!("{url}/second"))
        .send()
        .await
        .unwrap();
    rest.wait_for(&tunnel_id, 2).await;
    let mut resumed = http
        .get(&live)
        .bearer_auth(&key)
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    let got = next_exchange(&mut resumed).await;
    assert_eq!(
        got["path"], "/second",
        "the reopened stream resumes after the last id"
    );
}

async fn next_exchange(stream: &mut reqwest::Response) -> Value {
    let mut parser = client_core::inspect::sse::Parser::default();
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an event within the timeout")
            .unwrap()
            .expect("the stream stays open until the event");
        for e in parser.push(&chunk) {
            if e.event.as_deref() == Some("exchange") {
                return serde_json::from_str(&e.data).unwrap();
            }
        }
    }
}

/// After `sent` requests, a log bounded at `keep` holds exactly the newest `keep`.
pub async fn log_stays_bounded(stack: &Stack, sent: usize, keep: usize) {
    let served = stack.serve("bounded", &["--quiet"]).await;
    let rest = Rest::new(stack, Some(&api_key(&served.user)));
    let tunnel_id = rest.tunnel_id("bounded").await;
    let url = format!("http://bounded.localhost:{}", stack.server.port);
    let workers = 8;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (http, url) = (served.http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..sent - 1).step_by(workers) {
                let r = http.get(format!("{url}/n/{i}")).send().await.unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The last one alone, so it is the newest.
    served.http.get(format!("{url}/last")).send().await.unwrap();
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let (_, t) = rest
            .call("GET", &format!("/v1/tunnels/{tunnel_id}"), None)
            .await;
        let newest = rest.page(&tunnel_id, "limit=1").await;
        if newest.requests.first().is_some_and(|s| s.path == "/last") {
            assert_eq!(
                t["request_count"], keep,
                "the log holds exactly the newest {keep}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the last request was not logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut listed = 0;
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=200&cursor={c}"),
            None => "limit=200".into(),
        };
        let page = rest.page(&tunnel_id, &query).await;
        listed += page.requests.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(listed, keep, "paging lists the whole bounded log once");
}
