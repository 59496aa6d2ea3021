//! The embedded store's routing table: every tunnel record and domain claim in the
//! file, also in memory, so resolving a public request's domain to its tunnel (with
//! its policy and connection) reads no redb transaction and decodes no JSON.
//!
//! This module alone names the tunnels and domains tables, so nothing can write them
//! without going through [`Tx`], which records each row it writes; the store applies
//! what a transaction recorded once the transaction has committed, and under the
//! store's writer lock, so the memory follows the file write for write and in commit
//! order. A transaction that fails is dropped (redb aborts it) with its record, so the
//! memory never holds what the file does not. The table is as large as the two tables
//! it mirrors: one entry per tunnel and one per claim, no more.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Deref;

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use super::{backend, decode, encode};
use crate::model::{DomainRecord, TunnelRecord, expired};
use crate::store::StoreError;

const TUNNELS: TableDefinition<&str, &[u8]> = TableDefinition::new("tunnels");
const DOMAINS: TableDefinition<&str, &[u8]> = TableDefinition::new("domains");

/// The tunnels and domain claims of the file, by key.
#[derive(Debug, Default)]
pub(super) struct Routes {
    // Boxed: a tunnel record with its policy is ~450 bytes, and a map keeps room
    // for up to twice its entries.
    tunnels: HashMap<String, Box<TunnelRecord>>,
    domains: HashMap<String, DomainRecord>,
}

/// One row written by a transaction: its key and its new value (`None`: removed).
#[derive(Debug)]
enum Change {
    Tunnel(String, Option<Box<TunnelRecord>>),
    Domain(String, Option<DomainRecord>),
}

impl Routes {
    /// Creates both tables if the file is new.
    pub(super) fn create_tables(tx: &Tx) -> Result<(), StoreError> {
        tx.open_table(TUNNELS).map_err(backend)?;
        tx.open_table(DOMAINS).map_err(backend)?;
        Ok(())
    }

    /// Reads both tables of `db` (made by [`Self::create_tables`]).
    pub(super) fn load(db: &Database) -> Result<Self, StoreError> {
        let tx = db.begin_read().map_err(backend)?;
        let mut routes = Self::default();
        for row in tx
            .open_table(TUNNELS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (key, value) = row.map_err(backend)?;
            routes
                .tunnels
                .insert(key.value().to_owned(), Box::new(decode(value.value())?));
        }
        for row in tx
            .open_table(DOMAINS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (key, value) = row.map_err(backend)?;
            routes
                .domains
                .insert(key.value().to_owned(), decode(value.value())?);
        }
        Ok(routes)
    }

    /// The tunnel, unless it has expired at `now` (the rule every store applies).
    pub(super) fn tunnel(&self, tunnel_id: &str, now: u64) -> Option<TunnelRecord> {
        self.tunnels
            .get(tunnel_id)
            .filter(|t| !expired(t.expires_at, now))
            .map(|t| TunnelRecord::clone(t))
    }

    /// The domain claim, unless it has expired at `now`.
    pub(super) fn domain(&self, domain: &str, now: u64) -> Option<DomainRecord> {
        self.domains
            .get(domain)
            .filter(|d| !expired(d.expires_at, now))
            .cloned()
    }

    fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Tunnel(id, Some(t)) => {
                    self.tunnels.insert(id, t);
                }
                Change::Tunnel(id, None) => {
                    self.tunnels.remove(&id);
                }
                Change::Domain(d, Some(claim)) => {
                    self.domains.insert(d, claim);
                }
                Change::Domain(d, None) => {
                    self.domains.remove(&d);
                }
            }
        }
    }

    /// Where the memory and `db`'s file disagree, described; `None` when they agree.
    pub(super) fn difference(&self, db: &Database) -> Result<Option<String>, StoreError> {
        let file = Self::load(db)?;
        for (id, t) in &self.tunnels {
            if file.tunnels.get(id) != Some(t) {
                return Ok(Some(format!(
                    "tunnel {id}: memory {t:?}, file {:?}",
                    file.tunnels.get(id)
                )));
            }
        }
        for (d, claim) in &self.domains {
            if file.domains.get(d) != Some(claim) {
                return Ok(Some(format!(
                    "domain {d}: memory {claim:?}, file {:?}",
                    file.domains.get(d)
                )));
            }
        }
        if let Some(id) = file
            .tunnels
            .keys()
            .find(|id| !self.tunnels.contains_key(*id))
        {
            return Ok(Some(format!("tunnel {id} is in the file only")));
        }
        if let Some(d) = file.domains.keys().find(|d| !self.domains.contains_key(*d)) {
            return Ok(Some(format!("domain {d} is in the file only")));
        }
        Ok(None)
    }
}

