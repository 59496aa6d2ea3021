//! Binary BODY frames, once both sides agreed on them.

use super::*;

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
