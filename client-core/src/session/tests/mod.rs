//! The client session on a virtual clock, one file a subject; the helpers every
//! file uses are here.

mod binary;
mod credit;
mod exchange;
mod handshake;
mod timers;
mod upgrade;
mod urls;

use super::*;
use crate::protocol::limits::{
    IDLE_TIMEOUT, KEEPALIVE_INTERVAL, MAX_UPGRADED_STREAMS, RELEASE_GRACE,
};
use crate::protocol::{BodyChunk, Headers, decode};

const S: Duration = Duration::from_secs(1);

fn sent(session: &mut ClientSession) -> Vec<ClientFrame> {
    std::iter::from_fn(|| session.poll_transmit())
        .map(|m| decode(&m).unwrap())
        .collect()
}

fn events(session: &mut ClientSession) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn connected(max_chunk: usize) -> ClientSession {
    connected_with(max_chunk, 0)
}

fn connected_with(max_chunk: usize, window: u32) -> ClientSession {
    connected_full(max_chunk, window, 0)
}

fn connected_full(max_chunk: usize, window: u32, renew_after: u32) -> ClientSession {
    let mut s = ClientSession::new(SessionConfig::new("t1"), Duration::ZERO);
    assert!(matches!(
        sent(&mut s).as_slice(),
        [ClientFrame::Connect { version: PROTOCOL_VERSION, tunnel_id, resume: false, .. }] if tunnel_id == "t1"
    ));
    s.handle_frame(
        Duration::ZERO,
        ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: "t1".into(),
            domain: "myapp".into(),
            public_url: "http://myapp.localhost:8080".into(),
            max_chunk,
            window,
            renew_after,
            binary: false,
        },
    );
    assert!(matches!(events(&mut s).as_slice(), [Event::Connected(c)] if c.domain == "myapp"));
    s
}

fn request(id: StreamId, body: &[u8], fin: bool) -> ServerFrame {
    ServerFrame::Request {
        id,
        method: "POST".into(),
        path: "/hook?x=1".into(),
        headers: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        body: body.to_vec(),
        fin,
        reply_to: Some("conn-9".into()),
        secret: Some("s3cret".into()),
        body_url: None,
        answer_url: None,
    }
}

fn connected_frame() -> ServerFrame {
    ServerFrame::Connected {
        version: PROTOCOL_VERSION,
        tunnel_id: "t1".into(),
        domain: "myapp".into(),
        public_url: "http://myapp.localhost:8080".into(),
        max_chunk: MIN_CHUNK_BYTES,
        window: 0,
        renew_after: 0,
        binary: false,
    }
}

fn release_and_grace(s: &mut ClientSession, due: Duration) -> Duration {
    // Heard from the server lately: no keep-alive ping mixes in.
    s.handle_frame(due - S, ServerFrame::Pong { nonce: 0 });
    s.handle_timeout(due);
    assert_eq!(
        sent(s),
        vec![ClientFrame::Release {}],
        "RELEASE when renewal is due"
    );
    assert!(
        !s.is_closed(),
        "the connection stays until the server confirms"
    );
    s.handle_frame(due + S, ServerFrame::Released {});
    let end = due + S + RELEASE_GRACE;
    assert_eq!(
        s.poll_timeout(),
        Some(end.min(due + S + KEEPALIVE_INTERVAL))
    );
    end
}

fn body(id: StreamId, seq: u32, data: &[u8], fin: bool) -> ServerFrame {
    ServerFrame::Body(BodyChunk {
        id,
        seq,
        data: data.to_vec(),
        fin,
        reply_to: None,
        secret: None,
    })
}
