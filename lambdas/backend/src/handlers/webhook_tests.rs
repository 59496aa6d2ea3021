//! Each scheme against vectors made elsewhere: the providers' published examples
//! (GitHub's, Slack's and Standard Webhooks' documentation and test suites) and
//! tests/data/webhook_vectors.json, computed by Python's hmac from the documented
//! algorithms. Then every way to fail, and the tolerance at its edge.

use client_core::policy::{DEFAULT_WEBHOOK_TOLERANCE_SECS, Webhook, WebhookProvider};
use serde::Deserialize;

use super::*;

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn githubs_published_example() {
    // GitHub's "Validating webhook deliveries" test values.
    let w = Webhook::of(WebhookProvider::Github, "It's a Secret to Everybody");
    let h = headers(&[(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert_eq!(verify(&w, &h, b"Hello, World!", 0), Ok(()));
    assert_eq!(
        verify(&w, &h, b"Hello, World?", 0),
        Err(WebhookFailure::BadSignature)
    );
}

const SLACK_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

#[test]
fn slacks_published_example() {
    // Slack's "Verifying requests from Slack" walk-through.
    let w = Webhook::of(WebhookProvider::Slack, "8f742231b10e8888abcd99yyyzzz85a5");
    let h = headers(&[
        ("X-Slack-Request-Timestamp", "1531420618"),
        (
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ]);
    assert_eq!(verify(&w, &h, SLACK_BODY, 1_531_420_618), Ok(()));
    assert_eq!(sign(&w, SLACK_BODY, 1_531_420_618, ""), h);
}

#[test]
fn standard_webhooks_published_example() {
    // The Standard Webhooks libraries' signing test.
    let w = Webhook::of(
        WebhookProvider::Standard,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    let body = br#"{"test": 2432232314}"#;
    let h = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    assert_eq!(verify(&w, &h, body, 1_614_265_330), Ok(()));
    assert_eq!(
        sign(&w, body, 1_614_265_330, "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        h
    );
    // The secret without its prefix is the same key, as in the scheme's libraries.
    let bare = Webhook::of(
        WebhookProvider::Standard,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    assert_eq!(verify(&bare, &h, body, 1_614_265_330), Ok(()));
    // Svix sends the same as svix-*.
    let svix: Headers = h
        .iter()
        .map(|(n, v)| (n.replace("webhook-", "svix-"), v.clone()))
        .collect();
    assert_eq!(verify(&w, &svix, body, 1_614_265_330), Ok(()));
    // Several signatures (a secret being rolled): any v1 may match; other versions
    // are skipped.
    let many = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    assert_eq!(verify(&w, &many, body, 1_614_265_330), Ok(()));
    let other_versions_only = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    assert!(matches!(
        verify(&w, &other_versions_only, body, 1_614_265_330),
        Err(WebhookFailure::Malformed { .. })
    ));
}

#[derive(Deserialize)]
struct Vector {
    provider: WebhookProvider,
    secret: String,
    body_b64: String,
    timestamp: u64,
    id: String,
    headers: Vec<(String, String)>,
    header: Option<String>,
    prefix: Option<String>,
}

fn vectors() -> Vec<(Webhook, Vector, Vec<u8>)> {
    let all: Vec<Vector> =
        serde_json::from_str(include_str!("../../tests/data/webhook_vectors.json")).unwrap();
    all.into_iter()
        .map(|v| {
            let w = Webhook {
                header: v.header.clone(),
                prefix: v.prefix.clone(),
                ..Webhook::of(v.provider, v.secret.clone())
            };
            let body = STANDARD.decode(&v.body_b64).unwrap();
            (w, v, body)
        })
        .collect()
}

#[test]
fn independently_computed_vectors_pass_and_match_the_signer() {
    let all = vectors();
    for p in WebhookProvider::ALL {
        assert!(
            all.iter().any(|(w, ..)| w.provider == p),
            "no vector for {p}"
        );
    }
    for (w, v, body) in &all {
        let what = format!("{} {:?}", v.provider, v.headers);
        w.validate().unwrap();
        assert_eq!(verify(w, &v.headers, body, v.timestamp), Ok(()), "{what}");
        assert_eq!(sign(w, body, v.timestamp, &v.id), v.headers, "{what}");
        // Header names are matched in any case (HTTP/2 and Lambda lower-case them).
        let lower: Headers = v
            .headers
            .iter()
            .map(|(n, s)| (n.to_ascii_lowercase(), s.clone()))
            .collect();
        assert_eq!(verify(w, &lower, body, v.timestamp), Ok(()), "{what}");
        // One byte more, or another secret: refused as a bad signature.
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert_eq!(
            verify(w, &v.headers, &tampered, v.timestamp),
            Err(WebhookFailure::BadSignature),
            "{what}"
        );
        let other = Webhook {
            secret: if w.provider == WebhookProvider::Standard {
                "whsec_b3RoZXIgc2VjcmV0IGtleSBieXRlcw==".into()
            } else {
                format!("{}x", w.secret)
            },
            ..w.clone()
        };
        assert_eq!(
            verify(&other, &v.headers, body, v.timestamp),
            Err(WebhookFailure::BadSignature),
            "{what}"
        );
        // Without any of its headers: refused, naming the header.
        for (name, _) in &v.headers {
            let fewer: Headers = v
                .headers
                .iter()
                .filter(|(n, _)| n != name)
                .cloned()
                .collect();
            match verify(w, &fewer, body, v.timestamp) {
                Err(WebhookFailure::MissingHeader { header, .. }) => {
                    assert!(header.eq_ignore_ascii_case(name), "{what}: {header}");
                }
                other => panic!("{what} without {name}: {other:?}"),
            }
        }
    }
}

#[test]
fn the_tolerance_is_checked_at_its_edge_both_ways() {
    let body = br#"{"ok":true}"#;
    let signed_at = 1_700_000_000;
    let t = DEFAULT_WEBHOOK_TOLERANCE_SECS;
    for p in [
        WebhookProvider::Stripe,
        WebhookProvider::Slack,
        WebhookProvider::Standard,
    ] {
        for tolerance in [None, Some(1), Some(3600)] {
            let w = Webhook {
                tolerance_secs: tolerance,
                ..Webhook::of(p, "whsec_c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA==")
            };
            let t = tolerance.unwrap_or(t);
            let h = sign(&w, body, signed_at, "msg_1");
            for now in [signed_at - t, signed_at, signed_at + t] {
                assert_eq!(verify(&w, &h, body, now), Ok(()), "{p} {t} at {now}");
            }
            for now in [signed_at - t - 1, signed_at + t + 1] {
                assert_eq!(
                    verify(&w, &h, body, now),
                    Err(WebhookFailure::StaleTimestamp {
                        signed_at,
                        now,
                        tolerance: t
                    }),
                    "{p} {t} at {now}"
                );
            }
        }
    }
    // Schemes without a timestamp accept an old delivery (nothing says it is old).
    for p in [
        WebhookProvider::Github,
        WebhookProvider::Shopify,
        WebhookProvider::Hmac,
    ] {
        let w = Webhook::of(p, "s");
        let h = sign(&w, body, 0, "");
        assert_eq!(verify(&w, &h, body, u64::MAX), Ok(()), "{p}");
    }
    let text = WebhookFailure::StaleTimestamp {
        signed_at: 100,
        now: 500,
        tolerance: 300,
    }
    .to_string();
    assert!(
        text.contains("signed 400 s ago") && text.contains("300 s"),
        "{text}"
    );
    let text = WebhookFailure::StaleTimestamp {
        signed_at: 900,
        now: 500,
        tolerance: 300,
    }
    .to_string();
    assert!(text.contains("400 s in the future"), "{text}");
}

#[test]
fn a_forged_signature_is_bad_before_it_is_stale() {
    // A wrong signature on an old timestamp says "bad signature": "stale" is kept
    // for requests that really were signed with the secret.
    let w = Webhook::of(WebhookProvider::Stripe, "whsec_x");
    let old = sign(
        &Webhook::of(WebhookProvider::Stripe, "whsec_y"),
        b"{}",
        10,
        "",
    );
    assert_eq!(
        verify(&w, &old, b"{}", 10_000),
        Err(WebhookFailure::BadSignature)
    );
}

#[test]
fn stripe_header_forms() {
    let w = Webhook::of(WebhookProvider::Stripe, "whsec_test");
    let body = b"{}";
    let good = sign(&w, body, 1000, "");
    let good_sig = good[0].1.split_once(",v1=").unwrap().1.to_owned();
    let at = |value: &str| verify(&w, &headers(&[("stripe-signature", value)]), body, 1000);
    // Several v1 (a secret being rolled) and a v0 test signature: any v1 may match.
    assert_eq!(
        at(&format!(
            "t=1000,v1={},v0=abc,v1={good_sig}",
            "0".repeat(64)
        )),
        Ok(())
    );
    assert_eq!(at(&format!("t=1000, v1={good_sig}")), Ok(()), "spaces");
    assert_eq!(
        at(&format!("t=1001,v1={good_sig}")),
        Err(WebhookFailure::BadSignature),
        "the timestamp is signed"
    );
    for (value, problem) in [
        (format!("v1={good_sig}"), "no t="),
        ("t=1000".to_owned(), "no v1="),
        (format!("t=1000,v0={good_sig}"), "no v1="),
        (format!("t=-5,v1={good_sig}"), "not whole seconds"),
        (format!("t=1e3,v1={good_sig}"), "not whole seconds"),
        (format!("t=99999999999999999999,v1={good_sig}"), "not whole"),
    ] {
        match at(&value) {
            Err(WebhookFailure::Malformed { header, problem: p }) => {
                assert_eq!(header, STRIPE_SIGNATURE);
                assert!(p.contains(problem), "{value}: {p}");
            }
            other => panic!("{value}: {other:?}"),
        }
    }
    assert_eq!(
        at(&format!("t=1000,v1=zz{}", &good_sig[2..])),
        Err(WebhookFailure::BadSignature)
    );
    // Two Stripe-Signature headers: which one was meant is unclear, so refused.
    let twice = headers(&[
        ("Stripe-Signature", good[0].1.as_str()),
        ("Stripe-Signature", good[0].1.as_str()),
    ]);
    assert!(matches!(
        verify(&w, &twice, body, 1000),
        Err(WebhookFailure::Malformed { .. })
    ));
}

#[test]
fn slack_shopify_and_generic_header_forms() {
    let slack = Webhook::of(WebhookProvider::Slack, "s");
    let good = sign(&slack, b"a=1", 50, "");
    let sig = good[1].1.clone();
    for (ts, value, want) in [
        ("50", sig.replacen("v0=", "v1=", 1), "v0=<hex>"),
        ("50", sig.replacen("v0=", "", 1), "v0=<hex>"),
        ("50", format!("{sig}zz"), "v0=<hex>"),
        ("fifty", sig.clone(), "not whole seconds"),
        ("", sig.clone(), "not whole seconds"),
    ] {
        let h = headers(&[(SLACK_TIMESTAMP, ts), (SLACK_SIGNATURE, &value)]);
        match verify(&slack, &h, b"a=1", 50) {
            Err(WebhookFailure::Malformed { problem, .. }) => {
                assert!(problem.contains(want), "{ts} {value}: {problem}");
            }
            other => panic!("{ts} {value}: {other:?}"),
        }
    }

    let shopify = Webhook::of(WebhookProvider::Shopify, "s");
    let good = sign(&shopify, b"{}", 0, "");
    assert!(matches!(
        verify(
            &shopify,
            &headers(&[(SHOPIFY_HMAC, "not base64!")]),
            b"{}",
            0
        ),
        Err(WebhookFailure::Malformed { .. })
    ));
    // Hex is not what Shopify sends.
    let hex_form = hex::encode(STANDARD.decode(&good[0].1).unwrap());
    assert_eq!(
        verify(&shopify, &headers(&[(SHOPIFY_HMAC, &hex_form)]), b"{}", 0),
        Err(WebhookFailure::BadSignature)
    );

    let generic = Webhook::hmac("s");
    let good = sign(&generic, b"x", 0, "");
    assert_eq!(good[0].0, "X-Hub-Signature-256");
    let upper = format!("sha256={}", good[0].1[7..].to_uppercase());
    assert_eq!(
        verify(
            &generic,
            &headers(&[("x-hub-signature-256", &upper)]),
            b"x",
            0
        ),
        Ok(())
    );
    // Any of several values may match (the generic form always allowed it).
    let two = headers(&[
        ("X-Hub-Signature-256", "sha256=00"),
        ("X-Hub-Signature-256", good[0].1.as_str()),
    ]);
    assert_eq!(verify(&generic, &two, b"x", 0), Ok(()));
    match verify(
        &generic,
        &headers(&[("X-Hub-Signature-256", &good[0].1[7..])]),
        b"x",
        0,
    ) {
        Err(WebhookFailure::Malformed { problem, .. }) => {
            assert!(problem.contains("sha256=<hex"), "{problem}");
        }
        other => panic!("no prefix: {other:?}"),
    }
}

#[test]
fn standard_needs_all_three_headers_once() {
    let w = Webhook::of(WebhookProvider::Standard, "whsec_QUJDREVGR0g=");
    let good = sign(&w, b"{}", 77, "msg_a");
    let mut twice = good.clone();
    twice.push(("webhook-id".into(), "msg_b".into()));
    assert!(matches!(
        verify(&w, &twice, b"{}", 77),
        Err(WebhookFailure::Malformed { header, .. }) if header == "webhook-id"
    ));
    // The id is signed.
    let other_id: Headers = good
        .iter()
        .map(|(n, v)| {
            let v = if n == "webhook-id" {
                "msg_b".into()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect();
    assert_eq!(
        verify(&w, &other_id, b"{}", 77),
        Err(WebhookFailure::BadSignature)
    );
    // Neither naming: the standard's names are asked for.
    assert_eq!(
        verify(&w, &vec![], b"{}", 77),
        Err(WebhookFailure::MissingHeader {
            header: "webhook-signature".into(),
            scheme: "Standard Webhooks"
        })
    );
}

#[test]
fn failures_read_as_what_to_fix() {
    let missing = WebhookFailure::MissingHeader {
        header: "Stripe-Signature".into(),
        scheme: "Stripe",
    };
    assert_eq!(
        missing.to_string(),
        "missing Stripe-Signature header (this tunnel verifies Stripe webhook signatures)"
    );
    assert!(
        WebhookFailure::BadSignature
            .to_string()
            .starts_with("bad webhook signature")
    );
}
