//! Webhook signature verification in each sender's own scheme, as its documentation
//! describes it: GitHub (`X-Hub-Signature-256`), Stripe (`Stripe-Signature`), Slack
//! (`X-Slack-Signature` with `X-Slack-Request-Timestamp`), Shopify
//! (`X-Shopify-Hmac-Sha256`), Standard Webhooks (`webhook-*`, or Svix's `svix-*`)
//! and the generic hex HMAC in a header of the owner's choosing.
//!
//! Pure: the time is a parameter (the ingresses read the clock), so both backends
//! decide alike and the tests pin the tolerance at its edge. Signatures are compared
//! in constant time (`Mac::verify_slice`). The signature is checked before the
//! timestamp, so "stale" is said only of a request that was really signed: a
//! delivery replayed or delayed past the tolerance, or a sender whose clock is off.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::policy::{Webhook, WebhookProvider};
use client_core::protocol::Headers;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's signature header.
pub const STRIPE_SIGNATURE: &str = "Stripe-Signature";
/// Slack's signature header.
pub const SLACK_SIGNATURE: &str = "X-Slack-Signature";
/// Slack's timestamp header.
pub const SLACK_TIMESTAMP: &str = "X-Slack-Request-Timestamp";
/// Shopify's signature header.
pub const SHOPIFY_HMAC: &str = "X-Shopify-Hmac-Sha256";
/// Standard Webhooks' headers: id, timestamp, signature.
pub const STANDARD_HEADERS: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];
/// The same headers as Svix names them (Svix's scheme is Standard Webhooks).
pub const SVIX_HEADERS: [&str; 3] = ["svix-id", "svix-timestamp", "svix-signature"];

/// Why a webhook's signature did not pass. The text is for the sender's owner, who
/// reads it in the request log or their sender's delivery report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookFailure {
    /// A header the scheme needs is absent.
    #[error("missing {header} header (this tunnel verifies {scheme} webhook signatures)")]
    MissingHeader {
        /// The header.
        header: String,
        /// Whose scheme.
        scheme: &'static str,
    },
    /// A header is present but not in the scheme's form.
    #[error("malformed {header} header: {problem}")]
    Malformed {
        /// The header.
        header: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Signed, but at a time too far from now.
    #[error("{}", stale(*.signed_at, *.now, *.tolerance))]
    StaleTimestamp {
        /// The signed timestamp, Unix seconds.
        signed_at: u64,
        /// The server's clock when checked.
        now: u64,
        /// Seconds allowed either way.
        tolerance: u64,
    },
    /// No signature matches the body under the tunnel's secret.
    #[error(
        "bad webhook signature: it does not match the body under this tunnel's secret (a wrong secret, or a body changed after signing)"
    )]
    BadSignature,
}

fn stale(signed_at: u64, now: u64, tolerance: u64) -> String {
    let (by, when) = if signed_at <= now {
        (
            now - signed_at,
            "ago (a replayed or long-delayed delivery?)",
        )
    } else {
        (
            signed_at - now,
            "in the future (is the sender's clock ahead?)",
        )
    };
    format!(
        "stale webhook timestamp: signed {by} s {when}, beyond the {tolerance} s this tunnel allows"
    )
}

/// Checks `body` and its `headers` against `webhook` at `now` (Unix seconds).
pub fn verify(
    webhook: &Webhook,
    headers: &Headers,
    body: &[u8],
    now: u64,
) -> Result<(), WebhookFailure> {
    match webhook.provider {
        WebhookProvider::Hmac | WebhookProvider::Github => hex_hmac(webhook, headers, body),
        WebhookProvider::Stripe => stripe(webhook, headers, body, now),
        WebhookProvider::Slack => slack(webhook, headers, body, now),
        WebhookProvider::Shopify => shopify(webhook, headers, body),
        WebhookProvider::Standard => standard(webhook, headers, body, now),
    }
}

fn values<'h>(headers: &'h Headers, name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The one value of a header the signed content is built from: sent twice, it is
/// ambiguous which was meant, so that is refused.
fn single<'h>(
    headers: &'h Headers,
    name: &str,
    scheme: WebhookProvider,
) -> Result<&'h str, WebhookFailure> {
    let mut all = values(headers, name);
    let first = all.next().ok_or_else(|| WebhookFailure::MissingHeader {
        header: name.to_owned(),
        scheme: scheme.label(),
    })?;
    if all.next().is_some() {
        return Err(malformed(name, "sent more than once"));
    }
    Ok(first)
}

