//! One admitted request through its tunnel's client and the answer back.
//!
//! The request head travels at once, with what body is already at hand; the rest
//! follows as BODY chunks as it arrives ([`crate::upload`]), while this task waits for
//! the answer, so an origin sees a slow upload as it comes and may answer before it
//! ends. The answer's body is streamed to the public client as it arrives. What each
//! part of the answer means (in order, complete, broken, late, cancelled) is the
//! shared machine's call ([`crate::stream`]); this file turns its events into HTTP.

use std::sync::Arc;

use bytes::Bytes;
use client_core::inspect::Outcome;
use client_core::protocol::limits::MAX_UPGRADED_STREAMS;
use client_core::protocol::{ServerFrame, check_head, encode};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use hyper::upgrade::OnUpgrade;
use tracing::Instrument as _;
use tunnel_backend::handlers::admission::Refusal;
use tunnel_backend::handlers::exchange::Event;
use tunnel_backend::handlers::proxy::{Target, end_to_end};

use crate::answer::{answer_for, fail};
use crate::heads::{copy_headers, declared_length, origin_headers};
use crate::hub::UpgradeSlot;
use crate::ingress::RequestBody;
use crate::inspector::Capture;
use crate::pipe::Pipe;
use crate::stream::Stream;
use crate::upload::{Upload, read_ready};
use crate::{Body, State, full};

/// Sends one request through `target`'s client and answers with what comes back,
/// filling in `capture` on the way.
pub async fn relay<B: RequestBody>(
    state: Arc<State>,
    domain: &str,
    req: Request<B>,
    remote_ip: Option<&str>,
    target: Target,
    request_id: &str,
    capture: Option<Capture>,
) -> Response<Body> {
    relay_with_upgrade(
        state, domain, req, remote_ip, target, request_id, capture, None,
    )
    .await
}

/// [`relay`], carrying a WebSocket upgrade through when `on_upgrade` is given and the
/// client said in CONNECT that it can; otherwise the request goes as a plain one.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn relay_with_upgrade<B: RequestBody>(
    state: Arc<State>,
    domain: &str,
    req: Request<B>,
    remote_ip: Option<&str>,
    target: Target,
    request_id: &str,
    capture: Option<Capture>,
    on_upgrade: Option<OnUpgrade>,
) -> Response<Body> {
    let fail = |refusal: Refusal| fail(capture.as_ref(), &refusal);
    let Some(conn) = state.hub.get(&target.connection_id) else {
        return fail(Refusal::Offline {
            domain: domain.to_owned(),
        });
    };
    let (parts, mut body) = req.into_parts();
    let mut headers = match origin_headers(&state, domain, &parts.headers, remote_ip, request_id) {
        Ok(h) => h,
        Err(refusal) => return fail(refusal),
    };
    let upgrade_value = parts
        .headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("websocket")
        .to_owned();
    let upgrade = match on_upgrade.filter(|_| conn.upgrade()) {
        None => None,
        Some(on_upgrade) => match conn.try_upgrade_slot(MAX_UPGRADED_STREAMS) {
            Some(slot) => {
                // for_origin dropped them as hop-by-hop; an upgrade is the one hop
                // where the origin must see them.
                headers.push(("connection".into(), "upgrade".into()));
                headers.push(("upgrade".into(), upgrade_value));
                Some((on_upgrade, slot))
            }
            None => {
                return fail(Refusal::TooManyWebSockets {
                    domain: domain.to_owned(),
                    max: MAX_UPGRADED_STREAMS,
                });
            }
        },
    };
    tracing::debug!(request_id, %domain, method = %parts.method, "public request forwarded");
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();

    let max_body = state.max_body;
    // Admission checked a public request's; a replay's is checked here.
    if declared_length(&parts.headers).is_some_and(|n| n > max_body) {
        return fail(Refusal::TooLarge { max: max_body });
    }
    let (id, responses) = conn.open_stream();
    // Until the head is out no stream exists for the client: an early return only
    // forgets it here.
    let unopened = |refusal: Refusal| {
        conn.close_stream(id);
        fail(refusal)
    };
    if let Err(e) = check_head(id, &path, &headers) {
        return unopened(Refusal::Head(e));
    }
    let max_chunk = state.backend.config.max_chunk;
    // The head goes at once: the origin sees a slow upload as it arrives, and may
    // answer (401, 413) before it ends.
    let (first, rest, fin) = match read_ready(&mut body, max_chunk).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(error = %e, "public client broke off the upload");
            conn.close_stream(id);
            return answer_for(&Refusal::BodyUnreadable);
        }
    };
    if (first.len() + rest.len()) as u64 > max_body {
        return unopened(Refusal::TooLarge { max: max_body });
    }
    if let Some(c) = &capture {
        c.request_body(&first);
    }
    state.metrics.bytes_in(first.len());
    // An upgrade keeps the request side open: after a 101 it carries the public
    // client's bytes; after any other answer an empty last chunk closes it.
    let fin = fin && upgrade.is_none();
    let head = ServerFrame::Request {
        id,
        method: parts.method.as_str().to_owned(),
        path,
        headers,
        body: first.to_vec(),
        fin,
        reply_to: None,
        secret: None,
        body_url: None,
        answer_url: None,
    };
    // Encoded here rather than in `send`, which answers any failure as "offline": a
    // head too large for one message is the request's doing. check_head bounds the
    // target and headers, not the method, and hyper takes a method of any length
    // (a 140 KB one came back as a 502 saying no client was connected).
    let message = match encode(&head) {
        Ok(m) => m,
        Err(e) => return unopened(Refusal::HeadTooLarge { why: e.to_string() }),
    };
    if conn.send(message).await.is_err() {
        return unopened(Refusal::Offline {
            domain: domain.to_owned(),
        });
    }
    if let Some(c) = &capture {
        c.forwarded();
    }
    let upload = if !fin && upgrade.is_none() {
        Upload::start(
            state.clone(),
            conn.clone(),
            id,
            body,
            rest,
            first.len() as u64,
            capture.clone(),
        )
    } else {
        Upload::none()
    };
    let stream = Stream::new(&state, conn, id, responses, upload, upgrade.is_some());
    answer(&state, stream, domain, capture, upgrade).await
}

