//! The form's unit tests: what each change sends, and what each mistake says.

#![allow(clippy::unwrap_used)]
use super::*;
use client_core::policy::{DEFAULT_INBOX_STATUS, Inbox, Webhook, WebhookSummary};
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
