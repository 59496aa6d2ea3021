//! A counting pass-through in front of a DynamoDB endpoint.
//!
//! Point a DynamoDB client (the functions' `DYNAMODB_ENDPOINT`) at [`DynamoProxy::url`]
//! and every request goes on, unchanged, to the real endpoint (moto here), while the
//! proxy counts what it costs, from the `X-Amz-Target` header and the JSON body:
//!
//! | operation | reads | writes |
//! | --- | --- | --- |
//! | `GetItem`, `Query`, `Scan` | 1 | |
//! | `BatchGetItem` | one per key, all tables | |
//! | `TransactGetItems` | one per item | |
//! | `PutItem`, `UpdateItem`, `DeleteItem` | | 1 |
//! | `BatchWriteItem` | | one per put or delete request, all tables |
//! | `TransactWriteItems` | | one per item (a `ConditionCheck` too) |
//!
//! Everything else (`CreateTable`, `DescribeTable`, ...) counts only as a request of
//! its operation.
//!
//! Write units are what on-demand DynamoDB bills for those writes: an item put
//! (`PutItem`, a batch's `PutRequest`, a transaction's `Put`) costs one per KB of the
//! item, rounded up, its size counted as DynamoDB does ([`item_size`]); any other
//! write one (an update or delete is billed on the stored item, which the proxy does
//! not see: small items here). Every item of a transaction costs twice. A request the upstream refuses (a failed condition, say) still
//! counts: it reached the table. Requests are counted, not capacity units: a `Query`
//! returning a hundred items is one read.
//!
//! The `Host` header is forwarded as the client sent it, so SigV4 signatures made for
//! the proxy's address stay intact; moto does not check them (real DynamoDB would).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use client_core::hop::HopByHop;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::runtime::lock;

/// DynamoDB's largest request (a full `BatchWriteItem`), 16 MB. The proxy reads each
/// request whole to count its items, so this bounds its memory per request.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The prefix of every DynamoDB `X-Amz-Target`.
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream is not a plain `http://host:port` URL (the proxy speaks no TLS).
    #[error("upstream {0:?} is not an http://host:port URL")]
    Upstream(String),
    /// Binding the listener failed.
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// What went through the proxy since it started or was last [`reset`](DynamoProxy::reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DynamoStats {
    /// Requests forwarded (or refused by the proxy itself).
    pub requests: u64,
    /// Items read (see the module table).
    pub reads: u64,
    /// Items written (see the module table).
    pub writes: u64,
    /// Write request units those writes bill (see the module docs).
    pub write_units: u64,
    /// Requests answered with a status of 400 or more (upstream or proxy).
    pub errors: u64,
    /// Requests per operation (`GetItem`, ...; `unknown` without a DynamoDB target).
    pub operations: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Shared {
    upstream: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    stats: Mutex<DynamoStats>,
}

/// The running proxy; it stops when dropped.
#[derive(Debug)]
pub struct DynamoProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Starts a proxy on `127.0.0.1:0` in front of `upstream` (e.g. `http://127.0.0.1:5000`).
pub async fn start(upstream: &str) -> Result<DynamoProxy, ProxyError> {
    DynamoProxy::start(upstream).await
}

