//! `tunnel-server`: the whole service in one process on one port.
//!
//! A request whose `Host` is `<name>.<base domain>` is public traffic for tunnel
//! `<name>`; any other host is the service itself: the REST control plane under `/v1`,
//! the WebSocket endpoint for clients at `/v1/connect`, and the web console at `/`.
//! `*.localhost` resolves to loopback in browsers and curl, so a first run needs no DNS.
//!
//! # Layout
//!
//! - [`serve`]: accepts connections from a listener until a shutdown future completes,
//!   then drains in-flight requests.
//! - [`hub`]: live client connections, the in-process `Connections` adapter and the
//!   rendezvous of responses with the requests awaiting them.
//! - [`socket`]: one task per client WebSocket.
//! - [`ingress`]: public requests admitted, held or refused, captured on the way; what
//!   becomes of each (forward, hold, refuse) is `tunnel_backend::handlers::admission`'s
//!   call, the same on AWS. The driver's pieces, by job:
//!   - [`heads`]: the request's head as text for admission and capture, as the origin
//!     is to get it, and header lines back into HTTP;
//!   - [`checked`]: an admitted request made what the origin gets (body checked whole
//!     when the policy needs it, credentials taken out, path as admitted);
//!   - [`hold`]: an admitted request held in an offline tunnel's inbox;
//!   - [`answer`]: the refusal pages the ingress answers with, noted in the capture.
//! - [`relay`]: an admitted request out to its client (head at once, body after)
//!   and the answer back as HTTP, from the exchange machine's events.
//! - [`stream`]: one exchange in flight: the shared machine
//!   (`tunnel_backend::handlers::exchange`) fed from the hub's channel, the upload and
//!   the clock; dropping it sends CANCEL when due.
//! - [`pipe`]: an upgraded (WebSocket) stream's bytes both ways.
//! - [`upload`]: a public request's body, streamed to the client as it arrives.
//! - [`inspector`]: storage of captured exchanges and their live feed.
//! - [`live`]: the live feed as a held-open stream of server-sent events.
//! - [`replay`]: captured requests sent again through the ingress path.
//! - [`metrics`]: counters served at `/metrics` (Prometheus text format).
//! - [`control`]: the REST control plane and the WebSocket upgrade, over the shared
//!   handlers of `tunnel-backend`.
//! - [`console`]: the web console's static files and its runtime `/config.json`.
//! - [`tls`]: HTTPS for a self-hosted server, from `--tls-cert`/`--tls-key` or ACME.
//! - [`acme`]: certificates ordered on demand from an ACME CA (`--acme-email`) for
//!   the base domain and existing tunnels' hosts, kept in the data dir.
//! - [`redirect`]: the plain-HTTP port (`--http-listen`) beside HTTPS: redirects to
//!   HTTPS and answers ACME's HTTP-01 challenges.
//! - [`startup`]: what `tunnel-server` and `tunnel-emulator` (the AWS deployment,
//!   crate `tunnel-emulator`) share at start-up: log format, data dir and token key,
//!   rates, shutdown signals.
//!
//! [`serve`] and [`Handler`] also carry `tunnel-emulator`, which answers the same
//! port's requests with the real Lambda binaries; this crate links no AWS SDK.

pub mod acme;
pub mod answer;
pub mod checked;
pub mod console;
pub mod control;
pub mod heads;
pub mod hold;
pub mod hub;
pub mod ingress;
pub mod inspector;
pub mod live;
pub mod metrics;
pub mod pipe;
pub mod redirect;
pub mod relay;
pub mod replay;
pub mod socket;
pub mod startup;
pub mod stream;
pub mod tls;
pub mod upload;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tunnel_backend::Backend;

use crate::hub::Hub;

/// How long a connection may take to send a request head; cuts off slow-loris clients.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests before closing anyway.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Response bodies: streamed, failing with an I/O error when the tunnel breaks.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole body at once.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct State {
    /// Handlers and their ports.
    pub backend: Backend,
    /// Live client connections.
    pub hub: Arc<Hub>,
    /// Public request body limit, bytes.
    pub max_body: u64,
    /// An upgraded (WebSocket) stream with no byte either way for this long is closed.
    pub upgrade_idle: std::time::Duration,
    /// When the server started, for `/healthz`.
    pub started: std::time::Instant,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Stores and publishes captured exchanges.
    pub inspector: Arc<inspector::Inspector>,
    /// The web console served at `/`, when `--console-dir` names a build of it.
    pub console: Option<console::Console>,
    /// Numbers public requests and replays in arrival order.
    pub request_ids: tunnel_backend::handlers::inspect::RequestIds,
}

/// What answers the requests of [`serve`]: the local stack ([`State`]) or the AWS
/// emulator (`tunnel_emulator::deployment::Emulator`).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `remote`.
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;
}

impl Handler for State {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send {
        dispatch(self, req, remote)
    }
}

/// Serves HTTP on `listener` until `shutdown` completes, then stops accepting and gives
/// in-flight requests up to [`DRAIN_TIMEOUT`] to finish.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with_tls(listener, handler, shutdown, None).await;
}

/// [`serve`], speaking HTTPS when `tls` is given. The client's part of the TLS
/// handshake must arrive within [`HEADER_READ_TIMEOUT`] too, so a client that stalls
/// it is cut off like a slow request head.
pub async fn serve_with_tls<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
    tls: Option<tls::Tls>,
) {
    // Every connection task holds a receiver; when all are dropped, the drain is over.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.handle(req, remote).await) }
        });
        let stopped = stopped.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, service, stopped).await,
                Some(tls) => match tls.accept(stream, HEADER_READ_TIMEOUT).await {
                    Ok(stream) => serve_connection(stream, service, stopped).await,
                    Err(e) => tracing::debug!(error = %e, %remote, "TLS handshake failed"),
                },
            }
        });
    }
    // Close the socket now: left open while draining, new connections would pile up
    // in the kernel's backlog and be reset at exit instead of refused at once.
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop.send(true);
    drop(stopped);
    if tokio::time::timeout(DRAIN_TIMEOUT, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("drain timed out; closing remaining connections");
    }
}

/// Serves one connection until it ends, or until shutdown has been asked and the
/// request in flight is done.
async fn serve_connection<IO, S>(
    io: IO,
    service: S,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { let _ = stopped.wait_for(|s| *s).await; } => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    drop(stopped);
}

async fn dispatch(state: Arc<State>, req: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default()
        .to_owned();
    match state.backend.config.public.subdomain_of(&host) {
        Some(domain) => ingress::proxy(state, domain, req, remote).await,
        None => control::handle(state, req, remote).await,
    }
}
