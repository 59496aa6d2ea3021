//! The offline inbox on DynamoDB: the held requests of each tunnel, and the counters
//! on its `seq = 0` item that make the limit one conditional write (see the store's
//! module docs for how the count errs and is set right).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use client_core::inbox::HeldRequest;
use tunnel_backend::store::StoreError;

use super::pages::{Pages, query_all};
use super::{DynamoStore, backend};
use crate::item::{FromItem, ToItem, attr, n, peek_n, s};

/// Inbox keys read per Query while taking: the oldest is almost always the one
/// taken, and the rest are only read again by the next take.
const INBOX_TAKE_PAGE: i32 = 8;

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

impl DynamoStore {
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
        let (items, _) = query_all(
            self.client
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
                .consistent_read(true),
        )
        .await?;
        let soonest = items
            .iter()
            .filter_map(|item| peek_n(item, attr::EXPIRES_AT))
            .min();
        Ok((items.len() as u64, soonest))
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

    pub(super) async fn inbox_hold(
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

    pub(super) async fn inbox_take(
        &self,
        tunnel_id: &str,
        now: u64,
    ) -> Result<Option<HeldRequest>, StoreError> {
        // Keys and expiry only: the item itself comes back from the delete, so a page
        // of large bodies is never read just to take the first.
        let mut pages = Pages::of(
            self.client
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
                .limit(INBOX_TAKE_PAGE),
        );
        while let Some((items, _)) = pages.next().await? {
            for found in items {
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
        }
        Ok(None)
    }

    pub(super) async fn inbox_count(&self, tunnel_id: &str, now: u64) -> Result<u64, StoreError> {
        let (_, count) = query_all(
            self.client
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
                .consistent_read(true),
        )
        .await?;
        Ok(count)
    }
}
