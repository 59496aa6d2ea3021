//! A `PATCH` of a policy over the stored one, field by field (see
//! [`client_core::policy::PolicyPatch`]). Both backends call [`merge`]; it is pure, so
//! the tests below cover every field in each of its three states.

use client_core::policy::{Patch, Policy, PolicyError, PolicyPatch, split_basic_auth};

use crate::model::{SaltedHash, StoredBasicAuth, StoredPolicy};

/// The policy in force after `patch` over `current`, checked whole; `None` when no
/// check is left (no cost on the request path). Secrets left out of the patch keep
/// their stored hashes (or, for the webhook, the secret), so an owner never has to
/// type a password again to change the allow-list.
pub fn merge(
    current: Option<&StoredPolicy>,
    patch: Patch<PolicyPatch>,
) -> Result<Option<StoredPolicy>, PolicyError> {
    let p = match patch {
        Patch::Keep => return Ok(current.cloned()),
        Patch::Remove => return Ok(None),
        Patch::Set(p) => p,
    };
    // Each value set is checked by the rules of a whole policy, so the error names
    // the same field a create would.
    p.validate()?;
    let base = current.cloned().unwrap_or_default();
    let basic_auth = match p.basic_auth {
        Patch::Keep => base.basic_auth,
        Patch::Remove => None,
        Patch::Set(pair) => {
            let (user, pass) = split_basic_auth(&pair)?;
            Some(StoredBasicAuth {
                user: user.to_owned(),
                password: SaltedHash::new(pass),
            })
        }
    };
    let share_token = match p.share_token {
        Patch::Keep => base.share_token,
        Patch::Remove => None,
        Patch::Set(t) => Some(SaltedHash::new(&t)),
    };
    let webhook = match p.webhook {
        Patch::Keep => base.webhook,
        Patch::Remove => None,
        Patch::Set(w) => Some(w.resolve(base.webhook.as_ref())?),
    };
    let allow_ips = p.allow_ips.apply(Some(base.allow_ips)).unwrap_or_default();
    let inbox = p.inbox.apply(base.inbox);
    // The merged result, checked whole (what is not secret; the hashed secrets were
    // checked when set), with the allow-list normalised as a create stores it.
    let whole = Policy {
        basic_auth: None,
        share_token: None,
        allow_ips,
        webhook,
        inbox,
    };
    whole.validate()?;
    let merged = StoredPolicy {
        basic_auth,
        share_token,
        allow_ips: whole.cidrs()?.iter().map(ToString::to_string).collect(),
        webhook: whole.webhook,
        inbox: whole.inbox,
    };
    Ok((merged != StoredPolicy::default()).then_some(merged))
}

#[cfg(test)]
mod tests {
    use client_core::policy::{Inbox, Webhook, WebhookPatch, WebhookProvider};
    use serde_json::json;

    use super::*;
    use crate::handlers::policy::to_stored;

    /// A stored policy with every check on.
    fn full() -> StoredPolicy {
        to_stored(&Policy {
            basic_auth: Some("alice:pw".into()),
            share_token: Some("token-123".into()),
            allow_ips: vec!["10.0.0.0/8".into()],
            webhook: Some(Webhook::of(WebhookProvider::Github, "gh-secret")),
            inbox: Some(Inbox::default()),
        })
        .unwrap()
        .unwrap()
    }

    fn patch(v: serde_json::Value) -> Patch<PolicyPatch> {
        serde_json::from_value::<client_core::api::UpdateTunnel>(v)
            .unwrap()
            .policy
    }

    #[test]
    fn policy_left_out_keeps_all_and_null_removes_all() {
        let cur = full();
        assert_eq!(merge(Some(&cur), patch(json!({}))), Ok(Some(cur.clone())));
        assert_eq!(
            merge(Some(&cur), patch(json!({"policy": {}}))),
            Ok(Some(cur.clone()))
        );
        assert_eq!(merge(Some(&cur), patch(json!({"policy": null}))), Ok(None));
        assert_eq!(merge(None, patch(json!({"policy": {}}))), Ok(None));
    }

