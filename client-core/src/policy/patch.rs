//! Changing a policy field by field: the `policy` of `PATCH /v1/tunnels/{id}`.
//!
//! JSON Merge Patch (RFC 7396) on the policy: a field left out keeps what is in
//! force, `null` removes that check, a value sets it (a list replaces the whole list,
//! an object such as `inbox` its whole settings). One departure, for secrets: a
//! `webhook` object without `secret` keeps the secret in force (for the same sender),
//! so the owner can change a tolerance without having the secret at hand. The
//! basic-auth password and the share token are kept simply by leaving their fields
//! out. The server merges over what it stores (it alone has the hashes) and checks
//! the result; [`PolicyPatch::validate`] checks what the patch sets, so a client can
//! refuse a bad field before it calls.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};

use super::{Inbox, Policy, PolicyError, Webhook, WebhookProvider};

/// One field of a merge patch: left out, `null`, or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Left out: what is in force stays.
    #[default]
    Keep,
    /// `null`: removed.
    Remove,
    /// A value: set to it.
    Set(T),
}

impl<T> Patch<T> {
    /// True when the field is left out (serde's test for not writing it).
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    /// What the field becomes over `current`.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current,
            Patch::Remove => None,
            Patch::Set(v) => Some(v),
        }
    }

    /// The value set, if any.
    pub fn as_set(&self) -> Option<&T> {
        match self {
            Patch::Set(v) => Some(v),
            _ => None,
        }
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Only reached when a container does not skip it; `null` would remove.
            Patch::Keep | Patch::Remove => s.serialize_none(),
            Patch::Set(v) => v.serialize(s),
        }
    }
}

/// `null` is [`Patch::Remove`], a value [`Patch::Set`]; an absent field never reaches
/// this (`#[serde(default)]` makes it [`Patch::Keep`]).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Remove,
            Some(v) => Patch::Set(v),
        })
    }
}

/// Webhook settings in a patch: as [`Webhook`], but the secret may be left out to keep
/// the one in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// The new secret; absent keeps the one in force, which needs the same sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whose scheme; the generic HMAC when absent.
    #[serde(default, skip_serializing_if = "WebhookProvider::is_hmac")]
    pub provider: WebhookProvider,
    /// Generic scheme only: the signature header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Generic scheme only: what precedes the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Timestamped schemes only: seconds a signed timestamp may be off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
}

impl From<Webhook> for WebhookPatch {
    fn from(w: Webhook) -> Self {
        Self {
            secret: Some(w.secret),
            provider: w.provider,
            header: w.header,
            prefix: w.prefix,
            tolerance_secs: w.tolerance_secs,
        }
    }
}

impl WebhookPatch {
    /// The settings over `current` (the webhook in force, if any): the secret given,
    /// or the one in force when the sender is the same, checked whole.
    pub fn resolve(self, current: Option<&Webhook>) -> Result<Webhook, PolicyError> {
        let secret = match self.secret {
            Some(s) => s,
            None => current
                .filter(|w| w.provider == self.provider)
                .map(|w| w.secret.clone())
                .ok_or(PolicyError::WebhookSecretMissing)?,
        };
        let w = Webhook {
            secret,
            provider: self.provider,
            header: self.header,
            prefix: self.prefix,
            tolerance_secs: self.tolerance_secs,
        };
        w.validate()?;
        Ok(w)
    }
}

/// The `policy` of a `PATCH`: each check kept, removed or set.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    /// Basic auth as `user:password`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub basic_auth: Patch<String>,
    /// The share token.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub share_token: Patch<String>,
    /// The allow-list, replaced whole.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub allow_ips: Patch<Vec<String>>,
    /// Webhook verification.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub webhook: Patch<WebhookPatch>,
    /// The offline inbox, its settings replaced whole.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub inbox: Patch<Inbox>,
}

