//! The end of a `tunnel start` run: the tunnel kept (a chosen name, or a policy on
//! it) or deleted, and a line saying which.

use std::time::Duration;

use client_core::api::{ApiErrorCode, Tunnel, TunnelStatus};
use tokio::time::timeout;

use super::StartOptions;
use crate::api::{Api, CallError};

/// Longest wait for deleting the tunnel on the way out: a dead server must not keep
/// Ctrl-C from working.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a stopped tunnel is kept, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Its name was chosen (`--domain`): the next `start --domain` resumes it.
    ChosenName,
    /// A random name, but a policy guards it (set by flags, the console or
    /// `tunnel policy`): deleting it would drop that policy unasked.
    Policy,
    /// Neither: nothing of value is lost by deleting it.
    No,
}

/// What happens to a tunnel whose run stops: kept, inactive, when its name was
/// chosen or a policy is on it as it stands now (re-read: the console may have set
/// one while it ran); deleted otherwise. A policy is never dropped unasked.
fn keep(chosen_name: bool, now: &Tunnel) -> Keep {
    if chosen_name {
        Keep::ChosenName
    } else if now.policy.is_some() {
        Keep::Policy
    } else {
        Keep::No
    }
}

/// Keeps or deletes the tunnel on the way out ([`keep`]) and says which, within
/// [`STOP_TIMEOUT`].
pub(super) async fn leave(api: &Api, started: &Tunnel, options: &StartOptions) {
    let id = &started.tunnel_id;
    let now = match timeout(STOP_TIMEOUT, settled(api, id)).await {
        Ok(Ok(t)) => t,
        // Gone already (`tunnel stop` from elsewhere): nothing to keep or delete.
        Ok(Err(e)) if e.code() == Some(ApiErrorCode::NotFound) => return,
        // Unknown: keep it rather than risk dropping a policy set meanwhile.
        _ => started.clone(),
    };
    match keep(options.domain.is_some(), &now) {
        Keep::No => delete(api, id).await,
        why => {
            let until = now
                .expires_at
                .map(|t| format!(" until {}", client_core::inspect::date_time_utc(t)))
                .unwrap_or_default();
            let what = match now.policy.as_ref() {
                Some(p) => format!("its protection ({}) and request log", p.describe()),
                None => "its request log".to_owned(),
            };
            let held = if now.policy.as_ref().is_some_and(|p| p.inbox.is_some()) {
                format!(
                    "; requests to {} are held in its inbox meanwhile",
                    now.public_url
                )
            } else {
                String::new()
            };
            let reason = if why == Keep::Policy {
                " because a policy is on it"
            } else {
                ""
            };
            eprintln!(
                "tunnel {} kept{reason}, inactive{until}, with {what}{held}: `tunnel start {} --domain {}` resumes it, `tunnel stop {}` deletes it",
                now.domain, options.target, now.domain, now.domain
            );
        }
    }
}

/// The tunnel as the server sees it once this run's connection has let go (the
/// server detaches it as the socket closes, a moment after the run stops).
async fn settled(api: &Api, id: &str) -> Result<Tunnel, CallError> {
    let mut read = api.call(|c| c.get_tunnel(id)).await?;
    for _ in 0..SETTLE_READS {
        if read.status == TunnelStatus::Offline {
            break;
        }
        tokio::time::sleep(SETTLE_PAUSE).await;
        read = api.call(|c| c.get_tunnel(id)).await?;
    }
    Ok(read)
}

/// Reads of a stopping tunnel while its server detaches it, [`SETTLE_PAUSE`] apart.
const SETTLE_READS: usize = 20;
const SETTLE_PAUSE: Duration = Duration::from_millis(100);

/// Removes the tunnel on the way out, within [`STOP_TIMEOUT`].
async fn delete(api: &Api, tunnel_id: &str) {
    match timeout(STOP_TIMEOUT, api.call_empty(|c| c.delete_tunnel(tunnel_id))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("could not delete tunnel {tunnel_id}: {e}"),
        Err(_) => eprintln!(
            "could not delete tunnel {tunnel_id}: no answer within {} s",
            STOP_TIMEOUT.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(policy: Option<client_core::policy::PolicySummary>) -> Tunnel {
        Tunnel {
            tunnel_id: "t".into(),
            domain: "d".into(),
            public_url: "http://d.localhost".into(),
            status: TunnelStatus::Offline,
            created_at: 0,
            request_count: 0,
            redact_secrets: true,
            policy,
            expires_at: None,
        }
    }

    #[test]
    fn a_stopped_tunnel_is_kept_for_its_name_or_its_policy() {
        let guarded = Some(client_core::policy::PolicySummary {
            basic_auth_user: Some("u".into()),
            ..Default::default()
        });
        assert_eq!(keep(true, &view(None)), Keep::ChosenName);
        assert_eq!(keep(true, &view(guarded.clone())), Keep::ChosenName);
        assert_eq!(keep(false, &view(guarded)), Keep::Policy);
        assert_eq!(keep(false, &view(None)), Keep::No);
    }
}
