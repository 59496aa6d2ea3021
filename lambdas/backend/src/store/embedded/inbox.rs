//! The embedded store's offline inboxes: `tunnel_id/<seq, 20 digits>` to the
//! [`HeldRequest`] (JSON), so one tunnel's inbox is one key range in arrival order,
//! and the last arrival number given out per tunnel.

use client_core::inbox::HeldRequest;
use redb::{ReadableTable, TableDefinition};

use super::{EmbeddedStore, backend, decode, encode, log_range};
use crate::store::StoreError;

/// Offline inboxes: `tunnel_id/<seq, 20 digits>` to the [`HeldRequest`].
pub(super) const INBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("inbox");
/// The last arrival number given out per tunnel (never reused, even once taken).
pub(super) const INBOX_SEQ: TableDefinition<&str, u64> = TableDefinition::new("inbox_seq");

/// See [`Store::hold_request`](crate::store::Store::hold_request).
pub(super) fn hold(
    store: &EmbeddedStore,
    request: &HeldRequest,
    max: u32,
    now: u64,
) -> Result<u64, StoreError> {
    store.write(|tx| {
        let mut inbox = tx.open_table(INBOX).map_err(backend)?;
        let held = held_in(&inbox, &request.tunnel_id, now)?;
        for key in &held.expired {
            inbox.remove(key.as_str()).map_err(backend)?;
        }
        if held.live.len() >= max as usize {
            return Err(StoreError::InboxFull(max));
        }
        let mut seqs = tx.open_table(INBOX_SEQ).map_err(backend)?;
        let seq = seqs
            .get(request.tunnel_id.as_str())
            .map_err(backend)?
            .map_or(0, |v| v.value())
            + 1;
        seqs.insert(request.tunnel_id.as_str(), seq)
            .map_err(backend)?;
        let mut stored = request.clone();
        stored.seq = seq;
        inbox
            .insert(
                inbox_key(&request.tunnel_id, seq).as_str(),
                encode(&stored)?.as_slice(),
            )
            .map_err(backend)?;
        Ok(seq)
    })
}

/// See [`Store::take_held`](crate::store::Store::take_held).
pub(super) fn take(
    store: &EmbeddedStore,
    tunnel_id: &str,
    now: u64,
) -> Result<Option<HeldRequest>, StoreError> {
    store.write(|tx| {
        let mut inbox = tx.open_table(INBOX).map_err(backend)?;
        let mut held = held_in(&inbox, tunnel_id, now)?;
        for key in &held.expired {
            inbox.remove(key.as_str()).map_err(backend)?;
        }
        if held.live.is_empty() {
            return Ok(None);
        }
        let (key, request) = held.live.swap_remove(0);
        inbox.remove(key.as_str()).map_err(backend)?;
        Ok(Some(request))
    })
}

/// See [`Store::count_held`](crate::store::Store::count_held).
pub(super) fn count(store: &EmbeddedStore, tunnel_id: &str, now: u64) -> Result<u64, StoreError> {
    let tx = store.begin_read()?;
    let inbox = tx.open_table(INBOX).map_err(backend)?;
    Ok(held_in(&inbox, tunnel_id, now)?.live.len() as u64)
}

fn inbox_key(tunnel_id: &str, seq: u64) -> String {
    format!("{tunnel_id}/{seq:020}")
}

/// One tunnel's inbox as read: the live requests in arrival order, and the keys of the
/// expired ones (bounded by the inbox limit, so reading all of it is cheap).
struct Held {
    live: Vec<(String, HeldRequest)>,
    expired: Vec<String>,
}

fn held_in(
    inbox: &impl ReadableTable<&'static str, &'static [u8]>,
    tunnel_id: &str,
    now: u64,
) -> Result<Held, StoreError> {
    let (start, end) = log_range(tunnel_id);
    let mut held = Held {
        live: Vec::new(),
        expired: Vec::new(),
    };
    for row in inbox.range(start.as_str()..end.as_str()).map_err(backend)? {
        let (key, value) = row.map_err(backend)?;
        let request: HeldRequest = decode(value.value())?;
        if request.expires_at > now {
            held.live.push((key.value().to_owned(), request));
        } else {
            held.expired.push(key.value().to_owned());
        }
    }
    Ok(held)
}
