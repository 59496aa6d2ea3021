//! The access-policy form: what it starts with, and the [`Policy`] it saves.
//! Pure, tested natively; the rules themselves are client-core's [`Policy::validate`],
//! so the form says what the server would.

use client_core::policy::{
    DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX, DEFAULT_WEBHOOK_TOLERANCE_SECS, Inbox, Policy,
    PolicySummary, Webhook, WebhookProvider,
};

/// The form's fields, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyForm {
    /// Basic-auth user; empty with an empty password means no basic auth.
    pub user: String,
    /// Basic-auth password.
    pub password: String,
    /// Share token; empty means none.
    pub share_token: String,
    /// Allow-list, one CIDR a line.
    pub allow_ips: String,
    /// Whose webhook signature scheme.
    pub webhook_provider: WebhookProvider,
    /// Webhook secret.
    pub webhook_secret: String,
    /// Webhook signature header (generic scheme only).
    pub webhook_header: String,
    /// Webhook signature prefix (generic scheme only).
    pub webhook_prefix: String,
    /// Seconds a signed timestamp may be off (timestamped schemes only); empty for
    /// the default.
    pub webhook_tolerance: String,
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
            user: s.basic_auth_user.unwrap_or_default(),
            password: String::new(),
            share_token: String::new(),
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
            inbox: s.inbox.is_some(),
            inbox_status: num(inbox.status.map(|n| n.to_string())),
            inbox_body: inbox.body.unwrap_or_default(),
            inbox_max_requests: num(inbox.max_requests.map(|n| n.to_string())),
            inbox_ttl_secs: num(inbox.ttl_secs.map(|n| n.to_string())),
        }
    }

    /// The policy to save, checked by [`Policy::validate`]; `None` when no check is
    /// set (saving then removes the policy). The error is a sentence for people.
    pub fn to_policy(&self) -> Result<Option<Policy>, String> {
        let basic_auth = if self.user.is_empty() && self.password.is_empty() {
            None
        } else if self.user.contains(':') {
            // Joined as USER:PASSWORD, a ':' in the user would move into the password.
            return Err("the basic auth user may not contain ':'".to_owned());
        } else {
            Some(format!("{}:{}", self.user, self.password))
        };
        let provider = self.webhook_provider;
        let generic = provider == WebhookProvider::Hmac;
        let header = self.webhook_header.trim();
        let prefix = self.webhook_prefix.trim();
        // A named scheme, or a header other than the default, is a webhook asked for:
        // without a secret it is an error to show, not a setting to drop.
        let asked = !self.webhook_secret.is_empty()
            || !generic
            || !(header.is_empty() || header.eq_ignore_ascii_case(DEFAULT_WEBHOOK_HEADER));
        let webhook = if asked {
            Some(Webhook {
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
                ..Webhook::of(provider, self.webhook_secret.clone())
            })
        } else {
            None
        };
        let inbox = if self.inbox {
            Some(Inbox {
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
            })
        } else {
            None
        };
        let policy = Policy {
            basic_auth,
            share_token: (!self.share_token.is_empty()).then(|| self.share_token.clone()),
            allow_ips: self
                .allow_ips
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            webhook,
            inbox,
        };
        policy.validate().map_err(|e| e.to_string())?;
        Ok((!policy.is_empty()).then_some(policy))
    }
}

