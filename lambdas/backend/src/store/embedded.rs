//! The store of the local stack: one redb file under the data dir.
//!
//! redb commits are durable (fsync) and atomic, so a `kill -9` loses at most the write
//! in flight, never half of one. Each trait operation is one write transaction, which
//! redb runs one at a time: that serialisation is what makes the conditional writes
//! (domain claims, connection binding) race-free. Operations are short, so they run
//! inline on the caller's task.
//!
//! Tunnel records and domain claims are also kept in memory ([`routes`]), updated by
//! every write that changes them, so reading them (every public request does) costs
//! no transaction.
//!
//! The request log lives in memory ([`memlog`]) and is written to the file behind it
//! ([`logfile`], in [`log_codec`]'s compact encoding): recording an exchange costs a
//! map insert, not a transaction. What a crash can lose is the last
//! [`LOG_WRITE_BEHIND_MS`] of the log; a clean close ([`EmbeddedStore::flush_log`],
//! or dropping the store) loses nothing.

mod body_rate;
mod inbox;
mod lifecycle;
mod log_codec;
mod log_migrate;
mod logfile;
mod memlog;
mod routes;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use client_core::inbox::HeldRequest;
use client_core::inspect::Exchange;
use redb::{Database, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{LogPage, LogQuery, Store, StoreError};
use crate::model::{ClientRecord, ConnectionRecord, DomainRecord, TunnelRecord, expired};
use inbox::{INBOX, INBOX_SEQ};
pub use lifecycle::EXPIRY_SWEEP_INTERVAL_SECS;
use lifecycle::{clear_log, index_key, purge, set_claim_expiry};
use memlog::{Lookup, MemLog};
use routes::{Routes, Tx};

const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
// The tunnels and domains tables are `routes`' own.
const CONNECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("connections");
/// Index of a client's tunnels: `client_id/created_at/tunnel_id`, ordered by creation.
const CLIENT_TUNNELS: TableDefinition<&str, ()> = TableDefinition::new("client_tunnels");

// The request log's table is `logfile`'s own.

// The offline inboxes' tables are `inbox`'s own.

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "tunnel.redb";

/// How far the request log in the file may lag the log in memory: its writer writes
/// (durably) once per this window. A crash loses at most this much of the log, never
/// a tunnel or a key; a clean close loses nothing. An exchange pushed out of its log
/// within the window is never written, so a busy tunnel costs the file at most `keep`
/// rows per window.
pub const LOG_WRITE_BEHIND_MS: u64 = 1000;

/// Bytes of whole exchanges (headers and captured bodies) the request log keeps in
/// memory once they are in the file. Past it, the oldest keep only their summary in
/// memory and are read from the file when shown. Those not yet written stay whole
/// whatever this says; reaching it makes the writer write at once. 8 MiB (16 before)
/// and the halved [`LOG_UNWRITTEN_BYTES`], with the smaller [`CACHE_BYTES`], took the
/// server's peak under load from 78 to 54 MiB at the same CPU (docs/benchmarks.md,
/// "Server tail and memory").
pub const LOG_MEMORY_BYTES: usize = 8 * 1024 * 1024;

/// Bytes of whole exchanges the request log holds before they are in the file (a
/// write-behind window's worth, or more when the file is slower than the traffic).
/// Past it, a new exchange is kept without its bodies (sizes kept, marked truncated),
/// as the inspector's queue does: the soak test's 2 MB bodies at full speed held
/// 280 MiB here without it. It also bounds one write's transaction.
pub const LOG_UNWRITTEN_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of captured bodies a second the request log writes to its file. Past it an
/// exchange is written without its bodies (sizes kept, marked truncated), newest
/// first keeping theirs; the log in memory still shows them whole while it holds them
/// ([`LOG_MEMORY_BYTES`]). Bodies cost the file far more than records: 10 MiB POSTs at
/// full speed wrote 24 MiB of them a second, a third of the server's CPU
/// (docs/benchmarks.md). Small requests never come near it: a full log of 1 KiB
/// exchanges, written each window, is under 1 MiB.
pub const LOG_FILE_BODY_BYTES_PER_SEC: u64 = 4 * 1024 * 1024;

/// redb's page cache. Its default (1 GiB) grows with the request log's bodies. The
/// routing table and the log in memory answer every hot read, so the cache serves
/// only the log's writes and reads of exchanges shed past [`LOG_MEMORY_BYTES`]: at
/// 32 MiB it held about 14 MiB more of the server's peak under `bench/profile.sh
/// load` (docs/benchmarks.md, "Server tail and memory").
pub const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The embedded [`Store`].
#[derive(Debug)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Every tunnel and domain claim of the file.
    routes: RwLock<Routes>,
    /// Held from a write transaction's start until its rows are in `routes` and the
    /// request logs it cleared are cleared in memory, so changes reach memory in
    /// commit order (redb orders the commits themselves).
    writer: Arc<Mutex<()>>,
    /// Read transactions begun, for `/metrics`.
    read_transactions: AtomicU64,
    /// The request log, in memory.
    log: Arc<logfile::Shared>,
    /// Writes the log to the file behind it; on drop, writes what is owed and stops.
    _log_writer: logfile::Writer,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(backend)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Backend(format!("corrupt record: {e}")))
}

