//! What a log keeps of an exchange whose bodies are past a budget: the record, the
//! bodies' sizes, and a mark that they were cut, so it still says what went by.

use client_core::inspect::{CapturedBody, Exchange, Message, ResponseRecord};

/// The captured body bytes an exchange carries (request and response): what the
/// byte budgets of the inspector's queue and of the log count.
pub fn body_bytes(x: &Exchange) -> usize {
    x.request.body.bytes.len() + x.response.as_ref().map_or(0, |r| r.body.bytes.len())
}

/// A body's record without its bytes; marked truncated when it had any.
fn bare(b: &CapturedBody) -> CapturedBody {
    CapturedBody {
        bytes: Vec::new(),
        size: b.size,
        truncated: b.truncated || !b.bytes.is_empty(),
    }
}

/// Drops an exchange's captured bodies, keeping their sizes and marking them
/// truncated. What a log does when the bodies waiting for storage are past their
/// budget.
pub fn strip_bodies(x: &mut Exchange) {
    x.request.body = bare(&x.request.body);
    if let Some(r) = &mut x.response {
        r.body = bare(&r.body);
    }
}

/// A copy of `x` as [`strip_bodies`] would leave it, made without copying the bodies
/// first (they can be a mebibyte each).
pub fn without_bodies(x: &Exchange) -> Exchange {
    Exchange {
        request_id: x.request_id.clone(),
        tunnel_id: x.tunnel_id.clone(),
        replay_of: x.replay_of.clone(),
        inbox_of: x.inbox_of.clone(),
        method: x.method.clone(),
        path: x.path.clone(),
        remote_addr: x.remote_addr.clone(),
        request: Message {
            headers: x.request.headers.clone(),
            body: bare(&x.request.body),
        },
        response: x.response.as_ref().map(|r| ResponseRecord {
            status: r.status,
            headers: r.headers.clone(),
            body: bare(&r.body),
        }),
        outcome: x.outcome,
        timings: x.timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_keeps_sizes_and_marks_only_bodies_that_had_bytes() {
        let mut x = crate::store::contract::exchange("t", 1, "POST", "/", 200);
        x.request.body = CapturedBody::full(vec![1; 10]);
        x.response.as_mut().unwrap().body = CapturedBody::default();
        strip_bodies(&mut x);
        assert!(x.request.body.bytes.is_empty() && x.request.body.truncated);
        assert_eq!(x.request.body.size, 10);
        let response = x.response.unwrap().body;
        assert!(!response.truncated, "an empty body is not cut");
    }

    #[test]
    fn the_copy_without_bodies_is_the_stripped_exchange() {
        let mut x = crate::store::contract::exchange("t", 1, "POST", "/", 200);
        x.request.body = CapturedBody::full(vec![1; 10]);
        x.replay_of = Some("r".into());
        let copy = without_bodies(&x);
        strip_bodies(&mut x);
        assert_eq!(copy, x);
        let none = crate::store::contract::exchange("t", 2, "GET", "/", 502);
        let mut stripped = none.clone();
        stripped.response = None;
        strip_bodies(&mut stripped);
        assert_eq!(
            without_bodies(&stripped),
            stripped,
            "no response stays none"
        );
    }
}
