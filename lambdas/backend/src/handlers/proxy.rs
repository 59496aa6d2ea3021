//! tunnel-proxy's transport-independent parts: finding the connection that serves a
//! public host, cleaning headers for the trip, and the pages the public sees when
//! something is wrong.

use client_core::protocol::Headers;

use crate::Backend;
use crate::model::TunnelRecord;
use crate::store::StoreError;

/// Where a public request goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The tunnel.
    pub tunnel: TunnelRecord,
    /// The connection serving it.
    pub connection_id: String,
}

/// Why a public request cannot be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No tunnel holds the domain.
    #[error("no tunnel is registered for {0}")]
    UnknownTunnel(String),
    /// The tunnel exists but no client serves it (the tunnel is there for its policy:
    /// an offline inbox still takes requests).
    #[error("the tunnel {} is offline", .0.domain)]
    Offline(Box<TunnelRecord>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Finds the connection serving subdomain `domain`.
pub async fn resolve(b: &Backend, domain: &str) -> Result<Target, ProxyError> {
    let claim = b
        .store
        .get_domain(domain)
        .await?
        .ok_or_else(|| ProxyError::UnknownTunnel(domain.to_owned()))?;
    let tunnel = b
        .store
        .get_tunnel(&claim.tunnel_id)
        .await?
        .ok_or_else(|| ProxyError::UnknownTunnel(domain.to_owned()))?;
    match tunnel.connection_id.clone() {
        Some(connection_id) => Ok(Target {
            tunnel,
            connection_id,
        }),
        None => Err(ProxyError::Offline(Box::new(tunnel))),
    }
}

/// Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus the
/// ones the origin-side HTTP client sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers worth carrying to the other side: hop-by-hop ones and any named in
/// `Connection` are dropped; order and repeats are kept.
pub fn end_to_end(headers: Headers) -> Headers {
    let named: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    headers
        .into_iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&n.as_str()) && !named.contains(&n)
        })
        .collect()
}

/// Status and explanation for the public when the client could not get an answer
/// from its origin.
pub fn origin_failure(code: client_core::protocol::ErrorCode, message: &str) -> (u16, String) {
    use client_core::protocol::ErrorCode;
    match code {
        ErrorCode::OriginRefused => (
            502,
            format!(
                "The tunnel client could not reach the local service: the local port refused the connection ({message})."
            ),
        ),
        ErrorCode::OriginTimeout => (
            504,
            format!("The local service did not answer in time ({message})."),
        ),
        _ => (
            502,
            format!("The tunnel client could not complete the request: {message}"),
        ),
    }
}

/// Header carrying the id that follows one request from the edge to the origin.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Prepares a public request's headers for the trip to the origin: hop-by-hop headers
/// dropped, `X-Forwarded-For/Proto/Host` added, and `X-Request-Id: <request_id>` added
/// unless the request brought one (then the origin sees the caller's own id, which is
/// in the captured request headers, and the inspector keeps ours).
pub fn for_origin(
    headers: Headers,
    host: &str,
    remote_ip: Option<&str>,
    scheme: &str,
    request_id: &str,
) -> Headers {
    let mut headers = end_to_end(headers);
    if let Some(ip) = remote_ip {
        headers.push(("x-forwarded-for".into(), ip.to_owned()));
    }
    headers.push(("x-forwarded-proto".into(), scheme.to_owned()));
    headers.push(("x-forwarded-host".into(), host.to_owned()));
    let brought = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(REQUEST_ID_HEADER) && !v.is_empty());
    if !brought {
        headers.push((REQUEST_ID_HEADER.into(), request_id.to_owned()));
    }
    headers
}

/// A small HTML page for the public when the tunnel cannot answer.
pub fn error_page(status: u16, title: &str, detail: &str) -> Vec<u8> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">\
         <h1>{status} {title}</h1><p>{detail}</p><hr><small>tunnel</small></body></html>\n",
        title = esc(title),
        detail = esc(detail),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hop_by_hop_and_connection_named_headers() {
        let h = vec![
            ("Host".to_owned(), "a".to_owned()),
            (
                "Connection".to_owned(),
                "keep-alive, X-Secret-Hop".to_owned(),
            ),
            ("Keep-Alive".to_owned(), "5".to_owned()),
            ("x-secret-hop".to_owned(), "1".to_owned()),
            ("Transfer-Encoding".to_owned(), "chunked".to_owned()),
            ("X-A".to_owned(), "1".to_owned()),
            ("X-A".to_owned(), "2".to_owned()),
        ];
        let kept: Vec<_> = end_to_end(h)
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(kept, ["Host=a", "X-A=1", "X-A=2"]);
    }

    #[test]
    fn origin_headers_carry_forwarding_and_one_request_id() {
        let h = for_origin(
            vec![("a".into(), "1".into())],
            "x.localhost",
            Some("10.0.0.1"),
            "http",
            "id1",
        );
        assert!(h.contains(&(REQUEST_ID_HEADER.into(), "id1".into())));
        assert!(h.contains(&("x-forwarded-for".into(), "10.0.0.1".into())));
        assert!(h.contains(&("x-forwarded-host".into(), "x.localhost".into())));
        let h2 = for_origin(
            vec![("X-Request-Id".into(), "abc".into())],
            "x",
            None,
            "https",
            "id2",
        );
        let ids: Vec<_> = h2
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(REQUEST_ID_HEADER))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(ids, ["abc"], "an id the request brought is kept, alone");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = String::from_utf8(error_page(404, "Not Found", "<script>")).unwrap();
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }
}
