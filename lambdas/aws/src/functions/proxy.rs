//! tunnel-proxy: public HTTP requests in through a Lambda Function URL (streamed
//! response), out to the tunnel's client over the WebSocket API, and back.
//!
//! What becomes of a request (forward, hold in the inbox, or a refusal's page) is the
//! admission pipeline's call (`tunnel_backend::handlers::admission`), the one the
//! local stack's ingress makes too; this driver waits for a reconnecting client
//! around it and carries the admitted request.
//!
//! The rendezvous needs no polling: the function keeps its own WebSocket connection to
//! the WebSocket API (the return channel), reused while the sandbox is warm. Each
//! REQUEST names that connection in `reply_to` with a fresh secret; the client echoes
//! both; the stateless relay function posts the client's frames to `reply_to`; this
//! function reads them off its socket, checks the secret, puts them in order and
//! streams the body out. Per small request: this invocation, one relay invocation, two
//! store reads (domain, tunnel), and one write: the captured exchange, stored before
//! the answer's stream ends so a frozen sandbox cannot lose it.
//!
//! Not built: a DynamoDB fallback for a proxy that lost its channel mid-request (the
//! request then times out with 504 and the next one opens a new channel).
//!
//! This file reads top to bottom as the request goes; each step is a module beside
//! it: the event read into a request (`incoming`), admission with patience for a
//! reconnecting client (`reconnect`), the request log's capture (`captured`), the
//! head's delivery to the client (`deliver`) over its return channel (`channel`) or
//! the inbox's hold (`held`), the request body's chunks (`upload`), large bodies
//! through S3 with presigned URLs (`stored_body`), the wait for the answer and its
//! streaming out (`answer`), whole answers (`outcome`) and the metrics line
//! (`metered`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use client_core::clock::now_ms;
use client_core::inspect::{Exchange, Outcome as InspectOutcome};
use client_core::protocol::{ChunkWriter, Headers, StreamId, check_head};
use lambda_runtime::{LambdaEvent, service_fn};
use tokio::sync::{Mutex, oneshot};
use tracing::Instrument as _;
use tunnel_backend::Backend;
use tunnel_backend::auth::random_id;
use tunnel_backend::handlers::admission::{Admission, Head, Refusal, Rules, Source, check_body};
use tunnel_backend::handlers::inspect::RequestIds;
use tunnel_backend::handlers::proxy::for_origin;
use tunnel_backend::model::TunnelRecord;
use tunnel_backend::telemetry;

use super::answer::await_answer;
use super::captured::{Captured, refuse, refused, refused_admission};
use super::channel::{Channel, ChannelSettings};
use super::deliver::{Delivery, Outbound, deliver};
use super::held::hold;
use super::incoming::{self, Addressed, Request};
pub use super::incoming::{ORIGIN_SECRET_HEADER, TUNNEL_HOST_HEADER, TUNNEL_VIEWER_HEADER};
use super::metered::{Tally, metered};
use super::outcome::{Outcome, answer};
use super::reconnect::admit_waiting;
use super::stored_body::{BodyStore, Plan};
use super::upload::Upload;

/// How long a request waits for its tunnel's client to come back (a reconnect after a
/// drop, a renewal ahead of the age cap) before it is answered 502.
pub const ONLINE_WAIT: Duration = Duration::from_secs(10);

/// Largest request body: a Function URL's 6 MB invocation payload, as base64 in JSON,
/// leaves about 4.5 MB of raw body after headers.
pub const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024 + 512 * 1024;

/// Environment variables of this function besides the shared ones.
pub mod env {
    /// Secret CloudFront adds as [`super::ORIGIN_SECRET_HEADER`]; unset disables the check
    /// (the emulator, a Function URL used directly).
    pub const ORIGIN_SECRET: &str = "TUNNEL_ORIGIN_SECRET";
    /// Seconds a return channel may sit unused before it is replaced: a quarter of the
    /// WebSocket API's idle cap (10 min), leaving the rest for a request's answer.
    pub const CHANNEL_MAX_IDLE_SECS: &str = "TUNNEL_CHANNEL_MAX_IDLE_SECS";
    /// Seconds a return channel may live, under the WebSocket API's 2 h cap.
    pub const CHANNEL_MAX_AGE_SECS: &str = "TUNNEL_CHANNEL_MAX_AGE_SECS";
}

