//! Bad input at the protocol layer, table-driven: malformed, truncated, oversized,
//! out-of-order and duplicate frames and chunks, and an unknown protocol version.
//! Each must end in a typed error with a message that says what was wrong, never a
//! panic; a session that meets one tells the server (ERROR `protocol_violation`, same
//! words) and closes.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use client_core::protocol::limits::{
    MAX_CHUNK_BYTES, MAX_CONCURRENT_STREAMS, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_MESSAGE_BYTES,
    MAX_PATH_BYTES, MIN_CHUNK_BYTES, PROTOCOL_VERSION,
};
use client_core::protocol::{
    BodyChunk, ChunkReader, ClientFrame, CodecError, ErrorCode, ErrorFrame, Message, SequenceError,
    ServerFrame, decode, decode_text, encode, encode_binary_body,
};
use client_core::session::{ClientSession, CloseReason, Event, SessionConfig};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Malformed,
    TooLarge,
    Binary,
}

#[test]
fn undecodable_messages_are_typed_errors() {
    let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
    let cases: Vec<(&str, Message, Kind, &str)> = vec![
        ("empty", text(""), Kind::Malformed, "EOF"),
        ("not JSON", text("hello"), Kind::Malformed, "expected"),
        ("JSON but no object", text("[1,2]"), Kind::Malformed, ""),
        ("null", text("null"), Kind::Malformed, ""),
        ("no action", text(r#"{"id":1}"#), Kind::Malformed, "action"),
        (
            "unknown action",
            text(r#"{"action":"teleport","id":1}"#),
            Kind::Malformed,
            "teleport",
        ),
        (
            "truncated",
            text(r#"{"action":"body","id":1,"seq":0,"data":"aGVs"#),
            Kind::Malformed,
            "EOF",
        ),
        (
            "missing field",
            text(r#"{"action":"body","id":1,"seq":0,"fin":true}"#),
            Kind::Malformed,
            "data",
        ),
        (
            "wrong type",
            text(r#"{"action":"ping","nonce":"one"}"#),
            Kind::Malformed,
            "invalid type",
        ),
        (
            "negative number",
            text(r#"{"action":"cancel","id":-1}"#),
            Kind::Malformed,
            "",
        ),
        (
            "seq past u32",
            text(r#"{"action":"body","id":1,"seq":4294967296,"data":"","fin":true}"#),
            Kind::Malformed,
            "",
        ),
        (
            "bad base64",
            text(r#"{"action":"body","id":1,"seq":0,"data":"a$==","fin":true}"#),
            Kind::Malformed,
            "",
        ),
        (
            "duplicate field",
            text(r#"{"action":"cancel","id":1,"id":2}"#),
            Kind::Malformed,
            "duplicate",
        ),
        (
            "unknown error code",
            text(r#"{"action":"error","code":"oops","message":"m"}"#),
            Kind::Malformed,
            "oops",
        ),
        ("oversized", text(&big), Kind::TooLarge, "exceeds"),
        (
            "binary",
            Message::Binary(br#"{"action":"ping","nonce":1}"#.to_vec()),
            Kind::Binary,
            "binary",
        ),
    ];
    for (name, message, kind, words) in cases {
        let err = decode::<ServerFrame>(&message).unwrap_err();
        let ok = matches!(
            (&err, kind),
            (CodecError::Malformed(_), Kind::Malformed)
                | (CodecError::TooLarge { .. }, Kind::TooLarge)
                | (CodecError::UnexpectedBinary, Kind::Binary)
        );
        assert!(ok, "{name}: {err:?} is not {kind:?}");
        let shown = err.to_string();
        assert!(shown.contains(words), "{name}: {shown:?} lacks {words:?}");
        // The other direction refuses it the same way.
        assert!(decode::<ClientFrame>(&message).is_err(), "{name}");
    }
    if let CodecError::TooLarge { size, max } = decode_text::<ClientFrame>(&big).unwrap_err() {
        assert_eq!((size, max), (MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES));
    }
}

fn text(s: &str) -> Message {
    Message::Text(s.to_owned())
}

fn chunk(seq: u32, len: usize, fin: bool) -> BodyChunk {
    BodyChunk {
        id: 9,
        seq,
        data: vec![7; len],
        fin,
        reply_to: None,
        secret: None,
    }
}

#[test]
fn chunks_out_of_order_duplicated_late_or_too_large_are_refused() {
    type Case = (&'static str, Vec<BodyChunk>, u64, SequenceError);
    let cases: Vec<Case> = vec![
        (
            "starts at 1",
            vec![chunk(1, 1, false)],
            100,
            SequenceError::OutOfOrder {
                id: 9,
                expected: 0,
                got: 1,
            },
        ),
        (
            "gap",
            vec![chunk(0, 1, false), chunk(2, 1, false)],
            100,
            SequenceError::OutOfOrder {
                id: 9,
                expected: 1,
                got: 2,
            },
        ),
        (
            "duplicate",
            vec![chunk(0, 1, false), chunk(0, 1, false)],
            100,
            SequenceError::OutOfOrder {
                id: 9,
                expected: 1,
                got: 0,
            },
        ),
        (
            "backwards",
            vec![chunk(0, 1, false), chunk(1, 1, false), chunk(0, 1, false)],
            100,
            SequenceError::OutOfOrder {
                id: 9,
                expected: 2,
                got: 0,
            },
        ),
        (
            "after fin",
            vec![chunk(0, 1, true), chunk(1, 1, false)],
            100,
            SequenceError::AfterFin { id: 9 },
        ),
        (
            "final twice",
            vec![chunk(0, 1, true), chunk(0, 1, true)],
            100,
            SequenceError::AfterFin { id: 9 },
        ),
        (
            "one byte over",
            vec![chunk(0, 60, false), chunk(1, 41, true)],
            100,
            SequenceError::TooLarge { id: 9, max: 100 },
        ),
        (
            "limit zero",
            vec![chunk(0, 1, true)],
            0,
            SequenceError::TooLarge { id: 9, max: 0 },
        ),
    ];
    for (name, chunks, max, want) in cases {
        let mut r = ChunkReader::new();
        let (last, good) = chunks.split_last().unwrap();
        for c in good {
            r.accept(c, max).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let err = r.accept(last, max).unwrap_err();
        assert_eq!(err, want, "{name}");
        assert!(err.to_string().contains("stream 9"), "{name}: {err}");
    }
    // A head that already ended the body takes no chunk at all.
    assert_eq!(
        ChunkReader::finished().accept(&chunk(0, 0, true), 10),
        Err(SequenceError::AfterFin { id: 9 })
    );
}

fn connected_frame(version: u16, tunnel: &str, max_chunk: usize) -> ServerFrame {
    ServerFrame::Connected {
        version,
        tunnel_id: tunnel.into(),
        domain: "d".into(),
        public_url: "http://d.localhost".into(),
        max_chunk,
        window: 0,
        renew_after: 0,
        binary: false,
    }
}

fn request(id: u64, path: &str, headers: Vec<(String, String)>, fin: bool) -> ServerFrame {
    ServerFrame::Request {
        id,
        method: "POST".into(),
        path: path.into(),
        headers,
        body: vec![1, 2, 3],
        fin,
        reply_to: None,
        secret: None,
        body_url: None,
        answer_url: None,
    }
}

fn body(id: u64, seq: u32, fin: bool) -> ServerFrame {
    ServerFrame::Body(BodyChunk {
        id,
        seq,
        data: vec![0; 4],
        fin,
        reply_to: None,
        secret: None,
    })
}

enum Input {
    Frame(ServerFrame),
    Message(Message),
}

use Input::{Frame, Message as Msg};

/// Runs `inputs` into a session (after CONNECTED when `live`); returns why it closed,
/// or `None`, and checks the server was told the same.
fn run(live: bool, max_body: u64, inputs: Vec<Input>) -> Option<String> {
    run_as(true, live, max_body, inputs)
}

/// [`run`] for a session that asked for binary BODY frames or not.
fn run_as(binary: bool, live: bool, max_body: u64, inputs: Vec<Input>) -> Option<String> {
    let mut config = SessionConfig::new("t1");
    config.max_request_body = max_body;
    config.binary = binary;
    let mut s = ClientSession::new(config, Duration::ZERO);
    if live {
        s.handle_frame(
            Duration::ZERO,
            connected_frame(PROTOCOL_VERSION, "t1", MIN_CHUNK_BYTES),
        );
    }
    for input in inputs {
        match input {
            Frame(f) => s.handle_frame(Duration::ZERO, f),
            Msg(m) => s.handle_message(Duration::ZERO, &m),
        }
    }
    let closed = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        Event::Closed(CloseReason::Protocol(why)) => Some(why),
        Event::Closed(other) => panic!("closed for another reason: {other:?}"),
        _ => None,
    });
    let told = std::iter::from_fn(|| s.poll_transmit()).find_map(|m| match decode(&m) {
        Ok(ClientFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::ProtocolViolation,
            message,
            ..
        })) => Some(message),
        _ => None,
    });
    assert_eq!(closed, told, "the server hears why the session ends");
    assert_eq!(closed.is_some(), s.is_closed());
    closed
}

#[test]
fn a_session_meeting_bad_frames_closes_with_the_reason() {
    let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    let many = vec![h("a", "b"); MAX_HEADER_COUNT + 1];
    let fat = vec![h("a", &"b".repeat(MAX_HEADER_BYTES))];
    let flood: Vec<Input> = (0..=MAX_CONCURRENT_STREAMS as u64)
        .map(|id| Frame(request(id, "/", vec![], false)))
        .collect();
    let cases: Vec<(&str, bool, Vec<Input>, &str)> = vec![
        (
            "unknown protocol version",
            false,
            vec![Frame(connected_frame(
                PROTOCOL_VERSION + 1,
                "t1",
                MIN_CHUNK_BYTES,
            ))],
            "server speaks version 2, this client 1",
        ),
        (
            "CONNECTED for another tunnel",
            false,
            vec![Frame(connected_frame(
                PROTOCOL_VERSION,
                "t2",
                MIN_CHUNK_BYTES,
            ))],
            "another tunnel",
        ),
        (
            "chunk size below the minimum",
            false,
            vec![Frame(connected_frame(PROTOCOL_VERSION, "t1", 0))],
            "max_chunk 0 out of range",
        ),
        (
            "chunk size above the maximum",
            false,
            vec![Frame(connected_frame(
                PROTOCOL_VERSION,
                "t1",
                MAX_CHUNK_BYTES + 1,
            ))],
            "out of range",
        ),
        (
            "duplicate CONNECTED",
            true,
            vec![Frame(connected_frame(
                PROTOCOL_VERSION,
                "t1",
                MIN_CHUNK_BYTES,
            ))],
            "CONNECTED twice",
        ),
        (
            // One request overtaking CONNECTED is a race the session absorbs (see
            // MAX_EARLY_FRAMES); more than the bound before CONNECTED is not.
            "too many REQUESTs before CONNECTED",
            false,
            (1..=client_core::session::MAX_EARLY_FRAMES as u64 + 1)
                .map(|id| Frame(request(id, "/", vec![], true)))
                .collect(),
            "before CONNECTED",
        ),
        (
            "duplicate REQUEST",
            true,
            vec![
                Frame(request(1, "/", vec![], false)),
                Frame(request(1, "/", vec![], false)),
            ],
            "reuses open stream 1",
        ),
        (
            "BODY out of order",
            true,
            vec![
                Frame(request(1, "/", vec![], false)),
                Frame(body(1, 1, true)),
            ],
            "expected chunk 0, got 1",
        ),
        (
            "duplicate BODY",
            true,
            vec![
                Frame(request(1, "/", vec![], false)),
                Frame(body(1, 0, false)),
                Frame(body(1, 0, false)),
            ],
            "expected chunk 1, got 0",
        ),
        (
            "BODY after the final one",
            true,
            vec![
                Frame(request(1, "/", vec![], false)),
                Frame(body(1, 0, true)),
                // Stream 1 is still open: its response has not been sent.
                Frame(body(1, 1, false)),
            ],
            "chunk after the final one",
        ),
        (
            "BODY after a head that ended the body",
            true,
            vec![
                Frame(request(1, "/", vec![], true)),
                Frame(body(1, 0, true)),
            ],
            "chunk after the final one",
        ),
        (
            "body over the limit",
            true,
            vec![
                Frame(request(1, "/", vec![], false)),
                Frame(body(1, 0, true)),
            ],
            "body exceeds 5 bytes",
        ),
        (
            "CR/LF in a header value",
            true,
            vec![Frame(request(
                1,
                "/",
                vec![h("x", "a\r\nInjected: 1")],
                true,
            ))],
            "contains a control character",
        ),
        (
            "LF in a header name",
            true,
            vec![Frame(request(1, "/", vec![h("x\ny", "1")], true))],
            "contains a control character",
        ),
        (
            "too many headers",
            true,
            vec![Frame(request(1, "/", many, true))],
            "129 headers exceed the limit of 128",
        ),
        (
            "headers too large",
            true,
            vec![Frame(request(1, "/", fat, true))],
            "exceed the limit of 16384",
        ),
        (
            "path too long",
            true,
            vec![Frame(request(
                1,
                &"/".repeat(MAX_PATH_BYTES + 1),
                vec![],
                true,
            ))],
            "request target of 8193 bytes",
        ),
        (
            "too many concurrent streams",
            true,
            flood,
            "more than 1024 concurrent requests",
        ),
        (
            "malformed message",
            true,
            vec![Msg(text(r#"{"action":"request","id":1"#))],
            "undecodable message: malformed frame",
        ),
        (
            "binary message shorter than its header",
            true,
            vec![Msg(Message::Binary(vec![0x01, 0]))],
            "malformed binary frame: shorter than the 14-byte header",
        ),
        (
            "binary message of an unknown kind",
            true,
            vec![Msg(Message::Binary(vec![0x82; 20]))],
            "malformed binary frame: unknown frame tag",
        ),
        (
            "binary message with unknown flags",
            true,
            vec![Msg(Message::Binary(
                [&[0x01][..], &[0; 12], &[0x80]].concat(),
            ))],
            "malformed binary frame: unknown flags",
        ),
        (
            "binary BODY out of order",
            true,
            vec![
                Frame(request(1, "/", vec![], false)),
                Msg(binary_body(1, 1, false)),
            ],
            "expected chunk 0, got 1",
        ),
        (
            "binary message to a session that did not ask for binary",
            true,
            vec![Msg(binary_body(1, 0, true))],
            "binary messages are not part of protocol version 1",
        ),
        (
            "oversized message",
            true,
            vec![Msg(text(&" ".repeat(MAX_MESSAGE_BYTES + 1)))],
            "exceeds the 131072-byte limit",
        ),
    ];
    for (name, live, inputs, words) in cases {
        let max_body = if name == "body over the limit" {
            5
        } else {
            u64::MAX
        };
        let binary = !name.contains("did not ask for binary");
        let why =
            run_as(binary, live, max_body, inputs).unwrap_or_else(|| panic!("{name}: still open"));
        assert!(why.contains(words), "{name}: {why:?} lacks {words:?}");
    }
}

/// A binary BODY message with a few bytes of data.
fn binary_body(id: u64, seq: u32, fin: bool) -> Message {
    let chunk = BodyChunk {
        id,
        seq,
        data: b"abc".to_vec(),
        fin,
        reply_to: None,
        secret: None,
    };
    encode_binary_body(&chunk).unwrap().unwrap()
}

#[test]
fn late_frames_for_finished_streams_are_ignored_not_fatal() {
    // A stream the client already dropped may still have frames on the wire.
    let cases: Vec<(&str, Vec<Input>)> = vec![
        ("BODY for an unknown stream", vec![Frame(body(42, 3, true))]),
        (
            "binary BODY for an unknown stream",
            vec![Msg(binary_body(42, 3, true))],
        ),
        (
            "CREDIT for an unknown stream",
            vec![Frame(ServerFrame::Credit { id: 42, up_to: 9 })],
        ),
        (
            "CANCEL twice",
            vec![
                Frame(request(1, "/", vec![], true)),
                Frame(ServerFrame::Cancel { id: 1 }),
                Frame(ServerFrame::Cancel { id: 1 }),
            ],
        ),
        (
            "RELEASED never asked for",
            vec![Frame(ServerFrame::Released {})],
        ),
    ];
    for (name, inputs) in cases {
        assert_eq!(run(true, u64::MAX, inputs), None, "{name}");
    }
}

#[test]
fn the_codec_refuses_to_build_an_oversized_frame() {
    let frame = ClientFrame::Body(BodyChunk {
        id: 1,
        seq: 0,
        data: vec![0; MAX_MESSAGE_BYTES],
        fin: true,
        reply_to: None,
        secret: None,
    });
    let err = encode(&frame).unwrap_err();
    assert!(matches!(err, CodecError::TooLarge { max, .. } if max == MAX_MESSAGE_BYTES));
}
