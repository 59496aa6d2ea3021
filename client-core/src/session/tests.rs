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

#[test]
fn small_exchange_is_one_frame_each_way_with_echoes() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(1, b"hi", true));
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::Request { id: 1, body, fin: true, head, .. }]
        if body == b"hi" && head.headers.len() == 2)
    );
    s.respond(1, 200, vec![("x".into(), "y".into())], b"ok", true)
        .unwrap();
    match &sent(&mut s)[..] {
        [
            ClientFrame::Response {
                id: 1,
                status: 200,
                body,
                fin: true,
                reply_to,
                secret,
                ..
            },
        ] => {
            assert_eq!(body, b"ok");
            assert_eq!(reply_to.as_deref(), Some("conn-9"));
            assert_eq!(secret.as_deref(), Some("s3cret"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.open_streams(), 0, "finished stream is forgotten");
}

#[test]
fn large_response_is_chunked_at_the_advertised_size() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(2, b"", true));
    events(&mut s);
    let body = vec![7u8; MIN_CHUNK_BYTES * 2 + 1];
    s.respond(2, 200, vec![], &body, true).unwrap();
    let frames = sent(&mut s);
    let mut got = Vec::new();
    for f in &frames {
        match f {
            ClientFrame::Response { body, fin, .. } => {
                assert!(!fin);
                assert_eq!(body.len(), MIN_CHUNK_BYTES);
                got.extend_from_slice(body);
            }
            ClientFrame::Body(c) => {
                assert!(c.data.len() <= MIN_CHUNK_BYTES);
                assert_eq!(c.reply_to.as_deref(), Some("conn-9"));
                got.extend_from_slice(&c.data);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, body);
    assert!(matches!(frames.last(), Some(ClientFrame::Body(c)) if c.fin && c.seq == 1));
    assert_eq!(
        s.send_body(2, b"more", true),
        Err(CommandError::UnknownStream(2))
    );
}

#[test]
fn streamed_response_in_pieces() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(3, b"", true));
    events(&mut s);
    s.respond(3, 200, vec![], b"", false).unwrap();
    s.send_body(3, b"ab", false).unwrap();
    s.send_body(3, b"", true).unwrap();
    let frames = sent(&mut s);
    assert_eq!(frames.len(), 3);
    assert!(matches!(&frames[2], ClientFrame::Body(c) if c.fin && c.seq == 1 && c.data.is_empty()));
    assert_eq!(
        s.respond(3, 200, vec![], b"", true),
        Err(CommandError::UnknownStream(3))
    );
}

#[test]
fn request_body_chunks_flow_in_order() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(4, b"a", false));
    for (seq, fin) in [(0, false), (1, true)] {
        s.handle_frame(
            S,
            ServerFrame::Body(BodyChunk {
                id: 4,
                seq,
                data: vec![b'b'],
                fin,
                reply_to: None,
                secret: None,
            }),
        );
    }
    let ev = events(&mut s);
    assert_eq!(ev.len(), 3);
    assert!(matches!(
        &ev[2],
        Event::RequestBody {
            id: 4,
            fin: true,
            ..
        }
    ));
}

#[test]
fn out_of_order_chunk_ends_the_session_with_a_reason() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(5, b"", false));
    events(&mut s);
    s.handle_frame(
        S,
        ServerFrame::Body(BodyChunk {
            id: 5,
            seq: 1,
            data: vec![],
            fin: true,
            reply_to: None,
            secret: None,
        }),
    );
    assert!(s.is_closed());
    assert!(matches!(
        &sent(&mut s)[..],
        [ClientFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::ProtocolViolation,
            ..
        })]
    ));
    assert!(
        matches!(&events(&mut s)[..], [Event::Closed(CloseReason::Protocol(m))] if m.contains("expected chunk 0"))
    );
}

#[test]
fn duplicate_stream_id_is_a_violation() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(6, b"", false));
    s.handle_frame(S, request(6, b"", false));
    assert!(s.is_closed());
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

