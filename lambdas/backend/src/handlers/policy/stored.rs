//! A policy as the store keeps it: validated, secrets salted and hashed
//! ([`SaltedHash`]), resumed over an earlier one ([`overlay`]), and shown back with
//! no secret ([`summary`]).

use client_core::policy::{Policy, PolicyError, PolicySummary, split_basic_auth};
use hmac::Mac;
use subtle::ConstantTimeEq;

use super::HmacSha256;
use crate::model::{SaltedHash, StoredBasicAuth, StoredPolicy};

/// Random bytes of salt per stored secret.
pub const SALT_BYTES: usize = 16;

impl SaltedHash {
    /// Hashes `secret` with a fresh salt.
    ///
    /// HMAC-SHA256 rather than a slow password hash: the check runs on every public
    /// request of a protected tunnel, and a slow hash there would make each request
    /// cost tens of milliseconds of CPU (and on AWS, of billed Lambda time). Stored
    /// records are as sensitive as the store itself.
    pub fn new(secret: &str) -> Self {
        let salt = crate::auth::random_id(SALT_BYTES);
        let hash = hex::encode(keyed(&salt, secret));
        Self { salt, hash }
    }

    /// True when `secret` is the one hashed, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        let Ok(want) = hex::decode(&self.hash) else {
            return false;
        };
        keyed(&self.salt, secret).ct_eq(&want).into()
    }
}

fn keyed(salt: &str, secret: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(salt.as_bytes()).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Validates `policy` and turns it into what the store keeps; an empty policy is
/// `None` (no checks, no cost on the request path).
pub fn to_stored(policy: &Policy) -> Result<Option<StoredPolicy>, PolicyError> {
    policy.validate()?;
    if policy.is_empty() {
        return Ok(None);
    }
    let basic_auth = match &policy.basic_auth {
        Some(pair) => {
            let (user, pass) = split_basic_auth(pair)?;
            Some(StoredBasicAuth {
                user: user.to_owned(),
                password: SaltedHash::new(pass),
            })
        }
        None => None,
    };
    Ok(Some(StoredPolicy {
        basic_auth,
        share_token: policy.share_token.as_deref().map(SaltedHash::new),
        allow_ips: policy.cidrs()?.iter().map(ToString::to_string).collect(),
        webhook: policy.webhook.clone(),
        inbox: policy.inbox.clone(),
    }))
}

/// The policy a resumed tunnel gets: `requested`'s settings replace `stored`'s of the
/// same kind, and the settings `requested` leaves out are kept. So `tunnel start
/// --domain NAME` with no policy flags keeps the protection set earlier, and
/// `--allow-ip` alone changes the allow-list and keeps basic auth. (A `PATCH`, which
/// can also remove a check, goes through [`super::merge`].)
pub fn overlay(
    stored: Option<StoredPolicy>,
    requested: Option<StoredPolicy>,
) -> Option<StoredPolicy> {
    let Some(requested) = requested else {
        return stored;
    };
    let Some(stored) = stored else {
        return Some(requested);
    };
    Some(StoredPolicy {
        basic_auth: requested.basic_auth.or(stored.basic_auth),
        share_token: requested.share_token.or(stored.share_token),
        allow_ips: if requested.allow_ips.is_empty() {
            stored.allow_ips
        } else {
            requested.allow_ips
        },
        webhook: requested.webhook.or(stored.webhook),
        inbox: requested.inbox.or(stored.inbox),
    })
}

/// What the API shows of a stored policy: no secret, no hash.
pub fn summary(p: &StoredPolicy) -> PolicySummary {
    PolicySummary {
        basic_auth_user: p.basic_auth.as_ref().map(|b| b.user.clone()),
        share_token: p.share_token.is_some(),
        allow_ips: p.allow_ips.clone(),
        webhook: p
            .webhook
            .as_ref()
            .map(client_core::policy::Webhook::summary),
        inbox: p.inbox.clone(),
    }
}

impl StoredPolicy {
    /// True when the check needs the whole body (webhook verification): only then
    /// does an ingress buffer it.
    pub fn needs_body(&self) -> bool {
        self.webhook.is_some()
    }
}
