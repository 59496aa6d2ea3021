//! What a Lambda Function URL takes from its function as an answer, read as strictly
//! as AWS documents it.
//!
//! A Function URL's response follows API Gateway's payload format 2.0
//! (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>, "Response
//! payload format" and "Cookies"): `statusCode`, `headers` as an object of **string**
//! values, `cookies` as a list of strings (each one becomes a `Set-Cookie` header),
//! `body` and `isBase64Encoded`. Format 2.0 has no `multiValueHeaders` and no
//! list-valued headers: a function that wants a header twice joins the values with
//! commas, and cookies go in `cookies`. A `RESPONSE_STREAM` function sends the same
//! head (`statusCode`, `headers`, `cookies`) as the JSON prelude of its stream.
//!
//! The rules live here once, for both modes. A response that breaks them is refused
//! with a [`ResponseError`] saying which rule; the caller answers the viewer 502, as
//! AWS does for a function response it cannot use (API Gateway documents the 502 for
//! "a response in the wrong format":
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html>).
//! Fields outside the contract, `multiValueHeaders` among them, are ignored as AWS
//! ignores them, and named in [`Head::ignored`] so the caller can log them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// The fields of a buffered payload-2.0 answer. Anything else is ignored.
const BUFFERED_FIELDS: [&str; 5] = [
    "statusCode",
    "headers",
    "cookies",
    "body",
    "isBase64Encoded",
];

/// The fields of a stream's prelude. Anything else is ignored.
const PRELUDE_FIELDS: [&str; 3] = ["statusCode", "headers", "cookies"];

/// The status a Function URL answers with when the function's answer has none.
pub const DEFAULT_STATUS: u16 = 200;

/// Why a function's answer is not a valid Function URL response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The answer is not JSON at all.
    #[error("the response is not JSON: {0}")]
    NotJson(String),
    /// A stream's prelude is JSON but not an object.
    #[error("the prelude is not a JSON object")]
    NotAnObject,
    /// `statusCode` is not an integer from 100 to 599.
    #[error("statusCode {0} is not an HTTP status (an integer from 100 to 599)")]
    Status(String),
    /// `headers` is not an object.
    #[error("headers is not an object of header names to string values")]
    HeadersNotObject,
    /// A header's value is not a string. Format 2.0 has no list values: repeated
    /// headers are one string joined with commas, and cookies go in `cookies`.
    #[error(
        "header {name:?} has {kind} value; payload format 2.0 takes one string per header \
         (join repeated values with commas, and put Set-Cookie values in `cookies`)"
    )]
    HeaderNotString {
        /// The header.
        name: String,
        /// What the value was instead (`an array`, `a number`, ...).
        kind: &'static str,
    },
    /// `cookies` is not a list of strings.
    #[error("cookies is not a list of strings")]
    Cookies,
    /// `body` is neither a string nor absent.
    #[error("body is {0}, not a string")]
    Body(&'static str),
    /// `isBase64Encoded` is not a boolean.
    #[error("isBase64Encoded is not a boolean")]
    Base64Flag,
    /// `isBase64Encoded` is true and `body` is not base64.
    #[error("isBase64Encoded is true but body is not valid base64")]
    Base64Body,
}

/// The HTTP head of a Function URL answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// `statusCode` ([`DEFAULT_STATUS`] when absent, as on AWS).
    pub status_code: u16,
    /// `headers`, one string per name, in the function's order.
    pub headers: Vec<(String, String)>,
    /// `cookies`, each one `Set-Cookie` value.
    pub cookies: Vec<String>,
    /// Top-level fields outside the contract (e.g. `multiValueHeaders`), which AWS
    /// ignores.
    pub ignored: Vec<String>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The header lines the viewer gets: `headers`, then one `set-cookie` per cookie.
    pub fn lines(&self) -> Vec<(String, String)> {
        let cookies = self
            .cookies
            .iter()
            .map(|c| ("set-cookie".to_owned(), c.clone()));
        self.headers.iter().cloned().chain(cookies).collect()
    }

    fn read(doc: &Map<String, Value>, fields: &[&str]) -> Result<Self, ResponseError> {
        let status_code = match doc.get("statusCode") {
            None | Some(Value::Null) => DEFAULT_STATUS,
            Some(v) => v
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..=599).contains(n))
                .ok_or_else(|| ResponseError::Status(v.to_string()))?,
        };
        let mut headers = Vec::new();
        match doc.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    let Value::String(value) = value else {
                        return Err(ResponseError::HeaderNotString {
                            name: name.clone(),
                            kind: kind(value),
                        });
                    };
                    headers.push((name.clone(), value.clone()));
                }
            }
            Some(_) => return Err(ResponseError::HeadersNotObject),
        }
        let cookies = match doc.get("cookies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|c| c.as_str().map(str::to_owned).ok_or(ResponseError::Cookies))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ResponseError::Cookies),
        };
        let ignored = doc
            .keys()
            .filter(|k| !fields.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok(Self {
            status_code,
            headers,
            cookies,
            ignored,
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Head {
    /// Reads the prelude of a `RESPONSE_STREAM` answer (the JSON before the 8 NUL
    /// bytes, as `lambda_runtime`'s `MetadataPrelude` or Node's
    /// `HttpResponseStream.from` writes it).
    pub fn prelude(bytes: &[u8]) -> Result<Self, ResponseError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| ResponseError::NotJson(e.to_string()))?;
        let doc = doc.as_object().ok_or(ResponseError::NotAnObject)?;
        Self::read(doc, &PRELUDE_FIELDS)
    }
}

/// A buffered (`BUFFERED` invoke mode) Function URL answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buffered {
    /// Status, headers and cookies.
    pub head: Head,
    /// The body, decoded.
    pub body: Vec<u8>,
}

