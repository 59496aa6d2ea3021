//! HTTP upgrades: which requests ask, which 101s are taken, and the upgraded byte
//! stream.

use super::*;

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
