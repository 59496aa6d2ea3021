//! The policy's unit tests: stored form, overlay, and the check of each setting.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::policy::{Policy, SHARE_TOKEN_HEADER, SHARE_TOKEN_PARAM, Webhook};
use client_core::protocol::Headers;

use super::*;
use crate::model::{SaltedHash, StoredPolicy};

fn stored(p: Policy) -> StoredPolicy {
    to_stored(&p).unwrap().unwrap()
}

fn basic(user_pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(user_pass))
}

#[test]
fn a_resumed_policy_keeps_what_the_restart_does_not_name() {
    let earlier = stored(Policy {
        basic_auth: Some("u:p".into()),
        allow_ips: vec!["10.0.0.0/8".into()],
        inbox: Some(client_core::policy::Inbox::default()),
        ..Default::default()
    });
    assert_eq!(overlay(Some(earlier.clone()), None), Some(earlier.clone()));
    assert_eq!(overlay(None, None), None);
    let asked = stored(Policy {
        allow_ips: vec!["::1".into()],
        share_token: Some("token-123".into()),
        ..Default::default()
    });
    assert_eq!(overlay(None, Some(asked.clone())), Some(asked.clone()));
    let merged = overlay(Some(earlier.clone()), Some(asked.clone())).unwrap();
    assert_eq!(merged.basic_auth, earlier.basic_auth, "kept");
    assert_eq!(merged.inbox, earlier.inbox, "kept");
    assert_eq!(merged.allow_ips, ["::1/128"], "replaced");
    assert_eq!(merged.share_token, asked.share_token, "added");
    let new_password = stored(Policy {
        basic_auth: Some("v:q".into()),
        ..Default::default()
    });
    let merged = overlay(Some(earlier), Some(new_password.clone())).unwrap();
    assert_eq!(merged.basic_auth, new_password.basic_auth, "replaced");
    assert_eq!(merged.allow_ips, ["10.0.0.0/8"]);
}

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    ip: &'static str,
    body: Vec<u8>,
    want: Result<(Vec<&'static str>, Option<&'static str>), u16>,
}

fn run(policy: &StoredPolicy, cases: Vec<Case>) {
    for c in cases {
        let headers: Headers = c
            .headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let got = check(
            policy,
            &PublicRequest {
                path: c.path,
                headers: &headers,
                remote_ip: c.ip.parse().ok(),
                body: &c.body,
                now: 0,
            },
        );
        match (&got, &c.want) {
            (Ok(a), Ok((strip, path))) => {
                assert_eq!(&a.strip_headers, strip, "{}", c.name);
                assert_eq!(a.path.as_deref(), *path, "{}", c.name);
            }
            (Err(r), Err(status)) => assert_eq!(r.status, *status, "{}", c.name),
            _ => panic!("{}: got {got:?}, want {:?}", c.name, c.want),
        }
    }
}

fn case(
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    ip: &'static str,
    want: Result<(Vec<&'static str>, Option<&'static str>), u16>,
) -> Case {
    Case {
        name,
        path,
        headers,
        ip,
        body: Vec::new(),
        want,
    }
}

#[test]
fn basic_auth() {
    let p = stored(Policy {
        basic_auth: Some("alice:s3cret:x".into()),
        ..Policy::default()
    });
    let ok = Ok((vec!["authorization"], None));
    run(
        &p,
        vec![
            case("none", "/", vec![], "1.1.1.1", Err(401)),
            case(
                "right",
                "/",
                vec![("Authorization", basic("alice:s3cret:x"))],
                "1.1.1.1",
                ok.clone(),
            ),
            case(
                "scheme in any case",
                "/",
                vec![(
                    "authorization",
                    format!("bAsIc {}", STANDARD.encode("alice:s3cret:x")),
                )],
                "1.1.1.1",
                ok,
            ),
            case(
                "wrong password",
                "/",
                vec![("Authorization", basic("alice:s3cret"))],
                "1.1.1.1",
                Err(401),
            ),
            case(
                "wrong user",
                "/",
                vec![("Authorization", basic("bob:s3cret:x"))],
                "1.1.1.1",
                Err(401),
            ),
            case(
                "bearer",
                "/",
                vec![("Authorization", "Bearer alice".into())],
                "1.1.1.1",
                Err(401),
            ),
            case(
                "not base64",
                "/",
                vec![("Authorization", "Basic !!!".into())],
                "1.1.1.1",
                Err(401),
            ),
        ],
    );
    let refusal = check(
        &p,
        &PublicRequest {
            path: "/",
            headers: &vec![],
            remote_ip: None,
            body: b"",
            now: 0,
        },
    )
    .unwrap_err();
    assert_eq!(
        refusal.www_authenticate.as_deref(),
        Some("Basic realm=\"tunnel\", charset=\"UTF-8\"")
    );
}

