//! The server's sans-IO `Exchange` (both backends drive it) fed the client's answers,
//! the public side's bytes and departures, the upload's end and the passing of time,
//! in any order and under any of the deployments' settings. It must never panic, and
//! what it asks of its driver must hold together: nothing for the public side after
//! the exchange ended, one head at most and before any body, at most one CANCEL, a
//! timer that moves forward (or a driver would spin), and an exchange that stays over
//! once over.

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use client_core::protocol::{BodyChunk, ErrorCode, ErrorFrame, ServerFrame};
use libfuzzer_sys::fuzz_target;
use tunnel_backend::handlers::exchange::{
    Answer, Event, Exchange, ExchangeConfig, ExchangeError, REORDER_WINDOW, UploadEnd,
};

const ID: u64 = 7;

#[derive(Debug, Arbitrary)]
enum Op {
    Head {
        status: u16,
        body: Vec<u8>,
        fin: bool,
    },
    Body {
        seq: u8,
        data: Vec<u8>,
        fin: bool,
    },
    Error(u8),
    PublicBody {
        data: Vec<u8>,
        fin: bool,
    },
    PublicGone,
    TunnelGone,
    UploadFinished,
    UploadFailed,
    /// Milliseconds pass, then the timer is handled.
    Wait(u16),
    /// A RESPONSE saying its body is stored at the answer URL.
    Stored { status: u16 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// AWS's settings (reordering, a mid-body timeout) or the local stack's.
    aws: bool,
    window: u8,
    max_chunk: u8,
    upload: bool,
    upgrade_asked: bool,
    /// The REQUEST carried an answer URL (AWS with a body bucket).
    answer_url: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let config = ExchangeConfig {
        // Small chunks so that an oversized one is within the fuzzer's reach.
        max_chunk: usize::from(input.max_chunk).max(1),
        window: u32::from(input.window % 8),
        reorder: if input.aws { REORDER_WINDOW } else { 0 },
        response_timeout: Duration::from_millis(30_000),
        body_timeout: input.aws.then(|| Duration::from_millis(25_000)),
        upgrade_idle: Duration::from_millis(60_000),
    };
    let mut now = Duration::from_millis(1_000);
    let mut x = Exchange::new(ID, config, input.upload, input.upgrade_asked, now);
    if input.answer_url {
        x.offer_answer_url();
    }
    let (mut ended, mut heads, mut bodies, mut cancels, mut was_over) = (false, 0, 0, 0, false);
    for op in input.ops {
        match op {
            Op::Head { status, body, fin } => x.handle_answer(
                Answer::Head {
                    status,
                    headers: vec![("content-type".into(), "text/plain".into())],
                    body,
                    fin,
                },
                now,
            ),
            // The drivers hand the machine its own stream's frames only.
            Op::Body { seq, data, fin } => x.handle_answer(
                Answer::Body(BodyChunk {
                    id: ID,
                    seq: u32::from(seq % 16),
                    data,
                    fin,
                    reply_to: None,
                    secret: None,
                }),
                now,
            ),
            Op::Error(code) => x.handle_answer(
                Answer::Error(ErrorFrame {
                    id: Some(ID),
                    code: ErrorCode::ALL[usize::from(code) % ErrorCode::ALL.len()],
                    message: "origin trouble".into(),
                    reply_to: None,
                    secret: None,
                }),
                now,
            ),
            Op::Stored { status } => x.handle_answer(
                Answer::Stored {
                    status,
                    headers: vec![("content-length".into(), "200000".into())],
                },
                now,
            ),
            Op::PublicBody { data, fin } => x.handle_public_body(&data, fin, now),
            Op::PublicGone => x.handle_public_gone(),
            Op::TunnelGone => x.handle_tunnel_gone(),
            Op::UploadFinished => x.handle_upload_end(UploadEnd::Finished),
            Op::UploadFailed => {
                x.handle_upload_end(UploadEnd::Failed(ExchangeError::Timeout { secs: 1 }))
            }
            Op::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                let due = x.poll_timeout();
                x.handle_timeout(now);
                if let (Some(due), Some(next)) = (due, x.poll_timeout()) {
                    assert!(
                        due > now || next > now,
                        "the timer stands still at {next:?} (now {now:?})"
                    );
                }
            }
        }
        while let Some(frame) = x.poll_transmit() {
            if let ServerFrame::Cancel { id, .. } = frame {
                assert_eq!(id, ID, "CANCEL for another stream");
                cancels += 1;
                assert!(cancels <= 1, "CANCEL sent twice");
            }
        }
        while let Some(event) = x.poll_event() {
            assert!(!ended, "{event:?} after the exchange ended");
            match event {
                Event::Head { fin, .. } => {
                    heads += 1;
                    assert_eq!(heads, 1, "a second head");
                    assert_eq!(bodies, 0, "a head after body");
                    ended |= fin;
                }
                Event::Upgraded { .. } => {
                    heads += 1;
                    assert_eq!(heads, 1, "an upgrade after a head");
                }
                Event::Stored { status, .. } => {
                    assert!(input.answer_url, "a stored answer nobody offered a URL for");
                    assert_ne!(status, 101, "a stored switch of protocols");
                    heads += 1;
                    assert_eq!(heads, 1, "a second head");
                    assert_eq!(bodies, 0, "a stored head after body");
                    ended = true;
                }
                Event::Body { fin, .. } => {
                    assert_eq!(heads, 1, "body before any head");
                    bodies += 1;
                    ended |= fin;
                }
                Event::Failed(_) => ended = true,
            }
        }
        if was_over {
            assert!(x.is_over(), "an exchange came back after it was over");
        }
        was_over = x.is_over();
        if x.is_over() {
            assert_eq!(
                x.poll_timeout(),
                None,
                "a timer on an exchange that is over"
            );
        }
    }
});
