//! A public request's head as each reader needs it: as text for admission and
//! capture, as the origin is to get it, and header lines back into HTTP.

use client_core::protocol::Headers;
use client_core::session::is_upgrade_request;
use http::{HeaderName, HeaderValue};
use tunnel_backend::handlers::admission::Refusal;
use tunnel_backend::handlers::proxy::for_origin;

use crate::State;

/// Headers as text, for admission and capture (a value that is not text is kept,
/// lossily: the check only compares, the record only shows).
pub(crate) fn lossy_headers(headers: &http::HeaderMap) -> Headers {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The body length a request declares with `Content-Length`.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A public request's headers as the origin is to get them ([`for_origin`]), or why
/// not (a 400 for the caller: a header value the tunnel cannot carry).
pub(crate) fn origin_headers(
    state: &State,
    domain: &str,
    headers: &http::HeaderMap,
    remote_ip: Option<&str>,
    request_id: &str,
) -> Result<Headers, Refusal> {
    let mut lines = Headers::with_capacity(headers.len() + 6);
    for (name, value) in headers {
        let Ok(v) = value.to_str() else {
            return Err(Refusal::BadHeaderValue {
                name: name.as_str().to_owned(),
            });
        };
        lines.push((name.as_str().to_owned(), v.to_owned()));
    }
    let public = &state.backend.config.public;
    Ok(for_origin(lines, public, domain, remote_ip, request_id))
}

/// Whether a public request asks for a WebSocket: an upgrade (RFC 9110 section 7.8)
/// to `websocket`. Other upgrades (h2c) go as plain requests, their hop-by-hop
/// headers dropped.
pub(crate) fn wants_websocket(headers: &http::HeaderMap) -> bool {
    let lines: Headers = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    is_upgrade_request(&lines)
        && headers
            .get_all(http::header::UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
}

/// Copies header lines that are valid HTTP into `h`; others are dropped.
pub(crate) fn copy_headers(h: &mut http::HeaderMap, headers: Headers) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.append(n, v);
        }
    }
}
