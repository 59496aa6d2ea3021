//! Replay edits: a captured request turned into a new one to send again.

use serde::{Deserialize, Serialize};

use super::http::{is_header_value, is_token};
use super::model::Exchange;
use super::redact::REDACTED;
use crate::protocol::Headers;

/// Changes to make to a captured request before sending it again.
///
/// [`Self::apply`] does, in order: method and path replaced when given; headers whose
/// value is [`REDACTED`] dropped (a mask is not a credential: put the real one back with
/// `set_headers`); `remove_headers` removed; `set_headers` set; body replaced when given;
/// then the framing headers fixed, see [`Self::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayEdits {
    /// New method.
    #[serde(default)]
    pub method: Option<String>,
    /// New path and query string (origin form, starting with `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// Headers to set. Each name (case-insensitive) replaces every captured value of
    /// that name, at the place of the first; a name given twice here sends both values.
    #[serde(default)]
    pub set_headers: Headers,
    /// Names of headers to remove (case-insensitive). Applied before `set_headers`, so
    /// a name in both ends up set.
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// New body (base64 in JSON); `None` keeps the captured one.
    #[serde(default, with = "crate::b64::option")]
    pub body: Option<Vec<u8>>,
}

/// The request a replay sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query string.
    pub path: String,
    /// Header lines, in order.
    pub headers: Headers,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a replay cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The captured body is only a prefix of the original, and no new body was given.
    #[error(
        "the captured request body is truncated ({captured} of {size} bytes); give a new body to replay it"
    )]
    TruncatedBody {
        /// Bytes captured.
        captured: u64,
        /// Bytes the original body had.
        size: u64,
    },
    /// The new method is not an HTTP method token.
    #[error("method must be an HTTP method such as GET or POST (got \"{0}\")")]
    BadMethod(String),
    /// The new path does not start with `/` or holds whitespace or control characters.
    #[error("path must start with / and hold no spaces or control characters (got \"{0}\")")]
    BadPath(String),
    /// A header name to set is not a token.
    #[error("header name \"{0}\" is not valid")]
    BadHeaderName(String),
    /// A header value to set holds CR, LF or another control character.
    #[error("the value of header \"{0}\" holds a line break or control character")]
    BadHeaderValue(String),
}

impl ReplayEdits {
    /// The request to send for a replay of `exchange` with these edits.
    ///
    /// Framing: the replay sends the body whole, so every captured or set
    /// `Content-Length` and `Transfer-Encoding` is removed, and `content-length: <len>`
    /// is appended when the body is not empty, when the captured request declared a
    /// length or an encoding, or when the edits give a body (so a `POST` emptied on
    /// purpose says `content-length: 0`). A `GET` without a body stays without one.
    ///
    /// Fails when the captured body was truncated and no new body is given (sending a
    /// prefix would be a different request), and on edits that are not valid HTTP.
    pub fn apply(&self, exchange: &Exchange) -> Result<ReplayRequest, ReplayError> {
        let method = match &self.method {
            Some(method) if !is_token(method) => {
                return Err(ReplayError::BadMethod(method.clone()));
            }
            Some(method) => method.clone(),
            None => exchange.method.clone(),
        };
        let path = match &self.path {
            Some(path) if !is_origin_path(path) => return Err(ReplayError::BadPath(path.clone())),
            Some(path) => path.clone(),
            None => exchange.path.clone(),
        };
        for (name, value) in &self.set_headers {
            if !is_token(name) {
                return Err(ReplayError::BadHeaderName(name.clone()));
            }
            if !is_header_value(value) {
                return Err(ReplayError::BadHeaderValue(name.clone()));
            }
        }
        let captured = &exchange.request.body;
        let body = match &self.body {
            Some(body) => body.clone(),
            None if captured.truncated || captured.bytes.len() as u64 != captured.size => {
                return Err(ReplayError::TruncatedBody {
                    captured: captured.bytes.len() as u64,
                    size: captured.size,
                });
            }
            None => captured.bytes.clone(),
        };

        let is_framing = |name: &str| {
            name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
        };
        let declared_length = exchange.request.headers.iter().any(|(n, _)| is_framing(n));

        let mut headers: Headers = exchange
            .request
            .headers
            .iter()
            .filter(|(name, value)| {
                value != REDACTED
                    && !self
                        .remove_headers
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect();

        let mut done: Vec<&str> = Vec::new();
        for (name, _) in &self.set_headers {
            if done.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                continue;
            }
            done.push(name);
            let values = self
                .set_headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .cloned();
            match headers
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(at) => {
                    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    let tail = headers.split_off(at.min(headers.len()));
                    headers.extend(values);
                    headers.extend(tail);
                }
                None => headers.extend(values),
            }
        }

        headers.retain(|(name, _)| !is_framing(name));
        if !body.is_empty() || declared_length || self.body.is_some() {
            headers.push(("content-length".to_owned(), body.len().to_string()));
        }

        Ok(ReplayRequest {
            method,
            path,
            headers,
            body,
        })
    }
}