impl PolicyPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.basic_auth.is_keep()
            && self.share_token.is_keep()
            && self.allow_ips.is_keep()
            && self.webhook.is_keep()
            && self.inbox.is_keep()
    }

    /// A patch that sets every check of `policy` and removes every other: what
    /// replacing the whole policy was.
    pub fn replace_with(policy: Policy) -> Self {
        fn set<T>(o: Option<T>) -> Patch<T> {
            o.map_or(Patch::Remove, Patch::Set)
        }
        Self {
            basic_auth: set(policy.basic_auth),
            share_token: set(policy.share_token),
            allow_ips: if policy.allow_ips.is_empty() {
                Patch::Remove
            } else {
                Patch::Set(policy.allow_ips)
            },
            webhook: set(policy.webhook.map(WebhookPatch::from)),
            inbox: set(policy.inbox),
        }
    }

    /// Checks each value the patch sets by [`Policy::validate`]'s rules; the error
    /// names its field ([`PolicyError::field`]). A webhook without its secret is
    /// checked but for the secret (the server has it, checked when it was set).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let probe = Policy {
            basic_auth: self.basic_auth.as_set().cloned(),
            share_token: self.share_token.as_set().cloned(),
            allow_ips: self.allow_ips.as_set().cloned().unwrap_or_default(),
            webhook: None,
            inbox: self.inbox.as_set().cloned(),
        };
        probe.validate()?;
        if let Some(w) = self.webhook.as_set() {
            match &w.secret {
                Some(_) => {
                    w.clone().resolve(None)?;
                }
                None => {
                    // A stand-in that passes every scheme's secret rule, so only the
                    // settings given are judged.
                    let stand_in = Webhook::of(w.provider, "whsec_c2VjcmV0");
                    w.clone().resolve(Some(&stand_in))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Result<PolicyPatch, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn absent_null_and_value_are_keep_remove_and_set() {
        let p = read(json!({"basic_auth": null, "allow_ips": ["10.0.0.0/8"]})).unwrap();
        assert_eq!(p.basic_auth, Patch::Remove);
        assert_eq!(p.share_token, Patch::Keep);
        assert_eq!(p.allow_ips, Patch::Set(vec!["10.0.0.0/8".to_owned()]));
        assert_eq!(p.webhook, Patch::Keep);
        assert_eq!(p.inbox, Patch::Keep);
        // Written back the same way: Keep left out, Remove as null.
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"basic_auth": null, "allow_ips": ["10.0.0.0/8"]})
        );
        assert!(read(json!({})).unwrap().is_empty());
        let w = read(json!({"webhook": {"provider": "stripe", "tolerance_secs": 60}})).unwrap();
        assert_eq!(
            w.webhook,
            Patch::Set(WebhookPatch {
                provider: WebhookProvider::Stripe,
                tolerance_secs: Some(60),
                ..WebhookPatch::default()
            })
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = read(json!({"basic_auht": "a:b"})).unwrap_err().to_string();
        assert!(e.contains("basic_auht") && e.contains("basic_auth"), "{e}");
        let e = read(json!({"webhook": {"secrte": "s"}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("secrte"), "{e}");
    }

    #[test]
    fn apply_over_what_is_in_force() {
        assert_eq!(Patch::Keep.apply(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Remove.apply(Some(1)), None);
        assert_eq!(Patch::Set(2).apply(None), Some(2));
    }

    #[test]
    fn replace_with_sets_what_is_there_and_removes_the_rest() {
        let p = PolicyPatch::replace_with(Policy {
            share_token: Some("token-123".into()),
            ..Policy::default()
        });
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"basic_auth": null, "share_token": "token-123", "allow_ips": null, "webhook": null, "inbox": null})
        );
    }

    #[test]
    fn validation_names_the_field() {
        let field = |v| read(v).unwrap().validate().unwrap_err().field();
        assert_eq!(field(json!({"basic_auth": "nopass"})), "basic_auth");
        assert_eq!(field(json!({"share_token": "short"})), "share_token");
        assert_eq!(field(json!({"allow_ips": ["10.0.0.0/33"]})), "allow_ips");
        assert_eq!(field(json!({"webhook": {"secret": ""}})), "webhook");
        assert_eq!(
            field(json!({"webhook": {"provider": "shopify", "tolerance_secs": 5}})),
            "webhook"
        );
        assert_eq!(field(json!({"inbox": {"status": 100}})), "inbox");
        // Removing or keeping needs no check; a webhook without its secret is fine here.
        let ok = read(
            json!({"basic_auth": null, "webhook": {"provider": "standard", "tolerance_secs": 60}}),
        )
        .unwrap();
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn a_webhook_keeps_its_secret_only_for_the_same_sender() {
        let github = Webhook::of(WebhookProvider::Github, "gh-secret");
        let keep = WebhookPatch {
            provider: WebhookProvider::Github,
            ..WebhookPatch::default()
        };
        assert_eq!(keep.clone().resolve(Some(&github)).unwrap(), github);
        let other = WebhookPatch {
            provider: WebhookProvider::Slack,
            ..WebhookPatch::default()
        };
        assert_eq!(
            other.resolve(Some(&github)),
            Err(PolicyError::WebhookSecretMissing)
        );
        assert_eq!(keep.resolve(None), Err(PolicyError::WebhookSecretMissing));
    }
}
