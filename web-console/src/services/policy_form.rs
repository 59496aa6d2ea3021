//! The access-policy form: what it starts with, and the change it saves.
//! Pure, tested natively; the rules themselves are client-core's
//! [`PolicyPatch::validate`], so the form says what the server would, beside the field
//! it is about.
//!
//! Saving sends only what changed ([`PolicyForm::to_patch`]): a secret left blank
//! keeps the one in force, and a check goes only by its own Remove button (or the
//! allow-list emptied, the inbox unticked), never because a field was not retyped.

use std::collections::BTreeMap;

use client_core::policy::{
    Cidr, DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX, DEFAULT_WEBHOOK_TOLERANCE_SECS, Inbox,
    Patch, PolicyPatch, PolicySummary, Webhook, WebhookPatch, WebhookProvider,
};

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

    fn basic_auth(&self) -> Result<Patch<String>, String> {
        if self.remove_basic_auth {
            return Ok(Patch::Remove);
        }
        if self.user.contains(':') {
            // Joined as USER:PASSWORD, a ':' in the user would move into the password.
            return Err("the basic auth user may not contain ':'".to_owned());
        }
        let in_force = self.current.basic_auth_user.as_deref();
        if !self.password.is_empty() {
            if self.user.is_empty() {
                return Err("enter the user the password is for".to_owned());
            }
            return Ok(Patch::Set(format!("{}:{}", self.user, self.password)));
        }
        match in_force {
            Some(u) if u == self.user => Ok(Patch::Keep),
            Some(_) if self.user.is_empty() => Err(
                "to turn basic auth off, use Remove basic auth; to keep it, put the user back"
                    .to_owned(),
            ),
            Some(_) => Err("enter the password again to change the user".to_owned()),
            None if self.user.is_empty() => Ok(Patch::Keep),
            None => Err(format!("enter a password for {}", self.user)),
        }
    }

    fn share_token(&self) -> Patch<String> {
        if self.remove_share_token {
            Patch::Remove
        } else if self.share_token.is_empty() {
            Patch::Keep
        } else {
            Patch::Set(self.share_token.clone())
        }
    }

    fn allow_list(&self) -> Result<Patch<Vec<String>>, String> {
        let typed: Vec<String> = self
            .allow_ips
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let normal: Vec<String> = typed
            .iter()
            .map(|c| c.parse::<Cidr>().map(|c| c.to_string()))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(if normal == self.current.allow_ips {
            Patch::Keep
        } else if typed.is_empty() {
            Patch::Remove
        } else {
            Patch::Set(typed)
        })
    }

    fn webhook(&self) -> Result<Patch<WebhookPatch>, String> {
        if self.remove_webhook {
            return Ok(Patch::Remove);
        }
        let provider = self.webhook_provider;
        let generic = provider == WebhookProvider::Hmac;
        let header = self.webhook_header.trim();
        let prefix = self.webhook_prefix.trim();
        let settings = WebhookPatch {
            secret: (!self.webhook_secret.is_empty()).then(|| self.webhook_secret.clone()),
            provider,
            header: (generic && !header.is_empty() && header != DEFAULT_WEBHOOK_HEADER)
                .then(|| header.to_owned()),
            prefix: (generic && prefix != DEFAULT_WEBHOOK_PREFIX).then(|| prefix.to_owned()),
            tolerance_secs: if provider.has_timestamp() {
                parse_number(
                    &self.webhook_tolerance,
                    "the webhook timestamp tolerance",
                    u64::MAX,
                )?
            } else {
                None
            },
        };
        let shown = |w: &WebhookPatch| {
            Webhook {
                secret: String::new(),
                provider: w.provider,
                header: w.header.clone(),
                prefix: w.prefix.clone(),
                tolerance_secs: w.tolerance_secs,
            }
            .summary()
        };
        match &self.current.webhook {
            Some(now) => {
                if settings.secret.is_none() && shown(&settings) == *now {
                    Ok(Patch::Keep)
                } else if settings.secret.is_none() && provider != now.provider {
                    Err(format!(
                        "enter the {} secret: the one in force is for {}",
                        provider.label(),
                        now.provider.label()
                    ))
                } else {
                    Ok(Patch::Set(settings))
                }
            }
            None => {
                // A named scheme, or a header other than the default, is a webhook
                // asked for: without a secret it is an error to show, not a setting
                // to drop.
                let asked = settings.secret.is_some()
                    || !generic
                    || !(header.is_empty() || header.eq_ignore_ascii_case(DEFAULT_WEBHOOK_HEADER));
                match (asked, &settings.secret) {
                    (false, _) => Ok(Patch::Keep),
                    (true, None) => {
                        Err("enter the webhook secret the sender signs with".to_owned())
                    }
                    (true, Some(_)) => Ok(Patch::Set(settings)),
                }
            }
        }
    }

    fn inbox(&self) -> Result<Patch<Inbox>, String> {
        if !self.inbox {
            return Ok(if self.current.inbox.is_some() {
                Patch::Remove
            } else {
                Patch::Keep
            });
        }
        let inbox = Inbox {
            status: parse_status(&self.inbox_status)?,
            body: (!self.inbox_body.is_empty()).then(|| self.inbox_body.clone()),
            max_requests: parse_number(
                &self.inbox_max_requests,
                "the inbox's request limit",
                u32::MAX,
            )?,
            ttl_secs: parse_number(
                &self.inbox_ttl_secs,
                "the time a held request waits",
                u64::MAX,
            )?,
        };
        Ok(if self.current.inbox.as_ref() == Some(&inbox) {
            Patch::Keep
        } else {
            Patch::Set(inbox)
        })
    }
}