#[test]
fn share_token() {
    let p = stored(Policy {
        share_token: Some("tok-12345".into()),
        ..Policy::default()
    });
    let strip = vec![SHARE_TOKEN_HEADER];
    run(
        &p,
        vec![
            case("none", "/a?x=1", vec![], "1.1.1.1", Err(401)),
            case(
                "header",
                "/a?x=1",
                vec![("X-Tunnel-Token", "tok-12345".into())],
                "1.1.1.1",
                Ok((strip.clone(), Some("/a?x=1"))),
            ),
            case(
                "query, first",
                "/a?tunnel_token=tok-12345&x=1",
                vec![],
                "1.1.1.1",
                Ok((strip.clone(), Some("/a?x=1"))),
            ),
            case(
                "query, alone",
                "/a?tunnel_token=tok-12345",
                vec![],
                "1.1.1.1",
                Ok((strip.clone(), Some("/a"))),
            ),
            case(
                "wrong header, right query",
                "/?tunnel_token=tok-12345",
                vec![("x-tunnel-token", "nope".into())],
                "1.1.1.1",
                Ok((strip, Some("/"))),
            ),
            case(
                "wrong",
                "/?tunnel_token=tok-1234",
                vec![],
                "1.1.1.1",
                Err(401),
            ),
            case(
                "lookalike param",
                "/?my_tunnel_token=tok-12345",
                vec![],
                "1.1.1.1",
                Err(401),
            ),
        ],
    );
}

#[test]
fn allow_list() {
    let p = stored(Policy {
        allow_ips: vec![
            "10.0.0.0/8".into(),
            "2001:db8::/32".into(),
            "127.0.0.1".into(),
        ],
        ..Policy::default()
    });
    let ok = || Ok((vec![], None));
    run(
        &p,
        vec![
            case("inside v4", "/", vec![], "10.255.0.1", ok()),
            case("edge below", "/", vec![], "9.255.255.255", Err(403)),
            case("edge above", "/", vec![], "11.0.0.0", Err(403)),
            case("v4-mapped", "/", vec![], "::ffff:10.0.0.1", ok()),
            case("inside v6", "/", vec![], "2001:db8::5", ok()),
            case("outside v6", "/", vec![], "2001:db9::5", Err(403)),
            case("single address", "/", vec![], "127.0.0.1", ok()),
            case("unknown address", "/", vec![], "", Err(403)),
        ],
    );
}