#[test]
fn a_request_that_overtakes_connected_is_held_until_it_arrives() {
    let mut s = ClientSession::new(SessionConfig::new("t1"), Duration::ZERO);
    sent(&mut s);
    s.handle_frame(S, request(1, b"ab", false));
    s.handle_frame(
        S,
        ServerFrame::Body(BodyChunk {
            id: 1,
            seq: 0,
            data: b"cd".to_vec(),
            fin: true,
            reply_to: None,
            secret: None,
        }),
    );
    assert!(!s.is_closed());
    assert!(events(&mut s).is_empty(), "nothing before CONNECTED");
    s.handle_frame(S, connected_frame());
    let got = events(&mut s);
    assert!(matches!(got[0], Event::Connected(_)), "{got:?}");
    assert!(
        matches!(&got[1], Event::Request { id: 1, body, .. } if body == b"ab"),
        "{got:?}"
    );
    assert!(
        matches!(&got[2], Event::RequestBody { id: 1, .. }),
        "{got:?}"
    );
}

#[test]
fn too_many_frames_before_connected_are_a_violation() {
    let mut s = ClientSession::new(SessionConfig::new("t1"), Duration::ZERO);
    for id in 0..MAX_EARLY_FRAMES as StreamId {
        s.handle_frame(S, request(id + 1, b"", true));
    }
    assert!(!s.is_closed(), "exactly the bound is held");
    s.handle_frame(S, request(MAX_EARLY_FRAMES as StreamId + 1, b"", true));
    assert!(s.is_closed());
}

#[test]
fn oversized_request_body_is_refused_at_the_limit() {
    let mut config = SessionConfig::new("t1");
    config.max_request_body = 4;
    let mut s = ClientSession::new(config, Duration::ZERO);
    s.handle_frame(
        Duration::ZERO,
        ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: "t1".into(),
            domain: "d".into(),
            public_url: "u".into(),
            max_chunk: MIN_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            binary: false,
        },
    );
    s.handle_frame(S, request(1, b"1234", true));
    assert!(!s.is_closed(), "exactly the limit is fine");
    s.handle_frame(S, request(2, b"12345", true));
    assert!(s.is_closed());
}

#[test]
fn cancel_drops_the_stream() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(7, b"", false));
    events(&mut s);
    s.handle_frame(S, ServerFrame::Cancel { id: 7 });
    assert_eq!(events(&mut s), vec![Event::Cancelled { id: 7 }]);
    assert_eq!(s.open_streams(), 0);
    // A late chunk for the cancelled stream is ignored, not a violation.
    s.handle_frame(
        S,
        ServerFrame::Body(BodyChunk {
            id: 7,
            seq: 0,
            data: vec![],
            fin: true,
            reply_to: None,
            secret: None,
        }),
    );
    assert!(!s.is_closed());
}

#[test]
fn fail_reports_the_error_with_echoes() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(8, b"", true));
    events(&mut s);
    s.fail(8, ErrorCode::OriginRefused, "connection refused")
        .unwrap();
    assert!(matches!(
        &sent(&mut s)[..],
        [ClientFrame::Error(ErrorFrame {
            id: Some(8),
            code: ErrorCode::OriginRefused,
            secret: Some(_),
            ..
        })]
    ));
    assert_eq!(s.open_streams(), 0);
}

#[test]
fn keepalive_pings_then_idle_timeout_closes() {
    let mut s = connected(MIN_CHUNK_BYTES);
    let ka = KEEPALIVE_INTERVAL;
    assert_eq!(s.poll_timeout(), Some(ka));
    s.handle_timeout(ka - Duration::from_millis(1));
    assert!(sent(&mut s).is_empty(), "no ping before the interval");
    s.handle_timeout(ka);
    let nonce = match &sent(&mut s)[..] {
        [ClientFrame::Ping { nonce }] => *nonce,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.poll_timeout(), Some(IDLE_TIMEOUT));
    s.handle_timeout(ka + S);
    assert!(sent(&mut s).is_empty(), "one ping outstanding at a time");
    s.handle_frame(ka + S, ServerFrame::Pong { nonce });
    assert_eq!(s.poll_timeout(), Some(ka + S + ka));

    let quiet = ka + S + IDLE_TIMEOUT;
    s.handle_timeout(quiet);
    assert!(s.is_closed());
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::IdleTimeout(_))]
    ));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn answers_server_pings() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, ServerFrame::Ping { nonce: 42 });
    assert_eq!(sent(&mut s), vec![ClientFrame::Pong { nonce: 42 }]);
}