fn malformed(header: &str, problem: impl Into<String>) -> WebhookFailure {
    WebhookFailure::Malformed {
        header: header.to_owned(),
        problem: problem.into(),
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac
}

/// True when any candidate is the MAC, each compared in constant time.
fn any_matches(mac: &HmacSha256, candidates: &[Vec<u8>]) -> bool {
    candidates
        .iter()
        .any(|c| mac.clone().verify_slice(c).is_ok())
}

/// Whole seconds since 1970, digits only (what every scheme sends).
fn timestamp(text: &str, header: &str) -> Result<u64, WebhookFailure> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            header,
            format!("the timestamp {text:?} is not whole seconds since 1970"),
        ));
    }
    text.parse()
        .map_err(|_| malformed(header, "the timestamp is out of range"))
}

fn fresh(webhook: &Webhook, signed_at: u64, now: u64) -> Result<(), WebhookFailure> {
    let tolerance = webhook.tolerance().unwrap_or(0);
    if signed_at.abs_diff(now) > tolerance {
        return Err(WebhookFailure::StaleTimestamp {
            signed_at,
            now,
            tolerance,
        });
    }
    Ok(())
}

/// GitHub and the generic form: `<prefix><hex>` of the body, in any one of the
/// header's values.
fn hex_hmac(webhook: &Webhook, headers: &Headers, body: &[u8]) -> Result<(), WebhookFailure> {
    let (header, prefix) = (webhook.header(), webhook.prefix());
    let mut present = false;
    let candidates: Vec<Vec<u8>> = values(headers, header)
        .inspect(|_| present = true)
        .filter_map(|v| hex::decode(v.strip_prefix(prefix)?).ok())
        .collect();
    if !present {
        return Err(WebhookFailure::MissingHeader {
            header: header.to_owned(),
            scheme: webhook.provider.label(),
        });
    }
    if candidates.is_empty() {
        return Err(malformed(
            header,
            format!("expected {prefix}<hex HMAC-SHA256 of the body>"),
        ));
    }
    if any_matches(&mac(webhook.secret.as_bytes(), &[body]), &candidates) {
        Ok(())
    } else {
        Err(WebhookFailure::BadSignature)
    }
}

/// Stripe: `t=<unix>,v1=<hex>[,v1=<hex>...]` (several while a secret is rolled),
/// each the HMAC of `<t>.<body>` keyed with the endpoint's `whsec_...` secret as
/// text. Other schemes' elements (`v0=`) are ignored, as Stripe's libraries do.
fn stripe(
    webhook: &Webhook,
    headers: &Headers,
    body: &[u8],
    now: u64,
) -> Result<(), WebhookFailure> {
    let value = single(headers, STRIPE_SIGNATURE, webhook.provider)?;
    let mut t = None;
    let mut v1 = Vec::new();
    for (k, v) in value.split(',').filter_map(|kv| kv.trim().split_once('=')) {
        match k {
            "t" if t.is_none() => t = Some(v),
            "v1" => v1.push(v),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| malformed(STRIPE_SIGNATURE, "no t=<timestamp> element"))?;
    let signed_at = timestamp(t, STRIPE_SIGNATURE)?;
    if v1.is_empty() {
        return Err(malformed(STRIPE_SIGNATURE, "no v1=<signature> element"));
    }
    let candidates: Vec<Vec<u8>> = v1.iter().filter_map(|s| hex::decode(s).ok()).collect();
    let mac = mac(webhook.secret.as_bytes(), &[t.as_bytes(), b".", body]);
    if !any_matches(&mac, &candidates) {
        return Err(WebhookFailure::BadSignature);
    }
    fresh(webhook, signed_at, now)
}

/// Slack: `X-Slack-Signature: v0=<hex>`, the HMAC of `v0:<timestamp>:<body>` with
/// the timestamp from `X-Slack-Request-Timestamp`.
fn slack(
    webhook: &Webhook,
    headers: &Headers,
    body: &[u8],
    now: u64,
) -> Result<(), WebhookFailure> {
    let ts = single(headers, SLACK_TIMESTAMP, webhook.provider)?;
    let signature = single(headers, SLACK_SIGNATURE, webhook.provider)?;
    let signed_at = timestamp(ts, SLACK_TIMESTAMP)?;
    let sig = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| malformed(SLACK_SIGNATURE, "expected v0=<hex>"))?;
    let mac = mac(
        webhook.secret.as_bytes(),
        &[b"v0:", ts.as_bytes(), b":", body],
    );
    if !any_matches(&mac, &[sig]) {
        return Err(WebhookFailure::BadSignature);
    }
    fresh(webhook, signed_at, now)
}

