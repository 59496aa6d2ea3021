//! The client-core pieces the console relies on, compiled to wasm and run in headless
//! Chromium, with the console's own browser services: what runs in a person's browser
//! is tested there. Run with `scripts/console-build.sh --test`.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use client_core::api::{ApiClient, HttpResponse, TunnelList, UpdateTunnel};
use client_core::domain::validate_subdomain;
use client_core::inspect::{
    CapturedBody, Exchange, ExchangeSummary, Filter, Message, Outcome, REDACTED, ResponseRecord,
    Timings, to_curl, to_har,
};
use client_core::policy::Patch;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_console::services::edits::EditForm;
use web_console::services::format::{BodyView, body_view};
use web_console::services::policy_form::{PolicyForm, summary_after};
use web_console::services::{browser, session};

wasm_bindgen_test_configure!(run_in_browser);

fn exchange() -> Exchange {
    Exchange {
        request_id: "r1".into(),
        tunnel_id: "t1".into(),
        replay_of: None,
        inbox_of: None,
        method: "POST".into(),
        path: "/hook?a=1".into(),
        remote_addr: "127.0.0.1:5000".into(),
        request: Message {
            headers: vec![
                ("Host".into(), "app.localhost".into()),
                ("Authorization".into(), REDACTED.into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: CapturedBody::full(br#"{"event":"paid"}"#.to_vec()),
        },
        response: Some(ResponseRecord {
            status: 204,
            headers: vec![],
            body: CapturedBody::default(),
        }),
        outcome: Outcome::Completed,
        timings: Timings {
            received_ms: 1_700_000_000_000,
            forwarded_ms: Some(1_700_000_000_001),
            first_byte_ms: Some(1_700_000_000_010),
            done_ms: Some(1_700_000_000_012),
        },
    }
}

#[wasm_bindgen_test]
fn domain_rules_match_the_server() {
    assert!(validate_subdomain("my-app").is_ok());
    for bad in ["ab", "API", "console", "-x-"] {
        assert!(validate_subdomain(bad).is_err(), "{bad}");
    }
}

#[wasm_bindgen_test]
fn api_calls_are_built_and_read() {
    let api = ApiClient::new("http://127.0.0.1:8080/", Some("tok".into()));
    let filter = Filter::from_query("method=post&status=2xx").unwrap();
    let call = api.list_requests("t1", &filter, Some("c"), Some(50));
    assert_eq!(
        call.request.url,
        "http://127.0.0.1:8080/v1/tunnels/t1/requests?method=POST&status=2xx&cursor=c&limit=50"
    );
    let bearer = ("authorization".to_owned(), "Bearer tok".to_owned());
    assert!(call.request.headers.contains(&bearer));

    let list = api.list_tunnels();
    let body = br#"{"tunnels":[{"tunnel_id":"t1","domain":"app","public_url":"http://app.localhost:8080","status":"online","created_at":1,"request_count":3}]}"#;
    let ok = HttpResponse {
        status: 200,
        body: body.to_vec(),
    };
    let parsed: TunnelList = list.parse(&ok).unwrap();
    assert_eq!(parsed.tunnels[0].request_count, 3);
    let refused = HttpResponse {
        status: 401,
        body: br#"{"error":{"code":"unauthorized","message":"token expired"}}"#.to_vec(),
    };
    assert_eq!(
        list.parse(&refused).unwrap_err().to_string(),
        "token expired"
    );
}

#[wasm_bindgen_test]
fn filters_match_live_lines() {
    let s = ExchangeSummary::from(&exchange());
    let f = |q: &str| Filter::from_query(q).unwrap();
    assert!(f("method=POST&status=2xx&path_prefix=/hook").matches_summary(&s));
    assert!(!f("status=4xx").matches_summary(&s));
    assert_eq!(s.duration_ms, Some(12));
}

#[wasm_bindgen_test]
fn exports_and_replay_edits() {
    let x = exchange();
    let curl = to_curl(&x, "http://app.localhost:8080");
    assert!(
        curl.contains("http://app.localhost:8080/hook?a=1"),
        "{curl}"
    );
    assert!(curl.contains("redacted"), "{curl}");
    let har = to_har(
        std::slice::from_ref(&x),
        "http://app.localhost:8080",
        "test",
    );
    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(har["log"]["entries"][0]["response"]["status"], 204);

    let mut form = EditForm::of(&x);
    form.headers.push_str("\nX-Extra: 1");
    let sent = form.to_edits(&x).unwrap().apply(&x).unwrap();
    assert!(sent.headers.contains(&("X-Extra".into(), "1".into())));
    assert!(!sent.headers.iter().any(|(n, _)| n == "Authorization"));
}

#[wasm_bindgen_test]
fn bodies_and_forms_render() {
    let json = body_view(Some("application/json"), &exchange().request.body);
    assert!(matches!(json, BodyView::Json(_)));
    assert_eq!(
        browser::form_pairs("who=ada+lovelace&lang=en%2Fgb&empty="),
        vec![
            ("who".to_owned(), "ada lovelace".to_owned()),
            ("lang".to_owned(), "en/gb".to_owned()),
            ("empty".to_owned(), String::new()),
        ]
    );
    assert_eq!(browser::clock_time(0).len(), "00:00:00.000".len());
}

#[wasm_bindgen_test]
fn the_session_lives_in_session_storage() {
    let s = session::Session {
        token: "t".into(),
        expires_at: 42,
    };
    session::save(Some(&s));
    assert_eq!(session::load(), Some(s));
    session::save(None);
    assert_eq!(session::load(), None);
}

#[wasm_bindgen_test]
fn access_policies_are_checked_then_sent_as_a_change() {
    let short = PolicyForm {
        share_token: "short".into(),
        ..PolicyForm::default()
    };
    assert!(short.to_patch().unwrap_err()["share_token"].contains("8 to 256"));
    let form = PolicyForm {
        share_token: "a-share-token".into(),
        inbox: true,
        ..PolicyForm::default()
    };
    let patch = form.to_patch().unwrap();
    assert_eq!(
        summary_after(&form.current, &patch).describe(),
        "share token; offline inbox (up to 100 requests for 86400 s, answered 202)"
    );
    let api = ApiClient::new("http://127.0.0.1:8080", Some("tok".into()));
    let call = api.update_tunnel(
        "t1",
        &UpdateTunnel {
            policy: Patch::Set(patch),
        },
    );
    assert_eq!(call.request.method, "PATCH");
    assert_eq!(call.request.url, "http://127.0.0.1:8080/v1/tunnels/t1");
    let body: serde_json::Value =
        serde_json::from_slice(call.request.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"policy": {"share_token": "a-share-token", "inbox": {}}})
    );
    // "Remove all checks" sends an explicit null.
    let call = api.update_tunnel(
        "t1",
        &UpdateTunnel {
            policy: Patch::Remove,
        },
    );
    assert_eq!(
        call.request.body.as_deref(),
        Some(&br#"{"policy":null}"#[..])
    );
}
