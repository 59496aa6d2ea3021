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
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use client_core::inbox::HeldRequest;
use client_core::inspect::{Exchange, ExchangeSummary};
use tunnel_backend::config::DEFAULT_LOG_TTL_SECS;
use tunnel_backend::limits::Bucket;
use tunnel_backend::model::{ClientRecord, ConnectionRecord, DomainRecord, TunnelRecord, expired};
use tunnel_backend::store::{LogPage, LogQuery, Store, StoreError};

use crate::config::{ConfigError, DynamoConfig, TableNames};
use crate::item::{FromItem, Item, ToItem, attr, n, peek_n, s};
use crate::log_bucket::{self, LOG_ITEM_MAX_BYTES, LogBucket, object_key};
use crate::tables::CLIENT_INDEX;

/// Items read per Query while listing a log; filtered pages read on until full.
const LOG_QUERY_PAGE: i32 = 100;

/// Inbox keys read per Query while taking: the oldest is almost always the one
/// taken, and the rest are only read again by the next take.
const INBOX_TAKE_PAGE: i32 = 8;

/// API Gateway closes every WebSocket connection after 2 hours.
pub const CONNECTION_MAX_AGE_SECS: u64 = 2 * 60 * 60;

/// Slack added to a connection's expiry, so that clock skew between the function that
/// stamped `connected_at` and API Gateway can never hide a connection that is still
/// open. A record outliving its socket by this much is harmless: posting to it gives
/// 410 Gone, which the senders already handle.
pub const CONNECTION_EXPIRY_MARGIN_SECS: u64 = 10 * 60;

/// The code DynamoDB puts in a transaction's cancellation reasons for a failed condition.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// What [`DynamoStore::claim_seq`] got.
enum Claim {
    /// The arrival number given out.
    Seq(u64),
    /// Refused: the count had reached the limit. `held` is the count DynamoDB
    /// reported with the refusal, `recount_after` the time before which a recount
    /// cannot find room (0: none known).
    Full {
        held: Option<u64>,
        recount_after: u64,
    },
}

/// Seconds since the Unix epoch.
pub type Clock = fn() -> u64;

fn system_clock() -> u64 {
    // A clock before 1970 is broken beyond what this could fix; 0 keeps every record.
    client_core::clock::now_secs()
}

/// An item's size as DynamoDB bills it: attribute names plus values (strings and
/// binaries by length, numbers at most 21 bytes; the few types the log writes).
fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| {
            name.len()
                + match v {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    AttributeValue::N(n) => n.len().min(21),
                    _ => 1,
                }
        })
        .sum()
}

