//! create-tunnel, list-tunnels, delete-tunnel.

use client_core::api::{ApiErrorCode, CreateTunnel, Tunnel, TunnelStatus, UpdateTunnel};
use client_core::domain::{random_subdomain, validate_subdomain};
use client_core::policy::Policy;
use client_core::protocol::{ErrorCode, ErrorFrame, ServerFrame, encode};
use rand::RngCore;

use super::policy;
use super::{ApiFailure, Caller};
use crate::Backend;
use crate::auth;
use crate::model::{StoredPolicy, TunnelRecord};
use crate::store::StoreError;

/// Random names tried before giving up; each has 2^32 choices, so more than one
/// collision in a row means the name space is nearly full.
pub const RANDOM_DOMAIN_ATTEMPTS: usize = 8;

/// Random bytes in a tunnel id.
pub const TUNNEL_ID_BYTES: usize = 10;

/// A tunnel record as the API shows it, with `request_count` exchanges in its log.
pub fn view(b: &Backend, t: &TunnelRecord, request_count: u64) -> Tunnel {
    Tunnel {
        tunnel_id: t.tunnel_id.clone(),
        domain: t.domain.clone(),
        public_url: b.config.public.url_for(&t.domain),
        status: if t.connection_id.is_some() {
            TunnelStatus::Online
        } else {
            TunnelStatus::Offline
        },
        created_at: t.created_at,
        request_count,
        redact_secrets: t.redact_secrets,
        policy: t.policy.as_ref().map(policy::summary),
        expires_at: t.expires_at,
    }
}

/// The stored form of a requested policy, or 400 saying what is wrong with it.
fn stored_policy(p: Option<&Policy>) -> Result<Option<StoredPolicy>, ApiFailure> {
    match p {
        None => Ok(None),
        Some(p) => policy::to_stored(p).map_err(|e| ApiFailure::invalid_policy(&e)),
    }
}

/// [`view`] with the log's size read from the store.
pub async fn describe(b: &Backend, t: &TunnelRecord) -> Result<Tunnel, ApiFailure> {
    let count = b.store.count_exchanges(&t.tunnel_id).await?;
    Ok(view(b, t, count))
}

/// Whether [`create_tunnel`] made a new tunnel or handed back the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new tunnel.
    New,
    /// The caller's inactive tunnel that already held the domain (a restarted CLI),
    /// with its policy, inbox and log.
    Resumed,
}

