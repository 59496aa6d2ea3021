//! Scenarios where AWS's contracts decide what a public client sees: cookies both
//! ways through a tunnel (run on both backends), and the emulator's concurrency
//! limits at their edge (the AWS stack only).
//!
//! The origin here is its own small server, not the echo [`crate::Origin`]: it sets
//! cookies, and it can hold requests until the test lets them go, so a test knows
//! exactly how many invocations are in flight without sleeping.

#![allow(clippy::missing_panics_doc)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::scenarios::{Kind, Stack};
use crate::{READY_TIMEOUT, RunningTunnel, public_client};

/// What the origin's `/cookies` sets, in order. The first has the comma of an
/// `Expires` date, so joining Set-Cookie values with commas would corrupt it.
pub const SET_COOKIES: [&str; 3] = [
    "session=s3cr3t; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; HttpOnly",
    "theme=dark; Max-Age=3600; SameSite=Lax",
    "lang=fr-CH; Path=/docs; Secure",
];

/// An origin: `/cookies` answers [`SET_COOKIES`] and, as its body, the `Cookie` lines
/// it received as a JSON list; `/hold/...` waits until [`HoldingOrigin::release`];
/// `/status/N` answers status N; anything else is a plain 200.
#[derive(Debug)]
pub struct HoldingOrigin {
    /// Its port on 127.0.0.1.
    pub port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    held: AtomicUsize,
    arrived: Notify,
    release: watch::Sender<bool>,
}

impl Drop for HoldingOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HoldingOrigin {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            held: AtomicUsize::new(0),
            arrived: Notify::new(),
            release: watch::channel(false).0,
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let service = hyper::service::service_fn(move |req| answer(state.clone(), req));
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { port, state, task }
    }

    /// Waits (bounded) until `n` requests are being held.
    pub async fn wait_held(&self, n: usize) {
        tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                let arrived = self.state.arrived.notified();
                if self.state.held.load(Ordering::SeqCst) >= n {
                    return;
                }
                arrived.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} requests never reached the origin together"));
    }

    /// Lets every held request (and every later one) through.
    pub fn release(&self) {
        self.state.release.send_replace(true);
    }
}

