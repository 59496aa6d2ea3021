//! The `Store` port: everything the backend persists.
//!
//! Each operation is a single conditional step on every adapter, so two callers racing
//! for one domain or one tunnel can never both win.

mod embedded;

pub use embedded::{
    EXPIRY_SWEEP_INTERVAL_SECS, EmbeddedStore, LOG_MEMORY_BYTES, LOG_UNWRITTEN_BYTES,
    LOG_WRITE_BEHIND_MS,
};

use async_trait::async_trait;

use client_core::inbox::HeldRequest;
use client_core::inspect::{Exchange, ExchangeSummary, Filter};

use crate::model::{ClientRecord, ConnectionRecord, DomainRecord, TunnelRecord};

/// One page of a tunnel's request log, as a store reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    /// Matching exchanges, newest first.
    pub exchanges: Vec<ExchangeSummary>,
    /// The `request_id` to continue after, when more may match.
    pub next: Option<String>,
}

/// Which part of a tunnel's request log to read.
#[derive(Debug, Clone, Copy)]
pub struct LogQuery<'a> {
    /// The tunnel.
    pub tunnel_id: &'a str,
    /// Only exchanges older than this `request_id` (request ids sort by time).
    pub before: Option<&'a str>,
    /// Only exchanges this filter matches.
    pub filter: &'a Filter,
    /// At most this many.
    pub limit: usize,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with that key exists already (conditional write refused).
    #[error("{0} already exists")]
    Exists(&'static str),
    /// The domain is held by another tunnel.
    #[error("domain {0} is taken")]
    DomainTaken(String),
    /// The tunnel is already served by another connection.
    #[error("tunnel {0} is served by another connection")]
    TunnelInUse(String),
    /// The record to change does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The tunnel's offline inbox holds as many requests as it may.
    #[error("the inbox holds {0} requests, its limit")]
    InboxFull(u32),
    /// The backend failed (I/O, network, corrupt data).
    #[error("store backend: {0}")]
    Backend(String),
}

/// Persistence of clients, tunnels, domains and connections.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Adds a client; fails with [`StoreError::Exists`] if the id is taken.
    async fn put_client(&self, client: &ClientRecord) -> Result<(), StoreError>;

    /// Replaces a client's key hash (the old key stops working); a missing client is
    /// [`StoreError::NotFound`].
    async fn set_client_key(&self, client_id: &str, key_hash: &str) -> Result<(), StoreError>;

    /// Reads a client.
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;

    /// Claims `tunnel.domain` for `tunnel` and stores the tunnel, atomically; fails with
    /// [`StoreError::DomainTaken`] when the domain is held by a tunnel that has not
    /// expired at `now`. A claim of an expired tunnel is taken over (what the expired
    /// tunnel left is removed now or by the adapter's own expiry). The claim carries
    /// `tunnel.expires_at`.
    async fn create_tunnel(&self, tunnel: &TunnelRecord, now: u64) -> Result<(), StoreError>;

    /// Reads a tunnel; one that has expired at `now` ([`crate::model::expired`]) reads
    /// as absent, whether or not the adapter has removed it yet.
    async fn get_tunnel(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<TunnelRecord>, StoreError>;

    /// The client's tunnels that have not expired at `now`, oldest first.
    async fn list_tunnels(
        &self,
        client_id: &str,
        now: u64,
    ) -> Result<Vec<TunnelRecord>, StoreError>;

    /// Removes a tunnel and releases its domain, atomically.
    async fn delete_tunnel(&self, tunnel: &TunnelRecord) -> Result<(), StoreError>;

    /// Replaces a tunnel's access policy (`None` removes it); a missing tunnel is
    /// [`StoreError::NotFound`].
    async fn set_policy(
        &self,
        tunnel_id: &str,
        policy: Option<&crate::model::StoredPolicy>,
    ) -> Result<(), StoreError>;

    /// Reads a domain claim; a claim expired at `now` reads as absent.
    async fn get_domain(&self, domain: &str, now: u64) -> Result<Option<DomainRecord>, StoreError>;

    /// Binds `connection_id` to the tunnel unless another connection serves it
    /// ([`StoreError::TunnelInUse`]), and clears the expiry of the tunnel and of its
    /// domain claim (an active tunnel does not expire); a missing tunnel, or one
    /// expired at `now`, is [`StoreError::NotFound`].
    async fn attach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        now: u64,
    ) -> Result<(), StoreError>;

    /// Unbinds `connection_id` from the tunnel if it is still the one serving it; the
    /// tunnel and its domain claim then expire at `expires_at`.
    async fn detach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError>;

    /// Records a live connection (overwrites).
    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError>;

    /// Reads a connection.
    async fn get_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError>;

    /// Forgets a connection.
    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError>;

    /// Appends exchanges to their tunnels' request logs. Each log keeps at most `keep`
    /// exchanges where the adapter bounds by count (the embedded store drops the oldest);
    /// an adapter that bounds by age instead (DynamoDB's TTL) may keep more. Taken by
    /// value: the log keeps them, and a captured body can be a mebibyte to copy.
    async fn put_exchanges(&self, exchanges: Vec<Exchange>, keep: usize) -> Result<(), StoreError>;

    /// True when [`Self::put_exchanges`] bounds each log by count (`keep`); false when
    /// the adapter bounds it by age instead.
    fn bounds_log_by_count(&self) -> bool {
        true
    }

    /// Reads one exchange of `tunnel_id`'s log by its request id; an exchange of
    /// another tunnel reads as absent. The tunnel is part of the lookup so that a
    /// store may key its log on (tunnel, request) and need no index by request id.
    async fn get_exchange(
        &self,
        tunnel_id: &str,
        request_id: &str,
    ) -> Result<Option<Exchange>, StoreError>;

    /// Reads a page of a tunnel's log, newest first.
    async fn list_exchanges(&self, query: LogQuery<'_>) -> Result<LogPage, StoreError>;

    /// How many exchanges a tunnel's log holds now.
    async fn count_exchanges(&self, tunnel_id: &str) -> Result<u64, StoreError>;

    /// Empties a tunnel's log.
    async fn clear_exchanges(&self, tunnel_id: &str) -> Result<(), StoreError>;

    /// Appends `request` to its tunnel's offline inbox and returns the arrival number
    /// it was given (`request.seq` is ignored): 1 for a tunnel's first, then each one
    /// higher than any before it, so taking in `seq` order is taking in arrival order.
    /// Refused with [`StoreError::InboxFull`] when the inbox holds `max` requests that
    /// have not expired (`expires_at > now`); expired ones never count.
    async fn hold_request(
        &self,
        request: &HeldRequest,
        max: u32,
        now: u64,
    ) -> Result<u64, StoreError>;

    /// Removes and returns the tunnel's oldest held request that has not expired;
    /// `None` when there is none. Two callers never get the same request.
    async fn take_held(&self, tunnel_id: &str, now: u64)
    -> Result<Option<HeldRequest>, StoreError>;

    /// How many unexpired requests the tunnel's inbox holds.
    async fn count_held(&self, tunnel_id: &str, now: u64) -> Result<u64, StoreError>;

    /// How many read transactions the adapter has begun, where it counts them (the
    /// embedded store does, for `/metrics`).
    fn read_transactions(&self) -> Option<u64> {
        None
    }
}

pub mod contract;