impl Buffered {
    /// Reads a buffered answer. As AWS documents, valid JSON without a `statusCode`
    /// is not a response object but the body itself: 200, `content-type:
    /// application/json`, the function's output as it was sent.
    pub fn parse(payload: &[u8]) -> Result<Self, ResponseError> {
        let doc: Value =
            serde_json::from_slice(payload).map_err(|e| ResponseError::NotJson(e.to_string()))?;
        let Some(doc) = doc.as_object().filter(|d| d.contains_key("statusCode")) else {
            return Ok(Self {
                head: Head {
                    status_code: DEFAULT_STATUS,
                    headers: vec![("content-type".into(), "application/json".into())],
                    ..Head::default()
                },
                body: payload.to_vec(),
            });
        };
        let head = Head::read(doc, &BUFFERED_FIELDS)?;
        let base64 = match doc.get("isBase64Encoded") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ResponseError::Base64Flag),
        };
        let body = match doc.get("body") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if base64 => {
                STANDARD.decode(s).map_err(|_| ResponseError::Base64Body)?
            }
            Some(Value::String(s)) => s.clone().into_bytes(),
            Some(other) => return Err(ResponseError::Body(kind(other))),
        };
        Ok(Self { head, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preludes_with_string_headers_and_cookies() {
        let p = Head::prelude(
            br#"{"statusCode":201,"headers":{"content-type":"text/plain","x-many":"a, b"},"cookies":["c=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT","d=2"]}"#,
        )
        .unwrap();
        assert_eq!(p.status_code, 201);
        assert_eq!(p.header("Content-Type"), Some("text/plain"));
        assert_eq!(p.header("x-many"), Some("a, b"));
        assert_eq!(
            p.lines(),
            [
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x-many".to_owned(), "a, b".to_owned()),
                (
                    "set-cookie".to_owned(),
                    "c=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT".to_owned()
                ),
                ("set-cookie".to_owned(), "d=2".to_owned()),
            ]
        );
        assert!(p.ignored.is_empty());
        assert_eq!(Head::prelude(b"{}").unwrap().status_code, DEFAULT_STATUS);
    }

    #[test]
    fn preludes_outside_the_contract_are_refused() {
        // What lambda_runtime writes for a header appended twice to its HeaderMap.
        let err = Head::prelude(br#"{"statusCode":200,"headers":{"set-cookie":["a=1","b=2"]}}"#)
            .unwrap_err();
        assert_eq!(
            err,
            ResponseError::HeaderNotString {
                name: "set-cookie".into(),
                kind: "an array"
            }
        );
        assert!(err.to_string().contains("`cookies`"), "{err}");
        for (bad, want) in [
            (&br#"{"statusCode":42}"#[..], "statusCode 42"),
            (br#"{"statusCode":"200"}"#, "statusCode \"200\""),
            (br#"{"headers":{"a":1}}"#, "a number value"),
            (br#"{"headers":["a"]}"#, "headers is not an object"),
            (br#"{"cookies":"a=1"}"#, "cookies"),
            (br#"{"cookies":[1]}"#, "cookies"),
            (b"[]", "not a JSON object"),
            (b"{", "not JSON"),
        ] {
            let err = Head::prelude(bad).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn buffered_answers_as_documented() {
        let r = Buffered::parse(
            br#"{"statusCode":201,"headers":{"a":"1"},"cookies":["x=1"],"body":"aGk=","isBase64Encoded":true}"#,
        )
        .unwrap();
        assert_eq!(r.head.status_code, 201);
        assert_eq!(r.body, b"hi");
        assert_eq!(
            r.head.lines(),
            [
                ("a".into(), "1".into()),
                ("set-cookie".into(), "x=1".into())
            ]
        );
        // Valid JSON without statusCode is the body itself (the doc's examples).
        for inferred in [
            &br#""Hello, world!""#[..],
            br#"{"message":"Hello, world!"}"#,
        ] {
            let r = Buffered::parse(inferred).unwrap();
            assert_eq!(r.head.status_code, 200);
            assert_eq!(r.head.header("content-type"), Some("application/json"));
            assert_eq!(r.body, inferred);
        }
        // multiValueHeaders is not part of format 2.0: ignored, as on AWS.
        let r = Buffered::parse(
            br#"{"statusCode":200,"multiValueHeaders":{"set-cookie":["a=1","b=2"]},"body":"x"}"#,
        )
        .unwrap();
        assert!(r.head.lines().is_empty());
        assert_eq!(r.head.ignored, ["multiValueHeaders"]);
        for (bad, want) in [
            (
                &br#"{"statusCode":200,"headers":{"x":["1","2"]}}"#[..],
                "an array value",
            ),
            (br#"{"statusCode":200,"body":{"a":1}}"#, "body is an object"),
            (
                br#"{"statusCode":200,"isBase64Encoded":"yes"}"#,
                "isBase64Encoded",
            ),
            (
                br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#,
                "base64",
            ),
            (b"not json", "not JSON"),
        ] {
            let err = Buffered::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