/// `r`, with what it sets checked by client-core's rules.
fn checked(r: Result<PolicyPatch, String>) -> Result<PolicyPatch, String> {
    let p = r?;
    p.validate().map_err(|e| e.to_string())?;
    Ok(p)
}

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
        Patch::Set(w) => {
            s.webhook = Some(
                Webhook {
                    secret: String::new(),
                    provider: w.provider,
                    header: w.header.clone(),
                    prefix: w.prefix.clone(),
                    tolerance_secs: w.tolerance_secs,
                }
                .summary(),
            );
        }
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

/// An optional whole number. One too large for its type saturates, so
/// [`Policy::validate`] still names the allowed range.
fn parse_number<T: TryFrom<u64> + Copy>(
    text: &str,
    what: &str,
    max: T,
) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} must be a whole number"));
    }
    let n = text.parse::<u64>().unwrap_or(u64::MAX);
    Ok(Some(T::try_from(n).unwrap_or(max)))
}

fn parse_status(text: &str) -> Result<Option<u16>, String> {
    let bad = || format!("the inbox's answer status must be 200 to 599, not {text:?}");
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use client_core::policy::{DEFAULT_INBOX_STATUS, WebhookSummary};
    use serde_json::json;

    fn sent(form: &PolicyForm) -> serde_json::Value {
        serde_json::to_value(form.to_patch().unwrap()).unwrap()
    }

    fn errors(form: &PolicyForm) -> FieldErrors {
        form.to_patch().unwrap_err()
    }

    /// What the API shows of a tunnel with every check on.
    fn everything() -> PolicySummary {
        PolicySummary {
            basic_auth_user: Some("alice".into()),
            share_token: true,
            allow_ips: vec!["10.0.0.0/8".into(), "::1/128".into()],
            webhook: Some(WebhookSummary {
                provider: WebhookProvider::Hmac,
                header: "X-Sig".into(),
                prefix: "v1=".into(),
                tolerance_secs: None,
            }),
            inbox: Some(Inbox {
                max_requests: Some(7),
                ..Inbox::default()
            }),
        }
    }

    #[test]
    fn an_untouched_form_changes_nothing() {
        assert_eq!(sent(&PolicyForm::default()), json!({}));
        assert_eq!(sent(&PolicyForm::of(Some(&everything()))), json!({}));
    }

    #[test]
    fn changing_the_ip_list_sends_only_the_list() {
        let mut form = PolicyForm::of(Some(&everything()));
        form.allow_ips = "10.0.0.0/8\n127.0.0.1".into();
        assert_eq!(
            sent(&form),
            json!({"allow_ips": ["10.0.0.0/8", "127.0.0.1"]})
        );
        assert_eq!(
            summary_after(&form.current, &form.to_patch().unwrap()).describe(),
            "basic auth (user alice); share token; from 10.0.0.0/8, 127.0.0.1/32; webhook signature in X-Sig; offline inbox (up to 7 requests for 86400 s, answered 202)"
        );
        // The same list in another spelling is no change.
        form.allow_ips = "10.1.2.3/8\n::1".into();
        assert_eq!(sent(&form), json!({}));
        // Emptied, the check goes.
        form.allow_ips = "\n".into();
        assert_eq!(sent(&form), json!({"allow_ips": null}));
    }

    #[test]
    fn each_check_goes_only_by_its_own_remove() {
        let cur = everything();
        let removing = |f: fn(&mut PolicyForm)| {
            let mut form = PolicyForm::of(Some(&cur));
            f(&mut form);
            sent(&form)
        };
        assert_eq!(
            removing(|f| f.remove_basic_auth = true),
            json!({"basic_auth": null})
        );
        assert_eq!(
            removing(|f| f.remove_share_token = true),
            json!({"share_token": null})
        );
        assert_eq!(
            removing(|f| f.remove_webhook = true),
            json!({"webhook": null})
        );
        assert_eq!(removing(|f| f.inbox = false), json!({"inbox": null}));
        // Clearing the user is not a way to remove basic auth by accident.
        let mut form = PolicyForm::of(Some(&cur));
        form.user.clear();
        assert!(errors(&form)["basic_auth"].contains("Remove basic auth"));
    }

    #[test]
    fn secrets_typed_are_set_and_blank_ones_kept() {
        let mut form = PolicyForm::of(Some(&everything()));
        form.password = "new-pw".into();
        form.share_token = "share-token-123".into();
        form.webhook_secret = "hook".into();
        assert_eq!(
            sent(&form),
            json!({
                "basic_auth": "alice:new-pw",
                "share_token": "share-token-123",
                "webhook": {"secret": "hook", "header": "X-Sig", "prefix": "v1="}
            })
        );
        // Another user needs the password again.
        let mut form = PolicyForm::of(Some(&everything()));
        form.user = "bob".into();
        assert!(errors(&form)["basic_auth"].contains("password again"));
        // A webhook setting changed without the secret keeps the secret (same sender).
        let mut form = PolicyForm::of(Some(&everything()));
        form.webhook_header = "X-Other".into();
        assert_eq!(
            sent(&form),
            json!({"webhook": {"header": "X-Other", "prefix": "v1="}})
        );
        form.webhook_provider = WebhookProvider::Slack;
        assert!(errors(&form)["webhook"].contains("Slack secret"));
    }

    #[test]
    fn a_new_policy_sets_what_is_typed() {
        let form = PolicyForm {
            user: "alice".into(),
            password: "pw".into(),
            share_token: "share-token-123".into(),
            allow_ips: " 10.0.0.0/8 \n\n::1\n".into(),
            webhook_secret: "whsec".into(),
            inbox: true,
            inbox_status: "503".into(),
            inbox_body: "later".into(),
            inbox_max_requests: "5".into(),
            inbox_ttl_secs: "60".into(),
            ..PolicyForm::default()
        };
        assert_eq!(
            sent(&form),
            json!({
                "basic_auth": "alice:pw",
                "share_token": "share-token-123",
                "allow_ips": ["10.0.0.0/8", "::1"],
                "webhook": {"secret": "whsec"},
                "inbox": {"status": 503, "body": "later", "max_requests": 5, "ttl_secs": 60}
            })
        );
        let inbox_only = PolicyForm {
            inbox: true,
            ..PolicyForm::default()
        };
        assert_eq!(sent(&inbox_only), json!({"inbox": {}}));
    }

    #[test]
    fn mistakes_are_told_beside_their_field() {
        let with = |f: fn(&mut PolicyForm)| {
            let mut form = PolicyForm::default();
            f(&mut form);
            errors(&form)
        };
        assert!(
            with(|f| f.share_token = "short".into())["share_token"].contains("8 to 256 characters")
        );
        assert!(with(|f| f.user = "alice".into())["basic_auth"].contains("enter a password"));
        assert!(with(|f| f.password = "pw".into())["basic_auth"].contains("user"));
        assert!(with(|f| f.user = "a:b".into())["basic_auth"].contains("':'"));
        let ips = with(|f| f.allow_ips = "10.0.0.0/33".into());
        assert_eq!(ips.keys().copied().collect::<Vec<_>>(), ["allow_ips"]);
        assert!(ips["allow_ips"].contains("10.0.0.0/33"));
        assert!(with(|f| f.webhook_header = "X-Sig".into())["webhook"].contains("webhook secret"));
        assert!(
            with(|f| {
                f.webhook_secret = "s".into();
                f.webhook_header = "X Sig".into();
            })["webhook"]
                .contains("not an HTTP header name")
        );
        // Two fields wrong: both are told.
        let both = with(|f| {
            f.share_token = "short".into();
            f.allow_ips = "nope".into();
        });
        assert_eq!(both.len(), 2);
        fn inbox(field: fn(&mut PolicyForm) -> &mut String, value: &str) -> String {
            let mut form = PolicyForm {
                inbox: true,
                ..PolicyForm::default()
            };
            *field(&mut form) = value.into();
            errors(&form)["inbox"].clone()
        }
        assert!(inbox(|f| &mut f.inbox_status, "99").contains("200 to 599"));
        assert!(inbox(|f| &mut f.inbox_status, "99999").contains("200 to 599"));
        assert!(inbox(|f| &mut f.inbox_status, "abc").contains("200 to 599"));
        assert!(inbox(|f| &mut f.inbox_max_requests, "0").contains("1 to 1000"));
        assert!(inbox(|f| &mut f.inbox_max_requests, "99999999999").contains("1 to 1000"));
        assert!(inbox(|f| &mut f.inbox_ttl_secs, "1.5").contains("whole number"));
        // Inbox fields count only while the inbox is on.
        let off = PolicyForm {
            inbox_status: "99".into(),
            ..PolicyForm::default()
        };
        assert_eq!(sent(&off), json!({}));
    }

    #[test]
    fn the_summary_prefills_all_but_secrets() {
        let form = PolicyForm::of(Some(&everything()));
        assert_eq!(form.user, "alice");
        assert!(form.password.is_empty() && form.share_token.is_empty());
        assert!(form.webhook_secret.is_empty());
        assert_eq!(form.allow_ips, "10.0.0.0/8\n::1/128");
        assert_eq!(
            (form.webhook_header.as_str(), form.webhook_prefix.as_str()),
            ("X-Sig", "v1=")
        );
        assert!(form.inbox);
        assert_eq!(form.inbox_max_requests, "7");
        assert!(
            form.inbox_status.is_empty(),
            "{DEFAULT_INBOX_STATUS} stays the default"
        );
    }

    #[test]
    fn a_named_scheme_sends_its_name_and_tolerance_only() {
        let form = PolicyForm {
            webhook_provider: WebhookProvider::Stripe,
            webhook_secret: "whsec_abc".into(),
            webhook_tolerance: "120".into(),
            // Left from the generic form: a named scheme fixes its own header.
            webhook_header: "X-Sig".into(),
            webhook_prefix: "v9=".into(),
            ..PolicyForm::default()
        };
        assert_eq!(
            sent(&form),
            json!({"webhook": {"secret": "whsec_abc", "provider": "stripe", "tolerance_secs": 120}})
        );
        assert_eq!(
            summary_after(&form.current, &form.to_patch().unwrap()).describe(),
            "Stripe webhook signature (timestamp within 120 s)"
        );
        // A scheme without a timestamp ignores the field rather than refuse it.
        let shopify = PolicyForm {
            webhook_provider: WebhookProvider::Shopify,
            ..form.clone()
        };
        assert_eq!(
            sent(&shopify),
            json!({"webhook": {"secret": "whsec_abc", "provider": "shopify"}})
        );
        // The tolerance's bounds are client-core's.
        let wide = PolicyForm {
            webhook_tolerance: "3601".into(),
            ..form.clone()
        };
        assert!(errors(&wide)["webhook"].contains("1 to 3600 seconds"));
        let words = PolicyForm {
            webhook_tolerance: "5m".into(),
            ..form
        };
        assert!(errors(&words)["webhook"].contains("whole number"));
    }

    #[test]
    fn a_named_scheme_without_a_secret_is_an_error_and_standard_wants_whsec() {
        let mut form = PolicyForm {
            webhook_provider: WebhookProvider::Slack,
            ..PolicyForm::default()
        };
        assert!(errors(&form)["webhook"].contains("webhook secret"));
        form.webhook_provider = WebhookProvider::Standard;
        form.webhook_secret = "not base64!".into();
        assert!(errors(&form)["webhook"].contains("whsec_"));
        form.webhook_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into();
        assert!(form.to_patch().is_ok());
        // Back to generic with nothing typed: no webhook.
        assert_eq!(sent(&PolicyForm::default()), json!({}));
    }

    #[test]
    fn a_named_schemes_summary_prefills_its_choice() {
        let summary = PolicySummary {
            webhook: Some(
                Webhook {
                    tolerance_secs: Some(60),
                    ..Webhook::of(WebhookProvider::Slack, "s")
                }
                .summary(),
            ),
            ..PolicySummary::default()
        };
        let form = PolicyForm::of(Some(&summary));
        assert_eq!(form.webhook_provider, WebhookProvider::Slack);
        assert_eq!(form.webhook_tolerance, "60");
        assert_eq!(
            (form.webhook_header.as_str(), form.webhook_prefix.as_str()),
            (DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX),
            "Slack's own header is not the generic field's"
        );
        assert_eq!(sent(&form), json!({}), "as shown, nothing to save");
        let mut wider = form.clone();
        wider.webhook_tolerance = "120".into();
        assert_eq!(
            sent(&wider),
            json!({"webhook": {"provider": "slack", "tolerance_secs": 120}})
        );
        let default = PolicySummary {
            webhook: Some(Webhook::of(WebhookProvider::Stripe, "s").summary()),
            ..PolicySummary::default()
        };
        assert!(PolicyForm::of(Some(&default)).webhook_tolerance.is_empty());
        let choices: Vec<_> = WebhookProvider::ALL.map(provider_choice).into();
        assert_eq!(choices[5], "Standard Webhooks / Svix");
        assert!(choices[0].starts_with("Generic HMAC"));
    }
}
