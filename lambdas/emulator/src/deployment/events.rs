//! The events API Gateway and Lambda Function URLs give to functions, built from HTTP
//! requests as AWS documents them, and the answers read back.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::clock::now_ms;
use http::HeaderMap;
use serde_json::{Value, json};

/// Account id the emulator pretends to be.
pub const ACCOUNT_ID: &str = "123456789012";
/// API id of the emulated APIs.
pub const API_ID: &str = "emulated";
/// Stage name of the emulated APIs.
pub const STAGE: &str = "local";

fn request_id() -> String {
    tunnel_backend::auth::random_id(16)
}

/// Single- and multi-value maps of headers, as REST API events carry them (last value
/// wins in the single map, as on AWS).
fn header_maps(headers: &HeaderMap) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_owned(), Value::String(v.clone()));
        multi.entry(name.as_str().to_owned()).or_default().push(v);
    }
    (Value::Object(single), json!(multi))
}

/// Query string parameters, single and multi, decoded.
fn query_maps(query: Option<&str>) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        single.insert(k.clone(), Value::String(v.clone()));
        multi.entry(k).or_default().push(v);
    }
    if single.is_empty() {
        return (Value::Null, Value::Null);
    }
    (Value::Object(single), json!(multi))
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1]).zip(hex(bytes[i + 2])),
            _ => None,
        };
        match (decoded, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn body_field(body: &[u8]) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    match std::str::from_utf8(body) {
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(body)), true),
    }
}

/// A REST API (v1) proxy-integration event.
pub fn rest_event(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    source_ip: &str,
) -> Value {
    let (single, multi) = header_maps(headers);
    let (qs, mqs) = query_maps(query);
    let (body, b64) = body_field(body);
    json!({
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": qs,
        "multiValueQueryStringParameters": mqs,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "stage": STAGE,
            "requestId": request_id(),
            "httpMethod": method,
            "path": format!("/{STAGE}{path}"),
            "resourcePath": path,
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": now_ms(),
            "identity": { "sourceIp": source_ip },
        },
        "body": body,
        "isBase64Encoded": b64,
    })
}

/// A Lambda Function URL (payload 2.0) event, as
/// <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html> shows it:
/// repeated headers joined with commas, and the `Cookie` header's cookies, one each,
/// in `cookies` (not in `headers`).
pub fn function_url_event(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    source_ip: &str,
) -> Value {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let (qs, _) = query_maps(query);
    let user_agent = joined.get("user-agent").cloned().unwrap_or_default();
    let (url_body, base64) = url_body(joined.get("content-type").map(String::as_str), body);
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query.unwrap_or_default(),
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": joined,
        "queryStringParameters": qs,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": format!("{API_ID}.lambda-url.us-east-1.on.aws"),
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id(),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": now_ms(),
        },
        "body": url_body,
        "isBase64Encoded": base64,
    })
}

/// A Function URL event's `body`: AWS documents "If the content type of the request is
/// binary, the body is base64-encoded", without listing which types it counts as
/// text. Here: `text/*` and the JSON, XML, JavaScript and form types, when the bytes
/// are UTF-8; everything else is base64.
fn url_body(content_type: Option<&str>, body: &[u8]) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let textual = essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
        );
    match std::str::from_utf8(body) {
        Ok(text) if textual => (Value::String(text.to_owned()), false),
        _ => (Value::String(STANDARD.encode(body)), true),
    }
}

/// The `$connect` REQUEST authorizer event of a WebSocket API. Its `requestContext`
/// carries `identity.sourceIp`, the caller's address, as API Gateway's does (the
/// WebSocket context variable `$context.identity.sourceIp`).
pub fn authorizer_event(
    connection_id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    source_ip: &str,
) -> Value {
    let (single, multi) = header_maps(headers);
    let (qs, mqs) = query_maps(query);
    json!({
        "type": "REQUEST",
        "methodArn": format!("arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{API_ID}/{STAGE}/$connect"),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": qs,
        "multiValueQueryStringParameters": mqs,
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": request_id(),
            "requestTime": "",
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": now_ms(),
            "requestTimeEpoch": now_ms(),
            "identity": { "sourceIp": source_ip },
            "requestId": request_id(),
            "domainName": "127.0.0.1",
            "connectionId": connection_id,
            "apiId": API_ID,
        },
    })
}

