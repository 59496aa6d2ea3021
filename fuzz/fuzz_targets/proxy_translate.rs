//! The translation of a public HTTP request into a REQUEST frame, as the ingress does
//! it: `for_origin` (hop-by-hop headers out, forwarding headers in), `check_head`, then
//! the frame with a first body piece of up to the largest chunk. Properties: no
//! header the production rule calls hop-by-hop (`client_core::hop::HopByHop`: the
//! list, and names in `Connection`) survives, nor any forwarding header or request id
//! the caller sent (`stated_by_tunnel`); the others keep their order, exactly the
//! tunnel's forwarding headers are added, once each, a head `check_head` accepts
//! becomes a frame that fits one message, and the client session accepts that frame
//! as is (the two ends judge a head alike). The rules are the production functions;
//! what is checked here is that the translation applies them, and only them.

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use client_core::hop::HopByHop;
use client_core::protocol::limits::{MAX_CHUNK_BYTES, PROTOCOL_VERSION};
use client_core::protocol::{ServerFrame, check_head, decode, encode};
use client_core::session::{ClientSession, Event, SessionConfig};
use libfuzzer_sys::fuzz_target;
use tunnel_backend::PublicUrls;
use tunnel_backend::handlers::proxy::{
    FORWARDED_FOR, REQUEST_ID_HEADER, end_to_end, for_origin, same_header, stated_by_tunnel,
};

#[derive(Debug, Arbitrary)]
struct Input {
    method: String,
    path: String,
    /// The path repeated, so it can reach its limit too.
    path_times: u16,
    /// (name, value, times): a line repeated, so heads can reach the size limits.
    headers: Vec<(String, String, u8)>,
    /// A value repeated to make one large header.
    big: Option<(String, u16)>,
    domain: String,
    remote_ip: Option<String>,
    request_id: String,
    body_len: u32,
}

fuzz_target!(|input: Input| {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (n, v, times) in &input.headers {
        for _ in 0..=*times % 16 {
            headers.push((n.clone(), v.clone()));
        }
    }
    if let Some((v, times)) = &input.big {
        headers.push(("x-big".into(), v.repeat(usize::from(*times % 2048))));
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    let path = input
        .path
        .repeat(usize::from(input.path_times % 1024).max(1));
    // check_head does not bound the method (the ingress answers 431 when a frame does
    // not fit because of it); within 1 KiB the head's budget leaves room for any.
    let mut method = input.method.clone();
    while method.len() > 1024 {
        method.pop();
    }

    let kept = end_to_end(headers.clone());
    let hop = HopByHop::of(&headers);
    for (n, _) in &kept {
        assert!(!hop.contains(n), "hop-by-hop {n} kept");
    }
    // The kept lines are the input's, in order, and each dropped line had a reason.
    let mut rest = kept.iter().peekable();
    for h in &headers {
        if rest.peek() == Some(&h) {
            rest.next();
        } else {
            assert!(hop.contains(&h.0), "{h:?} dropped");
        }
    }
    assert!(rest.next().is_none());
    assert_eq!(end_to_end(kept.clone()), kept, "end_to_end is idempotent");

    let public = PublicUrls {
        scheme: "http".into(),
        base_domain: "localhost".into(),
        port: Some(8080),
    };
    let out = for_origin(
        headers,
        &public,
        &input.domain,
        input.remote_ip.as_deref(),
        &input.request_id,
    );
    let passed: Vec<_> = kept
        .iter()
        .filter(|(n, _)| !stated_by_tunnel(n))
        .cloned()
        .collect();
    assert_eq!(&out[..passed.len()], &passed[..]);
    let added: Vec<&str> = out[passed.len()..]
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let chain = kept
        .iter()
        .any(|(n, v)| same_header(n, FORWARDED_FOR) && !v.trim().is_empty());
    let mut want = vec![];
    if chain || input.remote_ip.is_some() {
        want.push(FORWARDED_FOR);
    }
    want.extend([
        "host",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "forwarded",
        REQUEST_ID_HEADER,
    ]);
    assert_eq!(added, want);
    let ids: Vec<_> = out
        .iter()
        .filter(|(n, _)| lower(n) == REQUEST_ID_HEADER)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids, [input.request_id.as_str()], "only the service's id");

    if check_head(1, &path, &out).is_err() {
        return;
    }
    let body_len = input.body_len as usize % (MAX_CHUNK_BYTES + 1);
    let frame = ServerFrame::Request {
        id: 1,
        method,
        path,
        headers: out.clone(),
        body: vec![0x5a; body_len],
        fin: true,
        reply_to: None,
        secret: None,
        body_url: None,
        answer_url: None,
    };
    let message = match encode(&frame) {
        Ok(m) => m,
        Err(e) => panic!("a head check_head accepts does not fit a message: {e}"),
    };
    assert_eq!(decode::<ServerFrame>(&message).ok().as_ref(), Some(&frame));

    let mut session = ClientSession::new(SessionConfig::new("t"), Duration::ZERO);
    session.handle_frame(
        Duration::ZERO,
        ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: "t".into(),
            domain: "d".into(),
            public_url: "http://d.localhost".into(),
            max_chunk: MAX_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            binary: false,
        },
    );
    session.handle_message(Duration::ZERO, &message);
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    assert!(
        matches!(
            &events[..],
            [Event::Connected(_), Event::Request { id: 1, .. }]
        ),
        "the client refused what the server sent: {events:?}"
    );
});
