//! How an exchange is stored in the request log's table: compact, and readable in two
//! steps.
//!
//! A row is one byte of format ([`FORMAT`]), then the [`ExchangeSummary`], then the
//! rest of the exchange, each in postcard (a compact binary serde format): bodies are
//! raw bytes, not base64 in JSON as the API shows them. Reading the log back at start
//! decodes only the summaries; the rest is decoded when one exchange is asked for.
//!
//! postcard writes an enum as its variant's index, so the order of
//! [`Outcome`](client_core::inspect::Outcome)'s variants is part of this format (a
//! test below pins it): add new outcomes last, or bump [`FORMAT`].

use std::borrow::Cow;

use client_core::inspect::{
    CapturedBody, Exchange, ExchangeSummary, Message, ResponseRecord, Timings,
};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// The first byte of every row: the version of this encoding.
pub(super) const FORMAT: u8 = 2;

/// What an exchange holds beyond its summary.
#[derive(Serialize, Deserialize)]
struct Rest<'a> {
    #[serde(borrow)]
    remote_addr: Cow<'a, str>,
    request_headers: Cow<'a, [(String, String)]>,
    #[serde(borrow)]
    request_body: Body<'a>,
    #[serde(borrow)]
    response: Option<Response<'a>>,
    forwarded_ms: Option<u64>,
    first_byte_ms: Option<u64>,
    done_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Body<'a> {
    #[serde(with = "serde_bytes", borrow)]
    bytes: Cow<'a, [u8]>,
    size: u64,
    truncated: bool,
}

#[derive(Serialize, Deserialize)]
struct Response<'a> {
    status: u16,
    headers: Cow<'a, [(String, String)]>,
    #[serde(borrow)]
    body: Body<'a>,
}

impl<'a> Body<'a> {
    fn of(b: &'a CapturedBody) -> Self {
        Self {
            bytes: Cow::Borrowed(&b.bytes),
            size: b.size,
            truncated: b.truncated,
        }
    }

    fn into_body(self) -> CapturedBody {
        CapturedBody {
            bytes: self.bytes.into_owned(),
            size: self.size,
            truncated: self.truncated,
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt request log row: {e}"))
}

/// The row of `x`.
pub(super) fn encode(x: &Exchange) -> Result<Vec<u8>, StoreError> {
    let rest = Rest {
        remote_addr: Cow::Borrowed(&x.remote_addr),
        request_headers: Cow::Borrowed(&x.request.headers),
        request_body: Body::of(&x.request.body),
        response: x.response.as_ref().map(|r| Response {
            status: r.status,
            headers: Cow::Borrowed(&r.headers),
            body: Body::of(&r.body),
        }),
        forwarded_ms: x.timings.forwarded_ms,
        first_byte_ms: x.timings.first_byte_ms,
        done_ms: x.timings.done_ms,
    };
    let mut out = vec![FORMAT];
    let out_of = |e: postcard::Error| StoreError::Backend(format!("cannot encode: {e}"));
    out = postcard::to_extend(&ExchangeSummary::from(x), out).map_err(out_of)?;
    postcard::to_extend(&rest, out).map_err(out_of)
}

/// The summary of a row, and the bytes after it.
fn split(row: &[u8]) -> Result<(ExchangeSummary, &[u8]), StoreError> {
    match row.split_first() {
        Some((&FORMAT, body)) => postcard::take_from_bytes(body).map_err(corrupt),
        Some((v, _)) => Err(corrupt(format!("format {v}, expected {FORMAT}"))),
        None => Err(corrupt("empty")),
    }
}

/// The summary of a row, without decoding the rest.
pub(super) fn decode_summary(row: &[u8]) -> Result<ExchangeSummary, StoreError> {
    split(row).map(|(s, _)| s)
}

/// The whole exchange of a row.
pub(super) fn decode(row: &[u8]) -> Result<Exchange, StoreError> {
    let (s, rest) = split(row)?;
    let rest: Rest<'_> = postcard::from_bytes(rest).map_err(corrupt)?;
    Ok(Exchange {
        request_id: s.request_id,
        tunnel_id: s.tunnel_id,
        replay_of: s.replay_of,
        inbox_of: s.inbox_of,
        method: s.method,
        path: s.path,
        remote_addr: rest.remote_addr.into_owned(),
        request: Message {
            headers: rest.request_headers.into_owned(),
            body: rest.request_body.into_body(),
        },
        response: rest.response.map(|r| ResponseRecord {
            status: r.status,
            headers: r.headers.into_owned(),
            body: r.body.into_body(),
        }),
        outcome: s.outcome,
        timings: Timings {
            received_ms: s.received_ms,
            forwarded_ms: rest.forwarded_ms,
            first_byte_ms: rest.first_byte_ms,
            done_ms: rest.done_ms,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use client_core::inspect::Outcome;

    use super::*;
    use crate::store::contract::exchange;

    #[test]
    fn an_exchange_reads_back_whole_and_its_summary_alone() {
        let mut x = exchange("t", 7, "POST", "/p?q=1", 201);
        x.replay_of = Some("r0".into());
        let mut body = CapturedBody::capture(3);
        body.push(&[0, 1, 255, b'"']);
        x.request.body = body.finish();
        x.timings.forwarded_ms = Some(8);
        let row = encode(&x).unwrap();
        assert_eq!(decode(&row).unwrap(), x);
        assert_eq!(decode_summary(&row).unwrap(), ExchangeSummary::from(&x));
        // No response, no timings past arrival.
        let mut refused = exchange("t", 9, "GET", "/", 200);
        refused.response = None;
        refused.outcome = Outcome::Refused;
        refused.timings.done_ms = None;
        assert_eq!(decode(&encode(&refused).unwrap()).unwrap(), refused);
    }

    #[test]
    fn bodies_are_stored_raw() {
        let mut x = exchange("t", 7, "POST", "/", 200);
        x.request.body = CapturedBody::full(vec![0xAB; 10_000]);
        let row = encode(&x).unwrap();
        assert!(row.len() < 10_300, "{} bytes for a 10 kB body", row.len());
    }

    #[test]
    fn another_format_or_a_cut_row_is_an_error_not_a_guess() {
        let row = encode(&exchange("t", 7, "GET", "/", 200)).unwrap();
        let mut old = row.clone();
        old[0] = b'{';
        assert!(decode_summary(&old).is_err());
        assert!(decode(&row[..row.len() - 2]).is_err());
        assert!(decode(&[]).is_err());
    }

    /// The stored outcome is its variant's index: this order is part of the format.
    #[test]
    fn the_outcomes_keep_their_order() {
        let names: Vec<String> = Outcome::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "completed",
                "origin_refused",
                "origin_timeout",
                "origin_failed",
                "client_disconnected",
                "tunnel_offline",
                "timeout",
                "too_large",
                "refused",
                "held"
            ]
        );
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(
                postcard::to_allocvec(o).unwrap(),
                [u8::try_from(i).unwrap()]
            );
        }
    }
}
