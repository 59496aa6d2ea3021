//! Request bodies are strict: a field the server does not know is refused with 400,
//! naming the field and the ones it knows, and the call changes nothing. A script with
//! `"domian"` or `"polcy"` must not get a random domain or an unprotected tunnel.
//! The OpenAPI document says the same (`additionalProperties: false` on every object a
//! request body reaches), so schemathesis holds the router to it too.

#![allow(clippy::unwrap_used)]

mod common;

use common::{call, register};
use serde_json::{Value, json};
use tunnel_backend::api::OPENAPI;

/// Asserts a 400 whose message names `field` and, among the known fields, `known`.
fn refused(status: u16, body: &Value, field: &str, known: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("`{field}`")),
        "names the field: {msg}"
    );
    assert!(
        msg.contains(&format!("`{known}`")),
        "names the known ones: {msg}"
    );
}

#[tokio::test]
async fn unknown_fields_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = common::backend(dir.path());
    let key = register(&b).await;

    // The issue's two typos: neither creates a tunnel.
    let (s, body) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domian": "typo-name"})),
    )
    .await;
    refused(s, &body, "domian", "domain");
    let (s, body) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "ok-name", "polcy": {"basic_auth": "a:b"}})),
    )
    .await;
    refused(s, &body, "polcy", "policy");
    // Inside the policy and its inbox too.
    let (s, body) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "ok-name", "policy": {"basic_aut": "a:b"}})),
    )
    .await;
    refused(s, &body, "basic_aut", "basic_auth");
    let (s, body) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "ok-name", "policy": {"inbox": {"max_request": 5}}})),
    )
    .await;
    refused(s, &body, "max_request", "max_requests");
    let (s, body) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "ok-name", "policy": {"webhook": {"secret": "s", "provder": "stripe"}}}))
    )
    .await;
    refused(s, &body, "provder", "provider");
    let (s, list) = call(&b, "GET", "/v1/tunnels", &key, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["tunnels"], json!([]), "a refused call created nothing");

    // A tunnel, then a PATCH with a typo leaves its policy as it was.
    let (s, t) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "ok-name", "policy": {"basic_auth": "a:b"}})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let id = t["tunnel_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tunnels/{id}");
    let (s, body) = call(&b, "PATCH", &path, &key, Some(json!({"polcy": null}))).await;
    refused(s, &body, "polcy", "policy");
    let (_, after) = call(&b, "GET", &path, &key, None).await;
    assert_eq!(after["policy"], t["policy"], "the policy is untouched");

    // Replay edits (`headers` for `set_headers`) and a delivery report.
    let (s, body) = call(
        &b,
        "POST",
        "/v1/requests/no-such/replay",
        &key,
        Some(json!({"headers": [["x-a", "1"]]})),
    )
    .await;
    refused(s, &body, "headers", "set_headers");
    let (s, body) = call(
        &b,
        "POST",
        &format!("/v1/tunnels/{id}/inbox/deliveries"),
        &key,
        Some(
            json!({"request_id": "r", "method": "GET", "path": "/", "outcome": "completed",
               "started_ms": 1, "done_ms": 2, "stauts": 200}),
        ),
    )
    .await;
    refused(s, &body, "stauts", "request_id");
}

/// Every object schema a request body reaches is closed in the document, so the
/// published contract and the router agree (and schemathesis checks the router).
#[test]
fn the_document_closes_every_request_body_object() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut todo: Vec<String> = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(r) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            {
                todo.push(r.rsplit('/').next().unwrap().to_owned());
            }
        }
    }
    assert!(todo.len() >= 4, "request bodies found: {todo:?}");
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let s = &schemas[&name];
        if s["type"] == "object" {
            assert_eq!(s["additionalProperties"], false, "{name} is closed");
        }
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        todo.push(r.rsplit('/').next().unwrap().to_owned());
                    }
                    stack.extend(m.values());
                }
                Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
    }
    assert!(
        seen.contains("Policy") && seen.contains("Inbox"),
        "{seen:?}"
    );
}
