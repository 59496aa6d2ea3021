//! Which headers describe one connection rather than the message: the one list every
//! hop of the tunnel drops (the server on the way to the origin and back, the CLI on
//! the origin's answer, an export that makes a new connection, the emulator's
//! DynamoDB pass-through).

use crate::protocol::Headers;

/// Headers that describe one hop, not the message: RFC 9110 section 7.6.1's
/// (`Connection`, `Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`,
/// `Upgrade`), and `Trailer`, `Proxy-Authenticate` and `Proxy-Authorization`, which
/// RFC 2616 section 13.5.1 also lists and which make no sense past the hop they were
/// sent on (the body is passed on de-chunked; a proxy's credentials are that proxy's).
/// Lowercase.
pub const HOP_BY_HOP: [&str; 9] = [
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

/// The hop-by-hop headers of one message: [`HOP_BY_HOP`], and any header its
/// `Connection` values name (RFC 9110 section 7.6.1: "Connection: keep-alive, X-Foo"
/// makes `X-Foo` hop-by-hop too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HopByHop {
    /// Names from `Connection`, lowercase.
    named: Vec<String>,
}

impl HopByHop {
    /// The set for a message whose `Connection` header lines are `connection` (each a
    /// comma-separated list of names).
    pub fn from_connection<'a>(connection: impl IntoIterator<Item = &'a str>) -> Self {
        let named = connection
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        Self { named }
    }

    /// The set for a message with these header lines.
    pub fn of(headers: &[(String, String)]) -> Self {
        Self::from_connection(
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
                .map(|(_, v)| v.as_str()),
        )
    }

    /// Whether header `name` (any case) is hop-by-hop in this message.
    pub fn contains(&self, name: &str) -> bool {
        HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
            || self.named.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The headers worth carrying to the other side: hop-by-hop ones ([`HopByHop`])
/// dropped; order and repeats kept.
pub fn end_to_end(headers: Headers) -> Headers {
    let hop = HopByHop::of(&headers);
    headers
        .into_iter()
        .filter(|(n, _)| !hop.contains(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(h: &[(&str, &str)]) -> Headers {
        h.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn drops_hop_by_hop_and_connection_named_headers() {
        let h = lines(&[
            ("Host", "a"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Keep-Alive", "5"),
            ("x-secret-hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Proxy-Authorization", "Basic eA=="),
            ("TE", "trailers"),
            ("X-A", "1"),
            ("X-A", "2"),
        ]);
        assert_eq!(
            end_to_end(h),
            lines(&[("Host", "a"), ("X-A", "1"), ("X-A", "2")])
        );
    }

    #[test]
    fn every_listed_name_is_dropped_in_any_case_and_nothing_else() {
        let hop = HopByHop::default();
        for name in HOP_BY_HOP {
            assert!(hop.contains(name));
            assert!(hop.contains(&name.to_ascii_uppercase()));
        }
        for name in [
            "host",
            "content-length",
            "cookie",
            "x-connection",
            "trailers",
        ] {
            assert!(!hop.contains(name), "{name}");
        }
    }

    #[test]
    fn connection_names_count_across_lines_and_ignore_empty_items() {
        let hop = HopByHop::from_connection(["close, ,X-One", " x-two "]);
        assert!(hop.contains("x-one") && hop.contains("X-TWO"));
        assert!(!hop.contains(""), "an empty item names no header");
    }

    #[test]
    fn end_to_end_is_idempotent() {
        let h = lines(&[("Connection", "x-a"), ("x-a", "1"), ("x-b", "2")]);
        let once = end_to_end(h);
        assert_eq!(end_to_end(once.clone()), once);
    }
}
