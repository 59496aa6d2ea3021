//! Each transition of [`Exchange`] and [`UploadStream`] on a virtual clock.

use std::time::Duration;

use client_core::inspect::Outcome;
use client_core::protocol::{BodyChunk, ErrorCode, ErrorFrame, ServerFrame};

use super::*;

const ID: StreamId = 7;
const MAX_CHUNK: usize = 4;
const RESPONSE: Duration = Duration::from_secs(30);
const BODY: Duration = Duration::from_secs(25);
const IDLE: Duration = Duration::from_secs(300);
const MS: Duration = Duration::from_millis(1);

fn config() -> ExchangeConfig {
    ExchangeConfig {
        max_chunk: MAX_CHUNK,
        window: 0,
        reorder: 0,
        response_timeout: RESPONSE,
        body_timeout: None,
        upgrade_idle: IDLE,
    }
}

fn t(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn plain() -> Exchange {
    Exchange::new(ID, config(), false, false, t(0))
}

fn head(status: u16, body: &[u8], fin: bool) -> Answer {
    Answer::Head {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.to_vec(),
        fin,
    }
}

fn chunk(seq: u32, data: &[u8], fin: bool) -> Answer {
    Answer::Body(BodyChunk {
        id: ID,
        seq,
        data: data.to_vec(),
        fin,
        reply_to: None,
        secret: None,
    })
}

fn events(x: &mut Exchange) -> Vec<Event> {
    std::iter::from_fn(|| x.poll_event()).collect()
}

fn frames(x: &mut Exchange) -> Vec<ServerFrame> {
    std::iter::from_fn(|| x.poll_transmit()).collect()
}

fn body(data: &[u8], fin: bool) -> Event {
    Event::Body {
        data: data.to_vec(),
        fin,
    }
}

fn failed(x: &mut Exchange) -> ExchangeError {
    match events(x).pop() {
        Some(Event::Failed(e)) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

const CANCEL: ServerFrame = ServerFrame::Cancel { id: ID };

#[test]
fn a_whole_answer_completes_in_one_event_with_nothing_for_the_client() {
    let mut x = plain();
    x.handle_answer(head(200, b"hi", true), t(1));
    assert_eq!(
        events(&mut x),
        [Event::Head {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"hi".to_vec(),
            fin: true
        }]
    );
    assert!(x.is_over());
    assert_eq!(x.poll_timeout(), None);
    assert!(
        frames(&mut x).is_empty(),
        "no CANCEL after a complete answer"
    );
}

#[test]
fn a_streamed_body_comes_out_in_order_and_ends_on_fin() {
    let mut x = plain();
    x.handle_answer(head(200, b"a", false), t(1));
    x.handle_answer(chunk(0, b"bc", false), t(2));
    x.handle_answer(chunk(1, b"d", true), t(3));
    let ev = events(&mut x);
    assert!(matches!(ev[0], Event::Head { fin: false, .. }));
    assert_eq!(ev[1..], [body(b"bc", false), body(b"d", true)]);
    assert!(x.is_over());
    assert!(frames(&mut x).is_empty());
    // A part arriving after the end (crossing nothing) is ignored, not a failure.
    x.handle_answer(chunk(2, b"late", false), t(4));
    assert!(events(&mut x).is_empty());
}

#[test]
fn the_response_timeout_fires_at_its_edge_and_not_a_moment_before() {
    let mut x = Exchange::new(ID, config(), false, false, t(5));
    assert_eq!(x.poll_timeout(), Some(t(5) + RESPONSE));
    x.handle_timeout(t(5) + RESPONSE - MS);
    assert!(events(&mut x).is_empty() && !x.is_over());
    x.handle_timeout(t(5) + RESPONSE);
    let e = failed(&mut x);
    assert_eq!(e, ExchangeError::Timeout { secs: 30 });
    assert_eq!(e.refusal("app").status(), 504);
    assert_eq!(e.outcome(), Outcome::Timeout);
    assert_eq!(frames(&mut x), [CANCEL], "the client stops working on it");
    assert_eq!(x.poll_timeout(), None);
}

#[test]
fn body_timeout_counts_from_the_last_part_and_none_means_no_bound() {
    let mut x = Exchange::new(
        ID,
        ExchangeConfig {
            body_timeout: Some(BODY),
            ..config()
        },
        false,
        false,
        t(0),
    );
    x.handle_answer(head(200, b"", false), t(1));
    assert_eq!(x.poll_timeout(), Some(t(1) + BODY));
    x.handle_answer(chunk(0, b"a", false), t(10));
    assert_eq!(x.poll_timeout(), Some(t(10) + BODY));
    x.handle_timeout(t(10) + BODY - MS);
    assert!(!x.is_over());
    x.handle_timeout(t(10) + BODY);
    assert_eq!(failed(&mut x), ExchangeError::Timeout { secs: 25 });
    assert_eq!(frames(&mut x), [CANCEL]);

    let mut unbounded = plain();
    unbounded.handle_answer(head(200, b"", false), t(1));
    assert_eq!(unbounded.poll_timeout(), None);
    unbounded.handle_timeout(t(100_000));
    assert!(!unbounded.is_over());
}

#[test]
fn credit_goes_out_every_half_window_for_a_window_past_what_was_released() {
    let mut x = Exchange::new(
        ID,
        ExchangeConfig {
            window: 4,
            ..config()
        },
        false,
        false,
        t(0),
    );
    x.handle_answer(head(200, b"", false), t(0));
    x.handle_answer(chunk(0, b"a", false), t(0));
    assert!(
        frames(&mut x).is_empty(),
        "one chunk is under half the window"
    );
    x.handle_answer(chunk(1, b"b", false), t(0));
    assert_eq!(frames(&mut x), [ServerFrame::Credit { id: ID, up_to: 6 }]);
    x.handle_answer(chunk(2, b"c", false), t(0));
    x.handle_answer(chunk(3, b"d", false), t(0));
    assert_eq!(frames(&mut x), [ServerFrame::Credit { id: ID, up_to: 8 }]);
}

#[test]
fn no_window_means_no_credit() {
    let mut x = plain();
    x.handle_answer(head(200, b"", false), t(0));
    for seq in 0..10 {
        x.handle_answer(chunk(seq, b"x", false), t(0));
    }
    assert!(frames(&mut x).is_empty());
}

#[test]
fn an_upload_under_the_limit_goes_in_numbered_chunks_and_one_past_is_refused() {
    // 3 bytes went with the head; the limit is 10.
    let mut up = UploadStream::new(ID, 3, 10, MAX_CHUNK);
    up.handle_public_body(b"abcdef", false).unwrap();
    let sent: Vec<_> = std::iter::from_fn(|| up.poll_transmit()).collect();
    let seqs: Vec<_> = sent
        .iter()
        .map(|f| match f {
            ServerFrame::Body(c) => (c.seq, c.data.len(), c.fin),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [(0, 4, false), (1, 2, false)]);
    // Exactly at the limit is fine.
    up.handle_public_body(b"d", false).unwrap();
    assert_eq!(up.sent(), 10);
    // One byte past is not, and nothing of it is queued.
    up.poll_transmit();
    let e = up.handle_public_body(b"e", true).unwrap_err();
    assert_eq!(e, ExchangeError::UploadTooLarge { max: 10 });
    assert_eq!(e.refusal("app").status(), 413);
    assert!(up.poll_transmit().is_none() && !up.is_finished());
    let mut done = UploadStream::new(ID, 0, 10, MAX_CHUNK);
    done.handle_public_body(b"", true).unwrap();
    assert!(done.is_finished());
}

#[test]
fn an_answer_complete_before_the_upload_cuts_it_and_cancels() {
    let mut x = Exchange::new(ID, config(), true, false, t(0));
    x.handle_answer(head(413, b"no", true), t(1));
    assert!(x.upload_cut(), "the driver stops the upload");
    assert_eq!(
        frames(&mut x),
        [CANCEL],
        "the client stops waiting for the rest"
    );
    // The upload's own end after that changes nothing.
    x.handle_upload_end(UploadEnd::Finished);
    assert!(frames(&mut x).is_empty());
}

#[test]
fn an_upload_that_ended_first_is_not_cut() {
    let mut x = Exchange::new(ID, config(), true, false, t(0));
    x.handle_upload_end(UploadEnd::Finished);
    x.handle_answer(head(200, b"", true), t(1));
    assert!(!x.upload_cut());
    assert!(frames(&mut x).is_empty());
}

#[test]
fn an_upload_failure_ends_the_exchange_before_or_during_the_answer() {
    for (e, status, outcome) in [
        (
            ExchangeError::UploadTooLarge { max: 9 },
            413,
            Outcome::TooLarge,
        ),
        (
            ExchangeError::UploadBrokeOff,
            400,
            Outcome::ClientDisconnected,
        ),
        (ExchangeError::TunnelGone, 502, Outcome::TunnelOffline),
    ] {
        let mut x = Exchange::new(ID, config(), true, false, t(0));
        x.handle_upload_end(UploadEnd::Failed(e.clone()));
        let got = failed(&mut x);
        assert_eq!(got, e);
        assert_eq!(got.refusal("app").status(), status, "{e:?}");
        assert_eq!(got.outcome(), outcome, "{e:?}");

        let mut mid = Exchange::new(ID, config(), true, false, t(0));
        mid.handle_answer(head(200, b"", false), t(1));
        events(&mut mid);
        mid.handle_upload_end(UploadEnd::Failed(e.clone()));
        assert_eq!(failed(&mut mid), e);
        assert!(mid.is_over());
    }
}

#[test]
fn the_public_client_leaving_cancels_once() {
    let mut x = plain();
    x.handle_answer(head(200, b"", false), t(1));
    x.handle_public_gone();
    x.handle_public_gone();
    assert_eq!(frames(&mut x), [CANCEL]);
    assert_eq!(failed(&mut x).outcome(), Outcome::ClientDisconnected);
    // After a complete answer there is nothing to cancel.
    let mut done = plain();
    done.handle_answer(head(204, b"", true), t(1));
    done.handle_public_gone();
    assert!(frames(&mut done).is_empty());
}

#[test]
fn an_origin_error_fails_without_cancel_and_maps_to_its_page() {
    let mut x = plain();
    x.handle_answer(
        Answer::Error(ErrorFrame {
            id: Some(ID),
            code: ErrorCode::OriginRefused,
            message: "nothing listens on localhost:3000".into(),
            reply_to: None,
            secret: None,
        }),
        t(1),
    );
    let e = failed(&mut x);
    assert_eq!(e.outcome(), Outcome::OriginRefused);
    assert_eq!(e.refusal("app").status(), 502);
    assert!(frames(&mut x).is_empty(), "the client ended it itself");
}

#[test]
fn the_tunnel_going_away_is_disconnected() {
    let mut x = plain();
    x.handle_tunnel_gone();
    let e = failed(&mut x);
    assert_eq!(e, ExchangeError::Disconnected);
    assert_eq!(e.refusal("app").status(), 502);
    assert!(frames(&mut x).is_empty());
}

/// Feeds `parts` to a fresh exchange (strict order unless `reorder`) and returns
/// the violation it fails with, having checked it cancels and maps to a 502.
fn violation(reorder: usize, upgrade: bool, parts: Vec<Answer>) -> Violation {
    let mut x = Exchange::new(
        ID,
        ExchangeConfig {
            reorder,
            ..config()
        },
        false,
        upgrade,
        t(0),
    );
    for p in parts {
        x.handle_answer(p, t(1));
    }
    let events = events(&mut x);
    // Nothing told the public side the answer was complete before it broke.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Body { fin: true, .. })),
        "{events:?}"
    );
    let e = match events.last() {
        Some(Event::Failed(e)) => e.clone(),
        other => panic!("expected a failure, got {other:?}"),
    };
    assert_eq!(e.refusal("app").status(), 502);
    assert_eq!(e.outcome(), Outcome::OriginFailed);
    assert!(frames(&mut x).contains(&CANCEL));
    match e {
        ExchangeError::Broken(v) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_protocol_violation_fails_the_exchange() {
    use Violation::*;
    assert_eq!(
        violation(0, false, vec![chunk(0, b"a", true)]),
        BodyBeforeHead
    );
    assert_eq!(
        violation(0, false, vec![head(200, b"", false), head(200, b"", false)]),
        SecondHead
    );
    assert_eq!(
        violation(0, false, vec![head(99, b"", true)]),
        InvalidStatus(99)
    );
    assert_eq!(
        violation(0, false, vec![head(1000, b"", true)]),
        InvalidStatus(1000)
    );
    assert_eq!(
        violation(0, false, vec![head(101, b"", false)]),
        UnaskedSwitch
    );
    assert_eq!(
        violation(0, true, vec![head(101, b"", true)]),
        UnaskedSwitch
    );
    assert_eq!(
        violation(0, false, vec![head(200, b"", false), chunk(1, b"a", false)]),
        OutOfOrder {
            expected: 0,
            got: 1
        }
    );
    assert_eq!(
        violation(
            0,
            false,
            vec![
                head(200, b"", false),
                chunk(0, b"a", false),
                chunk(0, b"a", false)
            ]
        ),
        Duplicate(0)
    );
    assert_eq!(
        violation(
            0,
            false,
            vec![head(200, b"", false), chunk(0, b"abcde", false)]
        ),
        Oversized { len: 5, max: 4 }
    );
    assert_eq!(
        violation(
            2,
            false,
            vec![
                head(200, b"", false),
                chunk(2, b"a", false),
                chunk(0, b"a", true)
            ]
        ),
        AfterFin
    );
}

#[test]
fn the_edges_of_status_and_chunk_size_are_accepted() {
    for status in [100, 999] {
        let mut x = plain();
        x.handle_answer(head(status, b"", true), t(1));
        assert!(
            matches!(events(&mut x)[..], [Event::Head { .. }]),
            "{status}"
        );
    }
    let mut x = plain();
    x.handle_answer(head(200, b"", false), t(1));
    x.handle_answer(chunk(0, &[0; MAX_CHUNK], true), t(1));
    assert_eq!(events(&mut x)[1], body(&[0; MAX_CHUNK], true));
}

#[test]
fn reordered_parts_are_released_in_order_up_to_the_window() {
    let mut x = Exchange::new(
        ID,
        ExchangeConfig {
            reorder: 2,
            ..config()
        },
        false,
        false,
        t(0),
    );
    x.handle_answer(chunk(1, b"b", true), t(1));
    x.handle_answer(chunk(0, b"a", false), t(1));
    assert!(events(&mut x).is_empty(), "nothing before the head");
    x.handle_answer(head(200, b"", false), t(1));
    let ev = events(&mut x);
    assert_eq!(ev[1..], [body(b"a", false), body(b"b", true)]);
    assert!(x.is_over());

    // Two held ahead of a gap fit a window of 2; a third does not.
    let parts = vec![
        head(200, b"", false),
        chunk(1, b"b", false),
        chunk(2, b"c", false),
    ];
    let mut x = Exchange::new(
        ID,
        ExchangeConfig {
            reorder: 2,
            ..config()
        },
        false,
        false,
        t(0),
    );
    for p in parts {
        x.handle_answer(p, t(1));
    }
    assert!(!x.is_over());
    assert_eq!(
        violation(
            2,
            false,
            vec![
                head(200, b"", false),
                chunk(1, b"b", false),
                chunk(2, b"c", false),
                chunk(3, b"d", false)
            ]
        ),
        Violation::WindowExceeded(2)
    );
    assert_eq!(
        violation(2, false, vec![chunk(0, b"a", false), chunk(0, b"a", false)]),
        Violation::Duplicate(0)
    );
}

fn upgrading(now: Duration) -> Exchange {
    Exchange::new(ID, config(), false, true, now)
}

fn request_chunks(x: &mut Exchange) -> Vec<(u32, Vec<u8>, bool)> {
    frames(x)
        .into_iter()
        .map(|f| match f {
            ServerFrame::Body(c) => (c.seq, c.data, c.fin),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn an_upgrade_relays_bytes_both_ways_until_the_origin_closes() {
    let mut x = upgrading(t(0));
    x.handle_answer(head(101, b"hello", false), t(1));
    assert!(matches!(
        &events(&mut x)[..],
        [Event::Upgraded { body, .. }] if body == b"hello"
    ));
    assert_eq!(x.poll_timeout(), Some(t(1) + IDLE));
    x.handle_public_body(b"abcdef", false, t(2));
    assert_eq!(
        request_chunks(&mut x),
        [(0, b"abcd".to_vec(), false), (1, b"ef".to_vec(), false)]
    );
    assert_eq!(x.poll_timeout(), Some(t(2) + IDLE));
    x.handle_answer(chunk(0, b"pong", false), t(3));
    assert_eq!(events(&mut x), [body(b"pong", false)]);
    // The origin closes: the public side closes too, and the exchange is complete.
    x.handle_answer(chunk(1, b"", true), t(4));
    assert_eq!(events(&mut x), [body(b"", true)]);
    assert_eq!(request_chunks(&mut x), [(2, vec![], true)]);
    assert!(x.is_over());
}

#[test]
fn an_upgrade_ends_when_both_sides_closed_whichever_first() {
    let mut x = upgrading(t(0));
    x.handle_answer(head(101, b"", false), t(1));
    events(&mut x);
    x.handle_public_body(b"", true, t(2));
    assert_eq!(request_chunks(&mut x), [(0, vec![], true)]);
    assert!(!x.is_over(), "the origin may still talk");
    x.handle_public_body(b"more", false, t(3));
    assert!(
        frames(&mut x).is_empty(),
        "nothing after the public side closed"
    );
    x.handle_answer(chunk(0, b"bye", true), t(3));
    assert_eq!(events(&mut x), [body(b"bye", true)]);
    assert!(x.is_over());
    assert!(frames(&mut x).is_empty(), "no second close, no cancel");
}

#[test]
fn an_upgraded_stream_idle_for_the_timeout_is_closed_at_its_edge() {
    let mut x = upgrading(t(0));
    x.handle_answer(head(101, b"", false), t(1));
    x.handle_public_body(b"x", false, t(10));
    frames(&mut x);
    x.handle_timeout(t(10) + IDLE - MS);
    assert!(!x.is_over());
    x.handle_timeout(t(10) + IDLE);
    let e = failed(&mut x);
    assert_eq!(e, ExchangeError::UpgradeIdle { secs: 300 });
    assert_eq!(e.outcome(), Outcome::ClientDisconnected);
    assert_eq!(frames(&mut x), [CANCEL]);
}

#[test]
fn a_declined_upgrade_closes_the_request_side_and_answers_plainly() {
    let mut x = upgrading(t(0));
    x.handle_answer(head(403, b"no", true), t(1));
    assert_eq!(request_chunks(&mut x), [(0, vec![], true)]);
    assert!(matches!(
        events(&mut x)[..],
        [Event::Head { status: 403, .. }]
    ));
    assert!(x.is_over());
    // Public bytes of a plain request go through the upload, never here.
    let mut plain = plain();
    plain.handle_public_body(b"x", false, t(1));
    assert!(frames(&mut plain).is_empty());
}

fn stored(status: u16) -> Answer {
    Answer::response(
        status,
        vec![("content-length".into(), "9".into())],
        b"ignored".to_vec(),
        false,
        true,
    )
}

#[test]
fn a_stored_answer_completes_the_exchange_where_a_url_was_offered() {
    let mut x = plain();
    x.offer_answer_url();
    x.handle_answer(stored(200), t(1));
    assert_eq!(
        events(&mut x),
        vec![Event::Stored {
            status: 200,
            headers: vec![("content-length".into(), "9".into())],
        }]
    );
    assert!(x.is_over());
    assert_eq!(x.poll_timeout(), None);
    // A chunk crossing it is late, not a second answer.
    x.handle_answer(chunk(0, b"late", true), t(2));
    assert!(events(&mut x).is_empty());

    // An upload still running is cut: nothing more of it is wanted.
    let mut x = Exchange::new(ID, config(), true, false, t(0));
    x.offer_answer_url();
    x.handle_answer(stored(201), t(1));
    assert!(matches!(
        events(&mut x)[..],
        [Event::Stored { status: 201, .. }]
    ));
    assert!(x.upload_cut());
    assert_eq!(frames(&mut x), vec![CANCEL]);
}

#[test]
fn a_stored_answer_nobody_offered_or_out_of_place_is_broken() {
    // The local stack never offers one.
    let mut x = plain();
    x.handle_answer(stored(200), t(1));
    assert_eq!(
        failed(&mut x),
        ExchangeError::Broken(Violation::UnofferedStore)
    );
    // A switch of protocols cannot be stored.
    let mut x = plain();
    x.offer_answer_url();
    x.handle_answer(stored(101), t(1));
    assert_eq!(
        failed(&mut x),
        ExchangeError::Broken(Violation::UnaskedSwitch)
    );
    // After a head, a stored one is a second head.
    let mut x = plain();
    x.offer_answer_url();
    x.handle_answer(head(200, b"ab", false), t(1));
    x.handle_answer(stored(200), t(1));
    assert_eq!(failed(&mut x), ExchangeError::Broken(Violation::SecondHead));
    // Not a RESPONSE with `stored`: an ordinary head.
    assert!(matches!(
        Answer::response(200, vec![], b"x".to_vec(), true, false),
        Answer::Head { fin: true, .. }
    ));
}
