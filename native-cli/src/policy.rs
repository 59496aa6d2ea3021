//! Access-policy flags, shared by `tunnel start` (the policy a tunnel starts with) and
//! `tunnel policy` (a change to the policy in force), and the `tunnel policy` command.
//!
//! One set of flag definitions and one parser, so both commands take the same forms
//! and name the same flag when a value breaks client-core's rules.

use client_core::api::{ApiError, ApiErrorCode, Tunnel, UpdateTunnel};
use client_core::policy::{
    Inbox, Patch, Policy, PolicyError, PolicyPatch, Webhook, WebhookPatch, parse_webhook_flag,
};

use crate::api::CallError;
use crate::commands::{CommandError, authorized_api};
use crate::config::Settings;
use crate::output;

/// The flags that set access checks.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PolicyFlags {
    /// Require HTTP basic auth on the public URL.
    #[arg(long, value_name = "USER:PASS")]
    pub basic_auth: Option<String>,
    /// Require this token, sent as the X-Tunnel-Token header or the tunnel_token
    /// query parameter (removed before your service sees the request).
    #[arg(long, value_name = "TOKEN")]
    pub share_token: Option<String>,
    /// Admit only callers from this network (CIDR or address); repeatable.
    #[arg(long = "allow-ip", value_name = "CIDR")]
    pub allow_ip: Vec<String>,
    /// Admit only webhooks signed with this secret, in a sender's scheme:
    /// github:SECRET, stripe:whsec_..., slack:SECRET, shopify:SECRET or
    /// standard:whsec_... (Standard Webhooks, Svix). A bare SECRET is the generic
    /// HMAC-SHA256 of the body, sha256=<hex> in --webhook-header.
    #[arg(long, value_name = "[PROVIDER:]SECRET")]
    pub verify_webhook: Option<String>,
    /// Generic form only: the header holding the signature `sha256=<hex>`
    /// [default: X-Hub-Signature-256].
    #[arg(long, value_name = "NAME", requires = "verify_webhook")]
    pub webhook_header: Option<String>,
    /// Seconds a webhook's signed timestamp may be from the server's clock, either
    /// way, before it is refused as a replay (stripe, slack, standard; default
    /// 300, at most 3600).
    #[arg(long, value_name = "SECS", requires = "verify_webhook")]
    pub webhook_tolerance: Option<u64>,
    /// Hold requests while this client is offline (stopped, asleep, reconnecting)
    /// and deliver them, in arrival order, when it is back. Stopping with Ctrl-C
    /// then keeps the tunnel; `tunnel stop` removes it.
    #[arg(long)]
    pub inbox: bool,
    /// Status held requests are answered with.
    #[arg(long, value_name = "CODE", requires = "inbox")]
    pub inbox_status: Option<u16>,
    /// Body held requests are answered with (text).
    #[arg(long, value_name = "TEXT", requires = "inbox")]
    pub inbox_body: Option<String>,
    /// Most requests held at once (default 100).
    #[arg(long, value_name = "N", requires = "inbox")]
    pub inbox_max: Option<u32>,
    /// Seconds a held request waits for delivery (default 86400).
    #[arg(long, value_name = "SECS", requires = "inbox")]
    pub inbox_ttl: Option<u64>,
}

impl PolicyFlags {
    /// The checks the flags set, and nothing else.
    pub fn to_policy(&self) -> Policy {
        Policy {
            basic_auth: self.basic_auth.clone(),
            share_token: self.share_token.clone(),
            allow_ips: self.allow_ip.clone(),
            webhook: self.verify_webhook.as_deref().map(|value| {
                let (provider, secret) = parse_webhook_flag(value);
                Webhook {
                    header: self.webhook_header.clone(),
                    tolerance_secs: self.webhook_tolerance,
                    ..Webhook::of(provider, secret)
                }
            }),
            inbox: self.inbox.then(|| Inbox {
                status: self.inbox_status,
                body: self.inbox_body.clone(),
                max_requests: self.inbox_max,
                ttl_secs: self.inbox_ttl,
            }),
        }
    }

    /// [`Self::to_policy`], checked; the error names the flag at fault.
    pub fn checked_policy(&self) -> Result<Policy, FlagError> {
        let policy = self.to_policy();
        policy.validate().map_err(FlagError::from)?;
        Ok(policy)
    }
}