#[test]
fn server_error_without_stream_closes() {
    let mut s = ClientSession::new(SessionConfig::new("t1"), Duration::ZERO);
    s.handle_frame(
        S,
        ServerFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::TunnelInUse,
            message: "in use".into(),
            reply_to: None,
            secret: None,
        }),
    );
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Server {
            code: ErrorCode::TunnelInUse,
            ..
        })]
    ));
}

#[test]
fn connected_checks_version_tunnel_and_chunk_range() {
    for (version, tunnel, chunk) in [
        (PROTOCOL_VERSION + 1, "t1", MIN_CHUNK_BYTES),
        (PROTOCOL_VERSION, "other", MIN_CHUNK_BYTES),
        (PROTOCOL_VERSION, "t1", MIN_CHUNK_BYTES - 1),
        (PROTOCOL_VERSION, "t1", MAX_CHUNK_BYTES + 1),
    ] {
        let mut s = ClientSession::new(SessionConfig::new("t1"), Duration::ZERO);
        s.handle_frame(
            S,
            ServerFrame::Connected {
                version,
                tunnel_id: tunnel.into(),
                domain: "d".into(),
                public_url: "u".into(),
                max_chunk: chunk,
                window: 0,
                renew_after: 0,
                binary: false,
            },
        );
        assert!(s.is_closed(), "{version} {tunnel} {chunk}");
    }
    let mut edge = ClientSession::new(SessionConfig::new("t1"), Duration::ZERO);
    edge.handle_frame(
        S,
        ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: "t1".into(),
            domain: "d".into(),
            public_url: "u".into(),
            max_chunk: MAX_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            binary: false,
        },
    );
    assert!(edge.connected().is_some());
}

#[test]
fn undecodable_message_is_a_violation() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_message(S, &Message::Text("{\"action\":\"nope\"}".into()));
    assert!(s.is_closed());
}

#[test]
fn backoff_grows_caps_jitters_and_resets() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let lows: Vec<_> = (0..6).map(|_| b.next_delay(0)).collect();
    assert_eq!(
        lows,
        [50, 100, 200, 400, 500, 500].map(Duration::from_millis)
    );
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    for _ in 0..30 {
        let d = b.next_delay(u64::MAX);
        assert!(d <= Duration::from_secs(1), "{d:?}");
    }
    assert_eq!(b.attempts(), 30);
    b.reset();
    let d = b.next_delay(12_345);
    assert!(d >= Duration::from_millis(50) && d < Duration::from_millis(100));
}

#[test]
fn response_chunks_wait_for_credit_and_resume_in_order() {
    let mut s = connected_with(MIN_CHUNK_BYTES, 2);
    s.handle_frame(S, request(9, b"", true));
    events(&mut s);
    // Head inline chunk + 5 BODY chunks (seq 0..=4); only seq 0 and 1 fit the window.
    let body = vec![1u8; MIN_CHUNK_BYTES * 6];
    s.respond(9, 200, vec![], &body, true).unwrap();
    let seqs = |frames: &[ClientFrame]| -> Vec<u32> {
        frames
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Body(c) => Some(c.seq),
                _ => None,
            })
            .collect()
    };
    let first = sent(&mut s);
    assert!(matches!(first[0], ClientFrame::Response { .. }));
    assert_eq!(seqs(&first), [0, 1]);
    assert_eq!(s.held_bytes(9), 3 * MIN_CHUNK_BYTES);
    assert_eq!(s.held_total(), 3 * MIN_CHUNK_BYTES);
    s.handle_frame(S, ServerFrame::Credit { id: 9, up_to: 1 });
    assert!(sent(&mut s).is_empty(), "stale credit releases nothing");
    s.handle_frame(S, ServerFrame::Credit { id: 9, up_to: 4 });
    assert_eq!(seqs(&sent(&mut s)), [2, 3]);
    assert_eq!(s.open_streams(), 1, "not done while chunks are held");
    s.handle_frame(S, ServerFrame::Credit { id: 9, up_to: 100 });
    let last = sent(&mut s);
    assert_eq!(seqs(&last), [4]);
    assert!(matches!(last.last(), Some(ClientFrame::Body(c)) if c.fin));
    assert_eq!(s.open_streams(), 0);
    assert_eq!(s.held_bytes(9), 0);
}

