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
//! Its parts, each a module beside this one: the return channel (`channel`), the
//! wait for the answer and its streaming out (`answer`), the request body's chunks
//! (`upload`), large bodies through S3 with presigned URLs (`stored_body`), the
//! request log's capture (`captured`) and the metrics line (`metered`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use client_core::clock::now_ms;
use client_core::inspect::{Exchange, Outcome as InspectOutcome};
use client_core::protocol::{ChunkWriter, Headers, ServerFrame, StreamId, check_head, encode};
use http::StatusCode;
use lambda_runtime::streaming::Response;
use lambda_runtime::{LambdaEvent, MetadataPrelude, service_fn};
use tokio::sync::{Mutex, oneshot};
use tracing::Instrument as _;
use tunnel_backend::Backend;
use tunnel_backend::auth::random_id;
use tunnel_backend::connections::ConnectionError;
use tunnel_backend::handlers::admission::{
    Admission, Admitted, Head, Refusal, Refused, Rules, Source, admit, check_body, reroute,
};
use tunnel_backend::handlers::inbox;
use tunnel_backend::handlers::inspect::{Recording, RequestIds};
use tunnel_backend::handlers::proxy::for_origin;
use tunnel_backend::model::TunnelRecord;
use tunnel_backend::telemetry;

use super::captured::{Captured, ended, refuse, refused};
use super::channel::{Channel, ChannelSettings, live};
use super::metered::{Tally, metered, note};
use super::stored_body::{BodyStore, Plan};
use super::upload::Upload;
use super::url_head;

/// Header the CloudFront function copies the viewer's Host into (the origin request
/// policy drops Host, which a Function URL origin needs to be its own).
pub const TUNNEL_HOST_HEADER: &str = "x-tunnel-host";

/// Header carrying the secret that proves a request came through CloudFront.
pub const ORIGIN_SECRET_HEADER: &str = "x-origin-verify";

/// Header the CloudFront function states the viewer's address in (behind CloudFront
/// the Function URL's `sourceIp` is an edge server's). Believed only when the origin
/// secret is configured and matched, so only CloudFront can state it.
pub const TUNNEL_VIEWER_HEADER: &str = "x-tunnel-viewer";

/// How long the client may take to start answering: under API Gateway's 29 s so a
/// CloudFront origin timeout (30 s default) never fires first.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(25);

/// While an answer is awaited, how often silence is checked against the client's
/// connection record. A client killed mid-request sends nothing more; only API
/// Gateway's `$disconnect` tells, by deleting the record, and without this check its
/// requester waited the whole [`RESPONSE_TIMEOUT`] for a 504. One strongly consistent
/// read per period of silence: answers quicker than this cost nothing.
pub const LIVENESS_PROBE: Duration = Duration::from_millis(750);

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
    backend: Backend,
    origin_secret: Option<String>,
    channels: ChannelSettings,
    channel: Arc<Mutex<Option<Channel>>>,
    /// Where large bodies go (the log bucket's `body/`), where the function has it.
    bodies: Option<BodyStore>,
    /// Numbers this sandbox's requests in arrival order.
    request_ids: RequestIds,
}

pub(super) type Outcome = Response<
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
>;