/// Creates a tunnel on the requested domain, or a random one.
///
/// A domain held by one of the caller's own tunnels that no client serves is handed
/// back, so `tunnel start --domain x` works again after the CLI stopped or was killed;
/// the policy it asks for is merged into the stored one ([`policy::overlay`]), so a
/// restart without flags keeps the protection set earlier. A new tunnel is inactive
/// until a client attaches, so one created and never served expires too.
pub async fn create_tunnel(
    b: &Backend,
    caller: &Caller,
    req: CreateTunnel,
    now: u64,
) -> Result<(Tunnel, Created), ApiFailure> {
    let requested = req.domain.map(|d| d.trim().to_owned());
    if let Some(d) = &requested {
        validate_subdomain(d)
            .map_err(|e| ApiFailure::new(400, ApiErrorCode::InvalidDomain, e.to_string()))?;
    }
    let stored = stored_policy(req.policy.as_ref())?;
    let attempts = if requested.is_some() {
        1
    } else {
        RANDOM_DOMAIN_ATTEMPTS
    };
    for _ in 0..attempts {
        let domain = requested
            .clone()
            .unwrap_or_else(|| random_subdomain(rand::rngs::OsRng.next_u64()));
        let record = TunnelRecord {
            tunnel_id: auth::random_id(TUNNEL_ID_BYTES),
            client_id: caller.client_id.clone(),
            domain: domain.clone(),
            created_at: now,
            connection_id: None,
            redact_secrets: req.redact_secrets.unwrap_or(true),
            policy: stored.clone(),
            expires_at: Some(b.config.inactive_until(now)),
        };
        match b.store.create_tunnel(&record, now).await {
            Ok(()) => {
                tracing::info!(client_id = %caller.client_id, tunnel_id = %record.tunnel_id, %domain, "tunnel created");
                return Ok((view(b, &record, 0), Created::New));
            }
            Err(StoreError::DomainTaken(_)) if requested.is_some() => {
                return resume_own(b, caller, &domain, stored, now).await;
            }
            Err(StoreError::DomainTaken(_) | StoreError::Exists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiFailure::new(
        503,
        ApiErrorCode::Internal,
        "could not find a free random domain; try again or pick one with --domain",
    ))
}

async fn resume_own(
    b: &Backend,
    caller: &Caller,
    domain: &str,
    policy: Option<StoredPolicy>,
    now: u64,
) -> Result<(Tunnel, Created), ApiFailure> {
    let taken = || {
        ApiFailure::new(
            409,
            ApiErrorCode::DomainTaken,
            format!("domain {domain:?} is taken; choose another name with --domain"),
        )
    };
    let Some(claim) = b.store.get_domain(domain, now).await? else {
        // Released between our write and this read: let the caller simply retry.
        return Err(taken());
    };
    if claim.client_id != caller.client_id {
        return Err(taken());
    }
    match b.store.get_tunnel(&claim.tunnel_id, now).await? {
        Some(mut t) if t.connection_id.is_none() => {
            // A restart without flags keeps the protection set earlier (in the
            // console, by PATCH or by the last run's flags); flags replace only the
            // settings they name. Dropping a check is `tunnel policy`'s job, asked
            // for by name, never a side effect of a restart.
            let merged = policy::overlay(t.policy.clone(), policy);
            if t.policy != merged {
                b.store.set_policy(&t.tunnel_id, merged.as_ref()).await?;
                t.policy = merged;
            }
            Ok((describe(b, &t).await?, Created::Resumed))
        }
        Some(t) => Err(ApiFailure::new(
            409,
            ApiErrorCode::DomainTaken,
            format!(
                "domain {domain:?} is served by your tunnel {} from another running `tunnel start`; stop that one first (`tunnel stop {}`)",
                t.tunnel_id, t.tunnel_id
            ),
        )),
        None => Err(taken()),
    }
}

/// The caller's tunnels at `now` (expired ones are gone), oldest first.
pub async fn list_tunnels(
    b: &Backend,
    caller: &Caller,
    now: u64,
) -> Result<Vec<Tunnel>, ApiFailure> {
    let records = b.store.list_tunnels(&caller.client_id, now).await?;
    let mut out = Vec::with_capacity(records.len());
    for t in &records {
        out.push(describe(b, t).await?);
    }
    Ok(out)
}

/// One of the caller's tunnels, unless it has expired at `now`.
pub async fn get_tunnel(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    now: u64,
) -> Result<TunnelRecord, ApiFailure> {
    match b.store.get_tunnel(tunnel_id, now).await? {
        Some(t) if t.client_id == caller.client_id => Ok(t),
        _ => Err(ApiFailure::not_found("tunnel", tunnel_id)),
    }
}

/// Changes the access policy of one of the caller's tunnels field by field
/// ([`policy::merge`] over the stored one). It applies from the next public request
/// on, on either backend (the ingress reads the tunnel record for every request).
pub async fn update_tunnel(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    req: UpdateTunnel,
    now: u64,
) -> Result<Tunnel, ApiFailure> {
    let mut t = get_tunnel(b, caller, tunnel_id, now).await?;
    let merged =
        policy::merge(t.policy.as_ref(), req.policy).map_err(|e| ApiFailure::invalid_policy(&e))?;
    // A read, a merge, a write: two owners patching one tunnel at the same instant
    // may each undo the other's field (the last write wins, as before merging).
    if merged != t.policy {
        match b.store.set_policy(tunnel_id, merged.as_ref()).await {
            Ok(()) => {}
            Err(StoreError::NotFound(_)) => {
                return Err(ApiFailure::not_found("tunnel", tunnel_id));
            }
            Err(e) => return Err(e.into()),
        }
        // Which checks are on is worth a log line; what they hold never is.
        tracing::info!(client_id = %caller.client_id, tunnel_id, policy = merged.is_some(), "tunnel policy set");
    }
    t.policy = merged;
    describe(b, &t).await
}

/// Deletes one of the caller's tunnels, releasing its domain. A client serving it is
/// told (ERROR `unknown_tunnel`), so it stops instead of reconnecting.
pub async fn delete_tunnel(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    now: u64,
) -> Result<(), ApiFailure> {
    let t = get_tunnel(b, caller, tunnel_id, now).await?;
    match b.store.delete_tunnel(&t).await {
        Ok(()) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(client_id = %caller.client_id, tunnel_id, domain = %t.domain, "tunnel deleted");
    if let Some(conn) = &t.connection_id {
        let frame = ServerFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::UnknownTunnel,
            message: format!("tunnel {tunnel_id} ({}) was stopped", t.domain),
            reply_to: None,
            secret: None,
        });
        if let Ok(m) = encode(&frame) {
            // Best effort: a client that is already gone needs no telling.
            let _ = b.connections.send(conn, m).await;
        }
    }
    // The log goes with its tunnel, after the client was told (a long log takes a
    // while to clear); a failure leaves only records no route can reach (on DynamoDB
    // their TTL removes them).
    if let Err(e) = b.store.clear_exchanges(&t.tunnel_id).await {
        tracing::warn!(tunnel_id, error = %e, "could not clear the deleted tunnel's request log");
    }
    Ok(())
}
