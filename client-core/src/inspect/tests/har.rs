//! The HAR export: every kind of exchange gives a valid HAR 1.2 document, and its
//! timings add up.

use super::*;

fn har_examples() -> Vec<Exchange> {
    // Binary request and response bodies.
    let mut binary = request(
        "POST",
        "/upload",
        &[("Content-Type", "application/octet-stream")],
        &[0, 1, 2, 0xff, 0xfe],
    );
    binary.response = Some(ResponseRecord {
        status: 201,
        headers: h(&[
            ("Content-Type", "image/png"),
            ("Location", "/files/1"),
            ("Set-Cookie", "sid=abc; Path=/; HttpOnly; Secure"),
        ]),
        body: CapturedBody::full(vec![0x89, b'P', b'N', b'G', 0, 0xff]),
    });

    // Empty bodies both ways.
    let mut empty = request("GET", "/empty", &[], b"");
    empty.response = Some(ResponseRecord {
        status: 204,
        headers: vec![],
        body: CapturedBody::default(),
    });

    // No response: the origin refused; never a first byte.
    let mut refused = request("GET", "/down", &[("Accept", "text/html")], b"");
    refused.response = None;
    refused.outcome = Outcome::OriginRefused;
    refused.timings.first_byte_ms = None;

    // Redacted credentials, a replay, a truncated form body.
    let mut secret = request(
        "POST",
        "/login",
        &[
            ("Authorization", "Bearer s3cret"),
            ("Cookie", "a=1; b=2"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"",
    );
    secret.request.body = CapturedBody {
        bytes: b"user=me&pass=x".to_vec(),
        size: 40,
        truncated: true,
    };
    secret.replay_of = Some("req-0".into());
    secret.response = Some(ResponseRecord {
        status: 302,
        headers: h(&[("Set-Cookie", "sid=new"), ("Location", "/home")]),
        body: CapturedBody::default(),
    });
    redact_exchange(&mut secret);

    // Query string with repeats, percent-encoding and odd pieces; form body.
    let form = request(
        "PUT",
        "/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag&bad=%zz&sp=a%20b",
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        b"x=1&y=%2F",
    );

    // Still open: no first byte, no end; and a timeout (forwarded, never answered).
    let mut open = request("GET", "/slow", &[], b"");
    open.response = None;
    open.outcome = Outcome::Timeout;
    open.timings.first_byte_ms = None;
    open.timings.done_ms = Some(open.timings.received_ms + 30_000);
    let mut unsent = request("GET", "/offline", &[], b"");
    unsent.response = None;
    unsent.outcome = Outcome::TunnelOffline;
    unsent.timings = Timings {
        received_ms: 5,
        forwarded_ms: None,
        first_byte_ms: None,
        done_ms: None,
    };

    vec![binary, empty, refused, secret, form, open, unsent]
}

#[test]
fn har_is_valid_for_every_kind_of_exchange() {
    let exchanges = har_examples();
    let har = to_har(&exchanges, BASE, "0.1.0");
    let errs = har_check::validate(&har);
    assert!(errs.is_empty(), "{errs:#?}\n{har:#}");
    // It survives a trip through text as a HAR reader gets it.
    let text = serde_json::to_string(&har).unwrap();
    assert!(har_check::validate(&serde_json::from_str::<Value>(&text).unwrap()).is_empty());
    assert!(har_check::validate(&to_har(&[], BASE, "x")).is_empty());

    let log = &har["log"];
    assert_eq!(
        log["creator"],
        serde_json::json!({"name": "tunnel", "version": "0.1.0"})
    );
    let e = &log["entries"];

    // Binary bodies.
    let binary = &e[0];
    assert_eq!(binary["startedDateTime"], "2024-02-29T00:00:00.123Z");
    assert_eq!(binary["time"], 27);
    assert_eq!(binary["timings"]["send"], 2);
    assert_eq!(binary["timings"]["wait"], 15);
    assert_eq!(binary["timings"]["receive"], 10);
    assert_eq!(
        binary["request"]["url"],
        "https://demo.tunnel.example/upload"
    );
    assert_eq!(binary["request"]["postData"]["text"], "AAEC//4=");
    assert_eq!(binary["request"]["postData"]["_encoding"], "base64");
    assert_eq!(binary["request"]["bodySize"], 5);
    let content = &binary["response"]["content"];
    assert_eq!(content["encoding"], "base64");
    assert_eq!(content["text"], "iVBORwD/");
    assert_eq!(content["size"], 6);
    assert_eq!(content["mimeType"], "image/png");
    assert_eq!(binary["response"]["statusText"], "Created");
    assert_eq!(binary["response"]["redirectURL"], "/files/1");
    assert_eq!(
        binary["response"]["cookies"],
        serde_json::json!([{"name": "sid", "value": "abc", "path": "/", "httpOnly": true, "secure": true}])
    );
    assert_eq!(binary["_outcome"], "completed");
    assert!(binary.get("_replay_of").is_none());

    // Empty bodies: no postData, no content text.
    let empty = &e[1];
    assert!(empty["request"].get("postData").is_none());
    assert_eq!(empty["request"]["bodySize"], 0);
    assert_eq!(empty["response"]["content"]["size"], 0);
    assert!(empty["response"]["content"].get("text").is_none());
    assert_eq!(empty["response"]["statusText"], "No Content");

    // No response.
    let refused = &e[2];
    assert_eq!(refused["response"]["status"], 0);
    assert_eq!(refused["response"]["bodySize"], -1);
    assert_eq!(refused["_outcome"], "origin_refused");
    assert_eq!(refused["timings"]["wait"], 25);
    assert_eq!(refused["timings"]["receive"], 0);

    // Redacted, replayed, truncated.
    let secret = &e[3];
    let headers = &secret["request"]["headers"];
    assert_eq!(
        headers[0],
        serde_json::json!({"name": "Authorization", "value": REDACTED})
    );
    assert_eq!(headers[1]["value"], REDACTED);
    assert_eq!(secret["request"]["cookies"], serde_json::json!([]));
    assert_eq!(secret["response"]["cookies"], serde_json::json!([]));
    assert!(!text.contains("s3cret") && !text.contains("a=1") && !text.contains("sid=new"));
    assert_eq!(secret["_replay_of"], "req-0");
    let post = &secret["request"]["postData"];
    assert_eq!(post["text"], "user=me&pass=x");
    assert_eq!(post["_truncated"], true);
    assert_eq!(
        post["comment"],
        "truncated when captured: first 14 of 40 bytes"
    );
    assert_eq!(post["params"], serde_json::json!([]));
    assert_eq!(secret["request"]["bodySize"], 40);

    // Query string, form params.
    let form = &e[4];
    assert_eq!(
        form["request"]["queryString"],
        serde_json::json!([
            {"name": "q", "value": "café au lait"},
            {"name": "tag", "value": "a"},
            {"name": "tag", "value": "b"},
            {"name": "empty", "value": ""},
            {"name": "flag", "value": ""},
            {"name": "bad", "value": "%zz"},
            {"name": "sp", "value": "a b"},
        ])
    );
    assert_eq!(
        form["request"]["url"],
        "https://demo.tunnel.example/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag&bad=%zz&sp=a%20b"
    );
    assert_eq!(
        form["request"]["postData"]["params"],
        serde_json::json!([{"name": "x", "value": "1"}, {"name": "y", "value": "/"}])
    );
    assert_eq!(form["request"]["postData"]["text"], "x=1&y=%2F");

    // Timeout: the whole wait after forwarding; unsent: all zero.
    assert_eq!(e[5]["timings"]["wait"], 29_998);
    assert_eq!(e[5]["time"], 30_000);
    assert_eq!(e[6]["time"], 0);
    assert_eq!(e[6]["startedDateTime"], "1970-01-01T00:00:00.005Z");
}

#[test]
fn har_timings_never_go_negative() {
    // Out-of-order or partial clocks still give non-negative timings that sum to time.
    let cases = [
        (10, Some(5), Some(3), Some(1)),
        (10, None, Some(20), None),
        (10, Some(30), None, Some(20)),
        (10, None, None, Some(12)),
        (u64::MAX - 1, Some(u64::MAX), None, None),
    ];
    for (received_ms, forwarded_ms, first_byte_ms, done_ms) in cases {
        let mut x = request("GET", "/", &[], b"");
        x.timings = Timings {
            received_ms,
            forwarded_ms,
            first_byte_ms,
            done_ms,
        };
        let har = to_har(&[x], BASE, "v");
        let errs = har_check::validate(&har);
        assert!(
            errs.is_empty(),
            "{:?}: {errs:#?}",
            (received_ms, forwarded_ms, first_byte_ms, done_ms)
        );
    }
}