async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/cookies" {
        let seen: Vec<String> = req
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let mut resp = Response::new(Full::new(Bytes::from(serde_json::to_vec(&seen).unwrap())));
        for c in SET_COOKIES {
            resp.headers_mut()
                .append(http::header::SET_COOKIE, c.parse().unwrap());
        }
        return Ok(resp);
    }
    if path.starts_with("/hold/") {
        let mut release = state.release.subscribe();
        state.held.fetch_add(1, Ordering::SeqCst);
        state.arrived.notify_waiters();
        let _ = release.wait_for(|go| *go).await;
        return Ok(Response::new(Full::new(Bytes::from_static(b"released"))));
    }
    if let Some(status) = path
        .strip_prefix("/status/")
        .and_then(|n| http::StatusCode::from_bytes(n.as_bytes()).ok())
    {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = status;
        return Ok(resp);
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// A registered user's tunnel on `domain` to a [`HoldingOrigin`], and a public client.
async fn serve(stack: &Stack, domain: &str) -> (HoldingOrigin, RunningTunnel, reqwest::Client) {
    let user = stack.user("u");
    user.register().await;
    let origin = HoldingOrigin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", domain])
        .await;
    (origin, tunnel, public_client(&stack.server, &[domain]))
}

/// Three cookies set by the origin reach the public client as three `Set-Cookie`
/// headers, byte for byte and in order; two cookies sent by the client reach the
/// origin, in one `Cookie` header as RFC 6265 has a client send them, or in two
/// lines (as an HTTP/2 client may split them), which both backends deliver.
pub async fn cookies_both_ways(stack: &Stack) {
    let (_origin, tunnel, http) = serve(stack, "cookies").await;
    let url = format!("{}/cookies", tunnel.url);

    let r = http
        .get(&url)
        .header("cookie", "sid=abc123; theme=dark")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let set: Vec<&[u8]> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(http::HeaderValue::as_bytes)
        .collect();
    let want: Vec<&[u8]> = SET_COOKIES.iter().map(|c| c.as_bytes()).collect();
    assert_eq!(set, want, "Set-Cookie as the origin sent them");
    let seen: Vec<String> = r.json().await.unwrap();
    assert_eq!(
        seen,
        ["sid=abc123; theme=dark"],
        "the Cookie header as sent"
    );

    let r = http
        .get(&url)
        .header("cookie", "sid=abc123")
        .header("cookie", "theme=dark")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Vec<String> = r.json().await.unwrap();
    let pairs: Vec<&str> = seen.iter().flat_map(|l| l.split("; ")).collect();
    assert_eq!(pairs, ["sid=abc123", "theme=dark"], "{seen:?}");
    if stack.kind == Kind::Aws {
        // A Function URL hands the function the cookies as a list; the proxy gives
        // the origin one Cookie header, joined as RFC 6265 (5.4) has clients do.
        assert_eq!(seen, ["sid=abc123; theme=dark"]);
    }
    tunnel.interrupt().await;
}

/// With `--lambda-concurrency N`, N requests held at the origin are N tunnel-proxy
/// invocations in flight; request N+1 is refused at once with 429, as a Function URL
/// answers a throttled invocation; once the N finish, requests pass again.
pub async fn function_concurrency_edge(n: usize) {
    let limit = n.to_string();
    let stack = Stack::start_with(Kind::Aws, &["--lambda-concurrency", &limit]).await;
    let (origin, tunnel, http) = serve(&stack, "edge").await;
    let throttles = async || {
        stack.stats().await["functions"]["tunnel-proxy"]["throttles"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        http.get(format!("{}/warm", tunnel.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let held: Vec<_> = (0..n)
        .map(|i| {
            let request = http.get(format!("{}/hold/{i}", tunnel.url)).send();
            tokio::spawn(request)
        })
        .collect();
    origin.wait_held(n).await;
    assert_eq!(throttles().await, 0, "N invocations at once are allowed");

    let over = tokio::time::timeout(
        Duration::from_secs(10),
        http.get(format!("{}/one-too-many", tunnel.url)).send(),
    )
    .await
    .expect("a throttle is answered at once, not queued")
    .unwrap();
    assert_eq!(over.status(), 429, "{:?}", over.text().await);
    assert_eq!(throttles().await, 1);

    origin.release();
    for h in held {
        let r = h.await.unwrap().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "released");
    }
    let again = http
        .get(format!("{}/after", tunnel.url))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "the limit frees as invocations end");
    tunnel.interrupt().await;
}

/// API Gateway REST's own answers, before and around the function: an undefined
/// route is 403 `Missing Authentication Token`; a body over the 10 MB payload quota
/// is 413 without an invocation; a body at the quota reaches Lambda, whose 6 MB
/// invocation limit refuses it, which API Gateway answers 500 (a Lambda API
/// refusal, not a function error). Figures: the REST API quotas
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html)
/// and https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html.
pub async fn rest_api_edges(stack: &Stack) {
    /// API Gateway REST: "Payload size 10 MB", counted in binary megabytes as the
    /// emulator does (`tunnel_emulator::deployment::MAX_API_PAYLOAD`).
    const REST_PAYLOAD: usize = 10 * 1024 * 1024;
    assert_eq!(stack.kind, Kind::Aws);
    let http = reqwest::Client::new();
    let api = &stack.server.url;
    let answer = async |r: reqwest::RequestBuilder| {
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (status, body["message"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        answer(http.get(format!("{api}/v1/no-such-route"))).await,
        (403, "Missing Authentication Token".to_owned())
    );
    let before = stack.stats().await["functions"]["register-client"]["invocations"].clone();
    assert_eq!(
        answer(
            http.post(format!("{api}/v1/clients"))
                .body(vec![b' '; REST_PAYLOAD + 1])
        )
        .await,
        (413, "Request Too Long".to_owned())
    );
    assert_eq!(
        answer(
            http.post(format!("{api}/v1/clients"))
                .body(vec![b' '; REST_PAYLOAD])
        )
        .await,
        (500, "Internal server error".to_owned())
    );
    let stats = stack.stats().await;
    let f = &stats["functions"]["register-client"];
    assert_eq!(f["invocations"], before, "neither body ran the function");
    assert_eq!(f["throttles"], 0);
}
