//! The sans-IO `ClientSession` fed arbitrary server messages (well-formed frames,
//! arbitrary text, binary), the passing of time, and the driver's commands in any
//! order. It must never panic, and a model of the server checks everything it sends:
//! one RESPONSE per open request, BODY chunks in order within the credit window,
//! nothing after `fin` or after the session closed, every message within the size
//! limit. Its timer must always move forward, or a driver would spin.

#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use client_core::protocol::limits::{
    MAX_CHUNK_BYTES, MAX_CONCURRENT_STREAMS, MAX_MESSAGE_BYTES, MIN_CHUNK_BYTES, PROTOCOL_VERSION,
};
use client_core::protocol::{
    BodyChunk, ChunkReader, ClientFrame, ErrorCode, ErrorFrame, Message, ServerFrame, check_head,
    decode, decode_binary_body, encode,
};
use client_core::session::{ClientSession, Event, SessionConfig};
use libfuzzer_sys::fuzz_target;

const TUNNEL: &str = "t1";

fn code(i: u8) -> ErrorCode {
    ErrorCode::ALL[usize::from(i) % ErrorCode::ALL.len()]
}

#[derive(Debug, Arbitrary)]
enum Frame {
    Connected {
        /// Version 1, this tunnel and a chunk size in range; otherwise the raw values.
        valid: bool,
        version: u16,
        max_chunk: u32,
        window: u8,
        renew_after: u16,
        /// CONNECTED says binary BODY frames are read (the session asked for them).
        binary: bool,
    },
    Request {
        id: u8,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        fin: bool,
        reply_to: Option<String>,
        secret: Option<String>,
    },
    Body {
        id: u8,
        seq: u8,
        data: Vec<u8>,
        fin: bool,
    },
    Credit {
        id: u8,
        up_to: u8,
    },
    Cancel {
        id: u8,
    },
    Error {
        id: Option<u8>,
        code: u8,
        message: String,
    },
    Ping(u64),
    Pong(u64),
    Released,
}

