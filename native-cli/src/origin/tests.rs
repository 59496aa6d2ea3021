//! The request the origin is sent and the answer's headers passed back, built without
//! a network: what `forward` hands hyper, byte for byte.

use bytes::Bytes;
use client_core::session::RequestHead;
use client_core::target::{HostHeader, OriginTarget};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::{ForwardBody, Origin, response_headers};
use crate::origin_tls::OriginTls;

fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn build(origin: &Origin, head: RequestHead) -> Result<http::Request<ForwardBody>, String> {
    origin.build_request(head, ForwardBody::whole(Bytes::new()))
}

fn lines(request: &http::Request<ForwardBody>) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

#[test]
fn the_uri_is_the_origin_with_the_public_path_and_query() {
    let origin = Origin::new("127.0.0.1", 3000);
    let request = build(&origin, head("GET", "/a/b?c=d&e", &[])).unwrap();
    assert_eq!(request.uri(), "http://127.0.0.1:3000/a/b?c=d&e");
    assert_eq!(request.method(), http::Method::GET);

    let target = OriginTarget::parse("https://[::1]:8443").unwrap();
    let origin = Origin::to(target, &OriginTls::default()).unwrap();
    let request = build(&origin, head("PATCH", "//x", &[])).unwrap();
    assert_eq!(request.uri(), "https://[::1]:8443//x");
    assert_eq!(request.method(), http::Method::PATCH);
}

#[test]
fn a_target_that_is_not_a_path_or_not_valid_is_refused_naming_it() {
    let origin = Origin::new("localhost", 3000);
    let err = build(&origin, head("GET", "http://evil/", &[])).unwrap_err();
    assert!(
        err.contains("\"http://evil/\"") && err.contains("only paths"),
        "{err}"
    );
    let err = build(&origin, head("GET", "/a b", &[])).unwrap_err();
    assert!(err.contains("the request target \"/a b\""), "{err}");
    let err = build(&origin, head("GE T", "/", &[])).unwrap_err();
    assert!(err.contains("the method \"GE T\""), "{err}");
}

#[test]
fn host_is_rewritten_once_in_place_and_the_rest_kept_in_order() {
    let origin = Origin::new("localhost", 3000);
    let public = [
        ("Accept", "*/*"),
        ("Host", "abc.tunnel.example"),
        ("X-Custom", "caf\u{e9}"),
        ("host", "second.example"),
        ("accept", "text/html"),
    ];
    let request = build(&origin, head("GET", "/", &public)).unwrap();
    assert_eq!(
        lines(&request),
        [
            ("accept", "*/*"),
            ("accept", "text/html"),
            ("host", "localhost:3000"),
            ("x-custom", "caf\u{e9}"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    // Without a public Host the origin's is added.
    let request = build(&origin, head("GET", "/", &[])).unwrap();
    assert_eq!(request.headers()["host"], "localhost:3000");
}

#[test]
fn host_header_preserve_and_fixed() {
    let preserve = Origin::new("localhost", 3000).with_host_header(HostHeader::Preserve);
    let request = build(&preserve, head("GET", "/", &[("host", "abc.example")])).unwrap();
    assert_eq!(request.headers()["host"], "abc.example");
    let request = build(&preserve, head("GET", "/", &[])).unwrap();
    assert_eq!(request.headers()["host"], "localhost:3000");
    let err = build(&preserve, head("GET", "/", &[("host", "a\nb")])).unwrap_err();
    assert!(err.contains("with Host \"a\\nb\""), "{err}");

    let fixed =
        Origin::new("localhost", 3000).with_host_header(HostHeader::Fixed("site.test".to_owned()));
    let request = build(&fixed, head("GET", "/", &[("Host", "abc.example")])).unwrap();
    assert_eq!(request.headers().get_all("host").iter().count(), 1);
    assert_eq!(request.headers()["host"], "site.test");
}

#[test]
fn a_bad_header_name_or_value_is_refused_naming_it() {
    let origin = Origin::new("localhost", 3000);
    let err = build(&origin, head("GET", "/", &[("bad name", "v")])).unwrap_err();
    assert!(err.contains("the header name \"bad name\""), "{err}");
    let err = build(&origin, head("GET", "/", &[("x-a", "1\r\n2")])).unwrap_err();
    assert!(err.contains("the value of header x-a"), "{err}");
}

#[test]
fn response_headers_drop_hop_by_hop_and_named_ones_keeping_order_and_repeats() {
    let mut map = HeaderMap::new();
    for (n, v) in [
        ("content-type", &b"text/plain"[..]),
        ("connection", b"keep-alive, x-hop"),
        ("transfer-encoding", b"chunked"),
        ("x-hop", b"1"),
        ("set-cookie", b"a=1"),
        ("set-cookie", b"b=2"),
        ("x-latin", b"caf\xe9"),
    ] {
        map.append(
            HeaderName::from_static(n),
            HeaderValue::from_bytes(v).unwrap(),
        );
    }
    let out = response_headers(&map);
    assert_eq!(
        out,
        [
            ("content-type", "text/plain"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("x-latin", "caf\u{fffd}"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
}

#[test]
fn a_hand_built_target_that_is_no_authority_fails_each_request_not_the_start() {
    // `OriginTarget::parse` refuses such a host; one built by hand must not panic.
    let origin = Origin::new("bad host", 3000);
    let err = build(&origin, head("GET", "/", &[])).unwrap_err();
    assert!(
        err.starts_with("cannot forward to the origin \"bad host:3000\""),
        "{err}"
    );
}