/// A write transaction of the embedded store. Tunnel and domain rows are read and
/// written only through it, so that each row written is also recorded for the
/// routing table; other tables are opened through `Deref` as usual.
pub(super) struct Tx {
    inner: WriteTransaction,
    changes: RefCell<Vec<Change>>,
    /// Tunnels whose request log this transaction emptied.
    cleared_logs: RefCell<Vec<String>>,
}

impl Deref for Tx {
    type Target = WriteTransaction;

    fn deref(&self) -> &WriteTransaction {
        &self.inner
    }
}

impl Tx {
    pub(super) fn new(inner: WriteTransaction) -> Self {
        Self {
            inner,
            changes: RefCell::new(Vec::new()),
            cleared_logs: RefCell::new(Vec::new()),
        }
    }

    /// Commits, then applies the rows written to `routes`; answers the tunnels whose
    /// request log it emptied, for the caller to empty in memory. The caller holds
    /// the store's writer lock, so no later transaction's rows can be applied first.
    pub(super) fn commit(
        self,
        routes: &std::sync::RwLock<Routes>,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.commit().map_err(backend)?;
        routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .apply(self.changes.into_inner());
        Ok(self.cleared_logs.into_inner())
    }

    /// Notes that this transaction emptied `tunnel_id`'s request log in the file.
    pub(super) fn log_cleared(&self, tunnel_id: &str) {
        self.cleared_logs.borrow_mut().push(tunnel_id.to_owned());
    }

    /// A tunnel as this transaction sees it (expired or not).
    pub(super) fn tunnel(&self, tunnel_id: &str) -> Result<Option<TunnelRecord>, StoreError> {
        let table = self.inner.open_table(TUNNELS).map_err(backend)?;
        let row = table.get(tunnel_id).map_err(backend)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Every tunnel, as this transaction sees them.
    pub(super) fn tunnels(&self) -> Result<Vec<TunnelRecord>, StoreError> {
        let table = self.inner.open_table(TUNNELS).map_err(backend)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(backend)? {
            out.push(decode(row.map_err(backend)?.1.value())?);
        }
        Ok(out)
    }

    /// A domain claim as this transaction sees it (expired or not).
    pub(super) fn domain(&self, domain: &str) -> Result<Option<DomainRecord>, StoreError> {
        let table = self.inner.open_table(DOMAINS).map_err(backend)?;
        let row = table.get(domain).map_err(backend)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Writes a tunnel (overwrites).
    pub(super) fn put_tunnel(&self, tunnel: &TunnelRecord) -> Result<(), StoreError> {
        self.inner
            .open_table(TUNNELS)
            .map_err(backend)?
            .insert(tunnel.tunnel_id.as_str(), encode(tunnel)?.as_slice())
            .map_err(backend)?;
        self.record(Change::Tunnel(
            tunnel.tunnel_id.clone(),
            Some(Box::new(tunnel.clone())),
        ));
        Ok(())
    }

    /// Removes a tunnel's row; answers what it held.
    pub(super) fn remove_tunnel(
        &self,
        tunnel_id: &str,
    ) -> Result<Option<TunnelRecord>, StoreError> {
        let removed = {
            let mut table = self.inner.open_table(TUNNELS).map_err(backend)?;
            let row = table.remove(tunnel_id).map_err(backend)?;
            row.map(|v| decode(v.value())).transpose()?
        };
        self.record(Change::Tunnel(tunnel_id.to_owned(), None));
        Ok(removed)
    }

    /// Writes a domain claim (overwrites).
    pub(super) fn put_domain(&self, claim: &DomainRecord) -> Result<(), StoreError> {
        self.inner
            .open_table(DOMAINS)
            .map_err(backend)?
            .insert(claim.domain.as_str(), encode(claim)?.as_slice())
            .map_err(backend)?;
        self.record(Change::Domain(claim.domain.clone(), Some(claim.clone())));
        Ok(())
    }

    /// Removes a domain claim.
    pub(super) fn remove_domain(&self, domain: &str) -> Result<(), StoreError> {
        self.inner
            .open_table(DOMAINS)
            .map_err(backend)?
            .remove(domain)
            .map_err(backend)?;
        self.record(Change::Domain(domain.to_owned(), None));
        Ok(())
    }

    fn record(&self, change: Change) {
        self.changes.borrow_mut().push(change);
    }
}
