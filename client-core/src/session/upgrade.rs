//! HTTP upgrades (WebSocket) through the tunnel: which requests ask for one, and which
//! streams a 101 turned into upgraded byte streams.

use crate::protocol::{Headers, StreamId};

use super::ClientSession;

/// The status that turns a stream into an upgraded byte stream.
pub const SWITCHING_PROTOCOLS: u16 = 101;

/// Whether request headers ask to switch protocols: an `Upgrade` header and a
/// `Connection` header naming it, as RFC 9110 section 7.8 requires of an upgrade.
pub fn is_upgrade_request(headers: &Headers) -> bool {
    let has_upgrade = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("upgrade") && !v.trim().is_empty());
    let connection_names_it = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("connection")
            && v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    has_upgrade && connection_names_it
}

impl ClientSession {
    /// Upgraded (101) streams open now.
    pub fn upgraded_streams(&self) -> usize {
        self.streams.values().filter(|s| s.upgraded).count()
    }
    /// Whether `id` was answered 101 and now carries an upgraded byte stream.
    pub fn is_upgraded(&self, id: StreamId) -> bool {
        self.streams.get(&id).is_some_and(|s| s.upgraded)
    }
}
