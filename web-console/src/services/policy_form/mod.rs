//! The access-policy form: what it starts with, and the change it saves.
//! Pure, tested natively; the rules themselves are client-core's
//! [`PolicyPatch::validate`], so the form says what the server would, beside the field
//! it is about.
//!
//! Saving sends only what changed ([`PolicyForm::to_patch`]): a secret left blank
//! keeps the one in force, and a check goes only by its own Remove button (or the
//! allow-list emptied, the inbox unticked), never because a field was not retyped.
mod fields;
mod preview;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use client_core::policy::{
    DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX, DEFAULT_WEBHOOK_TOLERANCE_SECS, PolicyPatch,
    PolicySummary, WebhookProvider,
};

pub use preview::{provider_choice, summary_after};

/// Errors by policy field (`basic_auth`, `share_token`, `allow_ips`, `webhook`,
/// `inbox`, as [`client_core::policy::PolicyError::field`] names them), each shown
/// beside its inputs.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// The form's fields, as typed, and the policy in force they edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyForm {
    /// The policy in force, as the API shows it.
    pub current: PolicySummary,
    /// Basic-auth user.
    pub user: String,
    /// Basic-auth password; blank keeps the one in force.
    pub password: String,
    /// Basic auth to be removed on save.
    pub remove_basic_auth: bool,
    /// Share token; blank keeps the one in force.
    pub share_token: String,
    /// The share token to be removed on save.
    pub remove_share_token: bool,
    /// Allow-list, one CIDR a line.
    pub allow_ips: String,
    /// Whose webhook signature scheme.
    pub webhook_provider: WebhookProvider,
    /// Webhook secret; blank keeps the one in force (for the same sender).
    pub webhook_secret: String,
    /// Webhook signature header (generic scheme only).
    pub webhook_header: String,
    /// Webhook signature prefix (generic scheme only).
    pub webhook_prefix: String,
    /// Seconds a signed timestamp may be off (timestamped schemes only); empty for
    /// the default.
    pub webhook_tolerance: String,
    /// Webhook verification to be removed on save.
    pub remove_webhook: bool,
    /// Whether the offline inbox is on.
    pub inbox: bool,
    /// The inbox's answer status; empty for the default.
    pub inbox_status: String,
    /// The inbox's answer body; empty for the default note.
    pub inbox_body: String,
    /// Most requests held; empty for the default.
    pub inbox_max_requests: String,
    /// Seconds a held request waits; empty for the default.
    pub inbox_ttl_secs: String,
}

impl Default for PolicyForm {
    fn default() -> Self {
        Self::of(None)
    }
}

impl PolicyForm {
    /// The form for a tunnel whose policy the API shows as `summary`: everything but
    /// the secrets, which the API never gives back.
    pub fn of(summary: Option<&PolicySummary>) -> Self {
        let s = summary.cloned().unwrap_or_default();
        let num = |n: Option<String>| n.unwrap_or_default();
        let inbox = s.inbox.clone().unwrap_or_default();
        // A named scheme's header and prefix are its own, not the owner's: the generic
        // fields keep their defaults for a switch back.
        let generic = s
            .webhook
            .as_ref()
            .filter(|w| w.provider == WebhookProvider::Hmac);
        Self {
            user: s.basic_auth_user.clone().unwrap_or_default(),
            password: String::new(),
            remove_basic_auth: false,
            share_token: String::new(),
            remove_share_token: false,
            allow_ips: s.allow_ips.join("\n"),
            webhook_provider: s.webhook.as_ref().map(|w| w.provider).unwrap_or_default(),
            webhook_secret: String::new(),
            webhook_header: generic
                .map_or(DEFAULT_WEBHOOK_HEADER, |w| w.header.as_str())
                .to_owned(),
            webhook_prefix: generic
                .map_or(DEFAULT_WEBHOOK_PREFIX, |w| w.prefix.as_str())
                .to_owned(),
            webhook_tolerance: num(s
                .webhook
                .as_ref()
                .and_then(|w| w.tolerance_secs)
                .filter(|&t| t != DEFAULT_WEBHOOK_TOLERANCE_SECS)
                .map(|t| t.to_string())),
            remove_webhook: false,
            inbox: s.inbox.is_some(),
            inbox_status: num(inbox.status.map(|n| n.to_string())),
            inbox_body: inbox.body.unwrap_or_default(),
            inbox_max_requests: num(inbox.max_requests.map(|n| n.to_string())),
            inbox_ttl_secs: num(inbox.ttl_secs.map(|n| n.to_string())),
            current: s,
        }
    }

    /// What saving sends: each check kept, removed or set, every field checked by
    /// client-core's rules. The errors are sentences for people, by field.
    pub fn to_patch(&self) -> Result<PolicyPatch, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut take = |field: &'static str, r: Result<PolicyPatch, String>| match r {
            Ok(p) => Some(p),
            Err(e) => {
                errors.insert(field, e);
                None
            }
        };
        let basic = take(
            "basic_auth",
            checked(self.basic_auth().map(|basic_auth| PolicyPatch {
                basic_auth,
                ..PolicyPatch::default()
            })),
        );
        let token = take(
            "share_token",
            checked(Ok(PolicyPatch {
                share_token: self.share_token(),
                ..PolicyPatch::default()
            })),
        );
        let ips = take(
            "allow_ips",
            checked(self.allow_list().map(|allow_ips| PolicyPatch {
                allow_ips,
                ..PolicyPatch::default()
            })),
        );
        let hook = take(
            "webhook",
            checked(self.webhook().map(|webhook| PolicyPatch {
                webhook,
                ..PolicyPatch::default()
            })),
        );
        let inbox = take(
            "inbox",
            checked(self.inbox().map(|inbox| PolicyPatch {
                inbox,
                ..PolicyPatch::default()
            })),
        );
        match (basic, token, ips, hook, inbox) {
            (Some(b), Some(t), Some(i), Some(w), Some(x)) if errors.is_empty() => Ok(PolicyPatch {
                basic_auth: b.basic_auth,
                share_token: t.share_token,
                allow_ips: i.allow_ips,
                webhook: w.webhook,
                inbox: x.inbox,
            }),
            _ => Err(errors),
        }
    }
}

/// `r`, with what it sets checked by client-core's rules.
fn checked(r: Result<PolicyPatch, String>) -> Result<PolicyPatch, String> {
    let p = r?;
    p.validate().map_err(|e| e.to_string())?;
    Ok(p)
}