#[test]
fn webhook_signature() {
    let p = stored(Policy {
        webhook: Some(Webhook::hmac("shh")),
        ..Policy::default()
    });
    let body = br#"{"zen":"hi"}"#.to_vec();
    let good = sign_webhook("shh", "sha256=", &body);
    let mk = |name, headers: Vec<(&'static str, String)>, body: Vec<u8>, want| Case {
        name,
        path: "/hook",
        headers,
        ip: "1.1.1.1",
        body,
        want,
    };
    run(
        &p,
        vec![
            mk(
                "good",
                vec![("X-Hub-Signature-256", good.clone())],
                body.clone(),
                Ok((vec![], None)),
            ),
            mk(
                "upper-case hex",
                vec![(
                    "x-hub-signature-256",
                    format!("sha256={}", good[7..].to_uppercase()),
                )],
                body.clone(),
                Ok((vec![], None)),
            ),
            mk("missing", vec![], body.clone(), Err(401)),
            mk(
                "body changed",
                vec![("X-Hub-Signature-256", good.clone())],
                b"{}".to_vec(),
                Err(401),
            ),
            mk(
                "no prefix",
                vec![("X-Hub-Signature-256", good[7..].to_owned())],
                body.clone(),
                Err(401),
            ),
            mk(
                "wrong secret",
                vec![(
                    "X-Hub-Signature-256",
                    sign_webhook("other", "sha256=", &body),
                )],
                body.clone(),
                Err(401),
            ),
            mk(
                "not hex",
                vec![("X-Hub-Signature-256", "sha256=zz".into())],
                body.clone(),
                Err(401),
            ),
        ],
    );
    // The size limit, at its edge: the largest body is verified, one more byte is 413.
    let big = vec![b'a'; MAX_VERIFIED_BODY_BYTES];
    let sig = sign_webhook("shh", "sha256=", &big);
    run(
        &p,
        vec![
            mk(
                "largest",
                vec![("X-Hub-Signature-256", sig.clone())],
                big.clone(),
                Ok((vec![], None)),
            ),
            mk(
                "one byte over",
                vec![("X-Hub-Signature-256", sig)],
                [big, vec![b'a']].concat(),
                Err(413),
            ),
        ],
    );
    let custom = stored(Policy {
        webhook: Some(Webhook {
            header: Some("X-Sig".into()),
            prefix: Some(String::new()),
            ..Webhook::hmac("shh")
        }),
        ..Policy::default()
    });
    let plain = sign_webhook("shh", "", &body);
    run(
        &custom,
        vec![
            mk(
                "custom header, no prefix",
                vec![("x-sig", plain)],
                body.clone(),
                Ok((vec![], None)),
            ),
            mk(
                "default header ignored",
                vec![("X-Hub-Signature-256", good)],
                body,
                Err(401),
            ),
        ],
    );
}

#[test]
fn settings_combine_and_all_must_pass() {
    let p = stored(Policy {
        basic_auth: Some("u:p".into()),
        share_token: Some("tok-12345".into()),
        allow_ips: vec!["127.0.0.0/8".into()],
        webhook: None,
        inbox: None,
    });
    let both = || {
        vec![
            ("Authorization", basic("u:p")),
            ("X-Tunnel-Token", "tok-12345".to_owned()),
        ]
    };
    run(
        &p,
        vec![
            case(
                "all",
                "/",
                both(),
                "127.0.0.1",
                Ok((vec!["authorization", SHARE_TOKEN_HEADER], Some("/"))),
            ),
            case("wrong address first", "/", both(), "10.0.0.1", Err(403)),
            case(
                "no token",
                "/",
                vec![("Authorization", basic("u:p"))],
                "127.0.0.1",
                Err(401),
            ),
            case(
                "no basic",
                "/",
                vec![("X-Tunnel-Token", "tok-12345".into())],
                "127.0.0.1",
                Err(401),
            ),
        ],
    );
    let admit = check(
        &p,
        &PublicRequest {
            path: "/",
            headers: &both().into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
            remote_ip: "127.0.0.1".parse().ok(),
            body: b"",
            now: 0,
        },
    )
    .unwrap();
    let left = admit.headers(vec![
        ("authorization".into(), "x".into()),
        ("X-Tunnel-Token".into(), "x".into()),
        ("accept".into(), "*/*".into()),
    ]);
    assert_eq!(left, vec![("accept".to_owned(), "*/*".to_owned())]);
}

