//! Forwarding one public request to the local origin and streaming its answer back.
//!
//! The origin is HTTP/1.1 on `HOST:PORT`, plain or over TLS (`https://` targets, see
//! [`crate::origin_tls`]), reached through hyper-util's pooled client, which adds no
//! headers of its own: what the public client sent is what the origin sees, except
//! `Host`, which `--host-header` decides ([`HostHeader`]): by default it names the
//! origin, so that local servers that check it answer as they do for a browser on
//! `localhost`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use client_core::hop::HopByHop;
use client_core::protocol::limits::UPGRADE_IDLE_TIMEOUT;
use client_core::protocol::{ErrorCode, Headers, StreamId};
use client_core::session::{RequestHead, SWITCHING_PROTOCOLS, is_upgrade_request};
use client_core::target::{HostHeader, OriginScheme, OriginTarget};
use futures_util::FutureExt as _;
use http::header::{HOST, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Frame};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use crate::api::root_cause;
use crate::origin_tls::{OriginTls, OriginTlsError, hint};
use crate::stored::{BodyUrls, stores_answer};

mod body;
#[cfg(test)]
mod tests;

pub(crate) use body::{BodySender, ForwardBody};

/// How long the origin may take to send its response head (or to take more of the
/// request body). Under API Gateway's 29 s
/// integration timeout, so the public client hears our explanation rather than a bare
/// gateway timeout.
pub const ORIGIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Bytes read from an upgraded origin connection at a time; one BODY chunk or a few.
const UPGRADE_READ_BYTES: usize = 16 * 1024;

/// Pooled origin connections idle longer than this are closed.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the origin answered, piece by piece, for the session driver to pass on.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Status and headers, with the body bytes already at hand.
    Head {
        status: u16,
        headers: Headers,
        body: Bytes,
        fin: bool,
    },
    /// More of the body.
    Body { data: Bytes, fin: bool },
    /// No (complete) answer; the public client gets an error.
    Fail { code: ErrorCode, message: String },
    /// Status and headers of an answer whose body was put, whole, at the REQUEST's
    /// `answer_url`.
    Stored { status: u16, headers: Headers },
}

/// A [`Reply`] for one stream.
#[derive(Debug)]
pub(crate) struct OriginReply {
    pub id: StreamId,
    pub reply: Reply,
}

/// The local HTTP service behind the tunnel.
#[derive(Debug, Clone)]
pub struct Origin {
    client: Client<HttpsConnector<HttpConnector>, ForwardBody>,
    target: OriginTarget,
    authority: String,
    /// The target's scheme and authority as every request's URI takes them, parsed
    /// once: only the path and query are new per request. `Err` the message when the
    /// target cannot be a URI's authority (a target built by hand, not parsed).
    uri_base: Result<(Scheme, Authority), String>,
    host_header: HostHeader,
    /// `Host` for every request that [`HostHeader`] does not take from the public
    /// one, made once; `Err` the message when that value cannot be a header value.
    host_value: Result<HeaderValue, String>,
    timeout: Duration,
    /// Fetches request bodies from and puts answers at body URLs.
    bodies: BodyUrls,
    /// The last connection failure told on stderr, shared by the clones serving
    /// requests: a run of failures with one cause is told once.
    told: Arc<Mutex<Option<String>>>,
}

impl Origin {
    /// The origin at `http://host:port`.
    pub fn new(host: &str, port: u16) -> Self {
        let target = OriginTarget {
            scheme: OriginScheme::Http,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        };
        // Plain HTTP never uses the TLS settings; the default ones are always valid.
        Self::to(target, &OriginTls::default())
            .unwrap_or_else(|e| unreachable!("the default TLS settings are valid: {e}"))
    }