/// The flags of `tunnel policy` that remove a check.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoveFlags {
    /// Remove basic auth.
    #[arg(long, conflicts_with = "basic_auth")]
    pub no_basic_auth: bool,
    /// Remove the share token.
    #[arg(long, conflicts_with = "share_token")]
    pub no_share_token: bool,
    /// Remove the IP allow-list (every address may come in).
    #[arg(long, conflicts_with = "allow_ip")]
    pub no_allow_ip: bool,
    /// Remove webhook signature verification.
    #[arg(long, conflicts_with = "verify_webhook")]
    pub no_verify_webhook: bool,
    /// Remove the offline inbox (requests it holds now are dropped).
    #[arg(long, conflicts_with = "inbox")]
    pub no_inbox: bool,
}

/// The change `set` and `remove` ask for: each check they name set or removed, every
/// other left as it is. Checked; the error names the flag.
pub fn patch_of(set: &PolicyFlags, remove: &RemoveFlags) -> Result<PolicyPatch, FlagError> {
    let p = set.to_policy();
    let pick = |value: Option<String>, off: bool| match (value, off) {
        (Some(v), _) => Patch::Set(v),
        (None, true) => Patch::Remove,
        (None, false) => Patch::Keep,
    };
    let patch = PolicyPatch {
        basic_auth: pick(p.basic_auth, remove.no_basic_auth),
        share_token: pick(p.share_token, remove.no_share_token),
        allow_ips: match (p.allow_ips.is_empty(), remove.no_allow_ip) {
            (false, _) => Patch::Set(p.allow_ips),
            (true, true) => Patch::Remove,
            (true, false) => Patch::Keep,
        },
        webhook: match (p.webhook, remove.no_verify_webhook) {
            (Some(w), _) => Patch::Set(WebhookPatch::from(w)),
            (None, true) => Patch::Remove,
            (None, false) => Patch::Keep,
        },
        inbox: match (p.inbox, remove.no_inbox) {
            (Some(i), _) => Patch::Set(i),
            (None, true) => Patch::Remove,
            (None, false) => Patch::Keep,
        },
    };
    patch.validate().map_err(FlagError::from)?;
    Ok(patch)
}

/// A policy flag whose value breaks the rules, named as the person typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct FlagError {
    /// The flag, like `--allow-ip`.
    pub flag: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl From<PolicyError> for FlagError {
    fn from(e: PolicyError) -> Self {
        Self {
            flag: flag_of(&e),
            message: e.to_string(),
        }
    }
}

/// The flag a policy error is about.
pub fn flag_of(e: &PolicyError) -> &'static str {
    use PolicyError as E;
    match e {
        E::BasicAuthFormat | E::BasicAuthTooLong => "--basic-auth",
        E::ShareTokenLength | E::ShareTokenCharacters => "--share-token",
        E::Cidr(_) | E::TooManyCidrs => "--allow-ip",
        E::WebhookSecretLength
        | E::WebhookPrefix
        | E::WebhookProvider(_)
        | E::WebhookStandardSecret
        | E::WebhookSecretMissing => "--verify-webhook",
        E::HeaderName(_) | E::WebhookFixedHeader(_) => "--webhook-header",
        E::WebhookNoTimestamp(_) | E::WebhookTolerance => "--webhook-tolerance",
        E::InboxStatus(_) => "--inbox-status",
        E::InboxReplyTooLong => "--inbox-body",
        E::InboxMaxRequests => "--inbox-max",
        E::InboxTtl => "--inbox-ttl",
    }
}

/// The flag that sets the policy field the server named (`allow_ips` is `--allow-ip`).
pub fn flag_of_field(field: &str) -> Option<&'static str> {
    Some(match field {
        "basic_auth" => "--basic-auth",
        "share_token" => "--share-token",
        "allow_ips" => "--allow-ip",
        "webhook" => "--verify-webhook",
        "inbox" => "--inbox",
        _ => return None,
    })
}

/// Why `tunnel policy` failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyCommandError {
    /// A flag's value breaks the rules (checked here, or by the server).
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// Anything else.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// `tunnel policy TUNNEL [flags]`: with no flag, prints the policy in force; with
/// flags, changes what they name (leaving every other check, and every secret not
/// given, as it is) and prints the policy now in force.
pub async fn policy(
    settings: &Settings,
    tunnel: &str,
    set: &PolicyFlags,
    remove: &RemoveFlags,
) -> Result<(), PolicyCommandError> {
    // Checked before any call, so a typo costs nothing and the message names the flag.
    let patch = patch_of(set, remove)?;
    let api = authorized_api(settings)?;
    let tunnels = api
        .call(|c| c.list_tunnels())
        .await
        .map_err(CommandError::from)?
        .tunnels;
    // By id or domain; an unknown name goes to the server as an id, whose 404 says so.
    let id = tunnels
        .iter()
        .find(|t| t.tunnel_id == tunnel || t.domain == tunnel)
        .map_or_else(|| tunnel.to_owned(), |t| t.tunnel_id.clone());
    let t = if patch.is_empty() {
        api.call(|c| c.get_tunnel(&id))
            .await
            .map_err(CommandError::from)?
    } else {
        let body = UpdateTunnel {
            policy: Patch::Set(patch),
        };
        api.call(|c| c.update_tunnel(&id, &body))
            .await
            .map_err(server_flag_error)?
    };
    output::print(&describe(&t)).map_err(CommandError::from)?;
    Ok(())
}

