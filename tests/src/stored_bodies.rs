//! Large bodies through S3 on the emulated AWS deployment (issue 20, point 1): the
//! real CLI fetches a request body past [`STORED_BODY_MIN_BYTES`] from its presigned
//! GET and puts an answer of known length past it at its presigned PUT, both through
//! the emulator's strict S3 pass-through; smaller bodies, streamed answers and older
//! clients keep the WebSocket path. Which path a body took is read from
//! `/_emulator/stats`: `s3.presigned` counts the client's GETs and PUTs, the WebSocket
//! counters its messages.

#![allow(clippy::missing_panics_doc)]

use std::convert::Infallible;

use bytes::Bytes;
use client_core::protocol::limits::STORED_BODY_MIN_BYTES;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::real_clients::checksum;
use crate::scenarios::Stack;
use crate::{pattern, public_client, random_bytes};

/// The threshold as a length.
pub fn threshold() -> usize {
    usize::try_from(STORED_BODY_MIN_BYTES).unwrap()
}

type OriginBody = BoxBody<Bytes, Infallible>;

/// An origin for the paths of this module:
/// `POST /sum` answers the body's length and checksum (a small answer);
/// `GET /bytes/N` N bytes of [`pattern`] with their length;
/// `POST /echo` the body back with its length;
/// `GET /stream/N` N bytes of [`pattern`] chunked, no length;
/// `GET /sse` three server-sent events, no length.
#[derive(Debug)]
pub struct BodyOrigin {
    /// Its port on 127.0.0.1.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BodyOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BodyOrigin {
    /// Starts one on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let service = hyper::service::service_fn(|req| async move {
                    Ok::<_, Infallible>(serve(req).await)
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self { port, task }
    }
}

fn whole(body: impl Into<Bytes>) -> Response<OriginBody> {
    Response::new(Full::new(body.into()).boxed())
}

fn streamed(pieces: Vec<Bytes>, content_type: &str) -> Response<OriginBody> {
    let stream = futures_util::stream::iter(
        pieces
            .into_iter()
            .map(|b| Ok::<_, Infallible>(Frame::data(b))),
    );
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
    r
}

async fn serve(req: Request<Incoming>) -> Response<OriginBody> {
    let path = req.uri().path().to_owned();
    let len = |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse().ok());
    if let Some(n) = len("/bytes/") {
        return whole(pattern(n));
    }
    if let Some(n) = len("/stream/") {
        let body = pattern(n);
        let pieces = body.chunks(10_000).map(Bytes::copy_from_slice).collect();
        return streamed(pieces, "application/octet-stream");
    }
    if path == "/sse" {
        let events = (0..3)
            .map(|i| Bytes::from(format!("data: event {i}\n\n")))
            .collect();
        return streamed(events, "text/event-stream");
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    match path.as_str() {
        "/sum" => whole(format!("{} {}", body.len(), checksum(&body))),
        "/echo" => whole(body),
        _ => {
            let mut r = whole("no such page\n");
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            r
        }
    }
}

/// A counter of `/_emulator/stats`, by path.
fn counter(stats: &Value, path: &[&str]) -> u64 {
    path.iter().fold(stats, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

/// What one exchange cost, between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Took {
    /// Requests made with a presigned URL (the client's GET and PUT).
    pub presigned: u64,
    /// WebSocket messages from clients to the API.
    pub messages_in: u64,
    /// `@connections` posts.
    pub messages_out: u64,
}

impl Took {
    fn between(before: &Value, after: &Value) -> Self {
        let d = |path: &[&str]| counter(after, path) - counter(before, path);
        Self {
            presigned: d(&["s3", "presigned"]),
            messages_in: d(&["websocket", "messages_in"]),
            messages_out: d(&["websocket", "messages_out"]),
        }
    }
}

/// A tunnel served by the real CLI in front of a [`BodyOrigin`].
#[derive(Debug)]
pub struct Bodies<'a> {
    stack: &'a Stack,
    /// The public client.
    pub http: reqwest::Client,
    url: String,
    _origin: BodyOrigin,
    /// The running `tunnel start`.
    pub tunnel: crate::RunningTunnel,
    /// The user serving it.
    pub user: crate::User,
}