    /// The origin at `target`, its certificate checked as `tls` says when the target
    /// is `https://`.
    pub fn to(target: OriginTarget, tls: &OriginTls) -> Result<Self, OriginTlsError> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // The TLS layer wraps this connector, which must then accept https URLs.
        connector.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.client_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        let scheme = match target.scheme {
            OriginScheme::Http => Scheme::HTTP,
            OriginScheme::Https => Scheme::HTTPS,
        };
        let authority = target.authority();
        let uri_base = Authority::try_from(authority.as_str())
            .map(|a| (scheme, a))
            .map_err(|e| cannot(&format!("to the origin {authority:?}"), &e));
        let host_header = HostHeader::default();
        Ok(Self {
            client,
            host_value: fixed_host(&host_header, &target),
            uri_base,
            authority,
            target,
            host_header,
            timeout: ORIGIN_TIMEOUT,
            bodies: BodyUrls::default(),
            told: Arc::default(),
        })
    }

    /// The same origin with another response-head timeout (tests use short ones).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same origin sent `Host` as `host_header` says.
    pub fn with_host_header(mut self, host_header: HostHeader) -> Self {
        self.host_value = fixed_host(&host_header, &self.target);
        self.host_header = host_header;
        self
    }

    /// How long the origin may take to answer, or to take more request body.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client for body URLs.
    pub(crate) fn body_urls(&self) -> &BodyUrls {
        &self.bodies
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `http://host:port` or `https://host:port`.
    pub fn url(&self) -> String {
        self.target.url()
    }

    /// Sends the request to the origin and reports its answer on `replies`, ending
    /// with a `fin`, a `Stored` (a large answer of known length put at
    /// `answer_url`) or a `Fail`. Stops early when the driver stops listening.
    pub(crate) async fn forward(
        self,
        id: StreamId,
        head: RequestHead,
        mut body: ForwardBody,
        answer_url: Option<String>,
        replies: mpsc::Sender<OriginReply>,
    ) {
        let send = |reply| replies.send(OriginReply { id, reply });
        let fail = |code, message| Reply::Fail { code, message };
        // An upgrade's request side is the public client's upgraded bytes, which go
        // to the origin only after its 101, not as a request body.
        let upgrade_rest = if is_upgrade_request(&head.headers) {
            body.take_rest()
        } else {
            None
        };
        let request = match self.build_request(head, body) {
            Ok(request) => request,
            Err(message) => {
                let _ = send(fail(ErrorCode::OriginFailed, message)).await;
                return;
            }
        };
        let deadline = Instant::now() + self.timeout;
        let response = match timeout_at(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let (code, message) = self.classify(&e);
                let _ = send(fail(code, message)).await;
                return;
            }
            Err(_) => {
                let _ = send(fail(ErrorCode::OriginTimeout, self.timeout_message())).await;
                return;
            }
        };
        if response.status().as_u16() == SWITCHING_PROTOCOLS
            && let Some(rest) = upgrade_rest
        {
            let headers = response_headers(response.headers());
            let head = Reply::Head {
                status: SWITCHING_PROTOCOLS,
                headers,
                body: Bytes::new(),
                fin: false,
            };
            if send(head).await.is_ok() {
                self.pipe_upgraded(id, response, rest, &replies).await;
            }
            return;
        }
        let (parts, mut body) = response.into_parts();
        let exact = body.size_hint().exact();
        if let Some(url) = answer_url.filter(|_| stores_answer(exact))
            && parts.status.as_u16() != SWITCHING_PROTOCOLS
        {
            let status = parts.status.as_u16();
            let headers = response_headers(&parts.headers);
            let len = exact.unwrap_or_default();
            let reply = match self.bodies.put(&url, body, len).await {
                Ok(()) => Reply::Stored { status, headers },
                Err(message) => fail(ErrorCode::OriginFailed, message),
            };
            let _ = send(reply).await;
            return;
        }
        let mut head = Some((parts.status.as_u16(), response_headers(&parts.headers)));
        // A fixed-length body is worth waiting for so that a small answer travels as one
        // message; a streamed one (server-sent events, say) must not hold up its head.
        let wait_for_first = body.size_hint().exact().is_some();
        loop {
            let next = match &head {
                Some(_) if wait_for_first => match timeout_at(deadline, body.frame()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let _ = send(fail(ErrorCode::OriginTimeout, self.timeout_message())).await;
                        return;
                    }
                },
                Some(_) => body
                    .frame()
                    .now_or_never()
                    .unwrap_or(Some(Ok(Frame::data(Bytes::new())))),
                None => body.frame().await,
            };
            let (data, fin) = match next {
                None => (Bytes::new(), true),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => (data, body.is_end_stream()),
                    // Trailers have no place in the protocol; the body goes on.
                    Err(_) => continue,
                },
                Some(Err(e)) => {
                    let message = format!(
                        "{} broke off its response: {}",
                        self.authority,
                        root_cause(&e)
                    );
                    let _ = send(fail(ErrorCode::OriginFailed, message)).await;
                    return;
                }
            };
            let reply = match head.take() {
                Some((status, headers)) => Reply::Head {
                    status,
                    headers,
                    body: data,
                    fin,
                },
                None if data.is_empty() && !fin => continue,
                None => Reply::Body { data, fin },
            };
            if send(reply).await.is_err() || fin {
                return;
            }
        }
    }

    /// Carries an upgraded origin connection: what the origin writes goes out as
    /// response body, the public client's bytes (`rest`) are written to it, until both
    /// sides have ended, or nothing moved for [`UPGRADE_IDLE_TIMEOUT`].
    async fn pipe_upgraded(
        &self,
        id: StreamId,
        response: hyper::Response<hyper::body::Incoming>,
        mut rest: mpsc::Receiver<Bytes>,
        replies: &mpsc::Sender<OriginReply>,
    ) {
        let send = |reply| replies.send(OriginReply { id, reply });
        let failed = |message: String| Reply::Fail {
            code: ErrorCode::OriginFailed,
            message,
        };
        let upgraded = match hyper::upgrade::on(response).await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                let message = format!("{} switched protocols but then: {e}", self.authority);
                let _ = send(failed(message)).await;
                return;
            }
        };
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
        let mut buf = vec![0u8; UPGRADE_READ_BYTES];
        let (mut origin_done, mut public_done) = (false, false);
        while !(origin_done && public_done) {
            tokio::select! {
                read = rd.read(&mut buf), if !origin_done => {
                    let reply = match read {
                        Ok(n) => {
                            origin_done = n == 0;
                            Reply::Body { data: Bytes::copy_from_slice(&buf[..n]), fin: origin_done }
                        }
                        Err(e) => failed(format!("{} broke off the upgraded connection: {e}", self.authority)),
                    };
                    let stop = matches!(reply, Reply::Fail { .. });
                    if send(reply).await.is_err() || stop {
                        return;
                    }
                }
                data = rest.recv(), if !public_done => match data {
                    Some(data) => {
                        if wr.write_all(&data).await.is_err() {
                            // The origin stopped reading; what it still writes is read above.
                            public_done = true;
                        }
                    }
                    None => {
                        public_done = true;
                        let _ = wr.shutdown().await;
                    }
                },
                () = tokio::time::sleep(UPGRADE_IDLE_TIMEOUT) => {
                    let message = format!(
                        "nothing moved on the upgraded connection for {} s",
                        UPGRADE_IDLE_TIMEOUT.as_secs()
                    );
                    let _ = send(Reply::Fail { code: ErrorCode::OriginTimeout, message }).await;
                    return;
                }
            }
        }
    }

    fn build_request(
        &self,
        head: RequestHead,
        body: ForwardBody,
    ) -> Result<Request<ForwardBody>, String> {
        if !head.path.starts_with('/') {
            return Err(format!(
                "cannot forward the request target {:?}: only paths are supported",
                head.path
            ));
        }
        let method = Method::from_bytes(head.method.as_bytes())
            .map_err(|e| cannot(&format!("the method {:?}", head.method), &e))?;
        // The path's own bytes, checked but not copied (the clone shares them, kept
        // for the message); scheme and authority are the origin's, parsed once.
        let target = Bytes::from(head.path);
        let bad_target = |e: &dyn std::fmt::Display| {
            cannot(
                &format!("the request target {:?}", String::from_utf8_lossy(&target)),
                e,
            )
        };
        let path = PathAndQuery::from_maybe_shared(target.clone()).map_err(|e| bad_target(&e))?;
        let (scheme, authority) = self.uri_base.clone()?;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(scheme);
        uri.authority = Some(authority);
        uri.path_and_query = Some(path);
        let uri = Uri::from_parts(uri).map_err(|e| bad_target(&e))?;
        let host = match &self.host_header {
            HostHeader::Preserve => match head
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            {
                Some((_, public)) => HeaderValue::from_str(public)
                    .map_err(|e| cannot(&format!("with Host {public:?}"), &e))?,
                None => self.host_value.clone()?,
            },
            _ => self.host_value.clone()?,
        };
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        // Sized once (the codec's MAX_HEADER_COUNT keeps it far under `HeaderMap`'s
        // limit; a failure would only mean growing as before).
        let _ = headers.try_reserve(head.headers.len());
        let mut host = Some(host);
        for (name, value) in head.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| cannot(&format!("the header name {name:?}"), &e))?;
            if name == HOST {
                // The first Host line becomes the origin's; a repeated one is dropped,
                // since a request with two Hosts is refused by most servers.
                if let Some(host) = host.take() {
                    headers.append(HOST, host);
                }
                continue;
            }
            // The value's own bytes, checked but not copied.
            let value = HeaderValue::from_maybe_shared(Bytes::from(value))
                .map_err(|e| cannot(&format!("the value of header {name}"), &e))?;
            headers.append(name, value);
        }
        if let Some(host) = host {
            headers.append(HOST, host);
        }
        Ok(request)
    }

    fn classify(&self, error: &hyper_util::client::legacy::Error) -> (ErrorCode, String) {
        let authority = &self.authority;
        if error.is_connect() {
            if io_error_kind(error) == Some(std::io::ErrorKind::ConnectionRefused) {
                return (
                    ErrorCode::OriginRefused,
                    format!(
                        "nothing is listening on {authority} (connection refused); \
                         start your service or pick another port"
                    ),
                );
            }
            let cause = root_cause(error);
            let message = format!("cannot connect to {}: {cause}{}", self.url(), hint(&cause));
            self.tell(&message);
            return (ErrorCode::OriginFailed, message);
        }
        (
            ErrorCode::OriginFailed,
            format!("{authority} failed to answer: {}", root_cause(error)),
        )
    }

    /// Says on stderr why the origin cannot be reached (a refused certificate, say),
    /// which the public only sees as a 502 page; once per cause in a row.
    fn tell(&self, message: &str) {
        let Ok(mut told) = self.told.lock() else {
            return;
        };
        if told.as_deref() != Some(message) {
            eprintln!("error: {message}");
            *told = Some(message.to_owned());
        }
    }

    fn timeout_message(&self) -> String {
        format!(
            "{} did not answer within {} s",
            self.authority,
            self.timeout.as_secs_f32()
        )
    }
}

/// `Host` as `host_header` says it for a request without one of its own (or for
/// every request, unless it preserves the public one).
fn fixed_host(host_header: &HostHeader, target: &OriginTarget) -> Result<HeaderValue, String> {
    let value = host_header.value(target, None);
    HeaderValue::from_str(&value).map_err(|e| cannot(&format!("with Host {value:?}"), &e))
}

/// Why a request cannot be forwarded: the one shape of `build_request`'s errors.
fn cannot(what: &str, e: &dyn std::fmt::Display) -> String {
    format!("cannot forward {what}: {e}")
}

fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = e.source();
    }
    None
}

/// The origin's response headers without those that describe our hop to it
/// ([`HopByHop`]): the body arrives here de-chunked, so passing them on would
/// misdescribe it.
fn response_headers(headers: &HeaderMap) -> Headers {
    let connection = headers.get_all(http::header::CONNECTION);
    let hop = HopByHop::from_connection(connection.iter().filter_map(|v| v.to_str().ok()));
    // One allocation per string: the list sized once, each name and value copied once.
    let mut out = Headers::with_capacity(headers.len());
    for (name, value) in headers {
        if hop.contains(name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.push((name.as_str().to_owned(), value));
    }
    out
}