impl DynamoProxy {
    /// See [`start`].
    pub async fn start(upstream: &str) -> Result<Self, ProxyError> {
        let (uri, listener, addr) = listen_for(upstream).await?;
        let shared = Arc::new(Shared {
            upstream: uri,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stats: Mutex::default(),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(Self { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give DynamoDB clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters so far.
    pub fn stats(&self) -> DynamoStats {
        lock(&self.shared.stats).clone()
    }

    /// Zeroes the counters (e.g. after a test's setup, before the request it measures).
    pub fn reset(&self) {
        *lock(&self.shared.stats) = DynamoStats::default();
    }
}

impl Drop for DynamoProxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its connection set, which aborts them all.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    crate::serve::serve(listener, shared, |shared, req| async move {
        forward(&shared, req).await
    })
    .await;
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn forward(shared: &Shared, req: Request<Incoming>) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("unknown")
        .to_owned();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.is::<http_body_util::LengthLimitError>();
            let response = if too_large {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "request over 16 MB")
            } else {
                plain(StatusCode::BAD_REQUEST, "request body read failed")
            };
            count(shared, &operation, Cost::default(), true);
            return response;
        }
    };
    let cost = cost_of(&operation, &body);

    let Some(uri) = upstream_uri(&shared.upstream, &parts.uri) else {
        count(shared, &operation, cost, true);
        return plain(StatusCode::BAD_REQUEST, "bad request path");
    };
    parts.uri = uri;
    strip_hop_by_hop(&mut parts.headers);
    let upstream_req = Request::from_parts(parts, Full::new(body));
    match shared.client.request(upstream_req).await {
        Ok(response) => {
            count(shared, &operation, cost, response.status().as_u16() >= 400);
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => {
            count(shared, &operation, cost, true);
            plain(StatusCode::BAD_GATEWAY, &format!("upstream: {e}"))
        }
    }
}

/// Items read and written by one request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cost {
    reads: u64,
    writes: u64,
    write_units: u64,
}

fn count(shared: &Shared, operation: &str, cost: Cost, failed: bool) {
    let mut stats = lock(&shared.stats);
    stats.requests += 1;
    stats.reads += cost.reads;
    stats.writes += cost.writes;
    stats.write_units += cost.write_units;
    if failed {
        stats.errors += 1;
    }
    *stats.operations.entry(operation.to_owned()).or_default() += 1;
}

/// An attribute value's size as DynamoDB bills it (its developer guide, "Item
/// sizes"): strings and binaries by length, numbers by significant digits (one byte
/// per two, plus one), booleans and nulls one byte, lists and maps three bytes plus
/// their elements (and a map's names, each by length).
pub fn value_size(v: &serde_json::Value) -> u64 {
    use base64::Engine as _;
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = |s: &serde_json::Value| s.as_str().map_or(0, |s| s.len() as u64);
    let binary = |s: &serde_json::Value| {
        s.as_str().map_or(0, |s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_or(s.len(), |b| b.len()) as u64
        })
    };
    let number = |s: &serde_json::Value| {
        let digits = s.as_str().map_or(0, |s| {
            s.trim_start_matches('-')
                .replace('.', "")
                .trim_start_matches('0')
                .trim_end_matches('0')
                .len() as u64
        });
        digits.div_ceil(2) + 1
    };
    let each = |f: &dyn Fn(&serde_json::Value) -> u64| {
        inner.as_array().map_or(0, |a| a.iter().map(f).sum::<u64>())
    };
    match kind.as_str() {
        "S" => text(inner),
        "B" => binary(inner),
        "N" => number(inner),
        "BOOL" | "NULL" => 1,
        "SS" => each(&text),
        "BS" => each(&binary),
        "NS" => each(&number),
        "L" => 3 + each(&value_size),
        "M" => 3 + inner.as_object().map_or(0, item_size),
        _ => 0,
    }
}

/// An item's size: its attribute names plus their values ([`value_size`]).
pub fn item_size(item: &serde_json::Map<String, serde_json::Value>) -> u64 {
    item.iter()
        .map(|(name, v)| name.len() as u64 + value_size(v))
        .sum()
}

/// Write units of putting `item`: one per KB, rounded up, at least one.
fn put_units(item: Option<&serde_json::Value>) -> u64 {
    item.and_then(serde_json::Value::as_object)
        .map_or(0, item_size)
        .div_ceil(1024)
        .max(1)
}

/// What one request of `operation` with this JSON `body` reads and writes.
fn cost_of(operation: &str, body: &[u8]) -> Cost {
    let doc = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let tables = || {
        doc.get("RequestItems")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flat_map(|tables| tables.values())
    };
    let transact = || {
        doc.get("TransactItems")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
    };
    let reads = |reads| Cost {
        reads,
        ..Cost::default()
    };
    match operation {
        "GetItem" | "Query" | "Scan" => reads(1),
        "BatchGetItem" => reads(
            tables()
                .filter_map(|t| t.get("Keys").and_then(serde_json::Value::as_array))
                .map(|keys| keys.len() as u64)
                .sum(),
        ),
        "TransactGetItems" => reads(transact().count() as u64),
        "PutItem" => Cost {
            reads: 0,
            writes: 1,
            write_units: put_units(doc.get("Item")),
        },
        "UpdateItem" | "DeleteItem" => Cost {
            reads: 0,
            writes: 1,
            write_units: 1,
        },
        "BatchWriteItem" => {
            let requests: Vec<_> = tables()
                .filter_map(serde_json::Value::as_array)
                .flatten()
                .collect();
            Cost {
                reads: 0,
                writes: requests.len() as u64,
                write_units: requests
                    .iter()
                    .map(|r| match r.get("PutRequest") {
                        Some(put) => put_units(put.get("Item")),
                        None => 1,
                    })
                    .sum(),
            }
        }
        "TransactWriteItems" => Cost {
            reads: 0,
            writes: transact().count() as u64,
            write_units: transact()
                .map(|t| match t.get("Put") {
                    Some(put) => 2 * put_units(put.get("Item")),
                    None => 2,
                })
                .sum(),
        },
        _ => Cost::default(),
    }
}

