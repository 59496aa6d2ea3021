//! The rules of on-demand issuance, without I/O: which names may get a certificate,
//! how often an order may be placed for one, and when a certificate is due for
//! renewal. Time is a parameter, so the edges are tested exactly.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// At most one order per host in this interval, whatever its outcome. Let's Encrypt
/// allows 5 failed validations per host per hour; this stays under it (4 an hour)
/// when a name's DNS is wrong, and a certificate obtained is kept until renewal.
pub const ORDER_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// A certificate is renewed once it has less than this left (Let's Encrypt's are
/// valid 90 days; its own advice is to renew with a third left).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Longest host name a certificate is asked for (RFC 1035's limit).
pub const MAX_HOST_LEN: usize = 253;

/// When the last order for each host was placed.
#[derive(Debug, Default)]
pub struct OrderLimiter {
    last: HashMap<String, Instant>,
}

impl OrderLimiter {
    /// Records an order for `host` at `now` if none was placed in the last
    /// [`ORDER_INTERVAL`]; otherwise says how long until one may be.
    pub fn try_start(&mut self, host: &str, now: Instant) -> Result<(), Duration> {
        // Entries past the interval decide nothing: dropping them keeps the map as
        // small as the hosts ordered for recently.
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < ORDER_INTERVAL);
        if let Some(at) = self.last.get(host) {
            return Err(ORDER_INTERVAL - now.saturating_duration_since(*at));
        }
        self.last.insert(host.to_owned(), now);
        Ok(())
    }
}

/// How a stored certificate stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Served as is.
    Fresh,
    /// Still served, and a new one is ordered.
    RenewDue,
    /// Not served: a new one is ordered before answering.
    Expired,
}

/// Where a certificate valid until `not_after` stands at `now`.
pub fn freshness(not_after: SystemTime, now: SystemTime) -> Freshness {
    match not_after.duration_since(now) {
        Err(_) => Freshness::Expired,
        Ok(left) if left.is_zero() => Freshness::Expired,
        Ok(left) if left <= RENEW_BEFORE => Freshness::RenewDue,
        Ok(_) => Freshness::Fresh,
    }
}

/// `host` in lower case when it is a plain DNS name (letters, digits, `-`, dots
/// between labels), the only kind a certificate is asked for or a file named after;
/// `None` for anything else (IP addresses are never sent as SNI, and a name such as
/// `../x` must never reach the file system).
pub fn plain_host(host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (host.len() <= MAX_HOST_LEN && host.split('.').all(label_ok)).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_order_per_host_per_interval() {
        let t0 = Instant::now();
        let mut l = OrderLimiter::default();
        assert_eq!(l.try_start("a.example.com", t0), Ok(()));
        // Another host is not held back by the first.
        assert_eq!(l.try_start("b.example.com", t0), Ok(()));
        let just_before = t0 + ORDER_INTERVAL - Duration::from_millis(1);
        assert_eq!(
            l.try_start("a.example.com", just_before),
            Err(Duration::from_millis(1))
        );
        assert_eq!(l.try_start("a.example.com", t0 + ORDER_INTERVAL), Ok(()));
        // The expired entry for b went; a's new one stays.
        assert_eq!(l.last.len(), 1);
    }

    #[test]
    fn renewal_window_edges() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(freshness(now, now), Freshness::Expired);
        assert_eq!(
            freshness(now - Duration::from_secs(1), now),
            Freshness::Expired
        );
        assert_eq!(freshness(now + RENEW_BEFORE, now), Freshness::RenewDue);
        assert_eq!(
            freshness(now + Duration::from_secs(1), now),
            Freshness::RenewDue
        );
        assert_eq!(
            freshness(now + RENEW_BEFORE + Duration::from_secs(1), now),
            Freshness::Fresh
        );
    }

    #[test]
    fn only_plain_dns_names() {
        assert_eq!(
            plain_host("Shop.Tunnel.Example.COM.").as_deref(),
            Some("shop.tunnel.example.com")
        );
        assert_eq!(plain_host("localhost").as_deref(), Some("localhost"));
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "a..b",
            ".a",
            "-a.com",
            "a-.com",
            "a_b.com",
            "*.example.com",
            "a b",
            "caf\u{e9}.com",
        ] {
            assert_eq!(plain_host(bad), None, "{bad:?}");
        }
        let label = "a".repeat(63);
        assert!(plain_host(&label).is_some());
        assert!(plain_host(&"a".repeat(64)).is_none());
        // 4 labels of 63 and 3 dots: 255, past the limit; one label shorter fits.
        let long = [label.as_str(); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(plain_host(&long).is_none());
        let fits = format!("{}.{}", &long[..MAX_HOST_LEN - 2], "a");
        assert!(fits.len() == MAX_HOST_LEN && plain_host(&fits).is_some());
    }
}
