//! Where `tunnel start` sends requests, written the ways ngrok users write it, and what
//! the origin is told its own name is (`--host-header`).
//!
//! [`OriginTarget::parse`] is the one reading of a target: a port (`3000`), a
//! `host:port` (`localhost:3000`, `192.168.1.5:8000`, `[::1]:3000`) or a URL
//! (`http://host:port`, `https://host:port`, the port defaulting to the scheme's).
//! Anything else is refused with the accepted forms in the message.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The forms a target may take, shown with every refusal.
pub const TARGET_FORMS: &str = "3000, localhost:3000, 127.0.0.1:3000, 192.168.1.5:8000, [::1]:3000, http://localhost:3000 or https://localhost:8443";

/// The host a bare port means.
pub const DEFAULT_HOST: &str = "localhost";

/// How the CLI speaks to the local service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginScheme {
    /// Plain HTTP/1.1.
    Http,
    /// HTTP/1.1 over TLS, the certificate verified.
    Https,
}

impl OriginScheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The scheme's port when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// The local service a tunnel forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTarget {
    /// Plain or TLS.
    pub scheme: OriginScheme,
    /// A host name, an IPv4 address, or an IPv6 address (without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

/// Why a target was refused; the message lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a local service address: {reason}. Write one of: {TARGET_FORMS}")]
pub struct TargetError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl OriginTarget {
    /// `http://localhost:port`.
    pub fn local(port: u16) -> Self {
        Self {
            scheme: OriginScheme::Http,
            host: DEFAULT_HOST.to_owned(),
            port,
        }
    }

    /// Reads a target in any of the [`TARGET_FORMS`].
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let refuse = |reason: &str| TargetError {
            input: text.to_owned(),
            reason: reason.to_owned(),
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(refuse("it is empty"));
        }
        let (scheme, rest, is_url) = match t.split_once("://") {
            Some((s, rest)) => {
                let scheme = match s.to_ascii_lowercase().as_str() {
                    "http" => OriginScheme::Http,
                    "https" => OriginScheme::Https,
                    _ => {
                        return Err(refuse(&format!(
                            "the scheme {s:?} is not served; the tunnel reaches http:// and https:// services"
                        )));
                    }
                };
                (scheme, rest, true)
            }
            None => (OriginScheme::Http, t, false),
        };
        // A URL may end in `/`; any other path is not part of where the service is.
        let authority = if is_url {
            match rest.find(['/', '?', '#']) {
                Some(i) if &rest[i..] == "/" => &rest[..i],
                Some(_) => {
                    return Err(refuse(
                        "a path is not part of the target (every path is forwarded as requested)",
                    ));
                }
                None => rest,
            }
        } else {
            rest
        };
        if authority.contains('@') {
            return Err(refuse(
                "user names and passwords are not part of the target",
            ));
        }
        if !is_url && authority.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::local(parse_port(authority).map_err(|r| refuse(&r))?));
        }
        let (host, port) = split_host_port(authority).map_err(|r| refuse(&r))?;
        let port = match port {
            Some(p) => parse_port(p).map_err(|r| refuse(&r))?,
            None if is_url => scheme.default_port(),
            None => {
                return Err(refuse(&format!(
                    "no port: write {host}:PORT, or a URL such as http://{host}"
                )));
            }
        };
        check_host(host).map_err(|r| refuse(&r))?;
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// `host:port`, an IPv6 address bracketed: how a URL and a `Host` header name it.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The same as a `Host` header would say it: the port left out when it is the
    /// scheme's default, as browsers and curl do.
    pub fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            bracketed(&self.host)
        } else {
            self.authority()
        }
    }

    /// `scheme://host:port`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }
}

impl fmt::Display for OriginTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

impl std::str::FromStr for OriginTarget {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn authority(host: &str, port: u16) -> String {
    format!("{}:{port}", bracketed(host))
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u32>() {
        Ok(p) if (1..=u32::from(u16::MAX)).contains(&p) => Ok(p as u16),
        Ok(_) => Err(format!("the port {text} is not between 1 and 65535")),
        Err(_) => Err(format!("the port {text:?} is not a number")),
    }
}

/// `host[:port]` or `[v6][:port]`, the port still text.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address opened with [ needs its closing ]")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| format!("{v6:?} is not an IPv6 address"))?;
        return match after {
            "" => Ok((v6, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((v6, Some(port))),
                None => Err(format!("{after:?} after the IPv6 address is not :PORT")),
            },
        };
    }
    match authority.matches(':').count() {
        0 => Ok((authority, None)),
        1 => {
            let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
            Ok((host, Some(port)))
        }
        _ => Err("an IPv6 address goes in brackets, as in [::1]:3000".to_owned()),
    }
}

/// A host name (letters, digits, `-`, `_` in dot-separated labels) or an address.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is missing".to_owned());
    }
    if host.contains(':') {
        // Only a bracketed IPv6 address gets here with colons; it was parsed already.
        return Ok(());
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!("{host:?} is not a host name or an IP address"));
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{host:?} is not an IPv4 address"));
    }
    Ok(())
}

/// What the origin gets as `Host` (ngrok's `--host-header`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostHeader {
    /// The target's own address (`localhost:3000`): what dev servers that check
    /// `Host` (Vite's `server.allowedHosts`, Rails' host authorization) accept. The
    /// public host is in `X-Forwarded-Host`.
    #[default]
    Rewrite,
    /// The public host, as the caller sent it.
    Preserve,
    /// A fixed value.
    Fixed(String),
}