#[test]
fn the_head_is_checked_without_the_body() {
    let p = stored(Policy {
        allow_ips: vec!["10.0.0.0/8".into()],
        basic_auth: Some("u:p".into()),
        webhook: Some(Webhook::hmac("shh")),
        ..Policy::default()
    });
    let headers = vec![("authorization".to_owned(), basic("u:p"))];
    let req = |ip: &str| PublicRequest {
        path: "/",
        headers: &headers,
        remote_ip: ip.parse().ok(),
        body: b"",
        now: 0,
    };
    assert_eq!(
        check_credentials(&p, &req("1.2.3.4")).unwrap_err().status,
        403
    );
    assert!(check_credentials(&p, &req("10.0.0.1")).is_ok());
    // ... and the body's checks apply only after, on the whole body.
    assert_eq!(check_body(&p, &headers, b"x", 0).unwrap_err().status, 401);
    let signed = vec![(
        "x-hub-signature-256".to_owned(),
        sign_webhook("shh", "sha256=", b"x"),
    )];
    assert!(check_body(&p, &signed, b"x", 0).is_ok());
    assert!(check_body(&StoredPolicy::default(), &vec![], b"anything", 0).is_ok());
}

#[test]
fn webhook_refusals_say_what_failed() {
    use client_core::policy::WebhookProvider;
    let w = Webhook::of(WebhookProvider::Stripe, "whsec_test");
    let p = stored(Policy {
        webhook: Some(w.clone()),
        ..Policy::default()
    });
    let body = br#"{"id":"evt_1"}"#;
    let signed = super::super::webhook::sign(&w, body, 1_000, "");
    let reason = |headers: &Headers, body: &[u8], now| {
        let r = check_body(&p, headers, body, now).unwrap_err();
        assert_eq!(r.status, 401);
        r.reason
    };
    assert!(check_body(&p, &signed, body, 1_000).is_ok());
    assert!(
        reason(&vec![], body, 1_000).starts_with("unauthorized: missing Stripe-Signature header")
    );
    assert!(reason(&signed, b"{}", 1_000).starts_with("unauthorized: bad webhook signature"));
    assert!(
        reason(&signed, body, 1_000 + 301).starts_with("unauthorized: stale webhook timestamp")
    );
    let garbled = vec![("Stripe-Signature".to_owned(), "v1=00".to_owned())];
    assert!(reason(&garbled, body, 1_000).starts_with("unauthorized: malformed Stripe-Signature"));
}

#[test]
fn stored_form_hides_secrets_and_summary_shows_none() {
    let p = Policy {
        basic_auth: Some("alice:pw-secret".into()),
        share_token: Some("token-secret".into()),
        allow_ips: vec!["10.1.2.3/8".into()],
        webhook: Some(Webhook::hmac("hook-secret")),
        inbox: None,
    };
    let s = stored(p);
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("pw-secret") && !json.contains("token-secret"));
    assert_eq!(s.allow_ips, ["10.0.0.0/8"]);
    let shown = serde_json::to_string(&summary(&s)).unwrap();
    for secret in ["pw-secret", "token-secret", "hook-secret", "salt", "hash"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("alice") && shown.contains("X-Hub-Signature-256"));
    // Two hashes of one secret differ (salted) and both match.
    let (a, b) = (SaltedHash::new("x"), SaltedHash::new("x"));
    assert_ne!(a, b);
    assert!(a.matches("x") && b.matches("x") && !a.matches("y"));
    assert_eq!(to_stored(&Policy::default()), Ok(None));
    assert!(
        to_stored(&Policy {
            allow_ips: vec!["nope".into()],
            ..Policy::default()
        })
        .is_err()
    );
}

#[test]
fn query_params_are_removed_exactly() {
    let cases = [
        ("/", "/", vec![]),
        ("/a?b=1", "/a?b=1", vec![]),
        ("/a?tunnel_token=t", "/a", vec!["t"]),
        ("/a?x=1&tunnel_token=t&y=2", "/a?x=1&y=2", vec!["t"]),
        ("/a?tunnel_token=t&tunnel_token=u", "/a", vec!["t", "u"]),
        ("/a?tunnel_token", "/a", vec![""]),
    ];
    for (path, want, values) in cases {
        assert_eq!(
            take_query_param(path, SHARE_TOKEN_PARAM),
            (want.to_owned(), values),
            "{path}"
        );
    }
}
