//! Time: keepalive and the idle timeout, renewal ahead of the age cap, the latency
//! probe, and the reconnect backoff.

use super::*;

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
