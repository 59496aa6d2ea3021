//! tunnel-proxy's transport-independent parts: finding the connection that serves a
//! public host, cleaning headers for the trip, and the pages the public sees when
//! something is wrong.

use client_core::protocol::Headers;

use crate::model::TunnelRecord;
use crate::store::StoreError;
use crate::{Backend, PublicUrls};

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

/// Finds the connection serving subdomain `domain` at `now` (seconds since the Unix
/// epoch; an expired tunnel is no tunnel).
pub async fn resolve(b: &Backend, domain: &str, now: u64) -> Result<Target, ProxyError> {
    let claim = b
        .store
        .get_domain(domain, now)
        .await?
        .ok_or_else(|| ProxyError::UnknownTunnel(domain.to_owned()))?;
    let tunnel = b
        .store
        .get_tunnel(&claim.tunnel_id, now)
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

/// The headers worth carrying to the other side (client-core's one hop-by-hop rule,
/// which the CLI applies to the origin's answer too).
pub use client_core::hop::end_to_end;

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

/// Forwarding headers the tunnel states itself: whatever a caller sent under these
/// names is dropped, or an origin that trusts its proxy (Express `trust proxy`, Rails,
/// Django) would build password-reset links and OAuth redirects on the caller's word.
/// `X-Forwarded-For` is not here: it is a chain, which the tunnel extends.
///
/// The less common spellings are here too, each read by some framework without any
/// trusted-proxy setting: Rack (Rails, Sinatra) takes `X-Forwarded-Ssl: on` and
/// `X-Forwarded-Scheme` as the scheme, Spring, Werkzeug's ProxyFix and ASP.NET put
/// `X-Forwarded-Prefix` into the URLs they build, IIS-era code reads
/// `Front-End-Https`, and nginx setups `X-Real-IP`. `Host` is restated as the
/// tunnel's canonical public host, so `--host-header preserve` never passes a port or
/// spelling the caller chose.
pub const STATED_BY_TUNNEL: &[&str] = &[
    "host",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-real-ip",
    "front-end-https",
    "forwarded",
    REQUEST_ID_HEADER,
];

/// Whether header `name` is `canonical` (lower-case, with `-`), also when spelled
/// with `_` for `-`: CGI-style servers (Rack, WSGI) map both to one variable, so
/// `X_Forwarded_Host` would otherwise reach the app as `X-Forwarded-Host` (Puma's
/// CVE-2024-45614).
pub fn same_header(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .bytes()
            .zip(canonical.bytes())
            .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

/// The chain of client addresses proxies append to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// Whether the tunnel states header `name` itself, so a caller's never reaches the
/// origin as sent: one of [`STATED_BY_TUNNEL`], or [`FORWARDED_FOR`] (which it
/// extends), in any case and with `_` for `-` ([`same_header`]).
pub fn stated_by_tunnel(name: &str) -> bool {
    same_header(name, FORWARDED_FOR) || STATED_BY_TUNNEL.iter().any(|s| same_header(name, s))
}

/// Prepares a public request's headers for the trip to the origin, the same on both
/// backends:
///
/// - hop-by-hop headers dropped ([`end_to_end`]);
/// - the caller's [`STATED_BY_TUNNEL`] headers dropped, and the tunnel's own set:
///   `X-Forwarded-Host` (the tunnel's public host, whatever spelling of it the caller
///   used), `X-Forwarded-Proto` and `X-Forwarded-Port` (the public URL's), an RFC 7239
///   `Forwarded` with the same facts, and `X-Request-Id: <request_id>`, the id the
///   inspector and the logs know the request by;
/// - `X-Forwarded-For`: what the caller sent (all its lines, joined), then the peer
///   address, as one header: `client-sent, peer`. Only the last entry is the tunnel's
///   word.
///
/// `domain` is the tunnel's subdomain, `peer` the address the request came from
/// (`None` for a replay, which has none).
pub fn for_origin(
    headers: Headers,
    public: &PublicUrls,
    domain: &str,
    peer: Option<&str>,
    request_id: &str,
) -> Headers {
    let mut chain: Vec<String> = Vec::new();
    let mut headers: Headers = end_to_end(headers)
        .into_iter()
        .filter(|(n, v)| {
            if same_header(n, FORWARDED_FOR) {
                let v = v.trim();
                if !v.is_empty() {
                    chain.push(v.to_owned());
                }
                return false;
            }
            !stated_by_tunnel(n)
        })
        .collect();
    chain.extend(peer.map(str::to_owned));
    if !chain.is_empty() {
        headers.push((FORWARDED_FOR.into(), chain.join(", ")));
    }
    let host = public.host_for(domain);
    let scheme = public.scheme.as_str();
    headers.push(("host".into(), host.clone()));
    headers.push(("x-forwarded-proto".into(), scheme.to_owned()));
    headers.push(("x-forwarded-host".into(), host.clone()));
    headers.push((
        "x-forwarded-port".into(),
        public.port_or_default().to_string(),
    ));
    headers.push(("forwarded".into(), forwarded_element(peer, &host, scheme)));
    headers.push((REQUEST_ID_HEADER.into(), request_id.to_owned()));
    headers
}

/// One RFC 7239 `Forwarded` element: `for=<peer>;host="<host>";proto=<scheme>`. An
/// IPv6 address is bracketed and quoted (section 6); the host is always quoted, as a
/// port's colon is not a token character. No peer reads `for=unknown` (section 6.3).
fn forwarded_element(peer: Option<&str>, host: &str, scheme: &str) -> String {
    let node = match peer {
        Some(ip) if ip.contains(':') => format!("\"[{ip}]\""),
        Some(ip) => ip.to_owned(),
        None => "unknown".to_owned(),
    };
    format!("for={node};host=\"{host}\";proto={scheme}")
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

    fn public() -> PublicUrls {
        PublicUrls {
            scheme: "http".into(),
            base_domain: "localhost".into(),
            port: Some(8080),
        }
    }

    /// The values of header `name`, in order, any case.
    fn values<'h>(h: &'h Headers, name: &str) -> Vec<&'h str> {
        h.iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn origin_headers_carry_the_tunnels_forwarding_and_one_request_id() {
        let h = for_origin(
            vec![("a".into(), "1".into())],
            &public(),
            "x",
            Some("10.0.0.1"),
            "id1",
        );
        assert_eq!(values(&h, "a"), ["1"]);
        assert_eq!(values(&h, REQUEST_ID_HEADER), ["id1"]);
        assert_eq!(values(&h, "x-forwarded-for"), ["10.0.0.1"]);
        assert_eq!(values(&h, "x-forwarded-host"), ["x.localhost:8080"]);
        assert_eq!(values(&h, "x-forwarded-proto"), ["http"]);
        assert_eq!(values(&h, "x-forwarded-port"), ["8080"]);
        assert_eq!(
            values(&h, "forwarded"),
            ["for=10.0.0.1;host=\"x.localhost:8080\";proto=http"]
        );
    }

    #[test]
    fn a_callers_forwarding_headers_and_request_id_never_reach_the_origin() {
        let spoofed: Headers = [
            ("X-Forwarded-Host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("X-Forwarded-Port", "443"),
            ("Forwarded", "for=1.2.3.4;host=evil.example;proto=https"),
            ("X-Request-Id", "caller-chosen"),
            ("x-request-id", "second"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("x-forwarded-for", "198.51.100.7, 192.0.2.1"),
            ("X-Kept", "yes"),
            // The less common spellings frameworks read without a trusted-proxy setting.
            ("X-Forwarded-Ssl", "on"),
            ("X-Forwarded-Scheme", "https"),
            ("X-Forwarded-Prefix", "/evil"),
            ("X-Forwarded-Server", "evil.example"),
            ("X-Real-IP", "1.2.3.4"),
            ("Front-End-Https", "on"),
            // Underscores: CGI-style servers read these as the dashed names.
            ("X_Forwarded_Host", "evil.example"),
            ("x_forwarded_for", "6.6.6.6"),
            // A Host with a port and case the caller chose.
            ("Host", "APP.tunnel.example.com:1"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let aws = PublicUrls {
            scheme: "https".into(),
            base_domain: "tunnel.example.com".into(),
            port: None,
        };
        let h = for_origin(spoofed, &aws, "app", Some("2001:db8::7"), "ours");
        assert_eq!(values(&h, "x-forwarded-host"), ["app.tunnel.example.com"]);
        assert_eq!(values(&h, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(&h, "x-forwarded-port"), ["443"]);
        assert_eq!(
            values(&h, "forwarded"),
            ["for=\"[2001:db8::7]\";host=\"app.tunnel.example.com\";proto=https"]
        );
        assert_eq!(values(&h, REQUEST_ID_HEADER), ["ours"]);
        assert_eq!(
            values(&h, "x-forwarded-for"),
            ["203.0.113.9, 198.51.100.7, 192.0.2.1, 6.6.6.6, 2001:db8::7"],
            "the chain as it came, then the peer, in one header"
        );
        assert_eq!(values(&h, "x-kept"), ["yes"]);
        assert_eq!(values(&h, "host"), ["app.tunnel.example.com"], "canonical");
        for name in [
            "x-forwarded-ssl",
            "x-forwarded-scheme",
            "x-forwarded-prefix",
            "x-forwarded-server",
            "x-real-ip",
            "front-end-https",
            "x_forwarded_host",
            "x_forwarded_for",
        ] {
            assert!(values(&h, name).is_empty(), "{name} reached the origin");
        }
    }

    #[test]
    fn same_header_takes_underscores_for_dashes_and_nothing_else() {
        assert!(same_header("X_Forwarded_Host", "x-forwarded-host"));
        assert!(same_header("X-FORWARDED-HOST", "x-forwarded-host"));
        assert!(!same_header("X-Forwarded-Hosts", "x-forwarded-host"));
        assert!(!same_header("X.Forwarded.Host", "x-forwarded-host"));
    }

    #[test]
    fn a_replay_without_a_peer_keeps_the_chain_and_says_unknown() {
        let h = for_origin(
            vec![("x-forwarded-for".into(), "192.0.2.1".into())],
            &public(),
            "x",
            None,
            "id",
        );
        assert_eq!(values(&h, "x-forwarded-for"), ["192.0.2.1"]);
        assert!(values(&h, "forwarded")[0].starts_with("for=unknown;"));
        let none = for_origin(vec![], &public(), "x", None, "id");
        assert!(values(&none, "x-forwarded-for").is_empty());
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = String::from_utf8(error_page(404, "Not Found", "<script>")).unwrap();
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }
}
