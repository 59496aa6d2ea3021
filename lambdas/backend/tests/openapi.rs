#![allow(clippy::unwrap_used)]

//! The OpenAPI document and the router describe the same API: every route of
//! `api::ROUTES` is in the document with its method and every operation of the
//! document is a route; each route is really routed (an unauthenticated call is
//! refused by authentication, not answered "no such route").

mod common;

use std::collections::BTreeSet;

use common::NoReplays;
use serde_json::Value;
use tunnel_backend::api::{self, ApiRequest, OPENAPI, ROUTES};

/// `{anything}` path segments as `{}`, so parameter names do not matter.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn document_operations() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(
                op["responses"].is_object(),
                "{method} {path} documents its answers"
            );
            ops.insert((method.to_ascii_uppercase(), shape(path)));
        }
    }
    ops
}

#[test]
fn every_route_is_documented_and_every_operation_routed() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), shape(p)))
        .collect();
    assert_eq!(routes.len(), ROUTES.len(), "no route is listed twice");
    let documented = document_operations();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations in openapi.json with no route: {unrouted:?}"
    );
}

#[test]
fn every_schema_reference_resolves() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut stack = vec![&doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.strip_prefix("#/components/schemas/").expect("local ref");
                    assert!(schemas.contains_key(name), "dangling $ref {r}");
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
}

#[tokio::test]
async fn every_route_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::backend(dir.path());
    for (method, pattern) in ROUTES {
        let path = shape(pattern).replace("{}", "x");
        let req = ApiRequest {
            method: (*method).to_owned(),
            path: path.clone(),
            ..ApiRequest::default()
        };
        let resp = api::handle(&backend, req, 1, &NoReplays).await;
        let open = matches!(
            (*method, *pattern),
            ("POST", "/v1/clients") | ("GET", "/v1/openapi.json")
        );
        let want = if open { 200..=201 } else { 401..=401 };
        assert!(
            want.contains(&resp.status),
            "{method} {path}: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
    }
    let unknown = ApiRequest {
        method: "GET".into(),
        path: "/v1/nothing".into(),
        ..ApiRequest::default()
    };
    assert_eq!(
        api::handle(&backend, unknown, 1, &NoReplays).await.status,
        404
    );
}
