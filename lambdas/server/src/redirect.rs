//! The plain-HTTP port beside HTTPS (`--http-listen`, port 80 in production): every
//! request for the base domain or a tunnel's host is redirected to the same URL over
//! HTTPS, except ACME's HTTP-01 challenges, answered here while an order awaits them.
//! Other hosts get a 404: redirecting them would make this an open redirector.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tunnel_backend::PublicUrls;

use crate::acme::Challenges;
use crate::{Body, Handler, full};

/// Where ACME's HTTP-01 challenges are fetched (RFC 8555, section 8.3).
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Answers the plain-HTTP port.
#[derive(Debug)]
pub struct Redirect {
    /// The HTTPS URLs redirected to.
    pub public: PublicUrls,
    /// Pending ACME challenges, when ACME is on.
    pub challenges: Option<Arc<Challenges>>,
}

impl Handler for Redirect {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        _remote: SocketAddr,
    ) -> Response<Body> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        self.answer(req.method(), host, target)
    }
}

impl Redirect {
    /// The answer to `method target` for `host` (the `Host` header).
    pub fn answer(&self, method: &Method, host: &str, target: &str) -> Response<Body> {
        if let (Some(challenges), Some(token)) =
            (&self.challenges, target.strip_prefix(CHALLENGE_PREFIX))
            && (method == Method::GET || method == Method::HEAD)
            && let Some(answer) = challenges.answer(token)
        {
            return text(StatusCode::OK, answer);
        }
        match https_location(&self.public, host, target) {
            Some(location) => {
                let mut r = text(
                    StatusCode::PERMANENT_REDIRECT,
                    format!("This server speaks HTTPS: {location}\n"),
                );
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            None => text(
                StatusCode::NOT_FOUND,
                format!(
                    "This server answers for {base} and <name>.{base} only.\n",
                    base = self.public.base_domain
                ),
            ),
        }
    }
}

/// The HTTPS URL of `target` on `host` (a `Host` header, port ignored), when the host
/// is the base domain or one label under it. The port is the public HTTPS port,
/// left out when it is 443.
pub fn https_location(public: &PublicUrls, host: &str, target: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host.as_str(),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let base = public.base_domain.to_ascii_lowercase();
    if name != base && public.subdomain_of(name).is_none() {
        return None;
    }
    let port = match public.port_or_default() {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let target = if target.starts_with('/') { target } else { "/" };
    Some(format!("https://{name}{port}{target}"))
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(port: Option<u16>) -> PublicUrls {
        PublicUrls {
            scheme: "https".into(),
            base_domain: "tunnel.example.com".into(),
            port,
        }
    }

    #[test]
    fn redirects_only_the_served_hosts() {
        let p = public(None);
        assert_eq!(
            https_location(&p, "Shop.Tunnel.Example.com:80", "/a?b=1").as_deref(),
            Some("https://shop.tunnel.example.com/a?b=1")
        );
        assert_eq!(
            https_location(&p, "tunnel.example.com", "/").as_deref(),
            Some("https://tunnel.example.com/")
        );
        assert_eq!(
            https_location(&public(Some(8443)), "tunnel.example.com", "/x").as_deref(),
            Some("https://tunnel.example.com:8443/x")
        );
        assert_eq!(
            https_location(&public(Some(443)), "a.tunnel.example.com", "/").as_deref(),
            Some("https://a.tunnel.example.com/")
        );
        for foreign in [
            "evil.com",
            "tunnel.example.com.evil.com",
            "a.b.tunnel.example.com",
            "",
        ] {
            assert_eq!(https_location(&p, foreign, "/"), None, "{foreign}");
        }
    }

    #[test]
    fn answers_pending_challenges_and_nothing_else() {
        let challenges = Arc::new(Challenges::default());
        challenges.insert_for_test("tok", "tok.thumb");
        let r = Redirect {
            public: public(None),
            challenges: Some(challenges),
        };
        let ok = r.answer(
            &Method::GET,
            "a.tunnel.example.com",
            "/.well-known/acme-challenge/tok",
        );
        assert_eq!(ok.status(), StatusCode::OK);
        let unknown = r.answer(
            &Method::GET,
            "a.tunnel.example.com",
            "/.well-known/acme-challenge/other",
        );
        assert_eq!(unknown.status(), StatusCode::PERMANENT_REDIRECT);
        let moved = r.answer(&Method::POST, "tunnel.example.com", "/v1/tunnels");
        assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            moved.headers()[header::LOCATION],
            "https://tunnel.example.com/v1/tunnels"
        );
        assert_eq!(
            r.answer(&Method::GET, "evil.com", "/").status(),
            StatusCode::NOT_FOUND
        );
    }
}
