//! The request log on DynamoDB: one partition per tunnel, each item holding its
//! exchange, or naming its object in the log bucket when the exchange is too large.

use aws_sdk_dynamodb::types::AttributeValue;
use client_core::inspect::{Exchange, ExchangeSummary};
use tunnel_backend::store::{LogPage, LogQuery, StoreError};

use super::{DynamoStore, backend, query_all};
use crate::item::{Item, attr, n, peek_n, s};
use crate::log_bucket::{self, LOG_ITEM_MAX_BYTES, object_key};

/// Items read per Query while listing a log; filtered pages read on until full.
const LOG_QUERY_PAGE: i32 = 100;

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

impl DynamoStore {
    /// Bounded by age, not count: each item expires [`Self::with_log_ttl`] after
    /// capture, so `keep` is not applied here. One item per exchange in its tunnel's
    /// partition, holding the exchange itself when the item stays within
    /// [`LOG_ITEM_MAX_BYTES`]; otherwise the exchange goes to the log bucket first
    /// (so an item never names a missing object) and the item keeps the list line.
    pub(super) async fn log_put(&self, exchanges: &[Exchange]) -> Result<(), StoreError> {
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

    pub(super) async fn log_get(
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

    pub(super) async fn log_list(&self, q: LogQuery<'_>) -> Result<LogPage, StoreError> {
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

    pub(super) async fn log_count(&self, tunnel_id: &str) -> Result<u64, StoreError> {
        let (_, count) = query_all(
            self.client
                .query()
                .table_name(&self.tables.requests)
                .key_condition_expression("tunnel_id = :t")
                .expression_attribute_values(":t", s(tunnel_id))
                .select(aws_sdk_dynamodb::types::Select::Count),
        )
        .await?;
        Ok(count)
    }

    /// Item by item, each object with its item (the lifecycle rule would remove them
    /// a day or two later; a cleared log's bodies go now).
    pub(super) async fn log_clear(&self, tunnel_id: &str) -> Result<(), StoreError> {
        let (items, _) = query_all(
            self.client
                .query()
                .table_name(&self.tables.requests)
                .key_condition_expression("tunnel_id = :t")
                .expression_attribute_values(":t", s(tunnel_id))
                .projection_expression("#r, #o")
                .expression_attribute_names("#r", attr::REQUEST_ID)
                .expression_attribute_names("#o", attr::OBJECT),
        )
        .await?;
        for item in items {
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
        Ok(())
    }
}
