//! A tunnel's life in the file past its creation: its domain claim made to expire
//! with it while no client serves it, every connection forgotten when the process
//! starts, expired tunnels swept, and a tunnel removed with all it holds.

use super::inbox::{INBOX, INBOX_SEQ};
use super::routes::Tx;
use super::{CLIENT_TUNNELS, CONNECTIONS, EmbeddedStore, backend, log_range, logfile};
use crate::model::{DomainRecord, TunnelRecord, expired};
use crate::store::StoreError;

/// How often tunnel-server removes expired tunnels ([`EmbeddedStore::sweep_expired`]).
pub const EXPIRY_SWEEP_INTERVAL_SECS: u64 = 3600;

/// Sets the expiry on `tunnel`'s domain claim, if the claim is still its own.
pub(super) fn set_claim_expiry(
    tx: &Tx,
    tunnel: &TunnelRecord,
    expires_at: Option<u64>,
) -> Result<(), StoreError> {
    let Some(claim) = tx.domain(&tunnel.domain)? else {
        return Ok(());
    };
    if claim.tunnel_id == tunnel.tunnel_id && claim.expires_at != expires_at {
        tx.put_domain(&DomainRecord {
            expires_at,
            ..claim
        })?;
    }
    Ok(())
}

/// Removes tunnel `tunnel_id` and everything it holds: its record, its place in its
/// client's index, its domain claim (if still its own), its inbox and its request log.
/// A missing tunnel is [`StoreError::NotFound`].
pub(super) fn purge(tx: &Tx, tunnel_id: &str) -> Result<TunnelRecord, StoreError> {
    let Some(tunnel) = tx.remove_tunnel(tunnel_id)? else {
        return Err(StoreError::NotFound("tunnel"));
    };
    if tx
        .domain(&tunnel.domain)?
        .is_some_and(|claim| claim.tunnel_id == tunnel.tunnel_id)
    {
        tx.remove_domain(&tunnel.domain)?;
    }
    tx.open_table(CLIENT_TUNNELS)
        .map_err(backend)?
        .remove(index_key(&tunnel).as_str())
        .map_err(backend)?;
    // What it held goes with it: nobody can take it any more.
    let (start, end) = log_range(tunnel_id);
    tx.open_table(INBOX)
        .map_err(backend)?
        .retain_in(start.as_str()..end.as_str(), |_, _| false)
        .map_err(backend)?;
    tx.open_table(INBOX_SEQ)
        .map_err(backend)?
        .remove(tunnel_id)
        .map_err(backend)?;
    clear_log(tx, tunnel_id)?;
    Ok(tunnel)
}

/// Empties one tunnel's request log: its rows now, its memory once `tx` commits.
pub(super) fn clear_log(tx: &Tx, tunnel_id: &str) -> Result<(), StoreError> {
    logfile::clear(tx, tunnel_id)?;
    tx.log_cleared(tunnel_id);
    Ok(())
}

pub(super) fn index_key(tunnel: &TunnelRecord) -> String {
    format!(
        "{}/{:020}/{}",
        tunnel.client_id, tunnel.created_at, tunnel.tunnel_id
    )
}

impl EmbeddedStore {
    /// Forgets every connection. A process that just started has none, whatever the
    /// file says (it may have been killed with clients attached): each tunnel that was
    /// attached goes inactive and expires at `expires_at`.
    pub fn detach_all(&self, expires_at: u64) -> Result<(), StoreError> {
        self.write(|tx| {
            for mut t in tx.tunnels()? {
                if t.connection_id.is_none() {
                    continue;
                }
                t.connection_id = None;
                t.expires_at = Some(expires_at);
                tx.put_tunnel(&t)?;
                set_claim_expiry(tx, &t, Some(expires_at))?;
            }
            let mut connections = tx.open_table(CONNECTIONS).map_err(backend)?;
            connections.retain(|_, _| false).map_err(backend)?;
            Ok(())
        })
    }

    /// Removes every tunnel expired at `now`, with its domain claim, inbox and request
    /// log; answers how many. tunnel-server runs it periodically
    /// ([`EXPIRY_SWEEP_INTERVAL_SECS`]); reads ignore expired tunnels in between.
    pub fn sweep_expired(&self, now: u64) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut gone = 0;
            for t in tx.tunnels()? {
                if expired(t.expires_at, now) {
                    purge(tx, &t.tunnel_id)?;
                    gone += 1;
                }
            }
            Ok(gone)
        })
    }
}