#[test]
fn without_a_window_nothing_is_held() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(10, b"", true));
    events(&mut s);
    s.respond(10, 200, vec![], &vec![0u8; MIN_CHUNK_BYTES * 40], true)
        .unwrap();
    assert_eq!(sent(&mut s).len(), 40);
    assert_eq!(s.held_bytes(10), 0);
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

#[test]
fn renewal_releases_takes_stragglers_then_ends_when_idle() {
    let mut s = connected_full(MIN_CHUNK_BYTES, 0, 30);
    let due = Duration::from_secs(30);
    assert!(s.poll_timeout().unwrap() <= due);
    let end = release_and_grace(&mut s, due);
    // A request routed here just before the release still arrives and is served.
    s.handle_frame(end - S / 2, request(1, b"", true));
    assert_eq!(events(&mut s).len(), 1);
    s.handle_timeout(end);
    assert!(
        !s.is_closed(),
        "busy at the end of the grace: wait for the stream"
    );
    assert!(
        s.poll_timeout().unwrap() > end,
        "no busy loop while waiting"
    );
    s.respond(1, 200, vec![], b"", true).unwrap();
    assert!(s.is_closed());
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Renew)]
    ));
    assert!(matches!(
        sent(&mut s).last(),
        Some(ClientFrame::Response { fin: true, .. })
    ));
}

#[test]
fn renewal_ends_at_the_grace_when_idle_and_never_without_a_deadline() {
    let mut s = connected_full(MIN_CHUNK_BYTES, 0, 30);
    let end = release_and_grace(&mut s, Duration::from_secs(30));
    s.handle_timeout(end - Duration::from_millis(1));
    assert!(!s.is_closed());
    s.handle_timeout(end);
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Renew)]
    ));

    let mut never = connected(MIN_CHUNK_BYTES);
    never.handle_frame(Duration::from_secs(3600), ServerFrame::Ping { nonce: 1 });
    never.handle_timeout(Duration::from_secs(3600));
    assert!(!never.is_closed());
    never.handle_frame(Duration::from_secs(3600), ServerFrame::Released {});
    never.handle_timeout(Duration::from_secs(3602));
    assert!(!never.is_closed(), "an unasked RELEASED is ignored");
}

/// A live session whose CONNECTED said `server_binary`, from a config asking `asked`.
fn connected_binary(asked: bool, server_binary: bool) -> ClientSession {
    let mut config = SessionConfig::new("t1");
    config.binary = asked;
    let mut s = ClientSession::new(config, Duration::ZERO);
    assert!(matches!(
        sent(&mut s).as_slice(),
        [ClientFrame::Connect { binary, .. }] if *binary == asked
    ));
    let mut frame = connected_frame();
    if let ServerFrame::Connected { binary, .. } = &mut frame {
        *binary = server_binary;
    }
    s.handle_frame(Duration::ZERO, frame);
    events(&mut s);
    s
}

fn local_request(id: StreamId, fin: bool) -> ServerFrame {
    ServerFrame::Request {
        id,
        method: "POST".into(),
        path: "/".into(),
        headers: vec![],
        body: vec![],
        fin,
        reply_to: None,
        secret: None,
        body_url: None,
        answer_url: None,
    }
}