    /// Every field × keep / remove / set, over a policy with every check on: only the
    /// field named changes, and a secret left out keeps its very hash.
    #[test]
    fn every_field_keeps_removes_and_sets() {
        let cur = full();
        let fields: [(&str, serde_json::Value); 5] = [
            ("basic_auth", json!("bob:new-pw")),
            ("share_token", json!("other-token-456")),
            ("allow_ips", json!(["192.168.1.7/16", "::1"])),
            (
                "webhook",
                json!({"provider": "stripe", "secret": "whsec_x", "tolerance_secs": 60}),
            ),
            ("inbox", json!({"max_requests": 5})),
        ];
        for (name, value) in fields {
            // Keep: each case below leaves the other four fields out, and they stay.
            let removed = merge(Some(&cur), patch(json!({"policy": {name: null}})))
                .unwrap()
                .unwrap();
            let mut want = cur.clone();
            match name {
                "basic_auth" => want.basic_auth = None,
                "share_token" => want.share_token = None,
                "allow_ips" => want.allow_ips.clear(),
                "webhook" => want.webhook = None,
                _ => want.inbox = None,
            }
            assert_eq!(removed, want, "{name}: remove");

            let set = merge(Some(&cur), patch(json!({"policy": {name: value}})))
                .unwrap()
                .unwrap();
            let mut want = cur.clone();
            match name {
                "basic_auth" => {
                    let b = set.basic_auth.clone().unwrap();
                    assert_eq!(b.user, "bob");
                    assert!(b.password.matches("new-pw") && !b.password.matches("pw"));
                    want.basic_auth = Some(b);
                }
                "share_token" => {
                    let h = set.share_token.clone().unwrap();
                    assert!(h.matches("other-token-456") && !h.matches("token-123"));
                    want.share_token = Some(h);
                }
                "allow_ips" => {
                    want.allow_ips = vec!["192.168.0.0/16".into(), "::1/128".into()];
                }
                "webhook" => {
                    want.webhook = Some(Webhook {
                        tolerance_secs: Some(60),
                        ..Webhook::of(WebhookProvider::Stripe, "whsec_x")
                    });
                }
                _ => {
                    want.inbox = Some(Inbox {
                        max_requests: Some(5),
                        ..Inbox::default()
                    });
                }
            }
            assert_eq!(set, want, "{name}: set");
        }
    }

    #[test]
    fn changing_the_ip_list_keeps_basic_auth() {
        let cur = to_stored(&Policy {
            basic_auth: Some("alice:pw".into()),
            ..Policy::default()
        })
        .unwrap()
        .unwrap();
        let got = merge(
            Some(&cur),
            patch(json!({"policy": {"allow_ips": ["127.0.0.1"]}})),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            got.basic_auth, cur.basic_auth,
            "the same hash, not a new one"
        );
        assert_eq!(got.allow_ips, vec!["127.0.0.1/32".to_owned()]);
    }

    #[test]
    fn a_webhook_change_without_its_secret_keeps_it_for_the_same_sender() {
        let cur = full();
        let got = merge(
            Some(&cur),
            Patch::Set(PolicyPatch {
                webhook: Patch::Set(WebhookPatch {
                    provider: WebhookProvider::Github,
                    ..WebhookPatch::default()
                }),
                ..PolicyPatch::default()
            }),
        )
        .unwrap()
        .unwrap();
        assert_eq!(got.webhook.unwrap().secret, "gh-secret");
        let other = patch(json!({"policy": {"webhook": {"provider": "slack"}}}));
        assert_eq!(
            merge(Some(&cur), other),
            Err(PolicyError::WebhookSecretMissing)
        );
        let none = patch(json!({"policy": {"webhook": {}}}));
        assert_eq!(merge(None, none), Err(PolicyError::WebhookSecretMissing));
    }

    #[test]
    fn errors_name_their_field_and_leave_nothing_half_done() {
        let cur = full();
        let cases = [
            (json!({"basic_auth": "nopass"}), "basic_auth"),
            (json!({"share_token": "short"}), "share_token"),
            (json!({"allow_ips": ["10.0.0.0/33"]}), "allow_ips"),
            (
                json!({"allow_ips": vec!["10.0.0.0/8"; client_core::policy::MAX_ALLOW_IPS + 1]}),
                "allow_ips",
            ),
            (
                json!({"webhook": {"provider": "standard", "secret": "not base64!"}}),
                "webhook",
            ),
            (
                json!({"webhook": {"provider": "github", "tolerance_secs": 5}}),
                "webhook",
            ),
            (json!({"inbox": {"status": 99}}), "inbox"),
        ];
        for (policy, field) in cases {
            let e = merge(Some(&cur), patch(json!({"policy": policy}))).unwrap_err();
            assert_eq!(e.field(), field, "{policy}");
        }
        // At the allow-list's edge, a full list is accepted.
        let edge = json!({"policy": {"allow_ips": vec!["10.0.0.0/8"; client_core::policy::MAX_ALLOW_IPS]}});
        assert!(merge(Some(&cur), patch(edge)).is_ok());
    }

    #[test]
    fn removing_the_last_check_stores_none() {
        let cur = to_stored(&Policy {
            share_token: Some("token-123".into()),
            ..Policy::default()
        })
        .unwrap();
        let got = merge(
            cur.as_ref(),
            patch(json!({"policy": {"share_token": null}})),
        );
        assert_eq!(got, Ok(None));
        // A patch on a tunnel with no policy starts from nothing.
        let got = merge(None, patch(json!({"policy": {"inbox": {}}})))
            .unwrap()
            .unwrap();
        assert_eq!(got.inbox, Some(Inbox::default()));
        assert!(got.basic_auth.is_none() && got.share_token.is_none());
    }
}
