//! What a deployment configures.

use client_core::protocol::limits::JSON_CHUNK_BYTES;

use crate::limits::{DEFAULT_CONTROL_RATE, DEFAULT_PUBLIC_RATE, DEFAULT_REGISTER_RATE, Rate};

/// Default lifetime of a session token: one sitting at the web console, which holds a
/// token rather than the API key; a leaked one is useless within the hour.
pub const TOKEN_TTL_SECS: u64 = 3600;

/// Default bytes of each body (request and response) the inspector keeps.
pub const DEFAULT_CAPTURE_BYTES: usize = 1024 * 1024;

/// Default exchanges kept per tunnel where the log is bounded by count.
pub const DEFAULT_LOG_KEEP: usize = 500;

/// Default age after which a captured exchange expires where the log is bounded by age.
pub const DEFAULT_LOG_TTL_SECS: u64 = 24 * 3600;

/// How public URLs are formed and recognised: `<scheme>://<sub>.<base_domain>[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// `http` or `https`.
    pub scheme: String,
    /// The domain tunnels live under, e.g. `localhost` or `tunnel.example.com`.
    pub base_domain: String,
    /// The port the public uses, when not the scheme's default.
    pub port: Option<u16>,
}

impl PublicUrls {
    /// The public URL of subdomain `sub`.
    pub fn url_for(&self, sub: &str) -> String {
        format!("{}://{}", self.scheme, self.host_for(sub))
    }

    /// The host (and port, when not the scheme's default) of subdomain `sub`'s public
    /// URL: what the public's `Host` header says, in its canonical spelling.
    pub fn host_for(&self, sub: &str) -> String {
        match self.port {
            Some(p) => format!("{sub}.{}:{p}", self.base_domain),
            None => format!("{sub}.{}", self.base_domain),
        }
    }

    /// The port the public connects to: the configured one, else the scheme's (443
    /// for https, 80 otherwise).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// The subdomain a `Host` header names, if it is `<one label>.<base_domain>` (any
    /// port, any case). `None` for the bare base domain and for foreign hosts.
    pub fn subdomain_of(&self, host: &str) -> Option<String> {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host.as_str(),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        let base = self.base_domain.to_ascii_lowercase();
        let sub = name.strip_suffix(base.as_str())?.strip_suffix('.')?;
        (!sub.is_empty() && !sub.contains('.')).then(|| sub.to_owned())
    }
}

/// Deployment settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Public URL scheme.
    pub public: PublicUrls,
    /// The WebSocket endpoint clients connect to; `None` means `ws://<the Host the
    /// token was requested on>/v1/connect`, which suits a server reached by many names.
    pub ws_url: Option<String>,
    /// Session token lifetime, seconds.
    pub token_ttl_secs: u64,
    /// Largest body chunk per frame, raw bytes, advertised in CONNECTED.
    pub max_chunk: usize,
    /// Response chunks a client may send ahead of CREDIT, advertised in CONNECTED;
    /// 0 where the transport has backpressure of its own.
    pub window: u32,
    /// Seconds after which clients renew their connection when idle, ahead of a cap
    /// on connection age; 0 where there is none.
    pub renew_after: u32,
    /// Bytes of each body the inspector keeps; 0 keeps none.
    pub capture_bytes: usize,
    /// Exchanges kept per tunnel (embedded store).
    pub log_keep: usize,
    /// Age after which captured exchanges expire (DynamoDB TTL).
    pub log_ttl_secs: u64,
    /// Control-plane rate per client; `None` switches the limit off.
    pub control_rate: Option<Rate>,
    /// Public-traffic rate per tunnel; `None` switches the limit off.
    pub public_rate: Option<Rate>,
    /// Registrations per source address; `None` switches the limit off.
    pub register_rate: Option<Rate>,
    /// How long a tunnel no client serves is kept before it expires, seconds
    /// ([`crate::model::INACTIVE_TUNNEL_TTL_SECS`]; shorter only in tests).
    pub inactive_ttl_secs: u64,
}

impl Config {
    /// Settings with the protocol's defaults.
    pub fn new(public: PublicUrls, ws_url: Option<String>) -> Self {
        Self {
            public,
            ws_url,
            token_ttl_secs: TOKEN_TTL_SECS,
            max_chunk: JSON_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            capture_bytes: DEFAULT_CAPTURE_BYTES,
            log_keep: DEFAULT_LOG_KEEP,
            log_ttl_secs: DEFAULT_LOG_TTL_SECS,
            control_rate: Some(DEFAULT_CONTROL_RATE),
            public_rate: Some(DEFAULT_PUBLIC_RATE),
            register_rate: Some(DEFAULT_REGISTER_RATE),
            inactive_ttl_secs: crate::model::INACTIVE_TUNNEL_TTL_SECS,
        }
    }

    /// When a tunnel that goes inactive at `now` expires: the one rule both
    /// backends' detach and create paths use.
    pub fn inactive_until(&self, now: u64) -> u64 {
        now.saturating_add(self.inactive_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> PublicUrls {
        PublicUrls {
            scheme: "http".into(),
            base_domain: "localhost".into(),
            port: Some(8080),
        }
    }

    #[test]
    fn forms_and_recognises_hosts() {
        let u = urls();
        assert_eq!(u.url_for("myapp"), "http://myapp.localhost:8080");
        assert_eq!(u.host_for("myapp"), "myapp.localhost:8080");
        assert_eq!(u.port_or_default(), 8080);
        let aws = PublicUrls {
            scheme: "https".into(),
            base_domain: "tunnel.example.com".into(),
            port: None,
        };
        assert_eq!(aws.url_for("a"), "https://a.tunnel.example.com");
        assert_eq!(aws.port_or_default(), 443);
        assert_eq!(
            u.subdomain_of("myapp.localhost:8080").as_deref(),
            Some("myapp")
        );
        assert_eq!(u.subdomain_of("MyApp.LocalHost").as_deref(), Some("myapp"));
        assert_eq!(u.subdomain_of("myapp.localhost.").as_deref(), Some("myapp"));
        assert_eq!(u.subdomain_of("localhost:8080"), None);
        assert_eq!(u.subdomain_of("a.b.localhost"), None);
        assert_eq!(u.subdomain_of("myapp.example.com"), None);
        assert_eq!(u.subdomain_of("evillocalhost"), None);
        assert_eq!(u.subdomain_of("127.0.0.1:8080"), None);
    }
}