#[test]
fn negotiated_binary_bodies_flow_both_ways_and_heads_stay_json() {
    let mut s = connected_binary(true, true);
    s.handle_frame(S, local_request(1, false));
    // The request body arrives as binary BODY messages.
    for (seq, fin) in [(0, false), (1, true)] {
        let chunk = BodyChunk {
            id: 1,
            seq,
            data: vec![seq as u8; 10],
            fin,
            reply_to: None,
            secret: None,
        };
        s.handle_message(S, &encode_binary_body(&chunk).unwrap().unwrap());
    }
    let got: Vec<u8> = events(&mut s)
        .into_iter()
        .flat_map(|e| match e {
            Event::Request { body, .. } => body,
            Event::RequestBody { data, .. } => data,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [vec![0; 10], vec![1; 10]].concat());

    // The response head is JSON text; its body chunks are binary.
    let body = vec![9u8; MIN_CHUNK_BYTES * 2];
    s.respond(1, 200, vec![], &body, true).unwrap();
    let messages: Vec<Message> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert!(matches!(messages[0], Message::Text(_)));
    let mut echoed = match decode::<ClientFrame>(&messages[0]).unwrap() {
        ClientFrame::Response { body, .. } => body,
        other => panic!("{other:?}"),
    };
    for m in &messages[1..] {
        let Message::Binary(bytes) = m else {
            panic!("BODY as text: {m:?}")
        };
        echoed.extend(decode_binary_body(bytes).unwrap().data);
    }
    assert_eq!(echoed, body);
    assert!(!s.is_closed());
}

#[test]
fn without_agreement_on_both_sides_bodies_stay_json() {
    // Asked but the server (API Gateway) said no; or a server saying yes unasked.
    for (asked, server) in [(true, false), (false, true)] {
        let mut s = connected_binary(asked, server);
        assert!(!s.connected().unwrap().binary);
        s.handle_frame(S, local_request(1, true));
        events(&mut s);
        s.respond(1, 200, vec![], &vec![1; MIN_CHUNK_BYTES * 2], true)
            .unwrap();
        let messages: Vec<Message> = std::iter::from_fn(|| s.poll_transmit()).collect();
        assert!(messages.len() > 1);
        assert!(
            messages.iter().all(|m| matches!(m, Message::Text(_))),
            "asked {asked}, server {server}"
        );
    }
}

fn upgrade_request(id: StreamId) -> ServerFrame {
    ServerFrame::Request {
        id,
        method: "GET".into(),
        path: "/ws".into(),
        headers: vec![
            ("connection".into(), "keep-alive, Upgrade".into()),
            ("upgrade".into(), "websocket".into()),
        ],
        body: vec![],
        fin: false,
        reply_to: None,
        secret: None,
        body_url: None,
        answer_url: None,
    }
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

#[test]
fn connect_offers_upgrades_unless_told_not_to() {
    for offer in [true, false] {
        let mut s = ClientSession::new(
            SessionConfig {
                upgrade: offer,
                ..SessionConfig::new("t1")
            },
            Duration::ZERO,
        );
        assert!(matches!(
            sent(&mut s).as_slice(),
            [ClientFrame::Connect { upgrade, .. }] if *upgrade == offer
        ));
    }
}

#[test]
fn upgraded_stream_carries_bytes_both_ways_until_both_sides_finish() {
    let mut s = connected(4096);
    s.handle_frame(S, upgrade_request(1));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Request {
            id: 1,
            fin: false,
            ..
        }]
    ));
    s.respond(
        1,
        101,
        vec![("upgrade".into(), "websocket".into())],
        b"",
        false,
    )
    .unwrap();
    assert!(s.is_upgraded(1));
    assert_eq!(s.upgraded_streams(), 1);
    // Public client to origin: request BODY chunks, delivered as they come.
    s.handle_frame(S, body(1, 0, b"\x81\x02hi", false));
    assert_eq!(
        events(&mut s),
        vec![Event::RequestBody {
            id: 1,
            data: b"\x81\x02hi".to_vec(),
            fin: false
        }]
    );
    // Origin to public client: response BODY chunks after the 101 head.
    s.send_body(1, b"\x81\x02yo", false).unwrap();
    let out = sent(&mut s);
    assert!(
        matches!(&out[..], [ClientFrame::Response { status: 101, fin: false, .. }, ClientFrame::Body(BodyChunk { seq: 0, fin: false, data, .. })] if data == b"\x81\x02yo")
    );
    // The public side closes first; the stream lives on until the origin's side ends.
    s.handle_frame(S, body(1, 1, b"", true));
    assert_eq!(s.open_streams(), 1);
    s.send_body(1, b"", true).unwrap();
    assert_eq!(s.open_streams(), 0);
    assert_eq!(s.upgraded_streams(), 0);
}

#[test]
fn a_101_answers_only_an_upgrade_request_of_a_session_that_offered_them() {
    let mut s = connected(4096);
    s.handle_frame(S, request(1, b"", true));
    assert_eq!(
        s.respond(1, 101, vec![], b"", false),
        Err(CommandError::NotAnUpgrade(1))
    );
    // The refusal leaves the stream answerable the ordinary way.
    s.respond(1, 200, vec![], b"ok", true).unwrap();

    let mut s = ClientSession::new(
        SessionConfig {
            upgrade: false,
            ..SessionConfig::new("t1")
        },
        Duration::ZERO,
    );
    s.handle_frame(Duration::ZERO, connected_frame());
    s.handle_frame(S, upgrade_request(1));
    assert_eq!(
        s.respond(1, 101, vec![], b"", false),
        Err(CommandError::NotAnUpgrade(1))
    );
}

