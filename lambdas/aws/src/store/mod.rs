//! [`DynamoStore`]: the [`Store`] port on DynamoDB.
//!
//! Every operation is one conditional request (or one transaction), so the rules the
//! embedded store gets from redb's serialised transactions hold here by DynamoDB's
//! conditions: two tunnels never hold one domain, two connections never serve one
//! tunnel. Reads of tables are strongly consistent; the one read through an index
//! ([`Store::list_tunnels`]) cannot be, and is used for listings and to find which of
//! a client's tunnels holds a request (a tunnel has carried traffic before anyone asks
//! for its requests, so the index has long caught up).
//!
//! The request log is one partition per tunnel; each item holds its exchange, or names
//! its object in the log bucket when the exchange is too large ([`log_bucket`]).
//!
//! The offline inbox is the exception: holding a request is a conditional counter
//! update then a put, and taking one a conditional delete then a counter update. The
//! counter (on each tunnel's `seq = 0` item) is what makes the limit one conditional
//! write instead of a count per request. It errs high (a request is counted before
//! it is stored and uncounted after it is removed; TTL deletions uncount nothing), and
//! a high count is set right by counting the items when it refuses, at most once
//! until the soonest expiry that count found (so a burst at a full inbox does not read
//! it per request; a request held since with a shorter TTL than those counted may
//! keep it refusing until then). It can err low in one race: a reconcile counting while another hold has been counted but
//! not yet stored misses that one, so a burst at the limit may pass it by the holds
//! in flight at that moment. The limit bounds storage, and that bound still holds
//! within a few requests.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use client_core::inbox::HeldRequest;
use client_core::inspect::Exchange;
use tunnel_backend::config::DEFAULT_LOG_TTL_SECS;
use tunnel_backend::model::{ClientRecord, ConnectionRecord, DomainRecord, TunnelRecord, expired};
use tunnel_backend::store::{LogPage, LogQuery, Store, StoreError};

use crate::config::{ConfigError, DynamoConfig, TableNames};
use crate::item::{FromItem, Item, ToItem, attr, n, s};
use crate::log_bucket::LogBucket;
use crate::tables::CLIENT_INDEX;

mod connections;
mod inbox;
mod limits;
mod log;
mod pages;

pub use connections::{CONNECTION_EXPIRY_MARGIN_SECS, CONNECTION_MAX_AGE_SECS};
use pages::query_all;

/// The code DynamoDB puts in a transaction's cancellation reasons for a failed condition.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// Seconds since the Unix epoch.
pub type Clock = fn() -> u64;

fn system_clock() -> u64 {
    // A clock before 1970 is broken beyond what this could fix; 0 keeps every record.
    client_core::clock::now_secs()
}

/// The DynamoDB [`Store`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    clock: Clock,
    log_ttl_secs: u64,
    log_bucket: Option<LogBucket>,
}

fn backend<E, R>(operation: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(format!("DynamoDB {operation}: {}", DisplayErrorContext(e)))
}

fn build(e: BuildError) -> StoreError {
    StoreError::Backend(format!("DynamoDB request: {e}"))
}