fn secs_var(name: &'static str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// A whole answer: `lines` become the Function URL's head (`url_head::prelude`).
fn whole(status: StatusCode, lines: Headers, body: Vec<u8>) -> Outcome {
    whole_with(url_head::prelude(status, lines), body)
}

pub(super) fn whole_with(metadata_prelude: MetadataPrelude, body: Vec<u8>) -> Outcome {
    let stream = futures_util::stream::once(async move { Ok(Bytes::from(body)) });
    Response {
        metadata_prelude,
        stream: Box::pin(stream),
    }
}

/// The answer to `refusal` ([`Refusal::page`]).
pub(super) fn answer(refusal: &Refusal) -> Outcome {
    let page = refusal.page();
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    whole(status, page.headers, page.body)
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
        let header = |name: &str| {
            event
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(secret) = &self.origin_secret
            && header(ORIGIN_SECRET_HEADER).as_deref() != Some(secret.as_str())
        {
            return answer(&Refusal::NotThroughPublicAddress);
        }
        let host = header(TUNNEL_HOST_HEADER)
            .or_else(|| header("host"))
            .unwrap_or_default();
        // The peer: the viewer CloudFront names when the secret proved the request
        // came through it, else the Function URL's own view of the caller.
        let peer = self
            .origin_secret
            .as_ref()
            .and_then(|_| header(TUNNEL_VIEWER_HEADER))
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .or_else(|| event.request_context.http.source_ip.clone());
        let Some(domain) = self.backend.config.public.subdomain_of(&host) else {
            return answer(&Refusal::NotATunnelAddress { host });
        };
        let domain_label = domain.clone();
        let deadline = Instant::now() + ONLINE_WAIT;
        let received_ms = now_ms();
        let started = Instant::now();
        let tally = Arc::new(Tally::default());
        // Refused before the tunnel is looked up: counted under the one label for
        // unknown names, so a Host header cannot add a dimension value.
        let refused = |kind: &'static str, outcome: Outcome| {
            tally.error(kind);
            metered(
                outcome,
                telemetry::UNKNOWN_TUNNEL,
                received_ms,
                started,
                0,
                tally.clone(),
            )
        };
        let body = match (&event.body, event.is_base64_encoded) {
            (None, _) => Vec::new(),
            (Some(b), false) => b.clone().into_bytes(),
            (Some(b), true) => match STANDARD.decode(b) {
                Ok(v) => v,
                Err(_) => {
                    return refused(
                        InspectOutcome::Refused.as_str(),
                        answer(&Refusal::BodyUnreadable),
                    );
                }
            },
        };
        let http = &event.request_context.http;
        let method = http.method.clone().unwrap_or_else(|| "GET".into());
        let mut path = event.raw_path.clone().unwrap_or_else(|| "/".into());
        if let Some(q) = event.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
            path.push('?');
            path.push_str(q);
        }
        let mut headers: Headers = event
            .headers
            .iter()
            .filter(|(n, _)| {
                let n = n.as_str();
                n != TUNNEL_HOST_HEADER && n != ORIGIN_SECRET_HEADER && n != TUNNEL_VIEWER_HEADER
            })
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        if let Some(cookies) = &event.cookies
            && !cookies.is_empty()
        {
            headers.push(("cookie".into(), cookies.join("; ")));
        }
        if client_core::session::is_upgrade_request(&headers) {
            // A Function URL answers each invocation with one HTTP response and has no
            // way to hand over the connection, so a 101 could never be followed by
            // frames (docs/architecture.md, "WebSocket pass-through").
            return refused(
                InspectOutcome::Refused.as_str(),
                answer(&Refusal::UpgradeUnsupported),
            );
        }
        headers.retain(|(n, _)| n != "host");
        headers.insert(0, ("host".into(), host));
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
        mut done: Option<oneshot::Sender<Exchange>>,
        request_id: String,
    ) -> Outcome {
        let Forward {
            domain,
            method,
            path,
            headers,
            body,
            remote_ip,
            remote_addr,
            received_ms,
            deadline,
            replay_of,
            tally,
        } = f;
        tracing::info!(request_id, %domain, %method, "public request");
        let source = if replay_of.is_some() {
            Source::Replay
        } else {
            Source::Public
        };
        let head = Head {
            domain: &domain,
            path: &path,
            headers: &headers,
            peer: remote_ip.as_deref().and_then(|ip| ip.parse().ok()),
            body_len: Some(body.len() as u64),
            websocket: false,
        };
        let rules = Rules {
            max_body: MAX_REQUEST_BODY as u64,
        };
        // An offline tunnel may be a client reconnecting (after a drop, or renewing
        // ahead of the age cap): admission is asked again, with growing pauses, until
        // `deadline`. Offline is refused before the rate limit, so the rounds take no
        // tokens; a served tunnel costs one round.
        let mut pause = Duration::from_millis(50);
        let admission = loop {
            match admit(&self.backend, &head, source, rules, now_ms()).await {
                Admission::Refuse(Refused {
                    refusal: Refusal::Offline { .. },
                    logged: None,
                    ..
                }) if Instant::now() + pause <= deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                other => break other,
            }
        };
        let record = |tunnel: &TunnelRecord| {
            let mut recording = Recording::start(
                tunnel,
                &request_id,
                &method,
                &path,
                &remote_addr,
                &headers,
                received_ms,
                self.backend.config.capture_bytes,
            );
            recording.request_body(&body);
            if let Some(of) = &replay_of {
                recording.replay_of(of);
            }
            recording
        };
        let captured = |recording| Captured {
            tally: tally.clone(),
            recording,
            store: self.backend.store.clone(),
            keep: self.backend.config.log_keep,
            done: None,
        };
        let mut admitted = match admission {
            Admission::Refuse(r) => {
                let Some(tunnel) = &r.logged else {
                    if let (Some(t), Refusal::RateLimited { .. }) = (&tally, &r.refusal) {
                        t.rate_limited
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Some(kind) = r.refusal.error_kind() {
                        note(tally.as_ref(), kind);
                    }
                    return answer(&r.refusal);
                };
                let mut recording = record(tunnel);
                if r.capture.hide_share_token {
                    recording.hide_share_token(None);
                }
                let capture = Captured {
                    done: done.take(),
                    ..captured(recording)
                };
                return refused(&r.refusal, capture).await;
            }
            Admission::Forward(a) | Admission::Hold(a) => a,
        };
        let mut recording = record(&admitted.tunnel);
        // The Function URL hands over the whole body: the second step runs at once.
        if let Err(refusal) = check_body(&admitted, &headers, &body, now_ms()) {
            if admitted.capture.hide_share_token {
                recording.hide_share_token(None);
            }
            let capture = Captured {
                done: done.take(),
                ..captured(recording)
            };
            return refused(&refusal, capture).await;
        }
        if admitted.capture.hide_share_token {
            recording.hide_share_token(Some(admitted.path(&path)));
        }
        let path = admitted.path(&path).to_owned();
        let headers = for_origin(
            admitted.headers(headers.clone()),
            &self.backend.config.public,
            &domain,
            remote_ip.as_deref(),
            &request_id,
        );
        if let Err(e) = check_head(0, &path, &headers) {
            let refusal = Refusal::Head(e);
            let capture = Captured {
                done: done.take(),
                ..captured(recording)
            };
            return refuse(Some(capture), refusal).await;
        }
        let mut capture = Some(Captured {
            done: done.take(),
            ..captured(recording)
        });

        let max_chunk = self.backend.config.max_chunk;
        let id: StreamId = rand::random();
        let secret = random_id(16);
        let mut plan = Plan::new(
            self.bodies.as_ref(),
            &admitted.tunnel.tunnel_id,
            &request_id,
        )
        .await;
        // Until the head is delivered nothing has reached the client, so a connection
        // found gone (a client reconnecting) means: wait for the new one and resend,
        // with a fresh look at the return channel too (it may have aged meanwhile).
        let (guard, connection_id, rest) = loop {
            let Some(connection_id) = admitted.connection_id.clone() else {
                let c = capture.take();
                return self
                    .hold(
                        &admitted.tunnel,
                        &request_id,
                        &method,
                        &path,
                        headers,
                        &body,
                        c,
                    )
                    .await;
            };
            let mut guard = self.channel.clone().lock_owned().await;
            let channel = match live(&mut guard, &self.channels, &self.backend.signer).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "no return channel");
                    let refusal = Refusal::ClientUnreachable {
                        domain: domain.clone(),
                    };
                    return refuse(capture, refusal).await;
                }
            };
            let body_url = match &mut plan {
                Some(p) => {
                    p.request_url(self.backend.store.as_ref(), &connection_id, &body)
                        .await
                }
                None => None,
            };
            // A stored body goes as its URL, none of it as chunks.
            let sent = if body_url.is_some() {
                &[][..]
            } else {
                &body[..]
            };
            let (inline, rest) = sent.split_at(sent.len().min(max_chunk));
            let head = ServerFrame::Request {
                id,
                method: method.clone(),
                path: path.clone(),
                headers: headers.clone(),
                body: inline.to_vec(),
                fin: rest.is_empty(),
                reply_to: Some(channel.connection_id.clone()),
                secret: Some(secret.clone()),
                body_url,
                answer_url: plan.as_ref().map(|p| p.answer_url.clone()),
            };
            let head = match encode(&head) {
                Ok(h) => h,
                Err(e) => {
                    let refusal = Refusal::HeadTooLarge { why: e.to_string() };
                    return refuse(capture, refusal).await;
                }
            };
            match self.backend.connections.send(&connection_id, head).await {
                Ok(()) => {
                    channel.used = Instant::now();
                    break (guard, connection_id, rest);
                }
                Err(ConnectionError::Gone(_)) => {
                    drop(guard);
                    admitted = match self
                        .reroute(admitted, &connection_id, source, deadline)
                        .await
                    {
                        Admission::Forward(a) | Admission::Hold(a) => a,
                        Admission::Refuse(r) => {
                            return refuse(capture, r.refusal).await;
                        }
                    };
                }
                Err(_) => {
                    let refusal = Refusal::ClientUnreachable {
                        domain: domain.clone(),
                    };
                    return refuse(capture, refusal).await;
                }
            }
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
            ChunkWriter::new().write(id, rest, true, max_chunk)
        };
        let upload = Upload::start(self.backend.connections.clone(), &connection_id, chunks);
        let backend = &self.backend;
        super::answer::await_answer(
            backend,
            guard,
            id,
            secret,
            &domain,
            &connection_id,
            capture,
            upload,
            plan,
        )
        .await
    }

    /// Where `admitted` goes after its connection `gone` was found closed
    /// ([`reroute`]), waiting with growing pauses until `deadline` for a client that
    /// is reconnecting.
    async fn reroute(
        &self,
        admitted: Admitted,
        gone: &str,
        source: Source,
        deadline: Instant,
    ) -> Admission {
        let mut pause = Duration::from_millis(50);
        loop {
            if let Some(a) = reroute(&self.backend, &admitted, gone, source, now_ms()).await {
                return a;
            }
            if Instant::now() + pause > deadline {
                return admitted.connection_gone(source, false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Holds an admitted request in the offline tunnel's inbox, answers for it and
    /// stores the record.
    #[allow(clippy::too_many_arguments)]
    async fn hold(
        &self,
        tunnel: &TunnelRecord,
        request_id: &str,
        method: &str,
        path: &str,
        headers: Headers,
        body: &[u8],
        capture: Option<Captured>,
    ) -> Outcome {
        let Some(settings) = inbox::settings(tunnel) else {
            let refusal = Refusal::Offline {
                domain: tunnel.domain.clone(),
            };
            return refuse(capture, refusal).await;
        };
        let answer = inbox::hold(
            &self.backend,
            settings,
            inbox::Arrival {
                tunnel,
                request_id,
                received_ms: capture
                    .as_ref()
                    .map_or_else(now_ms, |c| c.recording.received_ms()),
                method,
                path,
                headers,
                body,
            },
        )
        .await;
        let lines = answer.headers();
        let mut capture = capture;
        if let Some(c) = &mut capture {
            c.recording.response_head(answer.status, &lines, now_ms());
            c.recording.response_body(&answer.body);
        }
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED);
        ended(capture, answer.outcome, whole(status, lines, answer.body)).await
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
