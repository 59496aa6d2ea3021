//! Turning frames into WebSocket messages and back.
//!
//! JSON text is the encoding every deployment speaks: API Gateway routes on a field of
//! the JSON body and refuses binary frames from clients.
//!
//! Where both ends agree in CONNECT/CONNECTED (the local stack), BODY frames travel as
//! binary messages instead: a fixed 14-byte header and the raw bytes. On bulk transfers
//! JSON cost a third of the CPU (base64 both ways, string escaping scans, UTF-8
//! checks) and 4/3 the bytes on the socket (docs/benchmarks.md). Every other frame is
//! small and stays JSON, so there is one encoding of heads to keep right.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::frames::{BodyChunk, Headers, StreamId};
use super::limits::{MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_MESSAGE_BYTES, MAX_PATH_BYTES};

/// A WebSocket message as the codec sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (JSON).
    Text(String),
    /// A binary message. Not part of protocol version 1; decoding refuses it.
    Binary(Vec<u8>),
}

/// Why a message could not become a frame, or a frame a message.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The message is larger than any frame may be.
    #[error("message of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the offending message.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a frame of this protocol.
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A binary message arrived where only JSON text is spoken.
    #[error("binary messages are not part of protocol version 1")]
    UnexpectedBinary,
    /// A binary message that is not a well-formed binary BODY frame.
    #[error("malformed binary frame: {0}")]
    MalformedBinary(&'static str),
}

/// First byte of a binary BODY frame. Other values are reserved for later frame kinds.
pub const BINARY_BODY_TAG: u8 = 0x01;

/// Bytes before the data in a binary BODY frame: tag, stream id (u64, big-endian),
/// sequence number (u32, big-endian), flags.
pub const BINARY_BODY_HEADER_BYTES: usize = 1 + 8 + 4 + 1;

/// The only flag defined: this is the stream's last chunk.
const FLAG_FIN: u8 = 0x01;

/// Encodes a BODY chunk as a binary message, or `None` when it carries the AWS
/// return-channel fields (`reply_to`, `secret`), which only the JSON form has.
pub fn encode_binary_body(chunk: &BodyChunk) -> Option<Result<Message, CodecError>> {
    if chunk.reply_to.is_some() || chunk.secret.is_some() {
        return None;
    }
    let size = BINARY_BODY_HEADER_BYTES + chunk.data.len();
    if size > MAX_MESSAGE_BYTES {
        return Some(Err(CodecError::TooLarge {
            size,
            max: MAX_MESSAGE_BYTES,
        }));
    }
    let mut out = Vec::with_capacity(size);
    out.push(BINARY_BODY_TAG);
    out.extend_from_slice(&chunk.id.to_be_bytes());
    out.extend_from_slice(&chunk.seq.to_be_bytes());
    out.push(if chunk.fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&chunk.data);
    Some(Ok(Message::Binary(out)))
}

/// Decodes a binary BODY frame.
pub fn decode_binary_body(bytes: &[u8]) -> Result<BodyChunk, CodecError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let Some((header, data)) = bytes.split_first_chunk::<BINARY_BODY_HEADER_BYTES>() else {
        return Err(CodecError::MalformedBinary(
            "shorter than the 14-byte header",
        ));
    };
    let [tag, id @ .., flags] = *header;
    if tag != BINARY_BODY_TAG {
        return Err(CodecError::MalformedBinary("unknown frame tag"));
    }
    if flags & !FLAG_FIN != 0 {
        return Err(CodecError::MalformedBinary("unknown flags"));
    }
    let (id, seq) = id.split_at(8);
    Ok(BodyChunk {
        id: u64::from_be_bytes(id.try_into().expect("8 bytes")),
        seq: u32::from_be_bytes(seq.try_into().expect("4 bytes")),
        data: data.to_vec(),
        fin: flags & FLAG_FIN != 0,
        reply_to: None,
        secret: None,
    })
}

/// Encodes a frame as a JSON text message.
pub fn encode<F: Serialize>(frame: &F) -> Result<Message, CodecError> {
    let text = serde_json::to_string(frame)?;
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            size: text.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(Message::Text(text))
}