fn log_key(tunnel_id: &str, request_id: &str) -> String {
    format!("{tunnel_id}/{request_id}")
}

/// The key range of one tunnel's log ('/' + 1 == '0').
fn log_range(tunnel_id: &str) -> (String, String) {
    (format!("{tunnel_id}/"), format!("{tunnel_id}0"))
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        let tx = Tx::new(db.begin_write().map_err(backend)?);
        Routes::create_tables(&tx)?;
        tx.open_table(CLIENTS).map_err(backend)?;
        tx.open_table(CONNECTIONS).map_err(backend)?;
        tx.open_table(CLIENT_TUNNELS).map_err(backend)?;
        tx.open_table(logfile::LOG).map_err(backend)?;
        tx.open_table(INBOX).map_err(backend)?;
        tx.open_table(INBOX_SEQ).map_err(backend)?;
        let moved = log_migrate::migrate(&tx)?;
        let routes = RwLock::default();
        tx.commit(&routes)?;
        if let Some(moved) = moved {
            tracing::info!(
                exchanges = moved.exchanges,
                unreadable = moved.unreadable,
                "request log moved to the compact format of this version"
            );
        }
        *routes.write().unwrap_or_else(PoisonError::into_inner) = Routes::load(&db)?;
        let mut log = MemLog::new(LOG_MEMORY_BYTES, LOG_UNWRITTEN_BYTES)
            .with_body_rate(LOG_FILE_BODY_BYTES_PER_SEC);
        let unreadable = logfile::load(&db, &mut log)?;
        if unreadable > 0 {
            tracing::warn!(
                rows = unreadable,
                "request log rows that cannot be read are left out of the log"
            );
        }
        let db = Arc::new(db);
        let writer = Arc::new(Mutex::new(()));
        let log = Arc::new(logfile::Shared::new(log));
        let log_writer = logfile::Writer::start(db.clone(), writer.clone(), log.clone())?;
        Ok(Self {
            db,
            routes,
            writer,
            read_transactions: AtomicU64::new(0),
            log,
            _log_writer: log_writer,
        })
    }

    /// How many exchanges of a tunnel's log the file holds now; the rest are in
    /// memory only, for at most [`LOG_WRITE_BEHIND_MS`]. For tests.
    pub fn logged_in_file(&self, tunnel_id: &str) -> Result<u64, StoreError> {
        logfile::count(&self.begin_read()?, tunnel_id)
    }

    /// Writes the request log to the file now (what its writer would write at the
    /// end of the window). tunnel-server calls it on a clean shutdown; dropping the
    /// store does it too.
    pub fn flush_log(&self) -> Result<usize, StoreError> {
        logfile::flush(&self.db, &self.writer, &self.log)
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many read transactions this store has begun. A public request through a
    /// tunnel begins none: it reads the routing table.
    pub fn read_transactions(&self) -> u64 {
        self.read_transactions.load(Ordering::Relaxed)
    }

    /// Checks that the in-memory tunnels and domain claims are exactly the file's;
    /// the error names the first row that differs. For tests: a write path that
    /// changed the file without the routing table fails it.
    pub fn check_routes(&self) -> Result<(), StoreError> {
        // No write may be between its commit and its update of the table meanwhile.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        match self.routes().difference(&self.db)? {
            None => Ok(()),
            Some(why) => Err(StoreError::Backend(format!(
                "the routing table disagrees with the file: {why}"
            ))),
        }
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.read_transactions.fetch_add(1, Ordering::Relaxed);
        self.db.begin_read().map_err(backend)
    }

    fn write<T>(&self, f: impl FnOnce(&Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = Tx::new(self.db.begin_write().map_err(backend)?);
        // On error the transaction is dropped, which aborts it, with the rows it
        // recorded for the routing table.
        let out = f(&tx)?;
        for tunnel_id in tx.commit(&self.routes)? {
            self.log.with(|log| log.clear(&tunnel_id));
        }
        Ok(out)
    }

    fn read<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(table).map_err(backend)?;
        match t.get(key).map_err(backend)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    fn update_tunnel(
        &self,
        tunnel_id: &str,
        f: impl FnOnce(&mut TunnelRecord) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let Some(mut tunnel) = tx.tunnel(tunnel_id)? else {
                return Err(StoreError::NotFound("tunnel"));
            };
            if f(&mut tunnel)? {
                tx.put_tunnel(&tunnel)?;
            }
            Ok(())
        })
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn put_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut t = tx.open_table(CLIENTS).map_err(backend)?;
            if t.get(client.client_id.as_str()).map_err(backend)?.is_some() {
                return Err(StoreError::Exists("client"));
            }
            t.insert(client.client_id.as_str(), encode(client)?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
    }

    async fn set_client_key(&self, client_id: &str, key_hash: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut t = tx.open_table(CLIENTS).map_err(backend)?;
            let mut client: ClientRecord = match t.get(client_id).map_err(backend)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound("client")),
            };
            client.key_hash = key_hash.to_owned();
            t.insert(client_id, encode(&client)?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.read(CLIENTS, client_id)
    }

    async fn create_tunnel(&self, tunnel: &TunnelRecord, now: u64) -> Result<(), StoreError> {
        self.write(|tx| {
            if let Some(claim) = tx.domain(&tunnel.domain)? {
                if !expired(claim.expires_at, now) {
                    return Err(StoreError::DomainTaken(tunnel.domain.clone()));
                }
                // The expired tunnel that held it goes now, with what it kept.
                match purge(tx, &claim.tunnel_id) {
                    Ok(_) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
                tx.remove_domain(&tunnel.domain)?;
            }
            if tx.tunnel(&tunnel.tunnel_id)?.is_some() {
                return Err(StoreError::Exists("tunnel"));
            }
            tx.put_domain(&DomainRecord {
                domain: tunnel.domain.clone(),
                tunnel_id: tunnel.tunnel_id.clone(),
                client_id: tunnel.client_id.clone(),
                expires_at: tunnel.expires_at,
            })?;
            tx.put_tunnel(tunnel)?;
            tx.open_table(CLIENT_TUNNELS)
                .map_err(backend)?
                .insert(index_key(tunnel).as_str(), ())
                .map_err(backend)?;
            Ok(())
        })
    }

    async fn get_tunnel(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<TunnelRecord>, StoreError> {
        Ok(self.routes().tunnel(tunnel_id, now))
    }

    async fn list_tunnels(
        &self,
        client_id: &str,
        now: u64,
    ) -> Result<Vec<TunnelRecord>, StoreError> {
        let tx = self.begin_read()?;
        let index = tx.open_table(CLIENT_TUNNELS).map_err(backend)?;
        let tunnels = self.routes();
        // '/' + 1 == '0': the range covers exactly the keys starting with "client_id/".
        let (start, end) = (format!("{client_id}/"), format!("{client_id}0"));
        let mut out = Vec::new();
        for row in index.range(start.as_str()..end.as_str()).map_err(backend)? {
            let (key, _) = row.map_err(backend)?;
            let Some(tunnel_id) = key.value().rsplit('/').next().map(str::to_owned) else {
                continue;
            };
            // The index and the table change in one write, which `routes` shows
            // only once committed: a tunnel created meanwhile may be missing here,
            // as it would be from a read begun a moment earlier.
            if let Some(t) = tunnels.tunnel(&tunnel_id, now) {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn delete_tunnel(&self, tunnel: &TunnelRecord) -> Result<(), StoreError> {
        self.write(|tx| purge(tx, &tunnel.tunnel_id).map(|_| ()))
    }

    async fn get_domain(&self, domain: &str, now: u64) -> Result<Option<DomainRecord>, StoreError> {
        Ok(self.routes().domain(domain, now))
    }

    async fn set_policy(
        &self,
        tunnel_id: &str,
        policy: Option<&crate::model::StoredPolicy>,
    ) -> Result<(), StoreError> {
        self.update_tunnel(tunnel_id, |t| {
            t.policy = policy.cloned();
            Ok(true)
        })
    }

    async fn attach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let Some(mut t) = tx.tunnel(tunnel_id)? else {
                return Err(StoreError::NotFound("tunnel"));
            };
            if expired(t.expires_at, now) {
                return Err(StoreError::NotFound("tunnel"));
            }
            if t.connection_id
                .as_deref()
                .is_some_and(|c| c != connection_id)
            {
                return Err(StoreError::TunnelInUse(tunnel_id.to_owned()));
            }
            t.connection_id = Some(connection_id.to_owned());
            t.expires_at = None;
            tx.put_tunnel(&t)?;
            set_claim_expiry(tx, &t, None)
        })
    }

    async fn detach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            // The tunnel was deleted while connected: nothing left to detach.
            let Some(mut t) = tx.tunnel(tunnel_id)? else {
                return Ok(());
            };
            if t.connection_id.as_deref() != Some(connection_id) {
                return Ok(());
            }
            t.connection_id = None;
            t.expires_at = Some(expires_at);
            tx.put_tunnel(&t)?;
            set_claim_expiry(tx, &t, Some(expires_at))
        })
    }

    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.open_table(CONNECTIONS)
                .map_err(backend)?
                .insert(
                    connection.connection_id.as_str(),
                    encode(connection)?.as_slice(),
                )
                .map_err(backend)?;
            Ok(())
        })
    }

    async fn get_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.read(CONNECTIONS, connection_id)
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.open_table(CONNECTIONS)
                .map_err(backend)?
                .remove(connection_id)
                .map_err(backend)?;
            Ok(())
        })
    }

    async fn put_exchanges(&self, exchanges: Vec<Exchange>, keep: usize) -> Result<(), StoreError> {
        self.log.put(exchanges, keep);
        Ok(())
    }

    async fn get_exchange(
        &self,
        tunnel_id: &str,
        request_id: &str,
    ) -> Result<Option<Exchange>, StoreError> {
        match self.log.with(|log| log.get(tunnel_id, request_id)) {
            Lookup::Whole(x) => Ok(Some(Exchange::clone(&x))),
            Lookup::InFile => logfile::read(&self.begin_read()?, tunnel_id, request_id),
            Lookup::Absent => Ok(None),
        }
    }

    async fn list_exchanges(&self, q: LogQuery<'_>) -> Result<LogPage, StoreError> {
        Ok(self
            .log
            .with(|log| log.list(q.tunnel_id, q.before, q.filter, q.limit)))
    }

    async fn count_exchanges(&self, tunnel_id: &str) -> Result<u64, StoreError> {
        Ok(self.log.with(|log| log.count(tunnel_id)) as u64)
    }

    async fn clear_exchanges(&self, tunnel_id: &str) -> Result<(), StoreError> {
        self.write(|tx| clear_log(tx, tunnel_id))
    }

    async fn hold_request(
        &self,
        request: &HeldRequest,
        max: u32,
        now: u64,
    ) -> Result<u64, StoreError> {
        inbox::hold(self, request, max, now)
    }

    async fn take_held(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<HeldRequest>, StoreError> {
        inbox::take(self, tunnel_id, now)
    }

    async fn count_held(&self, tunnel_id: &str, now: u64) -> Result<u64, StoreError> {
        inbox::count(self, tunnel_id, now)
    }

    fn read_transactions(&self) -> Option<u64> {
        Some(EmbeddedStore::read_transactions(self))
    }
}