/// A server's `invalid_policy` as the flag it is about; anything else as it is.
fn server_flag_error(e: CallError) -> PolicyCommandError {
    if let CallError::Api(
        api @ ApiError::Server {
            code: ApiErrorCode::InvalidPolicy,
            message,
            ..
        },
    ) = &e
        && let Some(flag) = api.field().and_then(flag_of_field)
    {
        return FlagError {
            flag,
            message: message
                .strip_prefix("invalid policy: ")
                .unwrap_or(message)
                .to_owned(),
        }
        .into();
    }
    CommandError::from(e).into()
}

/// `Access to DOMAIN (ID): ...`, a line for people.
pub fn describe(t: &Tunnel) -> String {
    let what = t
        .policy
        .as_ref()
        .map_or_else(|| "anyone".to_owned(), |p| p.describe());
    format!("Access to {} ({}): {what}\n", t.domain, t.tunnel_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags(args: &[&str]) -> (PolicyFlags, RemoveFlags) {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            set: PolicyFlags,
            #[command(flatten)]
            remove: RemoveFlags,
        }
        let cmd =
            <Cmd as clap::Parser>::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
                .unwrap();
        (cmd.set, cmd.remove)
    }

    fn sent(args: &[&str]) -> serde_json::Value {
        let (set, remove) = flags(args);
        serde_json::to_value(patch_of(&set, &remove).unwrap()).unwrap()
    }

    #[test]
    fn flags_set_or_remove_only_what_they_name() {
        assert_eq!(sent(&[]), json!({}));
        assert_eq!(
            sent(&["--allow-ip", "10.0.0.0/8", "--allow-ip", "::1"]),
            json!({"allow_ips": ["10.0.0.0/8", "::1"]})
        );
        assert_eq!(
            sent(&["--no-basic-auth", "--share-token", "token-123"]),
            json!({"basic_auth": null, "share_token": "token-123"})
        );
        assert_eq!(
            sent(&[
                "--no-allow-ip",
                "--no-verify-webhook",
                "--no-inbox",
                "--no-share-token"
            ]),
            json!({"allow_ips": null, "webhook": null, "inbox": null, "share_token": null})
        );
        assert_eq!(
            sent(&[
                "--verify-webhook",
                "stripe:whsec_x",
                "--webhook-tolerance",
                "60"
            ]),
            json!({"webhook": {"secret": "whsec_x", "provider": "stripe", "tolerance_secs": 60}})
        );
        assert_eq!(
            sent(&["--inbox", "--inbox-max", "5"]),
            json!({"inbox": {"max_requests": 5}})
        );
    }

    #[test]
    fn errors_name_the_flag() {
        let err = |args: &[&str]| {
            let (set, remove) = flags(args);
            patch_of(&set, &remove).unwrap_err().to_string()
        };
        assert!(err(&["--allow-ip", "10.0.0.0/33"]).starts_with("--allow-ip: "));
        assert!(err(&["--basic-auth", "alice"]).starts_with("--basic-auth: "));
        assert!(err(&["--share-token", "short"]).starts_with("--share-token: "));
        assert!(
            err(&["--verify-webhook", "github:s", "--webhook-tolerance", "60"])
                .starts_with("--webhook-tolerance: ")
        );
        assert!(err(&["--inbox", "--inbox-status", "99"]).starts_with("--inbox-status: "));
        // Setting and removing one check at once is refused by clap.
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            set: PolicyFlags,
            #[command(flatten)]
            remove: RemoveFlags,
        }
        let e =
            <Cmd as clap::Parser>::try_parse_from(["t", "--basic-auth", "a:b", "--no-basic-auth"])
                .err()
                .unwrap()
                .to_string();
        assert!(
            e.contains("--no-basic-auth") && e.contains("--basic-auth"),
            "{e}"
        );
    }

    #[test]
    fn every_policy_field_has_its_flag() {
        for field in client_core::policy::POLICY_FIELDS {
            assert!(flag_of_field(field).is_some(), "{field}");
        }
    }
}