/// Decodes a JSON text message into a frame.
pub fn decode<F: DeserializeOwned>(message: &Message) -> Result<F, CodecError> {
    match message {
        Message::Text(text) => decode_text(text),
        Message::Binary(_) => Err(CodecError::UnexpectedBinary),
    }
}

/// Decodes JSON text into a frame, refusing oversized input before parsing it.
pub fn decode_text<F: DeserializeOwned>(text: &str) -> Result<F, CodecError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            size: text.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(serde_json::from_str(text)?)
}

/// A head (request or response line plus headers) that breaks a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Too many header lines.
    #[error("{count} headers exceed the limit of {max}")]
    TooManyHeaders {
        /// Header lines seen.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Header names and values together are too large.
    #[error("headers of {size} bytes exceed the limit of {max}")]
    HeadersTooLarge {
        /// Total bytes seen.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The request target is too long.
    #[error("request target of {size} bytes exceeds the limit of {max}")]
    PathTooLong {
        /// Bytes seen.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A header name or value holds CR, LF or NUL, which could split the head.
    #[error("header {name:?} of stream {id} contains a control character")]
    ControlCharacter {
        /// The stream.
        id: StreamId,
        /// The offending header name.
        name: String,
    },
}

/// Bytes `s` takes inside a JSON string as serde_json writes it (`"`, `\` and the
/// short-escaped controls take two, other control characters six: `\u001f`), and
/// whether it holds CR, LF or NUL. One pass: every head goes through here twice on a
/// tunnel's client and once on the server.
fn encoded_len(s: &str) -> (usize, bool) {
    let mut extra = 0;
    let mut splits = false;
    for b in s.bytes() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        extra += match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            _ => 5,
        };
        splits |= matches!(b, b'\r' | b'\n' | 0);
    }
    (s.len() + extra, splits)
}

