//! What the form shows before anything is sent: the policy as the API will show it
//! once saved ([`summary_after`]), and the provider select's wording.

use client_core::policy::{
    Cidr, Patch, PolicyPatch, PolicySummary, Webhook, WebhookPatch, WebhookProvider, WebhookSummary,
};

/// What the API will show once `patch` is saved over `current`, so the form can say
/// it in the table's words before anything is sent.
pub fn summary_after(current: &PolicySummary, patch: &PolicyPatch) -> PolicySummary {
    let mut s = current.clone();
    match &patch.basic_auth {
        Patch::Keep => {}
        Patch::Remove => s.basic_auth_user = None,
        Patch::Set(pair) => s.basic_auth_user = pair.split_once(':').map(|(u, _)| u.to_owned()),
    }
    match &patch.share_token {
        Patch::Keep => {}
        Patch::Remove => s.share_token = false,
        Patch::Set(_) => s.share_token = true,
    }
    match &patch.allow_ips {
        Patch::Keep => {}
        Patch::Remove => s.allow_ips.clear(),
        Patch::Set(list) => {
            s.allow_ips = list
                .iter()
                .map(|c| {
                    c.parse::<Cidr>()
                        .map_or_else(|_| c.clone(), |c| c.to_string())
                })
                .collect();
        }
    }
    match &patch.webhook {
        Patch::Keep => {}
        Patch::Remove => s.webhook = None,
        Patch::Set(w) => s.webhook = Some(webhook_summary(w)),
    }
    s.inbox = patch.inbox.clone().apply(s.inbox);
    s
}

/// The provider select's wording of a scheme.
pub fn provider_choice(p: WebhookProvider) -> &'static str {
    match p {
        WebhookProvider::Hmac => "Generic HMAC (hex, header of your choice)",
        WebhookProvider::Standard => "Standard Webhooks / Svix",
        other => other.label(),
    }
}

/// How the API shows webhook settings once saved: the form compares it with the
/// policy in force (is this a change?) and shows it in the preview.
pub(super) fn webhook_summary(w: &WebhookPatch) -> WebhookSummary {
    Webhook {
        secret: String::new(),
        provider: w.provider,
        header: w.header.clone(),
        prefix: w.prefix.clone(),
        tolerance_secs: w.tolerance_secs,
    }
    .summary()
}