/// Waits for the client's answer, watching the upload as it goes.
async fn answer(
    state: &Arc<State>,
    mut stream: Stream,
    domain: &str,
    capture: Option<Capture>,
    upgrade: Option<(OnUpgrade, UpgradeSlot)>,
) -> Response<Body> {
    let (status, headers, body, fin) = match stream.next_event().await {
        Event::Head {
            status,
            headers,
            body,
            fin,
        } => (status, headers, body, fin),
        Event::Upgraded { headers, body } => {
            let Some((on_upgrade, slot)) = upgrade else {
                // The machine switches only where an upgrade was asked for.
                let why = "switching protocols where no WebSocket was asked for".into();
                return fail(capture.as_ref(), &Refusal::BrokenAnswer { why });
            };
            return upgraded(state, stream, headers, body, capture, on_upgrade, slot);
        }
        Event::Failed(e) => return fail(capture.as_ref(), &e.refusal(domain)),
        Event::Body { .. } => {
            let why = "a body before its response head".into();
            return fail(capture.as_ref(), &Refusal::BrokenAnswer { why });
        }
        // The local stack gives no answer URL, so the machine lets no stored
        // answer through.
        Event::Stored { .. } => {
            let why = "a stored body where none was offered".into();
            return fail(capture.as_ref(), &Refusal::BrokenAnswer { why });
        }
    };
    // The machine passes only 100..=999, which is what `from_u16` takes.
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    state.metrics.bytes_out(body.len());
    if let Some(c) = &capture {
        c.response_head(status.as_u16(), &headers);
        c.response_body(&body);
    }
    let mut response = if fin {
        if let Some(c) = &capture {
            c.outcome(Outcome::Completed);
        }
        Response::new(full(body))
    } else {
        Response::new(stream_body(state.clone(), stream, body, capture))
    };
    *response.status_mut() = status;
    copy_headers(response.headers_mut(), end_to_end(headers));
    response
}

/// The 101 for the public client; the bytes go through a [`Pipe`] once hyper hands
/// over the connection.
fn upgraded(
    state: &Arc<State>,
    stream: Stream,
    headers: client_core::protocol::Headers,
    first: Vec<u8>,
    capture: Option<Capture>,
    on_upgrade: OnUpgrade,
    slot: UpgradeSlot,
) -> Response<Body> {
    state.metrics.bytes_out(first.len());
    if let Some(c) = &capture {
        c.response_head(StatusCode::SWITCHING_PROTOCOLS.as_u16(), &headers);
        c.response_body(&first);
    }
    let upgrade_header = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("upgrade"))
        .map_or_else(|| "websocket".to_owned(), |(_, v)| v.clone());
    let pipe = Pipe {
        state: state.clone(),
        stream,
        first,
        capture,
        _slot: slot,
    };
    tokio::spawn(pipe.run(on_upgrade).in_current_span());
    let mut response = Response::new(full(Vec::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    copy_headers(h, end_to_end(headers));
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("upgrade"),
    );
    if let Ok(v) = HeaderValue::from_str(&upgrade_header) {
        h.insert(http::header::UPGRADE, v);
    }
    response
}

/// The rest of the answer's body, streamed as BODY frames arrive. An error ends the
/// body abruptly, which tells the public client it is incomplete; nothing follows it.
fn stream_body(
    state: Arc<State>,
    stream: Stream,
    first: Vec<u8>,
    capture: Option<Capture>,
) -> Body {
    struct St {
        state: Arc<State>,
        stream: Stream,
        first: Option<Vec<u8>>,
        ended: bool,
        capture: Option<Capture>,
    }
    let st = St {
        state,
        stream,
        first: (!first.is_empty()).then_some(first),
        ended: false,
        capture,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok(Frame::data(Bytes::from(first))), st));
        }
        if st.ended {
            return None;
        }
        let event = st.stream.next_event().await;
        let (outcome, item) = match event {
            Event::Body { data, fin } => {
                st.state.metrics.bytes_out(data.len());
                if let Some(c) = &st.capture {
                    c.response_body(&data);
                }
                st.ended = fin;
                (
                    fin.then_some(Outcome::Completed),
                    Ok(Frame::data(Bytes::from(data))),
                )
            }
            Event::Failed(e) => {
                st.ended = true;
                (Some(e.outcome()), Err(std::io::Error::other(e.to_string())))
            }
            Event::Head { .. } | Event::Stored { .. } | Event::Upgraded { .. } => {
                st.ended = true;
                let e = std::io::Error::other("second response head");
                (Some(Outcome::OriginFailed), Err(e))
            }
        };
        if let (Some(c), Some(outcome)) = (&st.capture, outcome) {
            c.outcome(outcome);
        }
        Some((item, st))
    });
    http_body_util::StreamBody::new(stream).boxed_unsync()
}
