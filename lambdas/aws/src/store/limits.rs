//! Rate-limit buckets in the `rate_limits` table (read and written by
//! [`crate::limiter::DynamoLimiter`]).

use tunnel_backend::limits::Bucket;
use tunnel_backend::store::StoreError;

use super::{DynamoStore, backend};
use crate::item::{attr, n, peek_n, s};

impl DynamoStore {
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
}