/// A log item's list line: from the exchange when it is inline, else the item's own.
fn summary_of(item: &Item) -> Result<ExchangeSummary, StoreError> {
    match (item.get(attr::EXCHANGE), item.get(attr::SUMMARY)) {
        (Some(AttributeValue::B(bytes)), _) => {
            log_bucket::decode(bytes.as_ref()).map(|x| ExchangeSummary::from(&x))
        }
        (_, Some(AttributeValue::S(json))) => serde_json::from_str(json)
            .map_err(|e| StoreError::Backend(format!("corrupt request item: {e}"))),
        _ => Err(StoreError::Backend(
            "corrupt request item: no exchange and no summary".into(),
        )),
    }
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

    /// Gives out the tunnel's next arrival number and counts it as held, unless the
    /// count has reached `max`. The counters live on the tunnel's `seq = 0` item.
    async fn claim_seq(&self, tunnel_id: &str, max: u32) -> Result<Claim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.inbox)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .key(attr::SEQ, n(0))
            .update_expression("ADD #n :one, #h :one")
            .condition_expression("attribute_not_exists(#h) OR #h < :max")
            .expression_attribute_names("#n", attr::NEXT)
            .expression_attribute_names("#h", attr::HELD)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(u64::from(max)))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes
                .as_ref()
                .and_then(|a| peek_n(a, attr::NEXT))
                .map(Claim::Seq)
                .ok_or_else(|| {
                    StoreError::Backend("corrupt inbox counters: next is missing".into())
                }),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => Ok(Claim::Full {
                    held: c.item().and_then(|i| peek_n(i, attr::HELD)),
                    recount_after: c
                        .item()
                        .and_then(|i| peek_n(i, attr::RECOUNT_AFTER))
                        .unwrap_or(0),
                }),
                _ => Err(backend("UpdateItem", e)),
            },
        }
    }

    /// The tunnel's unexpired held requests, and the soonest time one of them expires.
    async fn recount(&self, tunnel_id: &str, now: u64) -> Result<(u64, Option<u64>), StoreError> {
        let (mut live, mut soonest) = (0u64, None::<u64>);
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.inbox)
                .key_condition_expression("#t = :t AND #s > :zero")
                .filter_expression("#e > :now")
                .projection_expression("#e")
                .expression_attribute_names("#t", attr::TUNNEL_ID)
                .expression_attribute_names("#s", attr::SEQ)
                .expression_attribute_names("#e", attr::EXPIRES_AT)
                .expression_attribute_values(":t", s(tunnel_id))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":now", n(now))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            for item in out.items.unwrap_or_default() {
                live += 1;
                if let Some(at) = peek_n(&item, attr::EXPIRES_AT) {
                    soonest = Some(soonest.map_or(at, |s| s.min(at)));
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok((live, soonest)),
            }
        }
    }

    /// Sets the held count to `live`, the unexpired items just counted, provided it
    /// is still `seen`: had a request been held or taken meanwhile, `live` may already
    /// be stale, and the retry that follows decides on the counter as it is. With it
    /// goes `recount_after`: when the inbox is full, the soonest expiry among what is
    /// held, before which a recount could not find room.
    async fn reset_held(
        &self,
        tunnel_id: &str,
        seen: Option<u64>,
        live: u64,
        max: u32,
        recount_after: u64,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.inbox)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .key(attr::SEQ, n(0))
            .update_expression("SET #h = :live, #r = :r")
            .expression_attribute_names("#h", attr::HELD)
            .expression_attribute_names("#r", attr::RECOUNT_AFTER)
            .expression_attribute_values(":live", n(live))
            .expression_attribute_values(":r", n(recount_after));
        // DynamoDB returns the refused item with the condition failure; without it (an
        // emulator that does not), "still full" is the closest check.
        let update = match seen {
            Some(seen) => update
                .condition_expression("#h = :seen")
                .expression_attribute_values(":seen", n(seen)),
            None => update
                .condition_expression("#h >= :max")
                .expression_attribute_values(":max", n(u64::from(max))),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    /// Counts one request fewer as held. Never below zero, and never creates the
    /// counters item.
    async fn release_held(&self, tunnel_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.inbox)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .key(attr::SEQ, n(0))
            .update_expression("ADD #h :minus_one")
            .condition_expression("#h > :zero")
            .expression_attribute_names("#h", attr::HELD)
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| backend("UpdateItem", e))?;
        Ok(())
    }

    /// The rate-limit bucket `key` as last written, and its version; `None` when
    /// there is none (or its item is not one).
    pub async fn get_bucket(&self, key: &str) -> Result<Option<(Bucket, u64)>, StoreError> {
        let Some(item) = self
            .get(&self.tables.rate_limits, attr::LIMIT_KEY, key)
            .await?
        else {
            return Ok(None);
        };
        let (Some(milli), Some(at_ms), Some(version)) = (
            peek_n(&item, attr::MILLITOKENS),
            peek_n(&item, attr::AT_MS),
            peek_n(&item, attr::VERSION),
        ) else {
            return Err(StoreError::Backend(format!(
                "corrupt rate-limit item {key:?}: a number is missing"
            )));
        };
        Ok(Some((
            Bucket::from_parts(milli as f64 / 1000.0, at_ms),
            version,
        )))
    }

    /// Writes `bucket` as `key`'s, if its stored version is still `version` (`None`:
    /// if there is none yet). False when another writer came first. The item expires
    /// at `expires_at` (seconds), when the bucket would be full again anyway.
    pub async fn put_bucket(
        &self,
        key: &str,
        bucket: &Bucket,
        version: Option<u64>,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let (tokens, at_ms) = bucket.parts();
        // Rounded down: a store may only make a bucket stricter.
        let milli = (tokens.max(0.0) * 1000.0).floor() as u64;
        let request = self
            .client
            .put_item()
            .table_name(&self.tables.rate_limits)
            .item(attr::LIMIT_KEY, s(key))
            .item(attr::MILLITOKENS, n(milli))
            .item(attr::AT_MS, n(at_ms))
            .item(attr::VERSION, n(version.map_or(1, |v| v + 1)))
            .item(attr::EXPIRES_AT, n(expires_at));
        let request = match version {
            None => request.condition_expression("attribute_not_exists(limit_key)"),
            Some(v) => request
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", attr::VERSION)
                .expression_attribute_values(":v", n(v)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend("PutItem", e)),
        }
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
        let mut tunnels = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.tunnels)
                .index_name(CLIENT_INDEX)
                .key_condition_expression("client_id = :c")
                .expression_attribute_values(":c", s(client_id))
                .scan_index_forward(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let t = TunnelRecord::from_item(item)?;
                if !expired(t.expires_at, now) {
                    tunnels.push(t);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
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
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .update_expression("SET connection_id = :c REMOVE #e")
            .condition_expression(
                "attribute_exists(tunnel_id) AND \
                 (attribute_not_exists(connection_id) OR connection_id = :c) AND \
                 (attribute_not_exists(#e) OR #e > :now)",
            )
            .expression_attribute_names("#e", attr::EXPIRES_AT)
            .expression_attribute_values(":c", s(connection_id))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes.map(TunnelRecord::from_item).transpose()?;
                // The claim is cleared only if it had an expiry. Should this second
                // write fail, CONNECT fails and the client's next connection (which
                // takes the tunnel over) clears it.
                match old {
                    Some(t) if t.expires_at.is_some() => self.set_claim_expiry(&t, None).await,
                    _ => Ok(()),
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // The condition cannot say which part failed. A tunnel that exists
                // (unexpired) now existed at the check (ids are never reused), so
                // another connection held it then, even if it has let go since.
                match self.get_tunnel(tunnel_id, now).await? {
                    Some(_) => Err(StoreError::TunnelInUse(tunnel_id.to_owned())),
                    None => Err(StoreError::NotFound("tunnel")),
                }
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn detach_connection(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        // The condition also fails on a missing item, so a deleted tunnel is never
        // recreated as a stub by this update.
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .update_expression("REMOVE connection_id SET #e = :e")
            .condition_expression("connection_id = :c")
            .expression_attribute_names("#e", attr::EXPIRES_AT)
            .expression_attribute_values(":c", s(connection_id))
            .expression_attribute_values(":e", n(expires_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            // Known gap: should the claim's write fail, the claim keeps no expiry
            // while its tunnel has one, so the name stays taken after the tunnel
            // expires, until its owner resumes or stops it.
            Ok(out) => match out.attributes.map(TunnelRecord::from_item).transpose()? {
                Some(t) => self.set_claim_expiry(&t, Some(expires_at)).await,
                None => Ok(()),
            },
            // Another connection serves it, or the tunnel is gone: nothing to undo.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        let mut item = connection.to_item();
        let expires_at = connection
            .connected_at
            .saturating_add(CONNECTION_MAX_AGE_SECS + CONNECTION_EXPIRY_MARGIN_SECS);
        item.insert(attr::EXPIRES_AT.to_owned(), n(expires_at));
        self.client
            .put_item()
            .table_name(&self.tables.connections)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    async fn get_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let Some(item) = self
            .get(&self.tables.connections, attr::CONNECTION_ID, connection_id)
            .await?
        else {
            return Ok(None);
        };
        // TTL deletion runs lazily (up to days late), so an expired item may still be
        // there: it describes a socket API Gateway has already closed.
        if peek_n(&item, attr::EXPIRES_AT).is_some_and(|t| t <= (self.clock)()) {
            return Ok(None);
        }
        ConnectionRecord::from_item(item).map(Some)
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.connections)
            .key(attr::CONNECTION_ID, s(connection_id))
            .send()
            .await
            .map_err(|e| backend("DeleteItem", e))?;
        Ok(())
    }

    fn bounds_log_by_count(&self) -> bool {
        false
    }

    /// Bounded by age, not count: each item expires [`Self::with_log_ttl`] after
    /// capture, so `keep` is not applied here. One item per exchange in its tunnel's
    /// partition, holding the exchange itself when the item stays within
    /// [`LOG_ITEM_MAX_BYTES`]; otherwise the exchange goes to the log bucket first
    /// (so an item never names a missing object) and the item keeps the list line.
    async fn put_exchanges(&self, exchanges: &[Exchange], _keep: usize) -> Result<(), StoreError> {
        let expires_at = (self.clock)().saturating_add(self.log_ttl_secs);
        for x in exchanges {
            let mut item = Item::new();
            item.insert(attr::TUNNEL_ID.into(), s(&x.tunnel_id));
            item.insert(attr::REQUEST_ID.into(), s(&x.request_id));
            item.insert(attr::EXPIRES_AT.into(), n(expires_at));
            let stored = log_bucket::encode(x)?;
            if item_size(&item) + attr::EXCHANGE.len() + stored.len() <= LOG_ITEM_MAX_BYTES {
                item.insert(attr::EXCHANGE.into(), AttributeValue::B(stored.into()));
            } else {
                let key = object_key(&x.tunnel_id, &x.request_id);
                self.bucket()?.put(&key, stored).await?;
                let summary = serde_json::to_string(&ExchangeSummary::from(x))
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                item.insert(attr::SUMMARY.into(), s(&summary));
                item.insert(attr::OBJECT.into(), s(&key));
            }
            self.client
                .put_item()
                .table_name(&self.tables.requests)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| backend("PutItem", e))?;
        }
        Ok(())
    }

    async fn get_exchange(
        &self,
        tunnel_id: &str,
        request_id: &str,
    ) -> Result<Option<Exchange>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.requests)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .key(attr::REQUEST_ID, s(request_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        let Some(mut item) = out.item else {
            return Ok(None);
        };
        if peek_n(&item, attr::EXPIRES_AT).is_some_and(|t| t <= (self.clock)()) {
            return Ok(None);
        }
        match (item.remove(attr::EXCHANGE), item.remove(attr::OBJECT)) {
            (Some(AttributeValue::B(bytes)), _) => log_bucket::decode(bytes.as_ref()).map(Some),
            (_, Some(AttributeValue::S(key))) => match self.bucket()?.get(&key).await? {
                Some(bytes) => log_bucket::decode(&bytes).map(Some),
                // The lifecycle rule removed it a little before TTL removed the item.
                None => Ok(None),
            },
            _ => Err(StoreError::Backend(
                "corrupt request item: exchange is missing".into(),
            )),
        }
    }

    async fn list_exchanges(&self, q: LogQuery<'_>) -> Result<LogPage, StoreError> {
        let now = (self.clock)();
        let mut page = LogPage::default();
        let mut before = q.before.map(str::to_owned);
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.requests)
                .expression_attribute_values(":t", s(q.tunnel_id))
                .projection_expression("#s, #x, #e")
                .expression_attribute_names("#s", attr::SUMMARY)
                .expression_attribute_names("#x", attr::EXCHANGE)
                .expression_attribute_names("#e", attr::EXPIRES_AT)
                .scan_index_forward(false)
                .limit(LOG_QUERY_PAGE);
            query = match &before {
                Some(b) => query
                    .key_condition_expression("tunnel_id = :t AND request_id < :b")
                    .expression_attribute_values(":b", s(b)),
                None => query.key_condition_expression("tunnel_id = :t"),
            };
            let out = query.send().await.map_err(|e| backend("Query", e))?;
            let items = out.items.unwrap_or_default();
            let exhausted = out.last_evaluated_key.is_none();
            for item in &items {
                let summary = summary_of(item)?;
                before = Some(summary.request_id.clone());
                if peek_n(item, attr::EXPIRES_AT).is_some_and(|t| t <= now)
                    || !q.filter.matches_summary(&summary)
                {
                    continue;
                }
                if page.exchanges.len() == q.limit {
                    page.next = page.exchanges.last().map(|s| s.request_id.clone());
                    return Ok(page);
                }
                page.exchanges.push(summary);
            }
            if exhausted || items.is_empty() {
                return Ok(page);
            }
        }
    }

    async fn count_exchanges(&self, tunnel_id: &str) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.requests)
                .key_condition_expression("tunnel_id = :t")
                .expression_attribute_values(":t", s(tunnel_id))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            count += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(count),
            }
        }
    }

    /// Item by item, each object with its item (the lifecycle rule would remove them
    /// a day or two later; a cleared log's bodies go now).
    async fn clear_exchanges(&self, tunnel_id: &str) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.requests)
                .key_condition_expression("tunnel_id = :t")
                .expression_attribute_values(":t", s(tunnel_id))
                .projection_expression("#r, #o")
                .expression_attribute_names("#r", attr::REQUEST_ID)
                .expression_attribute_names("#o", attr::OBJECT)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let Some(id) = item.get(attr::REQUEST_ID) else {
                    continue;
                };
                if let Some(AttributeValue::S(key)) = item.get(attr::OBJECT) {
                    self.bucket()?.delete(key).await?;
                }
                self.client
                    .delete_item()
                    .table_name(&self.tables.requests)
                    .key(attr::TUNNEL_ID, s(tunnel_id))
                    .key(attr::REQUEST_ID, id.clone())
                    .send()
                    .await
                    .map_err(|e| backend("DeleteItem", e))?;
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(()),
            }
        }
    }

    async fn hold_request(
        &self,
        request: &HeldRequest,
        max: u32,
        now: u64,
    ) -> Result<u64, StoreError> {
        let tunnel_id = request.tunnel_id.as_str();
        let seq = match self.claim_seq(tunnel_id, max).await? {
            Claim::Seq(seq) => seq,
            Claim::Full {
                held,
                recount_after,
            } => {
                // Reading a full inbox costs up to `max` items of up to 256 KiB: a
                // burst at a full inbox must not pay it per request. Until the soonest
                // expiry found by the last count, nothing counted can have left but
                // through a take, which uncounts itself.
                if now < recount_after {
                    return Err(StoreError::InboxFull(max));
                }
                // The counter only goes down when a request is taken: items DynamoDB's
                // TTL deleted, and expired ones still stored, keep it high. Counting
                // what is really held sets it right, once, before refusing.
                let (live, soonest) = self.recount(tunnel_id, now).await?;
                if live >= u64::from(max) {
                    self.reset_held(tunnel_id, held, live, max, soonest.unwrap_or(0))
                        .await?;
                    return Err(StoreError::InboxFull(max));
                }
                self.reset_held(tunnel_id, held, live, max, 0).await?;
                match self.claim_seq(tunnel_id, max).await? {
                    Claim::Seq(seq) => seq,
                    Claim::Full { .. } => return Err(StoreError::InboxFull(max)),
                }
            }
        };
        let mut item = request.to_item();
        item.insert(attr::SEQ.to_owned(), n(seq));
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.inbox)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#s)")
            .expression_attribute_names("#s", attr::SEQ)
            .send()
            .await;
        match put {
            Ok(_) => Ok(seq),
            Err(e) => {
                // Nothing was held, so the count given for it goes back. Should this
                // fail too, the count is one high until the next reconcile: the safe
                // side, refusing early rather than holding more than `max`.
                let _ = self.release_held(tunnel_id).await;
                Err(backend("PutItem", e))
            }
        }
    }

    async fn take_held(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<HeldRequest>, StoreError> {
        let mut start = None;
        loop {
            // Keys and expiry only: the item itself comes back from the delete, so a
            // page of large bodies is never read just to take the first.
            let out = self
                .client
                .query()
                .table_name(&self.tables.inbox)
                .key_condition_expression("#t = :t AND #s > :zero")
                .expression_attribute_names("#t", attr::TUNNEL_ID)
                .expression_attribute_names("#s", attr::SEQ)
                .expression_attribute_names("#e", attr::EXPIRES_AT)
                .expression_attribute_values(":t", s(tunnel_id))
                .expression_attribute_values(":zero", n(0))
                .projection_expression("#s, #e")
                .consistent_read(true)
                .scan_index_forward(true)
                .limit(INBOX_TAKE_PAGE)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            for found in out.items.unwrap_or_default() {
                let Some(seq) = found.get(attr::SEQ).cloned() else {
                    continue;
                };
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.tables.inbox)
                    .key(attr::TUNNEL_ID, s(tunnel_id))
                    .key(attr::SEQ, seq)
                    .condition_expression("attribute_exists(#s)")
                    .expression_attribute_names("#s", attr::SEQ)
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await;
                let old = match deleted {
                    Ok(out) => out.attributes,
                    // Another caller took it first.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(backend("DeleteItem", e)),
                };
                let Some(old) = old else { continue };
                if peek_n(&old, attr::EXPIRES_AT).is_some_and(|t| t <= now) {
                    // Its count is not released: a reconcile may already have left
                    // it out (it counts only unexpired items), and releasing it again
                    // would let the inbox hold more than its limit. Kept, it only
                    // keeps the count high until the next reconcile.
                    continue;
                }
                // The request is out of the inbox whatever happens to the count: a
                // count left high only means an early reconcile.
                let _ = self.release_held(tunnel_id).await;
                return HeldRequest::from_item(old).map(Some);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(None),
            }
        }
    }

    async fn count_held(&self, tunnel_id: &str, now: u64) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.inbox)
                .key_condition_expression("#t = :t AND #s > :zero")
                .filter_expression("#e > :now")
                .expression_attribute_names("#t", attr::TUNNEL_ID)
                .expression_attribute_names("#s", attr::SEQ)
                .expression_attribute_names("#e", attr::EXPIRES_AT)
                .expression_attribute_values(":t", s(tunnel_id))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":now", n(now))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            count += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(count),
            }
        }
    }
}