/// Shopify: the base64 HMAC of the body; no timestamp in the scheme.
fn shopify(webhook: &Webhook, headers: &Headers, body: &[u8]) -> Result<(), WebhookFailure> {
    let mut present = false;
    let candidates: Vec<Vec<u8>> = values(headers, SHOPIFY_HMAC)
        .inspect(|_| present = true)
        .filter_map(|v| STANDARD.decode(v).ok())
        .collect();
    if !present {
        return Err(WebhookFailure::MissingHeader {
            header: SHOPIFY_HMAC.to_owned(),
            scheme: webhook.provider.label(),
        });
    }
    if candidates.is_empty() {
        return Err(malformed(
            SHOPIFY_HMAC,
            "expected the base64 HMAC-SHA256 of the body",
        ));
    }
    if any_matches(&mac(webhook.secret.as_bytes(), &[body]), &candidates) {
        Ok(())
    } else {
        Err(WebhookFailure::BadSignature)
    }
}

/// Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>`
/// signatures (several while a secret is rolled; other versions, such as the
/// asymmetric `v1a`, are skipped), each the HMAC of `<id>.<timestamp>.<body>` keyed
/// with the secret's base64-decoded bytes. Svix sends the same as `svix-*`.
fn standard(
    webhook: &Webhook,
    headers: &Headers,
    body: &[u8],
    now: u64,
) -> Result<(), WebhookFailure> {
    let names = if values(headers, STANDARD_HEADERS[2]).next().is_none()
        && values(headers, SVIX_HEADERS[2]).next().is_some()
    {
        SVIX_HEADERS
    } else {
        STANDARD_HEADERS
    };
    let [id_name, ts_name, sig_name] = names;
    let signature = single(headers, sig_name, webhook.provider)?;
    let id = single(headers, id_name, webhook.provider)?;
    let ts = single(headers, ts_name, webhook.provider)?;
    let signed_at = timestamp(ts, ts_name)?;
    let v1: Vec<&str> = signature
        .split_ascii_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .collect();
    if v1.is_empty() {
        return Err(malformed(
            sig_name,
            "no v1,<base64> signature (asymmetric v1a signatures are not supported)",
        ));
    }
    let candidates: Vec<Vec<u8>> = v1.iter().filter_map(|s| STANDARD.decode(s).ok()).collect();
    // Validated when the policy was set; a stored one that does not decode matches
    // nothing.
    let Some(key) = webhook.standard_key() else {
        return Err(WebhookFailure::BadSignature);
    };
    let mac = mac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    if !any_matches(&mac, &candidates) {
        return Err(WebhookFailure::BadSignature);
    }
    fresh(webhook, signed_at, now)
}

/// The headers a sender of `webhook`'s scheme would add to `body` signed at
/// `timestamp` (`id` is the Standard Webhooks message id; others ignore it). For
/// tests, and for a user checking their set-up; the end-to-end tests sign with the
/// providers' own libraries instead.
pub fn sign(webhook: &Webhook, body: &[u8], timestamp: u64, id: &str) -> Headers {
    let secret = webhook.secret.as_bytes();
    let hex_of = |m: HmacSha256| hex::encode(m.finalize().into_bytes());
    let ts = timestamp.to_string();
    let h = |n: &str, v: String| (n.to_owned(), v);
    match webhook.provider {
        WebhookProvider::Hmac | WebhookProvider::Github => vec![h(
            webhook.header(),
            format!("{}{}", webhook.prefix(), hex_of(mac(secret, &[body]))),
        )],
        WebhookProvider::Stripe => vec![h(
            STRIPE_SIGNATURE,
            format!(
                "t={ts},v1={}",
                hex_of(mac(secret, &[ts.as_bytes(), b".", body]))
            ),
        )],
        WebhookProvider::Slack => {
            let sig = hex_of(mac(secret, &[b"v0:", ts.as_bytes(), b":", body]));
            vec![
                h(SLACK_TIMESTAMP, ts),
                h(SLACK_SIGNATURE, format!("v0={sig}")),
            ]
        }
        WebhookProvider::Shopify => vec![h(
            SHOPIFY_HMAC,
            STANDARD.encode(mac(secret, &[body]).finalize().into_bytes()),
        )],
        WebhookProvider::Standard => {
            let key = webhook.standard_key().unwrap_or_default();
            let sig = mac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            let [id_name, ts_name, sig_name] = STANDARD_HEADERS;
            vec![
                h(id_name, id.to_owned()),
                h(ts_name, ts),
                h(
                    sig_name,
                    format!("v1,{}", STANDARD.encode(sig.finalize().into_bytes())),
                ),
            ]
        }
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
