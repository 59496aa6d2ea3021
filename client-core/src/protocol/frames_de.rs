//! How the frame enums are read: their `Deserialize`, through [`super::tagged`].
//!
//! Each twin below repeats its enum's variants and fields with the same serde
//! attributes, externally tagged; its derive (`remote`) builds the real enum, so a
//! field added to a frame and not here does not compile, and the tests below check that
//! every variant decodes to what it encodes from.

use serde::{Deserialize, Deserializer};

use super::frames::{BodyChunk, ClientFrame, ErrorFrame, Headers, ServerFrame, StreamId};
use super::tagged::{self, Parts, Tagged};

/// Declares the twin `$twin` of `$remote` from the variants given, and (in tests)
/// `$derived`, the same variants read by serde's own internally tagged derive: what
/// the one-pass reader is checked against.
macro_rules! twins {
    ($remote:literal, $twin:ident, $derived:ident, { $($variants:tt)* }) => {
        #[derive(Deserialize)]
        #[serde(remote = $remote, rename_all = "snake_case")]
        enum $twin { $($variants)* }

        #[cfg(test)]
        #[derive(Deserialize)]
        #[serde(remote = $remote, tag = "action", rename_all = "snake_case")]
        enum $derived { $($variants)* }
    };
}

twins!("ClientFrame", ClientFrameTwin, ClientFrameDerived, {
    Connect {
        version: u16,
        tunnel_id: String,
        #[serde(default)]
        binary: bool,
        #[serde(default)]
        resume: bool,
        #[serde(default)]
        upgrade: bool,
        #[serde(default)]
        body_urls: bool,
    },
    Response {
        id: StreamId,
        status: u16,
        headers: Headers,
        #[serde(default, with = "crate::b64")]
        body: Vec<u8>,
        fin: bool,
        #[serde(default)]
        stored: bool,
        #[serde(default)]
        reply_to: Option<String>,
        #[serde(default)]
        secret: Option<String>,
    },
    Body(BodyChunk),
    Error(ErrorFrame),
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    Release {},
});

twins!("ServerFrame", ServerFrameTwin, ServerFrameDerived, {
    Connected {
        version: u16,
        tunnel_id: String,
        domain: String,
        public_url: String,
        max_chunk: usize,
        #[serde(default)]
        window: u32,
        #[serde(default)]
        renew_after: u32,
        #[serde(default)]
        binary: bool,
    },
    Request {
        id: StreamId,
        method: String,
        path: String,
        headers: Headers,
        #[serde(default, with = "crate::b64")]
        body: Vec<u8>,
        fin: bool,
        #[serde(default)]
        reply_to: Option<String>,
        #[serde(default)]
        secret: Option<String>,
        #[serde(default)]
        body_url: Option<String>,
        #[serde(default)]
        answer_url: Option<String>,
    },
    Body(BodyChunk),
    Credit {
        id: StreamId,
        up_to: u32,
    },
    Cancel {
        id: StreamId,
    },
    Error(ErrorFrame),
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    Released {},
});

impl Tagged for ClientFrame {
    const EXPECTING: &'static str = "internally tagged enum ClientFrame";

    fn from_parts<'de, R: Deserializer<'de>>(parts: Parts<'de, R>) -> Result<Self, R::Error> {
        ClientFrameTwin::deserialize(parts)
    }
}

impl Tagged for ServerFrame {
    const EXPECTING: &'static str = "internally tagged enum ServerFrame";

    fn from_parts<'de, R: Deserializer<'de>>(parts: Parts<'de, R>) -> Result<Self, R::Error> {
        ServerFrameTwin::deserialize(parts)
    }
}

