//! A structural check of a HAR 1.2 document: every required field present with its
//! type, per <http://www.softwareishard.com/blog/har-12-spec/>. Returns the problems.

use serde_json::{Map, Value};

pub(super) fn validate(doc: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let Some(log) = obj(doc, "log", "", &mut errs) else {
        return errs;
    };
    if log.get("version").and_then(Value::as_str) != Some("1.2") {
        errs.push("log.version must be \"1.2\"".into());
    }
    if let Some(creator) = obj_field(log, "creator", "log", &mut errs) {
        string(creator, "name", "log.creator", &mut errs);
        string(creator, "version", "log.creator", &mut errs);
    }
    let Some(entries) = array(log, "entries", "log", &mut errs) else {
        return errs;
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("log.entries[{i}]");
        let Some(entry) = entry.as_object() else {
            errs.push(format!("{at} must be an object"));
            continue;
        };
        entry_fields(entry, &at, &mut errs);
        for key in entry.keys() {
            let standard = [
                "pageref",
                "startedDateTime",
                "time",
                "request",
                "response",
                "cache",
                "timings",
                "serverIPAddress",
                "connection",
                "comment",
            ];
            if !standard.contains(&key.as_str()) && !key.starts_with('_') {
                errs.push(format!("{at}.{key}: custom fields must start with _"));
            }
        }
    }
    errs
}

fn entry_fields(entry: &Map<String, Value>, at: &str, errs: &mut Vec<String>) {
    if let Some(started) = string(entry, "startedDateTime", at, errs)
        && !is_iso8601(started)
    {
        errs.push(format!("{at}.startedDateTime is not ISO 8601: {started}"));
    }
    let time = number(entry, "time", at, errs);
    if let Some(request) = obj_field(entry, "request", at, errs) {
        let at = format!("{at}.request");
        string(request, "method", &at, errs);
        string(request, "url", &at, errs);
        string(request, "httpVersion", &at, errs);
        cookies(request, &at, errs);
        pairs(request, "headers", &at, errs);
        pairs(request, "queryString", &at, errs);
        if let Some(post) = request.get("postData") {
            let at = format!("{at}.postData");
            match post.as_object() {
                Some(post) => {
                    string(post, "mimeType", &at, errs);
                    if post.get("params").is_none() && post.get("text").is_none() {
                        errs.push(format!("{at} needs params or text"));
                    }
                    if post.contains_key("params") {
                        pairs(post, "params", &at, errs);
                    }
                    optional_string(post, "text", &at, errs);
                    optional_string(post, "comment", &at, errs);
                }
                None => errs.push(format!("{at} must be an object")),
            }
        }
        integer(request, "headersSize", &at, errs);
        integer(request, "bodySize", &at, errs);
    }
    if let Some(response) = obj_field(entry, "response", at, errs) {
        let at = format!("{at}.response");
        integer(response, "status", &at, errs);
        string(response, "statusText", &at, errs);
        string(response, "httpVersion", &at, errs);
        cookies(response, &at, errs);
        pairs(response, "headers", &at, errs);
        if let Some(content) = obj_field(response, "content", &at, errs) {
            let at = format!("{at}.content");
            integer(content, "size", &at, errs);
            string(content, "mimeType", &at, errs);
            optional_string(content, "text", &at, errs);
            optional_string(content, "comment", &at, errs);
            if let Some(encoding) = content.get("encoding") {
                if encoding != "base64" {
                    errs.push(format!("{at}.encoding must be base64 here"));
                }
                if content.get("text").is_none() {
                    errs.push(format!("{at}: encoding without text"));
                }
            }
        }
        string(response, "redirectURL", &at, errs);
        integer(response, "headersSize", &at, errs);
        integer(response, "bodySize", &at, errs);
    }
    obj_field(entry, "cache", at, errs);
    if let Some(timings) = obj_field(entry, "timings", at, errs) {
        let at = format!("{at}.timings");
        let mut sum = 0.0;
        for key in ["send", "wait", "receive"] {
            match number(timings, key, &at, errs) {
                Some(v) if v < 0.0 => errs.push(format!("{at}.{key} must not be negative")),
                Some(v) => sum += v,
                None => {}
            }
        }
        for key in ["blocked", "dns", "connect", "ssl"] {
            if timings.contains_key(key) {
                match number(timings, key, &at, errs) {
                    Some(v) if v < 0.0 && v != -1.0 => {
                        errs.push(format!("{at}.{key} must be -1 or non-negative"));
                    }
                    Some(v) if v >= 0.0 => sum += v,
                    _ => {}
                }
            }
        }
        if let Some(time) = time
            && (time - sum).abs() > 1e-9
        {
            errs.push(format!("{at}: time {time} is not the sum of timings {sum}"));
        }
    }
}

