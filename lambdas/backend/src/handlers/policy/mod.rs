//! Per-tunnel access policy: storing it without its secrets in clear, showing it
//! without them at all, and the check every public request passes before it is
//! forwarded. The check is a pure function of the policy and the request, so both
//! ingresses (the local stack's and tunnel-proxy on AWS) decide the same way.

use hmac::{Hmac, Mac};
use sha2::Sha256;

mod check;
mod merge;
mod stored;
#[cfg(test)]
mod tests;

pub use check::{
    Admit, BASIC_REALM, MAX_VERIFIED_BODY_BYTES, PublicRequest, Refusal, check, check_body,
    check_credentials, take_query_param,
};

pub use merge::merge;
pub use stored::{SALT_BYTES, overlay, summary, to_stored};

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 signature header value for `body`, as a sender would make it (tests,
/// and a user checking their setup).
pub fn sign_webhook(secret: &str, prefix: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("{prefix}{}", hex::encode(mac.finalize().into_bytes()))
}
