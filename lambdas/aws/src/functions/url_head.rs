//! The head of a Function URL answer, from the header lines an origin sent.
//!
//! A Function URL takes one string per header and the `Set-Cookie` values in a list
//! of their own (`cookies`), in the buffered payload 2.0 and in a stream's prelude
//! alike (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>,
//! "Response payload format" and "Cookies"). An origin may send a header more than
//! once; `lambda_runtime` would write such a header as a list, which is not part of
//! that contract. So:
//!
//! - repeated fields are joined into one value with `", "`, in order, which HTTP
//!   allows for every field defined as a list (RFC 9110, 5.3), i.e. all but
//!   `Set-Cookie`;
//! - every `Set-Cookie` goes to `cookies` as it came: joining those is not allowed
//!   (RFC 6265, 3), since an `Expires` date has a comma of its own.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use lambda_runtime::MetadataPrelude;

/// The prelude for `status` and the origin's header lines (hop-by-hop ones already
/// dropped). Lines that are not valid HTTP are left out.
pub fn prelude(
    status: StatusCode,
    lines: impl IntoIterator<Item = (String, String)>,
) -> MetadataPrelude {
    let mut joined: Vec<(HeaderName, String)> = Vec::new();
    let mut cookies = Vec::new();
    for (name, value) in lines {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if name == http::header::SET_COOKIE {
            cookies.push(value);
        } else if let Some((_, v)) = joined.iter_mut().find(|(n, _)| *n == name) {
            v.push_str(", ");
            v.push_str(&value);
        } else {
            joined.push((name, value));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in joined {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    cookies.retain(|c| HeaderValue::from_str(c).is_ok());
    MetadataPrelude {
        status_code: status,
        headers,
        cookies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn repeated_headers_join_and_cookies_stay_whole() {
        let p = prelude(
            StatusCode::OK,
            lines(&[
                ("Content-Type", "text/html"),
                (
                    "Set-Cookie",
                    "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/",
                ),
                ("vary", "accept"),
                ("set-cookie", "b=2"),
                ("Vary", "origin"),
                ("x-bad", "line\nbreak"),
            ]),
        );
        assert_eq!(
            p.cookies,
            ["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/", "b=2"]
        );
        assert_eq!(p.headers["vary"], "accept, origin");
        assert_eq!(p.headers["content-type"], "text/html");
        assert!(p.headers.get("x-bad").is_none());
        assert!(p.headers.get("set-cookie").is_none());
        // What a Function URL reads: every header one string, no lists.
        let json = serde_json::to_value(&p).unwrap();
        assert!(
            json["headers"]
                .as_object()
                .unwrap()
                .values()
                .all(serde_json::Value::is_string),
            "{json}"
        );
        assert_eq!(json["cookies"].as_array().unwrap().len(), 2);
    }
}