impl<'de> Deserialize<'de> for ClientFrame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tagged::deserialize(d)
    }
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tagged::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorCode, decode_text, encode};
    use serde_json::Value;
    use std::fmt::Debug;

    /// The frame the derive reads from `text`, or its error without the position.
    fn derived<'de, F>(
        text: &'de str,
        read: fn(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
        ) -> serde_json::Result<F>,
    ) -> Result<F, String> {
        let mut d = serde_json::Deserializer::from_str(text);
        read(&mut d)
            .and_then(|f| d.end().map(|()| f))
            .map_err(|e| without_position(&e))
    }

    fn without_position(e: &serde_json::Error) -> String {
        let text = e.to_string();
        match text.rfind(" at line ") {
            Some(at) => text[..at].to_owned(),
            None => text,
        }
    }

    fn agree<F: for<'de> Deserialize<'de> + PartialEq + Debug>(
        text: &str,
        derived: Result<F, String>,
    ) {
        let ours = serde_json::from_str::<F>(text).map_err(|e| without_position(&e));
        assert_eq!(ours, derived, "{text}");
    }

    fn client(text: &str) {
        agree::<ClientFrame>(text, derived(text, |d| ClientFrameDerived::deserialize(d)));
    }

    fn server(text: &str) {
        agree::<ServerFrame>(text, derived(text, |d| ServerFrameDerived::deserialize(d)));
    }

    /// `value`'s object written with its keys in every rotation, so `action` comes
    /// first, last and between.
    fn rotations(value: &Value) -> Vec<String> {
        let entries: Vec<String> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
            .collect();
        (0..entries.len())
            .map(|i| {
                let mut e = entries.clone();
                e.rotate_left(i);
                format!("{{{}}}", e.join(","))
            })
            .collect()
    }

    fn client_frames() -> Vec<ClientFrame> {
        let chunk = BodyChunk {
            id: 3,
            seq: 1,
            data: b"ab\0c".to_vec(),
            fin: true,
            reply_to: Some("r".into()),
            secret: Some("s".into()),
        };
        vec![
            ClientFrame::Connect {
                version: 1,
                tunnel_id: "t\"1".into(),
                binary: true,
                resume: true,
                upgrade: false,
                body_urls: true,
            },
            ClientFrame::Response {
                id: u64::MAX,
                status: 200,
                headers: vec![("a".into(), "b".into()), ("a".into(), "\u{e9}\\".into())],
                body: vec![1, 2, 3],
                fin: false,
                stored: true,
                reply_to: Some("r".into()),
                secret: None,
            },
            ClientFrame::Body(chunk.clone()),
            ClientFrame::Error(ErrorFrame {
                id: Some(4),
                code: ErrorCode::OriginRefused,
                message: "no".into(),
                reply_to: None,
                secret: Some("s".into()),
            }),
            ClientFrame::Ping { nonce: 7 },
            ClientFrame::Pong { nonce: 0 },
            ClientFrame::Release {},
        ]
    }

    fn server_frames() -> Vec<ServerFrame> {
        vec![
            ServerFrame::Connected {
                version: 1,
                tunnel_id: "t".into(),
                domain: "d".into(),
                public_url: "http://d.localhost".into(),
                max_chunk: 65536,
                window: 8,
                renew_after: 0,
                binary: true,
            },
            ServerFrame::Request {
                id: 9,
                method: "GET".into(),
                path: "/a?b=\"c\"".into(),
                headers: vec![("host".into(), "d".into())],
                body: vec![],
                fin: true,
                reply_to: None,
                secret: Some("s".into()),
                body_url: Some("u".into()),
                answer_url: None,
            },
            ServerFrame::Body(BodyChunk {
                id: 1,
                seq: 0,
                data: vec![],
                fin: false,
                reply_to: None,
                secret: None,
            }),
            ServerFrame::Credit { id: 1, up_to: 4 },
            ServerFrame::Cancel { id: 2 },
            ServerFrame::Error(ErrorFrame {
                id: None,
                code: ErrorCode::Internal,
                message: "m".into(),
                reply_to: None,
                secret: None,
            }),
            ServerFrame::Ping { nonce: 1 },
            ServerFrame::Pong { nonce: 2 },
            ServerFrame::Released {},
        ]
    }

    #[test]
    fn every_frame_reads_back_whatever_the_order_of_its_keys() {
        for frame in client_frames() {
            let value = serde_json::to_value(&frame).unwrap();
            for text in rotations(&value) {
                assert_eq!(decode_text::<ClientFrame>(&text).unwrap(), frame, "{text}");
                client(&text);
            }
            let crate::protocol::Message::Text(text) = encode(&frame).unwrap() else {
                panic!("not text");
            };
            assert!(text.starts_with(r#"{"action":"#), "{text}");
        }
        for frame in server_frames() {
            let value = serde_json::to_value(&frame).unwrap();
            for text in rotations(&value) {
                assert_eq!(decode_text::<ServerFrame>(&text).unwrap(), frame, "{text}");
                server(&text);
            }
        }
    }

    #[test]
    fn what_the_derive_refuses_is_refused_with_its_words() {
        let inputs = [
            r#"{}"#,
            r#"{"nonce":1}"#,
            r#"{"action":"ping"}"#,
            r#"{"nonce":1,"action":"ping","action":"ping"}"#,
            r#"{"action":"ping","nonce":1,"action":"ping"}"#,
            r#"{"action":"ping","action":"pong","nonce":1}"#,
            r#"{"action":"ping","nonce":1,"nonce":2}"#,
            r#"{"nonce":1,"nonce":2,"action":"ping"}"#,
            r#"{"action":"ping","nonce":1,"extra":[1,{"a":null}]}"#,
            r#"{"extra":true,"action":"pong","nonce":1}"#,
            r#"{"action":"dance","nonce":1}"#,
            r#"{"action":1,"nonce":1}"#,
            r#"{"action":null}"#,
            r#"{"action":"ping","nonce":-1}"#,
            r#"{"nonce":1.5,"action":"ping"}"#,
            r#"{"nonce":"1","action":"ping"}"#,
            r#"{"act\u0069on":"p\u0069ng","n\u006fnce":3}"#,
            r#"{"nonce":3,"act\u0069on":"p\u0069ng"}"#,
            r#"{"action":"body","id":1,"seq":0,"data":"!!","fin":true}"#,
            r#"{"data":"AAE=","action":"body","id":1,"seq":0,"fin":true}"#,
            r#"{"action":"error","code":"nope","message":"m"}"#,
            r#"{"action":"release","anything":1}"#,
            r#"{"action":"release","x":1,"x":2}"#,
            r#"{"action":"response","id":1,"status":200,"headers":[["a"]],"fin":true}"#,
            r#"["ping",5]"#,
            r#"["ping"]"#,
            r#"["release"]"#,
            r#"["body",1,0,"AA==",true]"#,
            r#"[]"#,
            r#"[1,2]"#,
            r#""ping""#,
            r#"null"#,
            r#"5"#,
            r#"{"action":"ping","nonce":1} x"#,
            r#"{"action":"ping","nonce":1"#,
        ];
        for text in inputs {
            client(text);
            server(text);
        }
    }
}