/// Why a `--host-header` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a Host header: write rewrite (the local address), preserve (the public host) or a host name such as myapp.test or myapp.test:8080"
)]
pub struct HostHeaderError(pub String);

impl HostHeader {
    /// Reads `rewrite`, `preserve` or a host name with an optional port.
    pub fn parse(text: &str) -> Result<Self, HostHeaderError> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "rewrite" => return Ok(Self::Rewrite),
            "preserve" => return Ok(Self::Preserve),
            _ => {}
        }
        let bad = || HostHeaderError(text.to_owned());
        let (host, port) = split_host_port(t).map_err(|_| bad())?;
        if let Some(p) = port {
            parse_port(p).map_err(|_| bad())?;
        }
        check_host(host).map_err(|_| bad())?;
        Ok(Self::Fixed(t.to_owned()))
    }

    /// The `Host` to send for a request to `target` whose public `Host` was `public`.
    pub fn value(&self, target: &OriginTarget, public: Option<&str>) -> String {
        match self {
            Self::Rewrite => target.host_header(),
            Self::Preserve => public.map_or_else(|| target.host_header(), str::to_owned),
            Self::Fixed(v) => v.clone(),
        }
    }
}

impl std::str::FromStr for HostHeader {
    type Err = HostHeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(scheme: OriginScheme, host: &str, port: u16) -> OriginTarget {
        OriginTarget {
            scheme,
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn every_accepted_form() {
        use OriginScheme::{Http, Https};
        for (text, want) in [
            ("3000", target(Http, "localhost", 3000)),
            ("localhost:3000", target(Http, "localhost", 3000)),
            ("127.0.0.1:3000", target(Http, "127.0.0.1", 3000)),
            ("192.168.1.5:8000", target(Http, "192.168.1.5", 8000)),
            ("[::1]:3000", target(Http, "::1", 3000)),
            ("my-app.internal:80", target(Http, "my-app.internal", 80)),
            ("web_1:8080", target(Http, "web_1", 8080)),
            ("http://localhost:3000", target(Http, "localhost", 3000)),
            ("http://localhost:3000/", target(Http, "localhost", 3000)),
            ("https://localhost:8443", target(Https, "localhost", 8443)),
            ("HTTPS://LocalHost:8443", target(Https, "localhost", 8443)),
            ("https://[::1]:8443", target(Https, "::1", 8443)),
            ("http://192.168.1.5", target(Http, "192.168.1.5", 80)),
            ("https://dev.example", target(Https, "dev.example", 443)),
            ("65535", target(Http, "localhost", 65535)),
            (" 3000 ", target(Http, "localhost", 3000)),
        ] {
            assert_eq!(OriginTarget::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn wrong_forms_are_refused_with_the_accepted_ones() {
        for (text, why) in [
            ("", "empty"),
            ("0", "between 1 and 65535"),
            ("65536", "between 1 and 65535"),
            ("localhost:0", "between 1 and 65535"),
            ("localhost:abc", "not a number"),
            ("localhost:", "not a number"),
            ("localhost", "no port"),
            ("300o", "no port"),
            ("::1:3000", "brackets"),
            ("[::1:3000", "closing ]"),
            ("[::g]:3000", "not an IPv6 address"),
            ("[::1]3000", "not :PORT"),
            ("ftp://localhost:21", "scheme"),
            ("ws://localhost:3000", "scheme"),
            ("http://localhost:3000/app", "path"),
            ("http://localhost:3000?x=1", "path"),
            ("http://user:pw@localhost:3000", "user names"),
            ("http://:3000", "host is missing"),
            ("local host:3000", "not a host name"),
            ("999.1.1.1:80", "not an IPv4 address"),
            ("a..b:80", "not a host name"),
        ] {
            let e = OriginTarget::parse(text).expect_err(text).to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains(TARGET_FORMS), "{text}: the forms are shown: {e}");
        }
    }

    #[test]
    fn authority_url_and_host_header() {
        let t = OriginTarget::parse("[::1]:3000").unwrap();
        assert_eq!(t.authority(), "[::1]:3000");
        assert_eq!(t.url(), "http://[::1]:3000");
        assert_eq!(
            OriginTarget::parse("https://dev.example")
                .unwrap()
                .host_header(),
            "dev.example",
            "the scheme's default port is left out"
        );
        assert_eq!(
            OriginTarget::parse("3000").unwrap().host_header(),
            "localhost:3000"
        );
    }

    #[test]
    fn host_header_modes() {
        let t = OriginTarget::parse("localhost:5173").unwrap();
        let public = Some("app.tunnel.example.com");
        assert_eq!(HostHeader::default(), HostHeader::Rewrite);
        assert_eq!(
            HostHeader::parse("rewrite").unwrap().value(&t, public),
            "localhost:5173"
        );
        assert_eq!(
            HostHeader::parse("Preserve").unwrap().value(&t, public),
            "app.tunnel.example.com"
        );
        assert_eq!(
            HostHeader::parse("preserve").unwrap().value(&t, None),
            "localhost:5173",
            "no public Host: the local one"
        );
        assert_eq!(
            HostHeader::parse("myapp.test:8080")
                .unwrap()
                .value(&t, public),
            "myapp.test:8080"
        );
        assert_eq!(
            HostHeader::parse("[::1]:80").unwrap(),
            HostHeader::Fixed("[::1]:80".into())
        );
        for bad in ["", "a b", "x:y", "evil\r\nx: y", "host:99999", "::1"] {
            let e = HostHeader::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("rewrite") && e.contains("preserve"), "{e}");
        }
    }
}
