//! One request and its answer: frames and their echoes, chunking, order, the body
//! limit, cancel and fail, and an answer that ends before its upload.

use super::*;

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
