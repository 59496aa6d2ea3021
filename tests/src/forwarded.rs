//! What the origin is told about a public request, with curl as the public client: a
//! caller's own `X-Forwarded-*`, `Forwarded` and `X-Request-Id` never reach the origin;
//! it gets exactly one of each, with the service's values, on both stacks.

use std::process::Stdio;

use crate::inspection::Rest;
use crate::scenarios::Stack;
use crate::{READY_TIMEOUT, Server};

/// What curl got: status, response headers (names lower-cased) and body.
#[derive(Debug)]
pub struct CurlReply {
    /// Status of the last response.
    pub status: u16,
    /// Its headers, in order.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
}

impl CurlReply {
    /// The value of response header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request headers the echo origin saw (its `x-echo-headers`).
    pub fn echoed(&self) -> Vec<(String, String)> {
        let raw = self
            .header("x-echo-headers")
            .unwrap_or_else(|| panic!("no x-echo-headers in {self:?}"));
        serde_json::from_str(raw).unwrap()
    }
}

/// The values the origin saw for request header `name`, in order.
pub fn seen<'a>(echoed: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    echoed
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Runs curl on `url` with `args` before it; `<name>.localhost` goes to the server on
/// 127.0.0.1 whatever the resolver thinks of it.
pub async fn curl(server: &Server, url: &str, args: &[&str]) -> CurlReply {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap();
    let resolve = format!("{host}:{}:127.0.0.1", server.port);
    let out = tokio::time::timeout(
        READY_TIMEOUT,
        tokio::process::Command::new("curl")
            .args(["-sS", "--noproxy", "*", "-D", "-", "--resolve", &resolve])
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("curl finished")
    .expect("curl runs (install it: apt-get install curl)");
    assert!(
        out.status.success(),
        "curl {args:?} {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Splits curl's `-D -` output (head, blank line, body; a 100 Continue's head first).
fn parse(text: &str) -> CurlReply {
    let mut rest = text;
    loop {
        let (head, body) = rest.split_once("\r\n\r\n").expect("a response head");
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        return CurlReply {
            status,
            headers,
            body: body.to_owned(),
        };
    }
}

/// A caller spoofs every forwarding header and the request id, once and twice; the
/// origin sees one of each, the tunnel's own, and the request id it gets is the one
/// the inspector shows.
pub async fn spoofed_headers_never_reach_the_origin(stack: &Stack) {
    let served = stack.serve("fwd", &[]).await;
    let key = served.user.api_key();
    let port = stack.server.port.to_string();
    let host = format!("fwd.localhost:{port}");
    let url = format!("{}/where?am=i", served.tunnel.url);
    let spoof = [
        "-H",
        "X-Forwarded-Host: evil.example",
        "-H",
        "X-Forwarded-Proto: https",
        "-H",
        "X-Forwarded-Port: 443",
        "-H",
        "Forwarded: for=6.6.6.6;host=evil.example;proto=https",
        "-H",
        "X-Request-Id: caller-chosen",
        "-H",
        "X-Forwarded-For: 203.0.113.9",
    ];
    let reply = curl(&stack.server, &url, &spoof).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let echoed = reply.echoed();
    assert_eq!(seen(&echoed, "x-forwarded-host"), [host.as_str()]);
    assert_eq!(seen(&echoed, "x-forwarded-proto"), ["http"]);
    assert_eq!(seen(&echoed, "x-forwarded-port"), [port.as_str()]);
    assert_eq!(
        seen(&echoed, "forwarded"),
        [format!("for=127.0.0.1;host=\"{host}\";proto=http").as_str()]
    );
    assert_eq!(
        seen(&echoed, "x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"],
        "the caller's chain, then the peer, in one header"
    );
    let ids = seen(&echoed, "x-request-id");
    assert_eq!(ids.len(), 1, "{echoed:?}");
    assert_ne!(ids[0], "caller-chosen");
    let rest = Rest::new(stack, Some(&key));
    let tunnel_id = rest.tunnel_id("fwd").await;
    let page = rest.wait_for(&tunnel_id, 1).await;
    assert_eq!(
        page.requests[0].request_id, ids[0],
        "the origin's X-Request-Id is the inspector's id"
    );
    // The inspector keeps what the caller sent, as evidence.
    let x = rest.exchange(ids[0]).await;
    assert!(
        x.request
            .headers
            .iter()
            .any(|(n, v)| n == "x-request-id" && v == "caller-chosen"),
        "{:?}",
        x.request.headers
    );

    // Each spoofed header twice, in different cases: still one each, ours.
    let doubled = [
        "-H",
        "X-Forwarded-Host: evil.example",
        "-H",
        "x-forwarded-host: evil2.example",
        "-H",
        "x-request-id: one",
        "-H",
        "X-REQUEST-ID: two",
        "-H",
        "forwarded: for=1.1.1.1",
        "-H",
        "FORWARDED: for=2.2.2.2",
    ];
    let echoed = curl(&stack.server, &url, &doubled).await.echoed();
    assert_eq!(seen(&echoed, "x-forwarded-host"), [host.as_str()]);
    assert_eq!(seen(&echoed, "forwarded").len(), 1, "{echoed:?}");
    let ids = seen(&echoed, "x-request-id");
    assert!(
        ids.len() == 1 && tunnel_backend::handlers::inspect::is_request_id(ids[0]),
        "{ids:?}"
    );
    // No chain sent: the peer alone.
    assert_eq!(seen(&echoed, "x-forwarded-for"), ["127.0.0.1"]);

    served.tunnel.interrupt().await;
}
