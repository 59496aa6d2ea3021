//! Base64 (standard alphabet, padded) for body bytes in JSON: the wire protocol and the
//! inspection records.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Encodes bytes as standard padded base64.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(bytes))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_str(Decode)
}

/// Decodes the text where the deserializer holds it. (A `Cow<str>` would not borrow:
/// serde's `Cow` always deserializes owned, so every body was copied once before its
/// decode.)
struct Decode;

impl Visitor<'_> for Decode {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        STANDARD.decode(text.as_bytes()).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        // As `String` takes bytes: when they are UTF-8.
        match std::str::from_utf8(bytes) {
            Ok(text) => self.visit_str(text),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(bytes), &self)),
        }
    }
}

/// The same for an optional body: `null` or absent is `None`.
pub(crate) mod option {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    // serde's `with` passes `&Option<Vec<u8>>`.
    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        d.deserialize_option(MaybeDecode)
    }

    struct MaybeDecode;

    impl<'de> Visitor<'de> for MaybeDecode {
        type Value = Option<Vec<u8>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("option")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Body {
        #[serde(with = "super")]
        data: Vec<u8>,
        #[serde(default, with = "super::option")]
        maybe: Option<Vec<u8>>,
    }

    fn read(text: &str) -> Result<Body, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn bodies_decode_from_plain_and_escaped_text_and_bad_ones_are_refused() {
        let body = |data: &[u8], maybe: Option<&[u8]>| Body {
            data: data.to_vec(),
            maybe: maybe.map(<[u8]>::to_vec),
        };
        assert_eq!(read(r#"{"data":"AAE="}"#), Ok(body(&[0, 1], None)));
        // An escape makes serde_json hand over a copy, not the input: same bytes.
        assert_eq!(read(r#"{"data":"AAE\u003d"}"#), Ok(body(&[0, 1], None)));
        assert_eq!(read(r#"{"data":"","maybe":null}"#), Ok(body(&[], None)));
        assert_eq!(
            read(r#"{"data":"","maybe":"/w=="}"#),
            Ok(body(&[], Some(&[0xff])))
        );
        let err = read(r#"{"data":1}"#).unwrap_err();
        assert!(
            err.starts_with("invalid type: integer `1`, expected a string"),
            "{err}"
        );
        let err = read(r#"{"data":"A"}"#).unwrap_err();
        assert!(err.starts_with("Invalid"), "{err}");
        let err = read(r#"{"data":"","maybe":[]}"#).unwrap_err();
        assert!(err.contains("expected a string"), "{err}");
    }
}