fn is_iso8601(s: &str) -> bool {
    // YYYY-MM-DDThh:mm:ss(.fff)?(Z|±hh:mm)
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':')
}

fn cookies(obj: &Map<String, Value>, at: &str, errs: &mut Vec<String>) {
    let Some(list) = array(obj, "cookies", at, errs) else {
        return;
    };
    for (i, c) in list.iter().enumerate() {
        let at = format!("{at}.cookies[{i}]");
        match c.as_object() {
            Some(c) => {
                string(c, "name", &at, errs);
                string(c, "value", &at, errs);
                for key in ["path", "domain", "expires", "comment"] {
                    optional_string(c, key, &at, errs);
                }
                for key in ["httpOnly", "secure"] {
                    if c.get(key).is_some_and(|v| !v.is_boolean()) {
                        errs.push(format!("{at}.{key} must be a boolean"));
                    }
                }
            }
            None => errs.push(format!("{at} must be an object")),
        }
    }
}

fn pairs(obj: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) {
    let Some(list) = array(obj, key, at, errs) else {
        return;
    };
    for (i, p) in list.iter().enumerate() {
        let at = format!("{at}.{key}[{i}]");
        match p.as_object() {
            Some(p) => {
                string(p, "name", &at, errs);
                if key == "params" {
                    optional_string(p, "value", &at, errs);
                } else {
                    string(p, "value", &at, errs);
                }
            }
            None => errs.push(format!("{at} must be an object")),
        }
    }
}

fn obj<'a>(
    v: &'a Value,
    key: &str,
    at: &str,
    errs: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match v.as_object() {
        Some(o) => obj_field(o, key, at, errs),
        None => {
            errs.push(format!("{at}: the document must be an object"));
            None
        }
    }
}

fn obj_field<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    at: &str,
    errs: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    let found = o.get(key).and_then(Value::as_object);
    if found.is_none() {
        errs.push(format!("{at}.{key} must be an object"));
    }
    found
}

fn array<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    at: &str,
    errs: &mut Vec<String>,
) -> Option<&'a Vec<Value>> {
    let found = o.get(key).and_then(Value::as_array);
    if found.is_none() {
        errs.push(format!("{at}.{key} must be an array"));
    }
    found
}

fn string<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    at: &str,
    errs: &mut Vec<String>,
) -> Option<&'a str> {
    let found = o.get(key).and_then(Value::as_str);
    if found.is_none() {
        errs.push(format!("{at}.{key} must be a string"));
    }
    found
}

fn optional_string(o: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) {
    if o.get(key).is_some_and(|v| !v.is_string()) {
        errs.push(format!("{at}.{key} must be a string"));
    }
}

fn number(o: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) -> Option<f64> {
    let found = o.get(key).and_then(Value::as_f64);
    if found.is_none() {
        errs.push(format!("{at}.{key} must be a number"));
    }
    found
}

fn integer(o: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) {
    if !o.get(key).is_some_and(|v| v.is_i64() || v.is_u64()) {
        errs.push(format!("{at}.{key} must be an integer"));
    }
}

#[test]
fn the_checker_catches_mistakes() {
    let bad = serde_json::json!({ "log": { "version": "1.1", "entries": [{
        "startedDateTime": "yesterday",
        "time": 5,
        "request": { "method": "GET" },
        "response": {},
        "timings": { "send": -1, "wait": 0, "receive": 0 },
        "outcome": "x",
    }]}});
    let errs = validate(&bad);
    for needle in [
        "log.version",
        "log.creator",
        "startedDateTime is not ISO 8601",
        "request.url",
        "request.headersSize",
        "response.status",
        "response.content",
        "entries[0].cache",
        "timings.send must not be negative",
        "custom fields must start with _",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(needle)),
            "missing {needle} in {errs:#?}"
        );
    }
    assert!(is_iso8601("2009-07-24T19:20:30.45+01:00"));
    assert!(!is_iso8601("2009-07-24 19:20:30Z"));
}