/// What one warm sandbox keeps between invocations.
#[derive(Debug)]
pub struct Proxy {
    pub(super) backend: Backend,
    origin_secret: Option<String>,
    /// Where the return channel connects, and how long one is kept.
    pub(super) channels: ChannelSettings,
    /// The return channel, one per sandbox, held by one request at a time.
    pub(super) channel: Arc<Mutex<Option<Channel>>>,
    /// Where large bodies go (the log bucket's `body/`), where the function has it.
    bodies: Option<BodyStore>,
    /// Numbers this sandbox's requests in arrival order.
    request_ids: RequestIds,
}

fn secs_var(name: &'static str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

impl Proxy {
    /// Builds the sandbox state from the environment.
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        let backend = super::backend_from_env()?;
        let bodies = crate::config::DynamoConfig::from_env()?
            .log_bucket()
            .map(|bucket| BodyStore::new(&bucket));
        let channels = ChannelSettings {
            ws_url: backend.config.ws_url.clone().unwrap_or_default(),
            max_idle: secs_var(env::CHANNEL_MAX_IDLE_SECS, 150),
            max_age: secs_var(env::CHANNEL_MAX_AGE_SECS, 7_000),
        };
        Ok(Self {
            backend,
            origin_secret: std::env::var(env::ORIGIN_SECRET)
                .ok()
                .filter(|s| !s.is_empty()),
            channels,
            channel: Arc::new(Mutex::new(None)),
            bodies,
            request_ids: RequestIds::default(),
        })
    }

    /// Handles one public request.
    pub async fn handle(&self, event: LambdaFunctionUrlRequest) -> Outcome {
        let public = &self.backend.config.public;
        let Addressed { host, domain, peer } =
            match incoming::addressed(&event, self.origin_secret.as_deref(), public) {
                Ok(a) => a,
                Err(refusal) => return answer(&refusal),
            };
        let deadline = Instant::now() + ONLINE_WAIT;
        let received_ms = now_ms();
        let started = Instant::now();
        let tally = Arc::new(Tally::default());
        let Request {
            method,
            path,
            headers,
            body,
        } = match incoming::request(&event, host) {
            Ok(r) => r,
            Err(refusal) => {
                // Refused before the tunnel is looked up: counted under the one label
                // for unknown names, so a Host header cannot add a dimension value.
                tally.error(InspectOutcome::Refused.as_str());
                let outcome = answer(&refusal);
                return metered(
                    outcome,
                    telemetry::UNKNOWN_TUNNEL,
                    received_ms,
                    started,
                    0,
                    tally,
                );
            }
        };
        let domain_label = domain.clone();
        let bytes_in = body.len();
        let outcome = self
            .forward(
                Forward {
                    domain,
                    method,
                    path,
                    headers,
                    body,
                    remote_addr: peer.clone().unwrap_or_default(),
                    remote_ip: peer,
                    received_ms,
                    deadline,
                    replay_of: None,
                    tally: Some(tally.clone()),
                },
                None,
            )
            .await;
        let label = if tally.error_kind() == Some(telemetry::KIND_UNKNOWN_TUNNEL) {
            telemetry::UNKNOWN_TUNNEL
        } else {
            domain_label.as_str()
        };
        metered(outcome, label, received_ms, started, bytes_in, tally)
    }

    /// Sends one request through the tunnel of `f.domain` and answers with what comes
    /// back, capturing the exchange in the request log on the way. A replay passes
    /// `done` to get the captured exchange once the answer has been read.
    pub async fn forward(&self, f: Forward, done: Option<oneshot::Sender<Exchange>>) -> Outcome {
        let request_id = self.request_ids.next(f.received_ms);
        // Every line about the request carries the id the origin, the CLI and the
        // inspector see.
        let span = tracing::info_span!("request", request_id = %request_id, domain = %f.domain);
        self.forward_as(f, done, request_id).instrument(span).await
    }

    async fn forward_as(
        &self,
        f: Forward,
        done: Option<oneshot::Sender<Exchange>>,
        request_id: String,
    ) -> Outcome {
        let backend = &self.backend;
        tracing::info!(request_id, domain = %f.domain, method = %f.method, "public request");
        let source = if f.replay_of.is_some() {
            Source::Replay
        } else {
            Source::Public
        };
        let head = Head {
            domain: &f.domain,
            path: &f.path,
            headers: &f.headers,
            peer: f.remote_ip.as_deref().and_then(|ip| ip.parse().ok()),
            body_len: Some(f.body.len() as u64),
            websocket: false,
        };
        let rules = Rules {
            max_body: MAX_REQUEST_BODY as u64,
        };
        // An offline tunnel may be a client reconnecting: admission waits for it.
        let admission = admit_waiting(backend, &head, source, rules, f.deadline).await;
        let admitted = match admission {
            Admission::Refuse(r) => {
                let start =
                    |tunnel: &TunnelRecord| Captured::start(backend, &f, tunnel, &request_id, done);
                return refused_admission(r, f.tally.as_ref(), start).await;
            }
            Admission::Forward(a) | Admission::Hold(a) => a,
        };
        let mut capture = Captured::start(backend, &f, &admitted.tunnel, &request_id, done);
        // The Function URL hands over the whole body: the second step runs at once.
        if let Err(refusal) = check_body(&admitted, &f.headers, &f.body, now_ms()) {
            if admitted.capture.hide_share_token {
                capture.recording.hide_share_token(None);
            }
            return refused(&refusal, capture).await;
        }
        if admitted.capture.hide_share_token {
            capture
                .recording
                .hide_share_token(Some(admitted.path(&f.path)));
        }
        let path = admitted.path(&f.path).to_owned();
        let headers = for_origin(
            admitted.headers(f.headers.clone()),
            &backend.config.public,
            &f.domain,
            f.remote_ip.as_deref(),
            &request_id,
        );
        let mut capture = Some(capture);
        if let Err(e) = check_head(0, &path, &headers) {
            return refuse(capture, Refusal::Head(e)).await;
        }

        let id: StreamId = rand::random();
        let secret = random_id(16);
        let mut plan = Plan::new(
            self.bodies.as_ref(),
            &admitted.tunnel.tunnel_id,
            &request_id,
        )
        .await;
        let request = Outbound {
            id,
            secret: &secret,
            domain: &f.domain,
            method: &f.method,
            path: &path,
            headers: &headers,
            body: &f.body,
        };
        let delivery = deliver(self, admitted, &mut plan, &request, source, f.deadline).await;
        let (guard, connection_id, rest) = match delivery {
            Delivery::Sent {
                guard,
                connection_id,
                rest,
            } => (guard, connection_id, rest),
            Delivery::Hold(tunnel) => {
                let (method, body) = (&f.method, &f.body);
                return hold(
                    backend,
                    &tunnel,
                    &request_id,
                    method,
                    &path,
                    headers,
                    body,
                    capture,
                )
                .await;
            }
            Delivery::Refused(refusal) => return refuse(capture, refusal).await,
        };
        if let Some(c) = &mut capture {
            c.recording.forwarded(now_ms());
        }
        // An empty `rest` was sent as `fin` on the head: no chunks follow it. The
        // chunks go from a task of their own: the answer may come before they are all
        // posted (an origin refusing early), and is not made to wait for them.
        let chunks = if rest.is_empty() {
            Vec::new()
        } else {
            ChunkWriter::new().write(id, rest, true, backend.config.max_chunk)
        };
        let upload = Upload::start(backend.connections.clone(), &connection_id, chunks);
        await_answer(
            backend,
            guard,
            id,
            secret,
            &f.domain,
            &connection_id,
            capture,
            upload,
            plan,
        )
        .await
    }
}

/// A public request for [`Proxy::forward`].
#[derive(Debug, Clone)]
pub struct Forward {
    /// The tunnel's subdomain.
    pub domain: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers as received (the origin gets them cleaned, see `for_origin`).
    pub headers: Headers,
    /// The whole body.
    pub body: Vec<u8>,
    /// The public client's address, when there is one (sent as `X-Forwarded-For`).
    pub remote_ip: Option<String>,
    /// What the request log says the request came from.
    pub remote_addr: String,
    /// Receipt time, Unix milliseconds.
    pub received_ms: u64,
    /// How long to wait for an offline tunnel's client to come back.
    pub deadline: Instant,
    /// The exchange this one replays.
    pub replay_of: Option<String>,
    /// Where a public request's failure is noted for its metrics line (replays are
    /// not counted, as on the local stack).
    pub tally: Option<Arc<Tally>>,
}

/// Main loop of tunnel-proxy.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let proxy = Proxy::from_env()?;
    let proxy = &proxy;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            Ok::<_, lambda_runtime::Error>(proxy.handle(event.payload).await)
        },
    ))
    .await
}