/// What the API will show of `policy` once saved, so the form can say it in the
/// table's words before anything is sent.
pub fn summary_of(policy: Option<&Policy>) -> PolicySummary {
    let Some(p) = policy else {
        return PolicySummary::default();
    };
    PolicySummary {
        basic_auth_user: p
            .basic_auth
            .as_deref()
            .and_then(|pair| pair.split_once(':'))
            .map(|(user, _)| user.to_owned()),
        share_token: p.share_token.is_some(),
        allow_ips: p
            .cidrs()
            .map(|c| c.iter().map(ToString::to_string).collect())
            .unwrap_or_else(|_| p.allow_ips.clone()),
        webhook: p.webhook.as_ref().map(Webhook::summary),
        inbox: p.inbox.clone(),
    }
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

    #[test]
    fn an_empty_form_removes_the_policy() {
        assert_eq!(PolicyForm::default().to_policy(), Ok(None));
    }

    #[test]
    fn everything_set() {
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
        let p = form.to_policy().unwrap().unwrap();
        assert_eq!(p.basic_auth.as_deref(), Some("alice:pw"));
        assert_eq!(p.share_token.as_deref(), Some("share-token-123"));
        assert_eq!(p.allow_ips, vec!["10.0.0.0/8".to_owned(), "::1".to_owned()]);
        let w = p.webhook.unwrap();
        assert_eq!(w.secret, "whsec");
        assert_eq!((w.header, w.prefix), (None, None), "defaults are not sent");
        let i = p.inbox.unwrap();
        assert_eq!(i.status, Some(503));
        assert_eq!(i.body.as_deref(), Some("later"));
        assert_eq!((i.max_requests, i.ttl_secs), (Some(5), Some(60)));
    }

    #[test]
    fn an_inbox_with_defaults_is_an_empty_object() {
        let form = PolicyForm {
            inbox: true,
            ..PolicyForm::default()
        };
        let p = form.to_policy().unwrap().unwrap();
        assert_eq!(p.inbox, Some(Inbox::default()));
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"inbox":{}}"#);
    }

    #[test]
    fn mistakes_get_the_rules_message() {
        let with = |f: fn(&mut PolicyForm)| {
            let mut form = PolicyForm::default();
            f(&mut form);
            form.to_policy().unwrap_err()
        };
        assert!(with(|f| f.share_token = "short".into()).contains("8 to 256 characters"));
        assert!(with(|f| f.user = "alice".into()).contains("USER:PASSWORD"));
        assert!(with(|f| f.password = "pw".into()).contains("USER:PASSWORD"));
        assert!(with(|f| f.user = "a:b".into()).contains("':'"));
        assert!(with(|f| f.allow_ips = "10.0.0.0/33".into()).contains("10.0.0.0/33"));
        assert!(with(|f| f.webhook_header = "X-Sig".into()).contains("webhook secret"));
        assert!(
            with(|f| {
                f.webhook_secret = "s".into();
                f.webhook_header = "X Sig".into();
            })
            .contains("not an HTTP header name")
        );
        fn inbox(field: fn(&mut PolicyForm) -> &mut String, value: &str) -> String {
            let mut form = PolicyForm {
                inbox: true,
                ..PolicyForm::default()
            };
            *field(&mut form) = value.into();
            form.to_policy().unwrap_err()
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
        assert_eq!(off.to_policy(), Ok(None));
    }

    #[test]
    fn the_preview_reads_like_the_table() {
        let form = PolicyForm {
            share_token: "share-token-123".into(),
            allow_ips: "10.1.2.3/8".into(),
            inbox: true,
            ..PolicyForm::default()
        };
        let p = form.to_policy().unwrap();
        assert_eq!(
            summary_of(p.as_ref()).describe(),
            "share token; from 10.0.0.0/8; offline inbox (up to 100 requests for 86400 s, answered 202)"
        );
        assert_eq!(summary_of(None).describe(), "anyone");
    }

    #[test]
    fn the_summary_prefills_all_but_secrets() {
        let summary = PolicySummary {
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
        };
        let form = PolicyForm::of(Some(&summary));
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
        // Saved as is, the secrets are missing: the form says so rather than drop them.
        assert!(form.to_policy().unwrap_err().contains("USER:PASSWORD"));
        let mut form = form;
        form.user.clear();
        assert!(form.to_policy().unwrap_err().contains("webhook secret"));
        form.webhook_secret = "s".into();
        let p = form.to_policy().unwrap().unwrap();
        let w = p.webhook.unwrap();
        assert_eq!(
            (w.header.as_deref(), w.prefix.as_deref()),
            (Some("X-Sig"), Some("v1="))
        );
        assert_eq!(p.inbox.unwrap().max_requests, Some(7));
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
        let p = form.to_policy().unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"webhook": {"secret": "whsec_abc", "provider": "stripe", "tolerance_secs": 120}})
        );
        assert_eq!(
            summary_of(Some(&p)).describe(),
            "Stripe webhook signature (timestamp within 120 s)"
        );
        // A scheme without a timestamp ignores the field rather than refuse it.
        let shopify = PolicyForm {
            webhook_provider: WebhookProvider::Shopify,
            ..form.clone()
        };
        let w = shopify.to_policy().unwrap().unwrap().webhook.unwrap();
        assert_eq!(
            (w.provider, w.tolerance_secs),
            (WebhookProvider::Shopify, None)
        );
        // The tolerance's bounds are client-core's.
        let wide = PolicyForm {
            webhook_tolerance: "3601".into(),
            ..form.clone()
        };
        assert!(wide.to_policy().unwrap_err().contains("1 to 3600 seconds"));
        let words = PolicyForm {
            webhook_tolerance: "5m".into(),
            ..form
        };
        assert!(words.to_policy().unwrap_err().contains("whole number"));
    }

    #[test]
    fn a_named_scheme_without_a_secret_is_an_error_and_standard_wants_whsec() {
        let mut form = PolicyForm {
            webhook_provider: WebhookProvider::Slack,
            ..PolicyForm::default()
        };
        assert!(form.to_policy().unwrap_err().contains("webhook secret"));
        form.webhook_provider = WebhookProvider::Standard;
        form.webhook_secret = "not base64!".into();
        assert!(form.to_policy().unwrap_err().contains("whsec_"));
        form.webhook_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into();
        assert!(form.to_policy().is_ok());
        // Back to generic with nothing typed: no webhook.
        let off = PolicyForm::default();
        assert_eq!(off.to_policy(), Ok(None));
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