/// The cancellation reason codes of a cancelled transaction, one per item, in order;
/// `None` when the transaction failed for another reason.
fn cancellation_codes(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<Option<String>>> {
    match e.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

fn failed_condition(codes: &[Option<String>], i: usize) -> bool {
    codes.get(i).and_then(Option::as_deref) == Some(CONDITION_FAILED)
}

impl DynamoStore {
    /// A store over `client` and the tables named in `tables`.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            clock: system_clock,
            log_ttl_secs: DEFAULT_LOG_TTL_SECS,
            log_bucket: None,
        }
    }

    /// Keeps exchanges too large for their item in `bucket` (see [`log_bucket`]).
    /// Without one, such an exchange cannot be stored (a function that writes the
    /// log is given the bucket; the others never write one).
    #[must_use]
    pub fn with_log_bucket(mut self, bucket: LogBucket) -> Self {
        self.log_bucket = Some(bucket);
        self
    }

    /// The log bucket, if this store has one.
    pub fn log_bucket(&self) -> Option<&LogBucket> {
        self.log_bucket.as_ref()
    }

    fn bucket(&self) -> Result<&LogBucket, StoreError> {
        self.log_bucket.as_ref().ok_or_else(|| {
            StoreError::Backend(format!(
                "this function has no log bucket ({} is not set)",
                crate::config::env::LOG_BUCKET
            ))
        })
    }

    /// Sets how long captured exchanges live before DynamoDB's TTL removes them.
    #[must_use]
    pub fn with_log_ttl(mut self, secs: u64) -> Self {
        self.log_ttl_secs = secs;
        self
    }

    /// A store built from explicit settings.
    pub fn from_config(config: &DynamoConfig) -> Self {
        let store = Self::new(config.client(), config.tables.clone());
        match config.log_bucket() {
            Some(bucket) => store.with_log_bucket(bucket),
            None => store,
        }
    }

    /// A store configured from the environment (see [`env`](mod@crate::env)); a
    /// missing variable is an error naming it.
    pub fn from_env() -> Result<Self, ConfigError> {
        DynamoConfig::from_env().map(|c| Self::from_config(&c))
    }

    /// Replaces the clock that decides which connections have expired. Tests use it to
    /// read records whose timestamps are made up.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The SDK client (shared with whatever else the caller does on DynamoDB).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table names.
    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// A strongly consistent read of one item by its string key.
    async fn get(
        &self,
        table: &str,
        key_name: &str,
        key: &str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key_name, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item)
    }

    /// Sets (or with `None` removes) the expiry of `tunnel`'s domain claim, if the claim
    /// is still its own. A second write after the tunnel's own: the claim's key is
    /// the domain, which the tunnel's update returns.
    async fn set_claim_expiry(
        &self,
        tunnel: &TunnelRecord,
        expires_at: Option<u64>,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.domains)
            .key(attr::DOMAIN, s(&tunnel.domain))
            .condition_expression("tunnel_id = :t")
            .expression_attribute_values(":t", s(&tunnel.tunnel_id));
        let update = match expires_at {
            Some(t) => update
                .update_expression("SET expires_at = :e")
                .expression_attribute_values(":e", n(t)),
            None => update.update_expression("REMOVE expires_at"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // The claim is gone or another tunnel's: not ours to change.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    /// Deletes the tunnel alone, for when its domain claim is not its own.
    async fn delete_tunnel_item(&self, tunnel_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .condition_expression("attribute_exists(tunnel_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::NotFound("tunnel"))
            }
            Err(e) => Err(backend("DeleteItem", e)),
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn put_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.clients)
            .set_item(Some(client.to_item()))
            .condition_expression("attribute_not_exists(client_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Exists("client"))
            }
            Err(e) => Err(backend("PutItem", e)),
        }
    }

    async fn set_client_key(&self, client_id: &str, key_hash: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.clients)
            .key(attr::CLIENT_ID, s(client_id))
            .update_expression("SET #h = :h")
            .condition_expression("attribute_exists(client_id)")
            .expression_attribute_names("#h", attr::KEY_HASH)
            .expression_attribute_values(":h", s(key_hash))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::NotFound("client"))
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.get(&self.tables.clients, attr::CLIENT_ID, client_id)
            .await?
            .map(ClientRecord::from_item)
            .transpose()
    }

    async fn create_tunnel(&self, tunnel: &TunnelRecord, now: u64) -> Result<(), StoreError> {
        let claim = DomainRecord {
            domain: tunnel.domain.clone(),
            tunnel_id: tunnel.tunnel_id.clone(),
            client_id: tunnel.client_id.clone(),
            expires_at: tunnel.expires_at,
        };
        // `domain` is a DynamoDB reserved word, hence the placeholder. A claim of an
        // expired tunnel is free even before TTL deletes it (which can be days late);
        // the expired tunnel's own items are left to their TTL.
        let claim_put = Put::builder()
            .table_name(&self.tables.domains)
            .set_item(Some(claim.to_item()))
            .condition_expression("attribute_not_exists(#d) OR #e <= :now")
            .expression_attribute_names("#d", attr::DOMAIN)
            .expression_attribute_names("#e", attr::EXPIRES_AT)
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build)?;
        let tunnel_put = Put::builder()
            .table_name(&self.tables.tunnels)
            .set_item(Some(tunnel.to_item()))
            .condition_expression("attribute_not_exists(tunnel_id)")
            .build()
            .map_err(build)?;
        // A concurrent transaction on the same domain makes DynamoDB cancel with
        // `TransactionConflict` instead of a condition failure; that surfaces as a
        // backend error, and the caller's retry then sees the winner's claim.
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim_put).build())
            .transact_items(TransactWriteItem::builder().put(tunnel_put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match cancellation_codes(&e) {
                // The domain is checked first, as the embedded store does: a refused
                // claim is what callers act on.
                Some(codes) if failed_condition(&codes, 0) => {
                    Err(StoreError::DomainTaken(tunnel.domain.clone()))
                }
                Some(codes) if failed_condition(&codes, 1) => Err(StoreError::Exists("tunnel")),
                _ => Err(backend("TransactWriteItems", e)),
            },
        }
    }

    async fn get_tunnel(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<TunnelRecord>, StoreError> {
        Ok(self
            .get(&self.tables.tunnels, attr::TUNNEL_ID, tunnel_id)
            .await?
            .map(TunnelRecord::from_item)
            .transpose()?
            .filter(|t| !expired(t.expires_at, now)))
    }

    async fn list_tunnels(
        &self,
        client_id: &str,
        now: u64,
    ) -> Result<Vec<TunnelRecord>, StoreError> {
        // GSIs are eventually consistent (and refuse `consistent_read`): a tunnel created
        // or deleted a moment ago may be missing from, or still in, this listing. That is
        // acceptable for a listing; nothing that must see its own write reads through it.
        let (items, _) = query_all(
            self.client
                .query()
                .table_name(&self.tables.tunnels)
                .index_name(CLIENT_INDEX)
                .key_condition_expression("client_id = :c")
                .expression_attribute_values(":c", s(client_id))
                .scan_index_forward(true),
        )
        .await?;
        let mut tunnels = Vec::new();
        for item in items {
            let t = TunnelRecord::from_item(item)?;
            if !expired(t.expires_at, now) {
                tunnels.push(t);
            }
        }
        // The index sorts by created_at; the tunnel id breaks ties between tunnels made
        // in the same second the way the embedded store's index does.
        tunnels.sort_by(|a, b| (a.created_at, &a.tunnel_id).cmp(&(b.created_at, &b.tunnel_id)));
        Ok(tunnels)
    }

    async fn delete_tunnel(&self, tunnel: &TunnelRecord) -> Result<(), StoreError> {
        let tunnel_delete = Delete::builder()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(&tunnel.tunnel_id))
            .condition_expression("attribute_exists(tunnel_id)")
            .build()
            .map_err(build)?;
        let claim_delete = Delete::builder()
            .table_name(&self.tables.domains)
            .key(attr::DOMAIN, s(&tunnel.domain))
            .condition_expression("tunnel_id = :t")
            .expression_attribute_values(":t", s(&tunnel.tunnel_id))
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(tunnel_delete).build())
            .transact_items(TransactWriteItem::builder().delete(claim_delete).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match cancellation_codes(&e) {
                Some(codes) if failed_condition(&codes, 0) => Err(StoreError::NotFound("tunnel")),
                // The claim is gone or belongs to another tunnel: not ours to release.
                // The tunnel still goes, in a request of its own.
                Some(codes) if failed_condition(&codes, 1) => {
                    self.delete_tunnel_item(&tunnel.tunnel_id).await
                }
                _ => Err(backend("TransactWriteItems", e)),
            },
        }
    }

    async fn get_domain(&self, domain: &str, now: u64) -> Result<Option<DomainRecord>, StoreError> {
        Ok(self
            .get(&self.tables.domains, attr::DOMAIN, domain)
            .await?
            .map(DomainRecord::from_item)
            .transpose()?
            .filter(|d| !expired(d.expires_at, now)))
    }

    async fn set_policy(
        &self,
        tunnel_id: &str,
        policy: Option<&tunnel_backend::model::StoredPolicy>,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .condition_expression("attribute_exists(tunnel_id)")
            .expression_attribute_names("#p", attr::POLICY);
        let update = match policy {
            Some(p) => update
                .update_expression("SET #p = :p")
                .expression_attribute_values(":p", crate::item::policy_value(p)),
            None => update.update_expression("REMOVE #p"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::NotFound("tunnel"))
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn attach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.connection_attach(tunnel_id, connection_id, now).await
    }

    async fn detach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.connection_detach(tunnel_id, connection_id, expires_at)
            .await
    }

    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        self.connection_put(connection).await
    }

    async fn get_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.connection_get(connection_id).await
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        self.connection_delete(connection_id).await
    }

    fn bounds_log_by_count(&self) -> bool {
        false
    }

    async fn put_exchanges(
        &self,
        exchanges: Vec<Exchange>,
        _keep: usize,
    ) -> Result<(), StoreError> {
        self.log_put(&exchanges).await
    }

    async fn get_exchange(
        &self,
        tunnel_id: &str,
        request_id: &str,
    ) -> Result<Option<Exchange>, StoreError> {
        self.log_get(tunnel_id, request_id).await
    }

    async fn list_exchanges(&self, q: LogQuery<'_>) -> Result<LogPage, StoreError> {
        self.log_list(q).await
    }

    async fn count_exchanges(&self, tunnel_id: &str) -> Result<u64, StoreError> {
        self.log_count(tunnel_id).await
    }

    async fn clear_exchanges(&self, tunnel_id: &str) -> Result<(), StoreError> {
        self.log_clear(tunnel_id).await
    }

    async fn hold_request(
        &self,
        request: &HeldRequest,
        max: u32,
        now: u64,
    ) -> Result<u64, StoreError> {
        self.inbox_hold(request, max, now).await
    }

    async fn take_held(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<HeldRequest>, StoreError> {
        self.inbox_take(tunnel_id, now).await
    }

    async fn count_held(&self, tunnel_id: &str, now: u64) -> Result<u64, StoreError> {
        self.inbox_count(tunnel_id, now).await
    }
}
