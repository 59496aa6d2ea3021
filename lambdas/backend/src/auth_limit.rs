//! Failed authentication, limited per source address: one rule for the REST API and
//! the WebSocket connect, on both backends.
//!
//! Each wrong credential a source address presents (an unknown or wrong API key, a
//! malformed or forged session token) takes a token from that address's bucket,
//! [`AUTH_FAILURE_RATE`]. Once it is empty, every call from the address with an API
//! key is refused with 429 and `Retry-After` before the key is looked up, so a
//! guessing loop costs no store read, and a right key from there waits too (or a
//! guess that happens to be right would still be told apart); a wrong session token
//! gets 429 as well, but a valid one passes, since checking it is an HMAC with no
//! read to save, and refusing it would lock out everyone behind the guesser's NAT or
//! CDN edge. Callers from other addresses are not affected. What is not a guess is not counted: no
//! credential at all, and a session token that is ours but expired or whose key has
//! since been replaced.
//!
//! The buckets are [`Backend::failures`]: in memory on the local stack, in DynamoDB on
//! AWS, where each Lambda sandbox also remembers the buckets it has seen, so an
//! address it knows to be over its budget is refused with no store access at all.

use std::net::IpAddr;

use crate::Backend;
use crate::handlers::ApiFailure;
use crate::limits::{AUTH_FAILURE_RATE, Limited};
use crate::telemetry::SCOPE_AUTH;

pub use crate::limits::{AUTH_FAILURE_BURST, AUTH_FAILURES_PER_MINUTE};

/// Where a call comes from, as [`Backend::failures`] keys it: an IPv4 address as is,
/// an IPv6 address by its /64 (one host commonly holds a whole /64, so counting its
/// addresses apart would multiply the budget by billions).
pub fn source_key(source: &str) -> String {
    match source.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("authfail:{v4}"),
            None => {
                let s = v6.segments();
                format!("authfail:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => format!("authfail:{v4}"),
        // Not an address (a test harness, a misconfigured proxy): its text.
        Err(_) => format!("authfail:{}", source.trim()),
    }
}

fn refusal(limited: Limited) -> ApiFailure {
    let secs = limited.retry_after_secs();
    ApiFailure {
        retry_after: Some(secs),
        limit_scope: Some(SCOPE_AUTH),
        ..ApiFailure::new(
            429,
            client_core::api::ApiErrorCode::RateLimited,
            format!(
                "too many failed authentications from your address ({AUTH_FAILURE_BURST} at once, then {AUTH_FAILURES_PER_MINUTE} a minute); retry in {secs} s with a valid API key (`tunnel auth login`)"
            ),
        )
    }
}

/// Refuses `source` if it has used up its failed authentications, as far as this
/// process knows without a store access. Called before a credential is checked.
/// `None` (no known address) is never refused: there is nothing to key it by.
pub fn admit(b: &Backend, source: Option<&str>, now_ms: u64) -> Result<(), ApiFailure> {
    let Some(source) = source else {
        return Ok(());
    };
    match b
        .failures
        .known_refusal(&source_key(source), AUTH_FAILURE_RATE, now_ms)
    {
        Some(limited) => Err(refusal(limited)),
        None => Ok(()),
    }
}

/// Refuses `source` if it is over its budget, asking the shared buckets when this
/// process does not know: called once an API key has proved right, which counts no
/// failure, so that a guess that happens to be right from a guessing address waits
/// like the wrong ones (on AWS the guesses may have reached other sandboxes).
pub async fn admit_right_key(
    b: &Backend,
    source: Option<&str>,
    now_ms: u64,
) -> Result<(), ApiFailure> {
    let Some(source) = source else {
        return Ok(());
    };
    match b
        .failures
        .refusal(&source_key(source), AUTH_FAILURE_RATE, now_ms)
        .await
    {
        Some(limited) => Err(refusal(limited)),
        None => Ok(()),
    }
}

/// Counts a wrong credential from `source`: `failure` itself (the 401) while the
/// address is within its budget, the 429 once this failure is one too many.
pub async fn failed(
    b: &Backend,
    source: Option<&str>,
    failure: ApiFailure,
    now_ms: u64,
) -> ApiFailure {
    let Some(source) = source else {
        return failure;
    };
    match b
        .failures
        .take(&source_key(source), AUTH_FAILURE_RATE, now_ms)
        .await
    {
        Ok(()) => failure,
        Err(limited) => {
            tracing::info!(source, "failed authentications over the limit");
            refusal(limited)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_key_v4_as_is_and_v6_by_its_64() {
        assert_eq!(source_key("203.0.113.7"), "authfail:203.0.113.7");
        assert_eq!(
            source_key("2001:db8:1:2:aaaa::1"),
            source_key("2001:db8:1:2:bbbb::2"),
            "one /64, one budget"
        );
        assert_ne!(source_key("2001:db8:1:2::1"), source_key("2001:db8:1:3::1"));
        assert_eq!(source_key("::ffff:203.0.113.7"), "authfail:203.0.113.7");
    }
}