/// Checks `upstream` (`http://host:port`, nothing after) and binds the proxy's own
/// port on loopback: the start of both pass-throughs.
pub(crate) async fn listen_for(
    upstream: &str,
) -> Result<(Uri, TcpListener, SocketAddr), ProxyError> {
    let bad = || ProxyError::Upstream(upstream.to_owned());
    let uri: Uri = upstream.trim_end_matches('/').parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http")
        || uri.authority().is_none()
        || !matches!(uri.path(), "" | "/")
    {
        return Err(bad());
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    Ok((uri, listener, addr))
}

/// `received`'s path and query on `upstream`; `None` when they do not make a URI.
pub(crate) fn upstream_uri(upstream: &Uri, received: &Uri) -> Option<Uri> {
    let mut uri = upstream.clone().into_parts();
    uri.path_and_query = Some(
        received
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Uri::from_parts(uri).ok()
}

/// Drops the headers that belong to one hop ([`HopByHop`]): the proxy makes its own
/// connection each way.
pub(crate) fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let connection = headers.get_all(header::CONNECTION);
    let hop = HopByHop::from_connection(connection.iter().filter_map(|v| v.to_str().ok()));
    let names: Vec<_> = headers
        .keys()
        .filter(|n| hop.contains(n.as_str()))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

pub(crate) fn plain(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(message.to_owned()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_from_bodies() {
        let c = |reads, writes, write_units| Cost {
            reads,
            writes,
            write_units,
        };
        let batch_get = br#"{"RequestItems":{"a":{"Keys":[{},{}]},"b":{"Keys":[{}]}}}"#;
        assert_eq!(cost_of("BatchGetItem", batch_get), c(3, 0, 0));
        let batch_write = br#"{"RequestItems":{"a":[{"PutRequest":{}},{"DeleteRequest":{}}],"b":[{"PutRequest":{}}]}}"#;
        assert_eq!(cost_of("BatchWriteItem", batch_write), c(0, 3, 3));
        let transact = br#"{"TransactItems":[{"Put":{}},{"Update":{}},{"ConditionCheck":{}}]}"#;
        assert_eq!(cost_of("TransactWriteItems", transact), c(0, 3, 6));
        assert_eq!(
            cost_of("TransactGetItems", br#"{"TransactItems":[{"Get":{}}]}"#),
            c(1, 0, 0)
        );
        assert_eq!(cost_of("Query", b"{}"), c(1, 0, 0));
        assert_eq!(cost_of("UpdateItem", b"{}"), c(0, 1, 1));
        assert_eq!(cost_of("CreateTable", b"{}"), Cost::default());
        assert_eq!(cost_of("BatchWriteItem", b"not json"), Cost::default());
    }

    #[test]
    fn put_items_cost_a_unit_per_started_kb() {
        let put = |attrs: &str| cost_of("PutItem", format!(r#"{{"Item":{{{attrs}}}}}"#).as_bytes());
        // "k" (1) + 1,023 bytes of string: exactly 1 KB.
        let at = format!(r#""k":{{"S":"{}"}}"#, "a".repeat(1023));
        assert_eq!(put(&at), c_w(1));
        let over = format!(r#""k":{{"S":"{}"}}"#, "a".repeat(1024));
        assert_eq!(put(&over), c_w(2));
        // Binary by its decoded length: 1,023 bytes as base64 is 1,364 characters.
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 1023]);
        assert_eq!(put(&format!(r#""k":{{"B":"{b}"}}"#)), c_w(1));
        // Numbers by significant digits; maps and lists with their overhead.
        let item: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"n":{"N":"12300"},"m":{"M":{"ab":{"BOOL":true}}},"l":{"L":[{"S":"xy"},{"NULL":true}]}}"#,
        )
        .unwrap();
        assert_eq!(
            item_size(&item),
            (1 + 3) + (1 + 3 + 2 + 1) + (1 + 3 + 2 + 1)
        );
    }

    fn c_w(write_units: u64) -> Cost {
        Cost {
            reads: 0,
            writes: 1,
            write_units,
        }
    }

    #[tokio::test]
    async fn only_plain_http_upstreams() {
        for bad in [
            "https://x:1",
            "127.0.0.1:1",
            "http://x:1/path",
            "nonsense url",
        ] {
            assert!(
                matches!(start(bad).await, Err(ProxyError::Upstream(_))),
                "{bad}"
            );
        }
        let proxy = start("http://127.0.0.1:9/").await.unwrap();
        assert!(proxy.url().starts_with("http://127.0.0.1:"));
    }
}
