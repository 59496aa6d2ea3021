//! Bodies by URL: a request body fetched, an answer stored, and what a session that did
//! not offer them gets.

use super::*;

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
