//! CONNECT and CONNECTED: what is checked, stream frames that overtake CONNECTED, and
//! errors that end the session.

use super::*;

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