/// Checks a head against the header and path limits.
///
/// Sizes are counted as the text takes in the encoded frame, escapes included. Raw
/// lengths let a head within the limits still overflow one message: the path and
/// header values may hold `"` and `\` (hyper accepts both from the public), which
/// JSON doubles, so a head of quotes with the largest chunk came to about 137 KB
/// (found by fuzz/proxy_translate). Counted this way, a head at the limits plus a
/// chunk of [`MAX_CHUNK_BYTES`](super::limits::MAX_CHUNK_BYTES) fits one message
/// whatever its characters; for plain text nothing changes.
pub fn check_head(id: StreamId, path: &str, headers: &Headers) -> Result<(), HeadError> {
    let (path_size, _) = encoded_len(path);
    if path_size > MAX_PATH_BYTES {
        return Err(HeadError::PathTooLong {
            size: path_size,
            max: MAX_PATH_BYTES,
        });
    }
    if headers.len() > MAX_HEADER_COUNT {
        return Err(HeadError::TooManyHeaders {
            count: headers.len(),
            max: MAX_HEADER_COUNT,
        });
    }
    let mut size = 0;
    let mut split = None;
    for (name, value) in headers {
        let (name_size, name_splits) = encoded_len(name);
        let (value_size, value_splits) = encoded_len(value);
        size += name_size + value_size;
        if split.is_none() && (name_splits || value_splits) {
            split = Some(name);
        }
    }
    if size > MAX_HEADER_BYTES {
        return Err(HeadError::HeadersTooLarge {
            size,
            max: MAX_HEADER_BYTES,
        });
    }
    if let Some(name) = split {
        return Err(HeadError::ControlCharacter {
            id,
            name: name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::limits::{MAX_CHUNK_BYTES, MAX_HEADER_BYTES, MAX_HEADER_COUNT};
    use crate::protocol::{BodyChunk, ClientFrame, ServerFrame};

    #[test]
    fn the_largest_legal_head_with_the_largest_chunk_fits_one_message() {
        // Headers at both limits at once: MAX_HEADER_COUNT lines sharing MAX_HEADER_BYTES.
        let per = MAX_HEADER_BYTES / MAX_HEADER_COUNT;
        let headers: Headers = (0..MAX_HEADER_COUNT)
            .map(|i| (format!("h{i:03}"), "v".repeat(per - 4)))
            .collect();
        check_head(1, "/", &headers).unwrap();
        let path = "/p".repeat(MAX_PATH_BYTES / 2);
        let request = ServerFrame::Request {
            id: u64::MAX,
            method: "OPTIONS".into(),
            path,
            headers: headers.clone(),
            body: vec![0xff; MAX_CHUNK_BYTES],
            fin: false,
            reply_to: Some("x".repeat(64)),
            secret: Some("y".repeat(64)),
            body_url: None,
            answer_url: None,
        };
        encode(&request).unwrap();
        let response = ClientFrame::Response {
            id: u64::MAX,
            status: 599,
            headers,
            body: vec![0xff; MAX_CHUNK_BYTES],
            fin: true,
            reply_to: Some("x".repeat(64)),
            secret: Some("y".repeat(64)),
            stored: false,
        };
        encode(&response).unwrap();
    }

    #[test]
    fn heads_are_measured_as_encoded_so_the_worst_case_still_fits() {
        // Regression (fuzz/proxy_translate): quotes and control characters grow in
        // JSON. A head at the raw limits made of them, with the largest chunk, used to
        // pass check_head and then fail to encode (the ingress would answer "offline").
        let quotes = |n: usize| "\"".repeat(n);
        let path = format!("/{}", quotes(MAX_PATH_BYTES - 1));
        let headers: Headers = vec![("x".into(), quotes(MAX_HEADER_BYTES - 1))];
        assert!(matches!(
            check_head(1, &path, &vec![]),
            Err(HeadError::PathTooLong { size, .. }) if size == 2 * MAX_PATH_BYTES - 1
        ));
        assert!(matches!(
            check_head(1, "/", &headers),
            Err(HeadError::HeadersTooLarge { size, .. }) if size == 2 * MAX_HEADER_BYTES - 1
        ));
        let control: Headers = vec![("x".into(), "\u{1c}".repeat(MAX_HEADER_BYTES / 6 + 1))];
        assert!(matches!(
            check_head(1, "/", &control),
            Err(HeadError::HeadersTooLarge { .. })
        ));

        // Exactly at the limits as encoded, and it fits one message with a full chunk.
        let path = format!("/{}", quotes((MAX_PATH_BYTES - 1) / 2));
        let per = MAX_HEADER_BYTES / MAX_HEADER_COUNT;
        let headers: Headers = (0..MAX_HEADER_COUNT)
            .map(|i| (format!("h{i:03}"), format!("\\{}", quotes((per - 6) / 2))))
            .collect();
        check_head(1, &path, &headers).unwrap();
        let request = ServerFrame::Request {
            id: u64::MAX,
            method: "OPTIONS".into(),
            path,
            headers,
            body: vec![0xff; MAX_CHUNK_BYTES],
            fin: false,
            reply_to: Some("x".repeat(64)),
            secret: Some("y".repeat(64)),
            body_url: None,
            answer_url: None,
        };
        encode(&request).unwrap();
    }

    #[test]
    fn oversized_messages_are_refused_both_ways() {
        let text = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(matches!(
            decode_text::<ClientFrame>(&text),
            Err(CodecError::TooLarge { .. })
        ));
        let frame = ClientFrame::Response {
            id: 1,
            status: 200,
            headers: vec![],
            body: vec![0; MAX_MESSAGE_BYTES],
            fin: true,
            reply_to: None,
            secret: None,
            stored: false,
        };
        assert!(matches!(encode(&frame), Err(CodecError::TooLarge { .. })));
    }

    #[test]
    fn binary_bodies_round_trip_and_refuse_what_is_not_one() {
        let chunk = BodyChunk {
            id: u64::MAX - 1,
            seq: 7,
            data: (0..=255).collect(),
            fin: true,
            reply_to: None,
            secret: None,
        };
        let Some(Ok(Message::Binary(bytes))) = encode_binary_body(&chunk) else {
            panic!("not binary");
        };
        assert_eq!(bytes.len(), BINARY_BODY_HEADER_BYTES + 256);
        assert_eq!(decode_binary_body(&bytes).unwrap(), chunk);

        // The largest chunk a server advertises fits; one byte over the message does not.
        let full = BodyChunk {
            data: vec![0; MAX_CHUNK_BYTES],
            ..chunk.clone()
        };
        assert!(matches!(encode_binary_body(&full), Some(Ok(_))));
        let over = BodyChunk {
            data: vec![0; MAX_MESSAGE_BYTES - BINARY_BODY_HEADER_BYTES + 1],
            ..chunk.clone()
        };
        assert!(matches!(
            encode_binary_body(&over),
            Some(Err(CodecError::TooLarge { .. }))
        ));
        assert!(matches!(
            decode_binary_body(&vec![BINARY_BODY_TAG; MAX_MESSAGE_BYTES + 1]),
            Err(CodecError::TooLarge { .. })
        ));
        // An empty last chunk is exactly the header.
        let empty = BodyChunk {
            data: vec![],
            ..chunk.clone()
        };
        let Some(Ok(Message::Binary(bytes))) = encode_binary_body(&empty) else {
            panic!("not binary");
        };
        assert_eq!(decode_binary_body(&bytes).unwrap(), empty);
        assert!(matches!(
            decode_binary_body(&bytes[..BINARY_BODY_HEADER_BYTES - 1]),
            Err(CodecError::MalformedBinary(_))
        ));
        let mut tagged = bytes.clone();
        tagged[0] = 0x02;
        assert!(matches!(
            decode_binary_body(&tagged),
            Err(CodecError::MalformedBinary("unknown frame tag"))
        ));
        let mut flagged = bytes.clone();
        flagged[BINARY_BODY_HEADER_BYTES - 1] = 0x03;
        assert!(matches!(
            decode_binary_body(&flagged),
            Err(CodecError::MalformedBinary("unknown flags"))
        ));
        // Return-channel fields exist only in JSON.
        let relayed = BodyChunk {
            reply_to: Some("r".into()),
            ..chunk
        };
        assert!(encode_binary_body(&relayed).is_none());
    }

    #[test]
    fn encoded_sizes_and_splitting_characters_are_counted_in_one_pass() {
        // Every byte below 0x80 against what serde_json writes for it.
        for b in 0u8..0x80 {
            let s = char::from(b).to_string();
            let written = serde_json::to_string(&s).unwrap().len() - 2;
            assert_eq!(
                encoded_len(&s),
                (written, matches!(b, b'\r' | b'\n' | 0)),
                "{b:#x}"
            );
        }
        assert_eq!(encoded_len("a\u{e9}\"\u{1}"), (1 + 2 + 2 + 6, false));
        // The first header that could split the head is named, after the size check.
        let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        let headers = vec![h("ok", "v"), h("x-a", "1\n2"), h("x-b", "\r")];
        assert!(matches!(
            check_head(7, "/", &headers),
            Err(HeadError::ControlCharacter { id: 7, name }) if name == "x-a"
        ));
        let headers = vec![h("x-a", "\n"), h("big", &"\"".repeat(MAX_HEADER_BYTES / 2))];
        assert!(matches!(
            check_head(7, "/", &headers),
            Err(HeadError::HeadersTooLarge { .. })
        ));
    }

    #[test]
    fn head_limits_are_inclusive() {
        let at = vec![("a".to_owned(), "b".to_owned()); MAX_HEADER_COUNT];
        check_head(1, "/", &at).unwrap();
        let over = vec![("a".to_owned(), "b".to_owned()); MAX_HEADER_COUNT + 1];
        assert!(matches!(
            check_head(1, "/", &over),
            Err(HeadError::TooManyHeaders { .. })
        ));
        let big = vec![("a".to_owned(), "b".repeat(MAX_HEADER_BYTES - 1))];
        check_head(1, "/", &big).unwrap();
        let bigger = vec![("a".to_owned(), "b".repeat(MAX_HEADER_BYTES))];
        assert!(matches!(
            check_head(1, "/", &bigger),
            Err(HeadError::HeadersTooLarge { .. })
        ));
        check_head(1, &"p".repeat(MAX_PATH_BYTES), &vec![]).unwrap();
        assert!(matches!(
            check_head(1, &"p".repeat(MAX_PATH_BYTES + 1), &vec![]),
            Err(HeadError::PathTooLong { .. })
        ));
        for bad in ["a\r\nb", "a\nb", "a\0b"] {
            let h = vec![("x".to_owned(), bad.to_owned())];
            assert!(matches!(
                check_head(1, "/", &h),
                Err(HeadError::ControlCharacter { .. })
            ));
        }
    }
}
