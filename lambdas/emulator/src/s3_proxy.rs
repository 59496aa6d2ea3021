//! A counting pass-through in front of an S3 endpoint, as [`crate::dynamo_proxy`] is
//! for DynamoDB.
//!
//! Point an S3 client (the functions' `S3_ENDPOINT`, path-style) at [`S3Proxy::url`]
//! and every request goes on, unchanged, to the real endpoint (moto here), while the
//! proxy counts requests per operation and the bytes of objects each way: what S3
//! bills (requests by class, and transfer). The operation is named from the method
//! and the path (`/bucket` or `/bucket/key`):
//!
//! | request | operation |
//! | --- | --- |
//! | `PUT /b/k` | `PutObject` |
//! | `GET /b/k` | `GetObject` |
//! | `HEAD /b/k` | `HeadObject` |
//! | `DELETE /b/k` | `DeleteObject` |
//! | `GET /b` | `ListObjects` |
//! | `PUT /b` | `CreateBucket` (or another bucket setting) |
//!
//! `bytes_in` counts request bodies (objects uploaded), `bytes_out` the
//! `Content-Length` of successful `GetObject` answers (objects downloaded).
//! `presigned` counts the requests made with a presigned URL (the tunnel clients'
//! body GETs and PUTs); those are checked first as S3 checks them
//! ([`crate::presigned`]: expiry, method, path and query under the signature), and
//! a refused one never reaches moto.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::dynamo_proxy::{ProxyError, listen_for, plain, strip_hop_by_hop, upstream_uri};
use crate::presigned;
use crate::runtime::lock;

/// The largest request body the proxy forwards (it reads each whole to count it):
/// S3's single PUT takes 5 GB, the request log's objects are a few MB at most.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// What went through the proxy since it started or was last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct S3Stats {
    /// Requests forwarded (or refused by the proxy itself).
    pub requests: u64,
    /// Bytes of request bodies (uploads).
    pub bytes_in: u64,
    /// Bytes of objects read (`GetObject` answers).
    pub bytes_out: u64,
    /// Requests answered with a status of 400 or more (a missing key too).
    pub errors: u64,
    /// Requests made with a presigned URL, refused ones included.
    pub presigned: u64,
    /// Requests per operation (see the module table).
    pub operations: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Shared {
    upstream: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    stats: Mutex<S3Stats>,
}

/// The running proxy; it stops when dropped.
#[derive(Debug)]
pub struct S3Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl S3Proxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream` (`http://host:port`).
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

    /// `http://127.0.0.1:PORT`, the endpoint to give S3 clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters so far.
    pub fn stats(&self) -> S3Stats {
        lock(&self.shared.stats).clone()
    }
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
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

/// The S3 operation a path-style request is.
fn operation(method: &Method, path: &str) -> &'static str {
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    match (method.as_str(), has_key) {
        ("PUT", true) => "PutObject",
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("DELETE", true) => "DeleteObject",
        ("GET", false) => "ListObjects",
        ("PUT", false) => "CreateBucket",
        ("HEAD", false) => "HeadBucket",
        ("DELETE", false) => "DeleteBucket",
        _ => "unknown",
    }
}

/// S3's answer to a refused presigned request: its status and XML error.
fn refused(refusal: &presigned::Refusal) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(refusal.body()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = refusal.status();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    response
}

async fn forward(shared: &Shared, req: Request<Incoming>) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let operation = operation(&parts.method, parts.uri.path());
    let signed_in_query = presigned::is_presigned(parts.uri.query());
    if signed_in_query {
        lock(&shared.stats).presigned += 1;
        let request = (
            &parts.method,
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
        );
        if let Err(refusal) = presigned::check(
            presigned::EMULATOR,
            request,
            &parts.headers,
            std::time::SystemTime::now(),
        ) {
            tracing::info!(%refusal, path = parts.uri.path(), "presigned request refused");
            count(shared, operation, 0, 0, true);
            return refused(&refusal);
        }
    }
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.is::<http_body_util::LengthLimitError>();
            count(shared, operation, 0, 0, true);
            return if too_large {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "request over 64 MiB")
            } else {
                plain(StatusCode::BAD_REQUEST, "request body read failed")
            };
        }
    };
    let bytes_in = body.len() as u64;
    let Some(uri) = upstream_uri(&shared.upstream, &parts.uri) else {
        count(shared, operation, bytes_in, 0, true);
        return plain(StatusCode::BAD_REQUEST, "bad request path");
    };
    parts.uri = uri;
    strip_hop_by_hop(&mut parts.headers);
    match shared
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(response) => {
            let failed = response.status().as_u16() >= 400;
            let bytes_out = if operation == "GetObject" && !failed {
                response
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            } else {
                0
            };
            count(shared, operation, bytes_in, bytes_out, failed);
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => {
            count(shared, operation, bytes_in, 0, true);
            plain(StatusCode::BAD_GATEWAY, &format!("upstream: {e}"))
        }
    }
}

fn count(shared: &Shared, operation: &str, bytes_in: u64, bytes_out: u64, failed: bool) {
    let mut stats = lock(&shared.stats);
    stats.requests += 1;
    stats.bytes_in += bytes_in;
    stats.bytes_out += bytes_out;
    if failed {
        stats.errors += 1;
    }
    *stats.operations.entry(operation.to_owned()).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_from_method_and_path() {
        assert_eq!(operation(&Method::PUT, "/b/log/t/r"), "PutObject");
        assert_eq!(operation(&Method::GET, "/b/log/t/r"), "GetObject");
        assert_eq!(operation(&Method::DELETE, "/b/k"), "DeleteObject");
        assert_eq!(operation(&Method::GET, "/b"), "ListObjects");
        assert_eq!(operation(&Method::GET, "/b/"), "ListObjects");
        assert_eq!(operation(&Method::PUT, "/b"), "CreateBucket");
        assert_eq!(operation(&Method::POST, "/b"), "unknown");
    }

    #[tokio::test]
    async fn only_plain_http_upstreams() {
        assert!(matches!(
            S3Proxy::start("https://x:1").await,
            Err(ProxyError::Upstream(_))
        ));
        let proxy = S3Proxy::start("http://127.0.0.1:9/").await.unwrap();
        assert!(proxy.url().starts_with("http://127.0.0.1:"));
    }
}
