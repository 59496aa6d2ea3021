//! Masking of credential headers, before an exchange is stored, shown or exported.
//!
//! Only header values are masked; the names stay so a reader sees a credential was
//! sent. Secrets elsewhere (a token in the query string, a password in a form body)
//! are not found here.

use super::model::Exchange;

/// What a masked header value becomes.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are credentials, lower-case; matched case-insensitively.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// True when `name` is one of [`SECRET_HEADERS`] (any case).
pub fn is_secret(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Replaces the value of every secret header with [`REDACTED`]. Returns the names
/// redacted, lower-case, each once, in order of first appearance.
pub fn redact(headers: &mut [(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (name, value) in headers.iter_mut() {
        if is_secret(name) {
            REDACTED.clone_into(value);
            let lower = name.to_ascii_lowercase();
            if !names.contains(&lower) {
                names.push(lower);
            }
        }
    }
    names
}

/// [`redact`] on the request's and the response's headers. Returns the names redacted
/// in either, as [`redact`] does.
pub fn redact_exchange(exchange: &mut Exchange) -> Vec<String> {
    let mut names = redact(&mut exchange.request.headers);
    if let Some(response) = &mut exchange.response {
        for name in redact(&mut response.headers) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Message, Outcome, ResponseRecord, Timings};

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn redacts_secret_headers_in_any_case() {
        let mut headers = h(&[
            ("AUTHORIZATION", "Bearer abc"),
            ("Accept", "*/*"),
            ("Cookie", "a=1"),
            ("cookie", "b=2"),
            ("X-Api-Key", "k"),
            ("Proxy-Authorization", "Basic eA=="),
            ("X-Authorization-Hint", "not a secret"),
        ]);
        let names = redact(&mut headers);
        assert_eq!(
            names,
            [
                "authorization",
                "cookie",
                "x-api-key",
                "proxy-authorization"
            ]
        );
        assert_eq!(
            headers,
            h(&[
                ("AUTHORIZATION", REDACTED),
                ("Accept", "*/*"),
                ("Cookie", REDACTED),
                ("cookie", REDACTED),
                ("X-Api-Key", REDACTED),
                ("Proxy-Authorization", REDACTED),
                ("X-Authorization-Hint", "not a secret"),
            ])
        );
        // Idempotent; nothing secret, nothing returned.
        assert_eq!(redact(&mut headers).len(), 4);
        assert!(redact(&mut h(&[("accept", "x")])).is_empty());
        assert!(SECRET_HEADERS.iter().all(|s| *s == s.to_ascii_lowercase()));
    }

    #[test]
    fn redacts_both_sides_of_an_exchange() {
        let mut x = Exchange {
            request_id: "r".into(),
            tunnel_id: "t".into(),
            replay_of: None,
            inbox_of: None,
            method: "GET".into(),
            path: "/".into(),
            remote_addr: "a".into(),
            request: Message {
                headers: h(&[("Cookie", "s=1")]),
                body: Default::default(),
            },
            response: Some(ResponseRecord {
                status: 200,
                headers: h(&[
                    ("Set-Cookie", "s=2; HttpOnly"),
                    ("set-cookie", "t=3"),
                    ("Cookie", "odd"),
                ]),
                body: Default::default(),
            }),
            outcome: Outcome::Completed,
            timings: Timings::default(),
        };
        assert_eq!(redact_exchange(&mut x), ["cookie", "set-cookie"]);
        let response = x.response.as_ref().unwrap();
        assert!(response.headers.iter().all(|(_, v)| v == REDACTED));
        assert_eq!(x.request.headers[0].1, REDACTED);
    }
}
