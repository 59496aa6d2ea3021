//! What tunnel-proxy reads from a Function URL event: whether it came through
//! CloudFront, which tunnel it is for and from whom, and the request as the tunnel's
//! client gets it (body decoded, query and cookies put back, CloudFront's own
//! headers dropped). Two steps, because a request refused at the first is not
//! metered and one refused at the second is.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::protocol::Headers;
use tunnel_backend::PublicUrls;
use tunnel_backend::handlers::admission::Refusal;

/// Header the CloudFront function copies the viewer's Host into (the origin request
/// policy drops Host, which a Function URL origin needs to be its own).
pub const TUNNEL_HOST_HEADER: &str = "x-tunnel-host";

/// Header carrying the secret that proves a request came through CloudFront.
pub const ORIGIN_SECRET_HEADER: &str = "x-origin-verify";

/// Header the CloudFront function states the viewer's address in (behind CloudFront
/// the Function URL's `sourceIp` is an edge server's). Believed only when the origin
/// secret is configured and matched, so only CloudFront can state it.
pub const TUNNEL_VIEWER_HEADER: &str = "x-tunnel-viewer";

/// Who a public request is for and from.
pub(super) struct Addressed {
    /// The Host it was sent to.
    pub(super) host: String,
    /// The tunnel's subdomain under that Host.
    pub(super) domain: String,
    /// The viewer's address, where known.
    pub(super) peer: Option<String>,
}

/// The request as it goes to the tunnel's client.
pub(super) struct Request {
    pub(super) method: String,
    /// Path and query.
    pub(super) path: String,
    /// With `host` first, as the viewer sent it.
    pub(super) headers: Headers,
    pub(super) body: Vec<u8>,
}

fn header(event: &LambdaFunctionUrlRequest, name: &str) -> Option<String> {
    super::header(&event.headers, name)
}

/// Who `event` is for and from, or why it is refused: it did not come through
/// CloudFront when `origin_secret` says it must, or its Host names no tunnel.
pub(super) fn addressed(
    event: &LambdaFunctionUrlRequest,
    origin_secret: Option<&str>,
    public: &PublicUrls,
) -> Result<Addressed, Refusal> {
    if let Some(secret) = origin_secret
        && header(event, ORIGIN_SECRET_HEADER).as_deref() != Some(secret)
    {
        return Err(Refusal::NotThroughPublicAddress);
    }
    let host = header(event, TUNNEL_HOST_HEADER)
        .or_else(|| header(event, "host"))
        .unwrap_or_default();
    // The peer: the viewer CloudFront names when the secret proved the request
    // came through it, else the Function URL's own view of the caller.
    let peer = origin_secret
        .and_then(|_| header(event, TUNNEL_VIEWER_HEADER))
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .or_else(|| event.request_context.http.source_ip.clone());
    let Some(domain) = public.subdomain_of(&host) else {
        return Err(Refusal::NotATunnelAddress { host });
    };
    Ok(Addressed { host, domain, peer })
}

/// The request in `event`, sent to `host`, or why it is refused: a body that is not
/// base64 as the event says, or an upgrade.
pub(super) fn request(event: &LambdaFunctionUrlRequest, host: String) -> Result<Request, Refusal> {
    let body = match (&event.body, event.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(b), false) => b.clone().into_bytes(),
        (Some(b), true) => STANDARD.decode(b).map_err(|_| Refusal::BodyUnreadable)?,
    };
    let http = &event.request_context.http;
    let method = http.method.clone().unwrap_or_else(|| "GET".into());
    let mut path = event.raw_path.clone().unwrap_or_else(|| "/".into());
    if let Some(q) = event.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        path.push('?');
        path.push_str(q);
    }
    let mut headers: Headers = event
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.as_str();
            n != TUNNEL_HOST_HEADER && n != ORIGIN_SECRET_HEADER && n != TUNNEL_VIEWER_HEADER
        })
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if let Some(cookies) = &event.cookies
        && !cookies.is_empty()
    {
        headers.push(("cookie".into(), cookies.join("; ")));
    }
    if client_core::session::is_upgrade_request(&headers) {
        // A Function URL answers each invocation with one HTTP response and has no
        // way to hand over the connection, so a 101 could never be followed by
        // frames (docs/architecture.md, "WebSocket pass-through").
        return Err(Refusal::UpgradeUnsupported);
    }
    headers.retain(|(n, _)| n != "host");
    headers.insert(0, ("host".into(), host));
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}