/// A WebSocket route event (`MESSAGE` or `DISCONNECT`). The authorizer's context keys
/// sit directly in `requestContext.authorizer`, beside `principalId`.
pub fn websocket_event(
    route_key: &str,
    event_type: &str,
    connection_id: &str,
    connected_at: u64,
    authorizer: &Value,
    body: Option<&str>,
) -> Value {
    json!({
        "requestContext": {
            "routeKey": route_key,
            "eventType": event_type,
            "messageId": request_id(),
            "extendedRequestId": request_id(),
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": connected_at,
            "requestTimeEpoch": now_ms(),
            "requestId": request_id(),
            "domainName": "127.0.0.1",
            "connectionId": connection_id,
            "apiId": API_ID,
            "authorizer": authorizer,
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// What a REST proxy integration answered.
#[derive(Debug)]
pub struct ProxyResponse {
    /// Status.
    pub status: u16,
    /// Headers, in order (single map first, then the multi-value map).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Reads a proxy-integration answer (`statusCode`, `headers`, `multiValueHeaders`,
/// `body`, `isBase64Encoded`); `None` when it is not one (API Gateway then answers 502).
pub fn read_proxy_response(payload: &[u8]) -> Option<ProxyResponse> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let status = u16::try_from(v.get("statusCode")?.as_u64()?).ok()?;
    let mut headers = Vec::new();
    if let Some(h) = v.get("headers").and_then(Value::as_object) {
        for (k, val) in h {
            if let Some(s) = val.as_str() {
                headers.push((k.clone(), s.to_owned()));
            }
        }
    }
    if let Some(h) = v.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, vals) in h {
            for val in vals.as_array().into_iter().flatten() {
                if let Some(s) = val.as_str()
                    && !headers.iter().any(|(hk, hv)| hk == k && hv == s)
                {
                    headers.push((k.clone(), s.to_owned()));
                }
            }
        }
    }
    let body = match v.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(b) if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            STANDARD.decode(b).ok()?
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    Some(ProxyResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let (qs, mqs) = query_maps(Some("a=1&b=x%20y&a=2&c"));
        assert_eq!(qs["a"], "2");
        assert_eq!(qs["b"], "x y");
        assert_eq!(qs["c"], "");
        assert_eq!(mqs["a"], json!(["1", "2"]));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn function_url_events_join_repeated_headers() {
        let mut h = HeaderMap::new();
        h.append("x-a", "1".parse().unwrap());
        h.append("x-a", "2".parse().unwrap());
        h.append("cookie", "a=1; b=2".parse().unwrap());
        h.append("cookie", "c=3;d=4".parse().unwrap());
        let e = function_url_event("POST", "/p", Some("q=1"), &h, b"\xff", "127.0.0.1");
        assert_eq!(e["headers"]["x-a"], "1,2");
        assert_eq!(e["cookies"], json!(["a=1", "b=2", "c=3", "d=4"]));
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/w==");
        assert_eq!(e["rawQueryString"], "q=1");
    }

    #[test]
    fn function_url_bodies_are_base64_unless_text() {
        for (ct, body, want, b64) in [
            (
                Some("application/json; charset=utf-8"),
                &b"{\"a\":1}"[..],
                json!("{\"a\":1}"),
                false,
            ),
            (Some("text/plain"), "é".as_bytes(), json!("é"), false),
            (Some("application/vnd.api+json"), b"{}", json!("{}"), false),
            (Some("text/plain"), b"\xff", json!("/w=="), true),
            (Some("application/octet-stream"), b"hi", json!("aGk="), true),
            (None, b"hi", json!("aGk="), true),
            (Some("text/plain"), b"", Value::Null, false),
        ] {
            assert_eq!(url_body(ct, body), (want, b64), "{ct:?}");
        }
    }

    #[test]
    fn reads_proxy_responses() {
        let r = read_proxy_response(
            br#"{"statusCode":201,"headers":{"a":"1"},"multiValueHeaders":{"a":["1","2"]},"body":"aGk=","isBase64Encoded":true}"#,
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"hi");
        assert_eq!(
            r.headers,
            vec![("a".into(), "1".into()), ("a".into(), "2".into())]
        );
        assert!(read_proxy_response(b"not json").is_none());
    }
}