impl Frame {
    fn build(self) -> ServerFrame {
        match self {
            Frame::Connected {
                valid,
                version,
                max_chunk,
                window,
                renew_after,
                binary,
            } => {
                let span = (MAX_CHUNK_BYTES - MIN_CHUNK_BYTES + 1) as u32;
                ServerFrame::Connected {
                    version: if valid { PROTOCOL_VERSION } else { version },
                    tunnel_id: if valid || version % 2 == 0 {
                        TUNNEL.into()
                    } else {
                        "other".into()
                    },
                    domain: "d".into(),
                    public_url: "http://d.localhost".into(),
                    max_chunk: if valid {
                        MIN_CHUNK_BYTES + (max_chunk % span) as usize
                    } else {
                        max_chunk as usize
                    },
                    window: u32::from(window),
                    renew_after: u32::from(renew_after),
                    binary,
                }
            }
            Frame::Request {
                id,
                method,
                path,
                headers,
                body,
                fin,
                reply_to,
                secret,
            } => ServerFrame::Request {
                id: id.into(),
                method,
                path,
                headers,
                body,
                fin,
                reply_to,
                secret,
                body_url: None,
                answer_url: None,
            },
            Frame::Body { id, seq, data, fin } => ServerFrame::Body(BodyChunk {
                id: id.into(),
                seq: seq.into(),
                data,
                fin,
                reply_to: None,
                secret: None,
            }),
            Frame::Credit { id, up_to } => ServerFrame::Credit {
                id: id.into(),
                up_to: up_to.into(),
            },
            Frame::Cancel { id } => ServerFrame::Cancel { id: id.into() },
            Frame::Error {
                id,
                code: c,
                message,
            } => ServerFrame::Error(ErrorFrame {
                id: id.map(u64::from),
                code: code(c),
                message,
                reply_to: None,
                secret: None,
            }),
            Frame::Ping(nonce) => ServerFrame::Ping { nonce },
            Frame::Pong(nonce) => ServerFrame::Pong { nonce },
            Frame::Released => ServerFrame::Released {},
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A frame as the server would send it: encoded, then handled as a message.
    Frame(Frame),
    /// A frame handed over already decoded (the driver may decode itself).
    Decoded(Frame),
    Text(String),
    Binary(Vec<u8>),
    /// This many requests at once on fresh stream ids, to reach the stream limit.
    Flood(u16),
    Advance(u32),
    /// Wake exactly when the session asked to be woken.
    Wake,
    Respond {
        id: u8,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        repeat: u8,
        fin: bool,
    },
    SendBody {
        id: u8,
        data: Vec<u8>,
        repeat: u8,
        fin: bool,
    },
    Fail {
        id: u8,
        code: u8,
        message: String,
    },
    Close,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Start live: a valid CONNECTED with this window, renewal and binary flag before
    /// the ops.
    connect: Option<(u8, u16, bool)>,
    ops: Vec<Op>,
}

/// The server's side of the session: what it would accept from the client.
#[derive(Debug, Default)]
struct Peer {
    window: u32,
    streams: HashMap<u64, PeerStream>,
    saw_connect: bool,
    closed: bool,
    /// The session said it sends binary BODY frames.
    binary: bool,
}

#[derive(Debug)]
struct PeerStream {
    /// The response body, once RESPONSE started it.
    body: Option<ChunkReader>,
    credit: Option<u32>,
}

impl Peer {
    fn event(&mut self, e: &Event) {
        assert!(!self.closed, "event after Closed: {e:?}");
        match e {
            Event::Connected(c) => {
                self.window = c.window;
                self.binary = c.binary;
            }
            Event::Request { id, head, .. } => {
                check_head(*id, &head.path, &head.headers).expect("requests passed on are valid");
                let credit = (self.window > 0).then_some(self.window);
                let fresh = PeerStream { body: None, credit };
                self.streams.insert(*id, fresh);
            }
            Event::RequestBody { id, .. } => {
                assert!(self.streams.contains_key(id), "body of unknown stream {id}");
            }
            Event::Cancelled { id } => {
                self.streams.remove(id);
            }
            Event::Closed(_) => self.closed = true,
        }
    }

    fn credit(&mut self, id: u64, up_to: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.credit = Some(s.credit.map_or(up_to, |c| c.max(up_to)));
        }
    }

    fn receive(&mut self, m: &Message) {
        let frame: ClientFrame = match m {
            Message::Text(text) => {
                assert!(text.len() <= MAX_MESSAGE_BYTES);
                decode(m).expect("the client's frames decode")
            }
            Message::Binary(bytes) => {
                assert!(self.binary, "binary sent without CONNECTED saying binary");
                ClientFrame::Body(
                    decode_binary_body(bytes).expect("the client's binary frames decode"),
                )
            }
        };
        if !self.saw_connect {
            assert!(matches!(
                frame,
                ClientFrame::Connect {
                    version: PROTOCOL_VERSION,
                    ..
                }
            ));
            self.saw_connect = true;
            return;
        }
        match frame {
            ClientFrame::Connect { .. } => panic!("CONNECT twice"),
            ClientFrame::Response { id, fin, .. } => {
                let s = self
                    .streams
                    .get_mut(&id)
                    .expect("RESPONSE to an open request");
                assert!(s.body.is_none(), "second RESPONSE on stream {id}");
                s.body = Some(if fin {
                    ChunkReader::finished()
                } else {
                    ChunkReader::new()
                });
            }
            ClientFrame::Body(c) => {
                let s = self
                    .streams
                    .get_mut(&c.id)
                    .expect("BODY of an open request");
                let reader = s.body.as_mut().expect("BODY after RESPONSE");
                reader.accept(&c, u64::MAX).expect("chunks in order");
                if let Some(credit) = s.credit {
                    assert!(c.seq < credit, "chunk {} beyond credit {credit}", c.seq);
                }
            }
            ClientFrame::Error(ErrorFrame { id: Some(id), .. }) => {
                assert!(
                    self.streams.remove(&id).is_some(),
                    "ERROR for unknown stream {id}"
                );
            }
            // A session-level error precedes the end of the session.
            ClientFrame::Error(ErrorFrame { id: None, .. })
            | ClientFrame::Ping { .. }
            | ClientFrame::Pong { .. }
            | ClientFrame::Release {} => {}
        }
    }
}

fn drain(session: &mut ClientSession, peer: &mut Peer) {
    let closed_before = peer.closed;
    while let Some(e) = session.poll_event() {
        peer.event(&e);
    }
    while let Some(m) = session.poll_transmit() {
        assert!(!closed_before, "sent after the session closed");
        peer.receive(&m);
    }
    assert!(session.open_streams() <= MAX_CONCURRENT_STREAMS);
    assert_eq!(session.is_closed(), peer.closed);
}

fn repeated(data: &[u8], times: u8) -> Vec<u8> {
    // Bounded so one input cannot ask for gigabytes.
    let times = usize::from(times)
        .max(1)
        .min((256 * 1024) / data.len().max(1))
        .max(1);
    data.repeat(times)
}

fuzz_target!(|input: Input| {
    let mut now = Duration::ZERO;
    let mut session = ClientSession::new(SessionConfig::new(TUNNEL), now);
    let mut peer = Peer::default();
    drain(&mut session, &mut peer);
    if let Some((window, renew_after, binary)) = input.connect {
        let connected = Frame::Connected {
            valid: true,
            version: 0,
            max_chunk: 0,
            window,
            renew_after,
            binary,
        };
        session.handle_frame(now, connected.build());
        drain(&mut session, &mut peer);
    }
    let mut next_flood_id = 1_000_u64;
    for op in input.ops {
        match op {
            Op::Frame(f) | Op::Decoded(f) if matches!(f, Frame::Credit { .. }) => {
                if let Frame::Credit { id, up_to } = f {
                    peer.credit(id.into(), up_to.into());
                    session.handle_frame(now, f.build());
                }
            }
            Op::Frame(f) => match encode(&f.build()) {
                Ok(m) => session.handle_message(now, &m),
                Err(_) => continue,
            },
            Op::Decoded(f) => session.handle_frame(now, f.build()),
            Op::Text(t) => session.handle_message(now, &Message::Text(t)),
            Op::Binary(b) => session.handle_message(now, &Message::Binary(b)),
            Op::Flood(n) => {
                for _ in 0..n.min(MAX_CONCURRENT_STREAMS as u16 + 8) {
                    next_flood_id += 1;
                    let request = ServerFrame::Request {
                        id: next_flood_id,
                        method: "GET".into(),
                        path: "/".into(),
                        headers: vec![],
                        body: vec![],
                        fin: true,
                        reply_to: None,
                        secret: None,
                        body_url: None,
                        answer_url: None,
                    };
                    session.handle_frame(now, request);
                    drain(&mut session, &mut peer);
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(ms.into());
                session.handle_timeout(now);
                if let Some(next) = session.poll_timeout() {
                    assert!(next > now, "timer at {next:?} is not after now {now:?}");
                }
            }
            Op::Wake => {
                if let Some(next) = session.poll_timeout() {
                    now = now.max(next);
                    session.handle_timeout(now);
                    if let Some(next) = session.poll_timeout() {
                        assert!(next > now, "timer at {next:?} is not after now {now:?}");
                    }
                }
            }
            Op::Respond {
                id,
                status,
                headers,
                body,
                repeat,
                fin,
            } => {
                let _ = session.respond(id.into(), status, headers, &repeated(&body, repeat), fin);
            }
            Op::SendBody {
                id,
                data,
                repeat,
                fin,
            } => {
                let _ = session.send_body(id.into(), &repeated(&data, repeat), fin);
            }
            Op::Fail {
                id,
                code: c,
                message,
            } => {
                let _ = session.fail(id.into(), code(c), message);
            }
            Op::Close => session.close(client_core::session::CloseReason::Local),
        }
        drain(&mut session, &mut peer);
    }
});
