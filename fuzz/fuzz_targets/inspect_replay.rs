//! `ReplayEdits::apply` on any captured exchange with any edits (built directly, or
//! read from the JSON a console or CLI would send): an error or a request, never a
//! panic; and a request built is one that can go on the wire as described: edited
//! method, path and headers valid HTTP, no masked credential, exactly one `content-length` that is the
//! body's length (or none for an empty body nobody asked for), no
//! `transfer-encoding`, every set header present with its values in order.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use client_core::inspect::{
    CapturedBody, Exchange, Message, Outcome, REDACTED, ReplayEdits, ResponseRecord, Timings,
};
use libfuzzer_sys::fuzz_target;

fn header(u: &mut Unstructured<'_>) -> arbitrary::Result<(String, String)> {
    // Names from a small set, so captured and edited headers collide often.
    const NAMES: [&str; 8] = [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "authorization",
        "X-A",
        "x-a",
        "Cookie",
        "accept",
    ];
    let name = if bool::arbitrary(u)? {
        NAMES[usize::from(u8::arbitrary(u)?) % NAMES.len()].to_owned()
    } else {
        String::arbitrary(u)?
    };
    let value = if u8::arbitrary(u)? < 32 {
        REDACTED.to_owned()
    } else {
        String::arbitrary(u)?
    };
    Ok((name, value))
}

fn headers(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<(String, String)>> {
    let n = u8::arbitrary(u)? % 16;
    (0..n).map(|_| header(u)).collect()
}

fn exchange(u: &mut Unstructured<'_>) -> arbitrary::Result<Exchange> {
    let bytes = Vec::<u8>::arbitrary(u)?;
    let body = match u8::arbitrary(u)? % 3 {
        0 => CapturedBody::full(bytes),
        // Truncated, or with a size that disagrees with its bytes.
        1 => CapturedBody {
            size: bytes.len() as u64 + u64::from(u16::arbitrary(u)?),
            bytes,
            truncated: true,
        },
        _ => CapturedBody {
            size: u64::arbitrary(u)?,
            bytes,
            truncated: bool::arbitrary(u)?,
        },
    };
    Ok(Exchange {
        request_id: "r1".into(),
        tunnel_id: "t1".into(),
        replay_of: None,
        inbox_of: None,
        method: String::arbitrary(u)?,
        path: String::arbitrary(u)?,
        remote_addr: "203.0.113.9:5000".into(),
        request: Message {
            headers: headers(u)?,
            body,
        },
        response: Option::<u16>::arbitrary(u)?.map(|status| ResponseRecord {
            status,
            headers: vec![],
            body: CapturedBody::default(),
        }),
        outcome: Outcome::Completed,
        timings: Timings::default(),
    })
}

fn edits(u: &mut Unstructured<'_>) -> arbitrary::Result<ReplayEdits> {
    if bool::arbitrary(u)? {
        // The JSON a console or `tunnel replay` sends (body in base64).
        let text = String::arbitrary(u)?;
        return serde_json::from_str(&text).map_err(|_| arbitrary::Error::IncorrectFormat);
    }
    Ok(ReplayEdits {
        method: Option::arbitrary(u)?,
        path: Option::arbitrary(u)?,
        set_headers: headers(u)?,
        remove_headers: headers(u)?.into_iter().map(|(n, _)| n).collect(),
        body: Option::arbitrary(u)?,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(x), Ok(e)) = (exchange(&mut u), edits(&mut u)) else {
        return;
    };
    let Ok(r) = e.apply(&x) else {
        return;
    };
    let lower = |s: &str| s.to_ascii_lowercase();
    // The captured method and path are the server's record, taken as they are; edits
    // are checked.
    if let Some(m) = &e.method {
        assert!(!m.is_empty() && m.bytes().all(|b| b.is_ascii_graphic()));
    }
    if let Some(p) = &e.path {
        assert!(p.starts_with('/') && p.bytes().all(|b| b > 0x20 && b != 0x7f));
    }
    for (n, v) in &e.set_headers {
        assert!(!n.is_empty() && !v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)));
    }
    assert_eq!(
        r.method,
        e.method.clone().unwrap_or_else(|| x.method.clone())
    );
    assert_eq!(r.path, e.path.clone().unwrap_or_else(|| x.path.clone()));
    match &e.body {
        Some(b) => assert_eq!(&r.body, b),
        None => {
            assert_eq!(r.body, x.request.body.bytes);
            assert!(!x.request.body.truncated);
            assert_eq!(r.body.len() as u64, x.request.body.size);
        }
    }
    assert!(
        r.headers
            .iter()
            .all(|(n, _)| lower(n) != "transfer-encoding")
    );
    let lengths: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| lower(n) == "content-length")
        .collect();
    assert!(lengths.len() <= 1, "{lengths:?}");
    if let Some((_, v)) = lengths.first() {
        assert_eq!(*v, r.body.len().to_string());
    } else {
        assert!(r.body.is_empty() && e.body.is_none());
    }
    let set: Vec<String> = e.set_headers.iter().map(|(n, _)| lower(n)).collect();
    for (n, v) in &r.headers {
        let n = lower(n);
        if n == "content-length" {
            continue;
        }
        if v == REDACTED {
            assert!(set.contains(&n), "a masked header went out: {n}");
        }
        if e.remove_headers.iter().any(|r| lower(r) == n) {
            assert!(set.contains(&n), "a removed header went out: {n}");
        }
    }
    for name in &set {
        if name == "content-length" || name == "transfer-encoding" {
            continue;
        }
        let want: Vec<_> = e
            .set_headers
            .iter()
            .filter(|(n, _)| lower(n) == *name)
            .collect();
        let got: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| lower(n) == *name)
            .collect();
        assert_eq!(got, want, "set header {name}");
    }
});