#[test]
fn an_origin_refusing_the_upgrade_answers_like_any_request() {
    let mut s = connected(4096);
    s.handle_frame(S, upgrade_request(1));
    s.respond(1, 400, vec![], b"no", true).unwrap();
    assert!(!s.is_upgraded(1));
    assert_eq!(s.open_streams(), 0, "over with its answer");
    // The server closes the request side it left open: a late chunk, ignored.
    s.handle_frame(S, body(1, 0, b"", true));
    assert!(
        events(&mut s)
            .iter()
            .all(|e| !matches!(e, Event::RequestBody { .. }))
    );
    assert!(!s.is_closed());
}

#[test]
fn upgraded_streams_are_capped_at_the_limit() {
    let mut s = connected(4096);
    let n = MAX_UPGRADED_STREAMS as StreamId;
    for id in 1..=n + 1 {
        s.handle_frame(S, upgrade_request(id));
    }
    for id in 1..=n {
        s.respond(id, 101, vec![], b"", false).unwrap();
    }
    assert_eq!(s.upgraded_streams(), MAX_UPGRADED_STREAMS);
    assert_eq!(
        s.respond(n + 1, 101, vec![], b"", false),
        Err(CommandError::TooManyUpgrades(n + 1))
    );
    // One ends; the next fits.
    s.handle_frame(S, body(1, 0, b"", true));
    s.send_body(1, b"", true).unwrap();
    s.respond(n + 1, 101, vec![], b"", false).unwrap();
}

#[test]
fn upgrade_detection_needs_connection_to_name_it() {
    let h = |pairs: &[(&str, &str)]| -> Headers {
        pairs
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect()
    };
    assert!(is_upgrade_request(&h(&[
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade")
    ])));
    assert!(!is_upgrade_request(&h(&[("Upgrade", "websocket")])));
    assert!(!is_upgrade_request(&h(&[
        ("Upgrade", "websocket"),
        ("Connection", "close")
    ])));
    assert!(!is_upgrade_request(&h(&[
        ("Upgrade", " "),
        ("Connection", "upgrade")
    ])));
}

#[test]
fn an_answer_complete_before_the_upload_ends_the_exchange() {
    let mut s = connected(MIN_CHUNK_BYTES);
    // The head comes at once, before any of the body.
    s.handle_frame(S, request(1, b"", false));
    s.handle_frame(2 * S, body(1, 0, b"part one", false));
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::Request { id: 1, fin: false, body: b0, .. }, Event::RequestBody { id: 1, data, fin: false }] if b0.is_empty() && data == b"part one"),
        "{ev:?}"
    );
    // The origin refuses while the upload goes on.
    s.respond(1, 401, vec![], b"who are you?", true).unwrap();
    assert!(matches!(
        &sent(&mut s)[..],
        [ClientFrame::Response {
            id: 1,
            status: 401,
            fin: true,
            ..
        }]
    ));
    assert_eq!(s.open_streams(), 0, "the exchange is over with its answer");
    // What was already on its way, and the CANCEL the server sends as it cuts the
    // upload, are late: no event, no violation, nothing sent.
    s.handle_frame(3 * S, body(1, 1, b"part two", false));
    s.handle_frame(3 * S, ServerFrame::Cancel { id: 1 });
    assert!(events(&mut s).is_empty());
    assert!(sent(&mut s).is_empty());
    assert!(!s.is_closed());
}

#[test]
fn an_answer_still_streaming_keeps_taking_the_upload() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(1, b"a", false));
    events(&mut s);
    // An origin that answers as it reads (an echo, a transcoder): both bodies flow.
    s.respond(1, 200, vec![], b"A", false).unwrap();
    s.handle_frame(2 * S, body(1, 0, b"b", false));
    assert_eq!(
        events(&mut s),
        vec![Event::RequestBody {
            id: 1,
            data: b"b".to_vec(),
            fin: false
        }]
    );
    s.send_body(1, b"B", false).unwrap();
    assert_eq!(s.open_streams(), 1);
    // The answer ends first: the exchange is over, the rest of the upload is late.
    s.send_body(1, b"", true).unwrap();
    assert_eq!(s.open_streams(), 0);
    s.handle_frame(3 * S, body(1, 1, b"c", true));
    assert!(events(&mut s).is_empty());
    assert!(!s.is_closed());
}