impl<'a> Bodies<'a> {
    /// Serves `domain` for a fresh user.
    pub async fn serve(stack: &'a Stack, domain: &str) -> Self {
        let user = stack.user("bodies");
        user.register().await;
        let origin = BodyOrigin::start().await;
        let tunnel = user
            .start(&[&origin.port.to_string(), "--domain", domain])
            .await;
        let http = public_client(&stack.server, &[domain]);
        // Warm-up: the proxy sandbox opens its return channel once (a message each
        // way), a per-sandbox cost the per-exchange counts below leave out.
        let warm = http
            .get(format!("{}/sse", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(warm.status(), 200);
        warm.bytes().await.unwrap();
        Self {
            stack,
            http,
            url: tunnel.url.clone(),
            _origin: origin,
            tunnel,
            user,
        }
    }

    /// The stats once the request log holds everything sent so far (the proxy may
    /// store a streamed answer's capture just after its last byte went out).
    async fn settled(&self, before: &Value) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let now = self.stack.stats().await;
            let writes =
                counter(&now, &["dynamodb", "writes"]) - counter(before, &["dynamodb", "writes"]);
            if writes >= 1 || tokio::time::Instant::now() > deadline {
                return now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Sends `body` to `/sum`; checks the origin got it whole; what it took.
    pub async fn upload(&self, body: &[u8]) -> Took {
        let before = self.stack.stats().await;
        let r = self
            .http
            .post(format!("{}/sum", self.url))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{} bytes up", body.len());
        let expected = format!("{} {}", body.len(), checksum(body));
        assert_eq!(r.text().await.unwrap(), expected, "{} bytes up", body.len());
        Took::between(&before, &self.settled(&before).await)
    }

    /// Reads `path` (answers [`pattern`] bytes of `len`); checks them; what it took.
    pub async fn download(&self, path: &str, len: usize) -> Took {
        let before = self.stack.stats().await;
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let got = r.bytes().await.unwrap();
        assert_eq!(got.len(), len, "{path}");
        assert!(got[..] == pattern(len)[..], "{path}: bytes differ");
        Took::between(&before, &self.settled(&before).await)
    }

    /// Posts `body` to `/echo`; checks the answer is it; what it took.
    pub async fn echo(&self, body: &[u8]) -> Took {
        let before = self.stack.stats().await;
        let r = self
            .http
            .post(format!("{}/echo", self.url))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap()[..] == *body, "echoed whole");
        Took::between(&before, &self.settled(&before).await)
    }
}

/// Request and response bodies of threshold-1, threshold and threshold+1 bytes, a
/// 4 MiB request (the largest round size under the Function URL's payload limit,
/// `MAX_REQUEST_BODY`) and a 5 MiB answer arrive byte-exact, each over the path its
/// size calls for.
pub async fn bodies_take_s3_from_the_threshold(stack: &Stack) {
    let b = Bodies::serve(stack, "bodies").await;
    let t = threshold();
    for len in [t - 1, t, t + 1] {
        let stored = len >= t;
        let up = b.upload(&random_bytes(len)).await;
        // The client's GET of the request body; else its chunks, one post each.
        assert_eq!(up.presigned, u64::from(stored), "{len} bytes up: {up:?}");
        // A proxy sandbox started while the last one finished storing its capture
        // opens a return channel: one message each way, not the exchange's.
        if stored {
            // REQUEST, and the relayed RESPONSE.
            assert!(up.messages_out <= 2 + 1, "no chunks: {up:?}");
        } else {
            assert!(up.messages_out > 5, "chunks: {up:?}");
        }
        let down = b.download(&format!("/bytes/{len}"), len).await;
        // The client's PUT of the answer; else its chunks, a message each.
        assert_eq!(
            down.presigned,
            u64::from(stored),
            "{len} bytes down: {down:?}"
        );
        if stored {
            assert!(down.messages_in <= 1 + 1, "RESPONSE alone: {down:?}");
        } else {
            assert!(down.messages_in > 5, "chunks: {down:?}");
        }
    }
    let up = b.upload(&random_bytes(4 * 1024 * 1024)).await;
    assert_eq!(up.presigned, 1, "{up:?}");
    let five = 5 * 1024 * 1024;
    let down = b.download(&format!("/bytes/{five}"), five).await;
    assert_eq!(down.presigned, 1, "{down:?}");
    assert!(down.messages_in <= 1 + 1, "RESPONSE alone: {down:?}");
    // Both ways at once, and the request log keeps both bodies whole.
    let body = random_bytes(t + 1);
    let both = b.echo(&body).await;
    assert_eq!(both.presigned, 2, "{both:?}");
    let rest = crate::inspection::Rest::new(stack, Some(&b.user.api_key()));
    let tunnel_id = rest.tunnel_id("bodies").await;
    let page = rest.page(&tunnel_id, "limit=200").await;
    let logged = page
        .requests
        .iter()
        .find(|x| x.path == "/echo")
        .expect("the echo is logged");
    assert_eq!(logged.request_size, body.len() as u64);
    let x = rest.exchange(&logged.request_id).await;
    assert_eq!(x.path, "/echo");
    assert_eq!(
        x.request.body.bytes, body,
        "the stored request body, captured"
    );
    assert_eq!(
        x.response.expect("answered").body.bytes,
        body,
        "the stored answer, captured"
    );
    b.tunnel.interrupt().await;
}

/// An answer of unknown length (chunked) and server-sent events keep the WebSocket
/// path whatever their size: nothing can be put without a length, and a stream must
/// not wait for its end.
pub async fn streamed_answers_keep_the_websocket(stack: &Stack) {
    let b = Bodies::serve(stack, "streamed").await;
    let len = 2 * threshold();
    let chunked = b.download(&format!("/stream/{len}"), len).await;
    assert_eq!(chunked.presigned, 0, "{chunked:?}");
    assert!(chunked.messages_in > 5, "{chunked:?}");
    let before = stack.stats().await;
    let r = b.http.get(format!("{}/sse", b.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let text = r.text().await.unwrap();
    assert_eq!(text, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
    let sse = Took::between(&before, &b.settled(&before).await);
    assert_eq!(sse.presigned, 0, "{sse:?}");
    b.tunnel.interrupt().await;
}

/// A client that predates body URLs (CONNECT without `body_urls`) gets a large
/// request body as BODY chunks, as before, and answers with chunks; REQUEST's
/// `answer_url` means nothing to it.
pub async fn an_older_client_gets_chunks(stack: &Stack) {
    use client_core::protocol::limits::PROTOCOL_VERSION;
    use client_core::protocol::{ClientFrame, ServerFrame};
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let user = stack.user("old");
    user.register().await;
    let (tunnel_id, ws_url) = crate::raw_session(&stack.server, &user.api_key(), "oldbodies").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    // As an older client writes it: no `body_urls` at all.
    let connect = serde_json::json!({
        "action": "connect", "version": PROTOCOL_VERSION, "tunnel_id": tunnel_id,
    });
    ws.send(Message::text(connect.to_string())).await.unwrap();
    assert!(matches!(
        next_frame(&mut ws).await,
        ServerFrame::Connected { .. }
    ));

    let body = random_bytes(threshold() + 1);
    let http = public_client(&stack.server, &["oldbodies"]);
    let before = stack.stats().await;
    let public = http
        .post(format!("http://{}/up", stack.server.host_of("oldbodies")))
        .body(body.clone())
        .send();
    let client = async {
        let ServerFrame::Request {
            id,
            body: first,
            fin,
            reply_to,
            secret,
            body_url,
            ..
        } = next_frame(&mut ws).await
        else {
            panic!("expected REQUEST");
        };
        assert!(
            body_url.is_none(),
            "no URL for a client that cannot fetch it"
        );
        assert!(!fin, "the body follows as chunks");
        let mut got = first;
        loop {
            match next_frame(&mut ws).await {
                ServerFrame::Body(c) => {
                    got.extend_from_slice(&c.data);
                    if c.fin {
                        break;
                    }
                }
                ServerFrame::Credit { .. } => {}
                other => panic!("expected BODY, got {other:?}"),
            }
        }
        let answer = ClientFrame::Response {
            id,
            status: 200,
            headers: vec![],
            body: format!("{} {}", got.len(), checksum(&got)).into_bytes(),
            fin: true,
            stored: false,
            reply_to,
            secret,
        };
        ws.send(Message::text(serde_json::to_string(&answer).unwrap()))
            .await
            .unwrap();
    };
    let (public, ()) = tokio::join!(public, client);
    let r = public.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        format!("{} {}", body.len(), checksum(&body))
    );
    let after = stack.stats().await;
    assert_eq!(Took::between(&before, &after).presigned, 0);
}

/// The next text frame from the server, decoded.
async fn next_frame<S>(ws: &mut S) -> client_core::protocol::ServerFrame
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt as _;
    loop {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = ws.next().await.unwrap().unwrap()
        {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}
