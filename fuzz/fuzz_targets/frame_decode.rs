//! Frame decoding in both encodings: any bytes, as a text or a binary WebSocket
//! message, in both directions. Decoding never panics; the JSON decoder refuses binary
//! (only a session that negotiated it reads binary BODY frames, through
//! `decode_binary_body`); and whatever either decoder accepts encodes back to a frame
//! that decodes to the same value: nothing is lost or invented on the way.

#![no_main]

use std::fmt::Debug;

use client_core::protocol::{
    ClientFrame, CodecError, Message, ServerFrame, decode, decode_binary_body, decode_text, encode,
    encode_binary_body,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<F: Serialize + DeserializeOwned + PartialEq + Debug>(text: &str) {
    let Ok(frame) = decode_text::<F>(text) else {
        return;
    };
    match encode(&frame) {
        Ok(message) => {
            let again: F = decode(&message).expect("an encoded frame decodes");
            assert_eq!(again, frame, "round trip changed the frame");
        }
        // Fields the input left to their defaults (`window`, `renew_after`) are
        // written out, so a frame just under the limit may come back just over it.
        Err(CodecError::TooLarge { .. }) => {}
        Err(e) => panic!("a decoded frame does not encode: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let binary = Message::Binary(data.to_vec());
    assert!(matches!(
        decode::<ClientFrame>(&binary),
        Err(CodecError::UnexpectedBinary)
    ));
    assert!(matches!(
        decode::<ServerFrame>(&binary),
        Err(CodecError::UnexpectedBinary)
    ));
    if let Ok(chunk) = decode_binary_body(data) {
        let Some(Ok(Message::Binary(again))) = encode_binary_body(&chunk) else {
            panic!("a decoded binary BODY does not encode");
        };
        assert_eq!(again, data, "binary round trip changed the bytes");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        round_trip::<ClientFrame>(text);
        round_trip::<ServerFrame>(text);
    }
});