fn is_origin_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b > 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::super::model::CapturedBody;
    use super::super::model::fixtures::*;
    use super::*;

    fn post(body: &[u8]) -> Exchange {
        let mut x = exchange("POST", "/submit", Some(200));
        x.request.headers = headers(&[
            ("Host", "x.example"),
            ("Authorization", REDACTED),
            ("X-Trace", "a"),
            ("Content-Type", "text/plain"),
            ("x-trace", "b"),
            ("Content-Length", &body.len().to_string()),
        ]);
        x.request.body = CapturedBody::full(body.to_vec());
        x
    }

    #[test]
    fn replay_without_edits_sends_the_capture() {
        let r = ReplayEdits::default().apply(&post(b"hello")).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/submit");
        assert_eq!(r.body, b"hello");
        // The redacted header is dropped; content-length recomputed at the end.
        assert_eq!(
            r.headers,
            headers(&[
                ("Host", "x.example"),
                ("X-Trace", "a"),
                ("Content-Type", "text/plain"),
                ("x-trace", "b"),
                ("content-length", "5"),
            ])
        );

        // A GET without a body gets no content-length.
        let r = ReplayEdits::default()
            .apply(&exchange("GET", "/", Some(200)))
            .unwrap();
        assert!(!r.headers.iter().any(|(n, _)| n == "content-length"));
    }

    #[test]
    fn replay_edits_replace_remove_and_recompute() {
        let edits = ReplayEdits {
            method: Some("PUT".into()),
            path: Some("/other?q=1".into()),
            set_headers: headers(&[
                ("x-TRACE", "new"),
                ("authorization", "Bearer real"),
                ("X-Trace", "new2"),
                ("Content-Length", "999"),
            ]),
            remove_headers: vec!["HOST".into(), "content-type".into()],
            body: Some(b"{}".to_vec()),
        };
        let r = edits.apply(&post(b"hello")).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/other?q=1"));
        assert_eq!(r.body, b"{}");
        assert_eq!(
            r.headers,
            headers(&[
                ("x-TRACE", "new"),
                ("X-Trace", "new2"),
                ("authorization", "Bearer real"),
                ("content-length", "2"),
            ])
        );

        // Emptying a POST body on purpose says so.
        let edits = ReplayEdits {
            body: Some(vec![]),
            ..ReplayEdits::default()
        };
        let r = edits.apply(&post(b"hello")).unwrap();
        assert_eq!(
            r.headers.last(),
            Some(&("content-length".to_owned(), "0".to_owned()))
        );

        // Chunked framing becomes a length.
        let mut chunked = post(b"abc");
        chunked
            .request
            .headers
            .retain(|(n, _)| n != "Content-Length");
        chunked
            .request
            .headers
            .push(("Transfer-Encoding".into(), "chunked".into()));
        let r = ReplayEdits::default().apply(&chunked).unwrap();
        assert!(
            !r.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        );
        assert_eq!(
            r.headers.last(),
            Some(&("content-length".to_owned(), "3".to_owned()))
        );

        // Remove and set the same name: set wins.
        let edits = ReplayEdits {
            set_headers: headers(&[("x-trace", "z")]),
            remove_headers: vec!["X-Trace".into()],
            ..ReplayEdits::default()
        };
        let r = edits.apply(&post(b"")).unwrap();
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-trace"))
                .count(),
            1
        );
    }

    #[test]
    fn replay_refuses_truncated_bodies_and_bad_edits() {
        let mut x = post(b"hello");
        x.request.body = CapturedBody {
            bytes: b"he".to_vec(),
            size: 5,
            truncated: true,
        };
        assert_eq!(
            ReplayEdits::default().apply(&x).unwrap_err(),
            ReplayError::TruncatedBody {
                captured: 2,
                size: 5
            }
        );
        // A new body lifts the refusal.
        let edits = ReplayEdits {
            body: Some(b"whole".to_vec()),
            ..ReplayEdits::default()
        };
        assert_eq!(edits.apply(&x).unwrap().body, b"whole");

        let bad = |edits: ReplayEdits| edits.apply(&post(b"")).unwrap_err();
        assert_eq!(
            bad(ReplayEdits {
                method: Some("GE T".into()),
                ..ReplayEdits::default()
            }),
            ReplayError::BadMethod("GE T".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                path: Some("x".into()),
                ..ReplayEdits::default()
            }),
            ReplayError::BadPath("x".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                path: Some("/a b".into()),
                ..ReplayEdits::default()
            }),
            ReplayError::BadPath("/a b".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                set_headers: headers(&[("a b", "1")]),
                ..ReplayEdits::default()
            }),
            ReplayError::BadHeaderName("a b".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                set_headers: headers(&[("x", "1\r\nInjected: yes")]),
                ..ReplayEdits::default()
            }),
            ReplayError::BadHeaderValue("x".into())
        );
    }

    #[test]
    fn replay_edits_json_body_is_base64() {
        let edits: ReplayEdits = serde_json::from_str(r#"{"body":"AP8="}"#).unwrap();
        assert_eq!(edits.body.as_deref(), Some(&[0u8, 255][..]));
        assert!(edits.set_headers.is_empty() && edits.method.is_none());
        let edits: ReplayEdits = serde_json::from_str(r#"{"body":null}"#).unwrap();
        assert_eq!(edits.body, None);
        let text = serde_json::to_string(&ReplayEdits {
            body: Some(vec![0, 255]),
            set_headers: headers(&[("a", "b")]),
            ..ReplayEdits::default()
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"method":null,"path":null,"set_headers":[["a","b"]],"remove_headers":[],"body":"AP8="}"#
        );
        assert!(serde_json::from_str::<ReplayEdits>(r#"{"body":"!!"}"#).is_err());
    }
}