#[test]
fn a_slow_upload_is_passed_on_piece_by_piece_and_keeps_the_session_alive() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(1, b"", false));
    events(&mut s);
    // A piece a little less often than the keep-alive interval, for three idle
    // timeouts: each piece is an event when it comes, and no PING is needed.
    let step = KEEPALIVE_INTERVAL - S;
    let mut now = S;
    let mut seq = 0;
    while now < S + 3 * IDLE_TIMEOUT {
        now += step;
        s.handle_timeout(now);
        s.handle_frame(now, body(1, seq, &[seq as u8], false));
        assert_eq!(
            events(&mut s),
            vec![Event::RequestBody {
                id: 1,
                data: vec![seq as u8],
                fin: false
            }]
        );
        assert!(sent(&mut s).is_empty(), "no PING while pieces arrive");
        seq += 1;
    }
    assert!(!s.is_closed());
    s.handle_frame(now, body(1, seq, b"", true));
    s.respond(1, 200, vec![], b"", true).unwrap();
    assert_eq!(s.open_streams(), 0);
}

#[test]
fn renewal_is_not_held_up_by_an_upload_the_origin_already_answered() {
    let mut s = connected_full(MIN_CHUNK_BYTES, 0, 30);
    s.handle_frame(S, request(1, b"", false));
    events(&mut s);
    let end = release_and_grace(&mut s, Duration::from_secs(30));
    s.handle_timeout(end);
    assert!(!s.is_closed(), "a stream in flight at the end of the grace");
    // The origin refuses the upload; the session need not wait for the body's end.
    s.respond(1, 413, vec![], b"too big", true).unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Renew)]
    ));
}

#[test]
fn latency_is_measured_by_probes_while_traffic_flows() {
    let every = Duration::from_secs(15);
    let mut s = ClientSession::new(
        SessionConfig {
            latency_probe: Some(every),
            ..SessionConfig::new("t1")
        },
        Duration::ZERO,
    );
    sent(&mut s);
    assert_eq!(s.latency(), None);
    assert_eq!(
        s.poll_timeout(),
        Some(KEEPALIVE_INTERVAL),
        "no probe before CONNECTED"
    );
    s.handle_frame(
        Duration::ZERO,
        ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: "t1".into(),
            domain: "myapp".into(),
            public_url: "http://myapp.localhost:8080".into(),
            max_chunk: MIN_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            binary: false,
        },
    );
    events(&mut s);
    // The first probe goes out as soon as the tunnel is live.
    assert_eq!(s.poll_timeout(), Some(Duration::ZERO));
    s.handle_timeout(Duration::ZERO);
    let nonce = match &sent(&mut s)[..] {
        [ClientFrame::Ping { nonce }] => *nonce,
        other => panic!("{other:?}"),
    };
    // Other frames do not clear it: only its own PONG answers it.
    s.handle_frame(
        Duration::from_millis(10),
        ServerFrame::Pong { nonce: nonce + 7 },
    );
    assert_eq!(s.latency(), None);
    s.handle_frame(Duration::from_millis(42), ServerFrame::Pong { nonce });
    assert_eq!(s.latency(), Some(Duration::from_millis(42)));
    // Traffic keeps the keepalive quiet, but the next probe is still due.
    assert_eq!(s.poll_timeout(), Some(every));
    s.handle_frame(every - S, ServerFrame::Ping { nonce: 900 });
    sent(&mut s);
    s.handle_timeout(every);
    let second = match &sent(&mut s)[..] {
        [ClientFrame::Ping { nonce }] => *nonce,
        other => panic!("{other:?}"),
    };
    assert_ne!(second, nonce);
    s.handle_frame(
        every + Duration::from_millis(7),
        ServerFrame::Pong { nonce: second },
    );
    assert_eq!(s.latency(), Some(Duration::from_millis(7)));
}

#[test]
fn keepalive_pings_measure_latency_without_probes() {
    let mut s = connected(MIN_CHUNK_BYTES);
    assert_eq!(
        s.poll_timeout(),
        Some(KEEPALIVE_INTERVAL),
        "no probes unasked"
    );
    s.handle_timeout(KEEPALIVE_INTERVAL);
    let nonce = match &sent(&mut s)[..] {
        [ClientFrame::Ping { nonce }] => *nonce,
        other => panic!("{other:?}"),
    };
    s.handle_frame(KEEPALIVE_INTERVAL + S, ServerFrame::Pong { nonce });
    assert_eq!(s.latency(), Some(S));
}

fn connected_urls(offer: bool) -> ClientSession {
    let config = SessionConfig {
        body_urls: offer,
        ..SessionConfig::new("t1")
    };
    let mut s = ClientSession::new(config, Duration::ZERO);
    assert!(matches!(
        sent(&mut s).as_slice(),
        [ClientFrame::Connect { body_urls, .. }] if *body_urls == offer
    ));
    s.handle_frame(Duration::ZERO, connected_frame());
    events(&mut s);
    s
}

fn url_request(id: StreamId, body_url: Option<&str>) -> ServerFrame {
    let ServerFrame::Request {
        method,
        path,
        headers,
        reply_to,
        secret,
        ..
    } = request(id, b"", true)
    else {
        unreachable!()
    };
    ServerFrame::Request {
        id,
        method,
        path,
        headers,
        body: Vec::new(),
        fin: true,
        reply_to,
        secret,
        body_url: body_url.map(str::to_owned),
        answer_url: Some("https://bucket/put".into()),
    }
}

#[test]
fn bodies_by_url_reach_a_session_that_offered_them() {
    let mut s = connected_urls(true);
    s.handle_frame(S, url_request(1, Some("https://bucket/get")));
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Request { id: 1, fin: true, body, body_url: Some(get), answer_url: Some(put), .. }]
        if body.is_empty() && get == "https://bucket/get" && put == "https://bucket/put"
    ));
    s.respond_stored(1, 200, vec![("content-length".into(), "200000".into())])
        .unwrap();
    match &sent(&mut s)[..] {
        [
            ClientFrame::Response {
                id: 1,
                status: 200,
                body,
                fin: true,
                stored: true,
                reply_to,
                secret,
                ..
            },
        ] => {
            assert!(body.is_empty());
            assert_eq!(reply_to.as_deref(), Some("conn-9"));
            assert_eq!(secret.as_deref(), Some("s3cret"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.open_streams(), 0, "a stored answer ends the exchange");
    // Answered once: no second head, stored or not.
    assert_eq!(
        s.respond_stored(1, 200, vec![]),
        Err(CommandError::UnknownStream(1))
    );

    // A small answer still goes inline, with its URL unused.
    s.handle_frame(S, url_request(2, None));
    events(&mut s);
    s.respond(2, 204, vec![], b"", true).unwrap();
    assert!(matches!(
        &sent(&mut s)[..],
        [ClientFrame::Response {
            id: 2,
            stored: false,
            ..
        }]
    ));
    // And a 101 is never stored.
    s.handle_frame(S, url_request(3, None));
    events(&mut s);
    assert_eq!(
        s.respond_stored(3, 101, vec![]),
        Err(CommandError::NotStorable(3))
    );
}

#[test]
fn a_session_that_did_not_offer_urls_keeps_chunks() {
    // The answer URL every AWS REQUEST carries is dropped: the answer goes as chunks.
    let mut s = connected_urls(false);
    s.handle_frame(S, url_request(1, None));
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Request {
            id: 1,
            body_url: None,
            answer_url: None,
            ..
        }]
    ));
    assert_eq!(
        s.respond_stored(1, 200, vec![]),
        Err(CommandError::NotStorable(1))
    );
    // A body URL it never offered to fetch is the server's mistake.
    s.handle_frame(S, url_request(2, Some("https://bucket/get")));
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Protocol(m))] if m.contains("did not offer")
    ));
}

#[test]
fn a_body_url_beside_a_body_is_a_violation() {
    let mut s = connected_urls(true);
    let ServerFrame::Request {
        method,
        path,
        headers,
        ..
    } = request(1, b"", true)
    else {
        unreachable!()
    };
    s.handle_frame(
        S,
        ServerFrame::Request {
            id: 1,
            method,
            path,
            headers,
            body: b"inline too".to_vec(),
            fin: true,
            reply_to: None,
            secret: None,
            body_url: Some("https://bucket/get".into()),
            answer_url: None,
        },
    );
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Protocol(m))] if m.contains("a body_url and a body")
    ));
}
