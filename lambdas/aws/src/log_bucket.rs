//! The request log's stored form: each captured exchange as deflated JSON, kept in its
//! DynamoDB item when the item stays small and in the log bucket (S3) when not.
//!
//! Why the split, in list prices (`docs/cost.md`): a DynamoDB write costs $0.625 per
//! million per KB of item, an S3 PUT $5 per million whatever its size. Below
//! [`LOG_ITEM_MAX_BYTES`] the item is cheaper (at most 4 write units, $2.50), above it
//! the object (one write unit for the list line plus one PUT, however large the
//! bodies). A small request's item, deflated, is one write unit.
//!
//! Objects are keyed `log/<tunnel_id>/<request_id>` ([`object_key`]): scoped by tunnel
//! (the functions' grants and the bucket's lifecycle rule name the `log/` prefix) and
//! never handed out (the bucket is private; its objects are read by the functions).

use std::io::{Read as _, Write as _};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use client_core::inspect::Exchange;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use tunnel_backend::config::DEFAULT_CAPTURE_BYTES;
use tunnel_backend::store::StoreError;

/// Largest request-log item (bytes, as DynamoDB counts them: names plus values) that
/// keeps its exchange inline. Four write units, one strongly consistent read unit;
/// past it, one S3 PUT costs less than the write units it saves.
pub const LOG_ITEM_MAX_BYTES: usize = 4 * 1024;

/// The key prefix of every log object; the lifecycle rule and the grants name it.
pub const LOG_PREFIX: &str = "log/";

/// Largest stored exchange [`decode`] inflates, as JSON: the capture keeps up to
/// [`DEFAULT_CAPTURE_BYTES`] of each body, which as base64 is 2.7 times that for the
/// pair, and the heads are bounded well below the rest. A corrupt object cannot
/// exhaust a function's memory.
pub const MAX_DECODED_BYTES: u64 = 4 * DEFAULT_CAPTURE_BYTES as u64;

/// The object key of an exchange of `tunnel_id`.
pub fn object_key(tunnel_id: &str, request_id: &str) -> String {
    format!("{LOG_PREFIX}{tunnel_id}/{request_id}")
}

/// The exchange as stored: deflated JSON (headers and base64 bodies shrink to a third
/// or less, which is what keeps a small request's item in one write unit).
pub fn encode(x: &Exchange) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(x).map_err(|e| StoreError::Backend(e.to_string()))?;
    let mut z = DeflateEncoder::new(Vec::with_capacity(json.len() / 3), Compression::fast());
    z.write_all(&json)
        .and_then(|()| z.finish())
        .map_err(|e| StoreError::Backend(format!("deflate: {e}")))
}

/// The exchange [`encode`] stored.
pub fn decode(bytes: &[u8]) -> Result<Exchange, StoreError> {
    let corrupt =
        |e: &dyn std::fmt::Display| StoreError::Backend(format!("corrupt request log entry: {e}"));
    let mut json = Vec::new();
    DeflateDecoder::new(bytes)
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(&e))?;
    if json.len() as u64 > MAX_DECODED_BYTES {
        return Err(corrupt(&"over the size limit"));
    }
    serde_json::from_slice(&json).map_err(|e| corrupt(&e))
}

/// The log bucket: where exchanges too large for their item go.
#[derive(Debug, Clone)]
pub struct LogBucket {
    client: Client,
    bucket: String,
}

fn backend<E, R>(operation: &str, e: aws_sdk_s3::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(format!("S3 {operation}: {}", DisplayErrorContext(e)))
}

impl LogBucket {
    /// The bucket `bucket` through `client`.
    pub fn new(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// The S3 client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the bucket unless this account has it already: for emulators, as
    /// [`crate::ensure_tables`] is (on AWS, Terraform makes it, with its lifecycle
    /// rule and encryption).
    pub async fn ensure(&self) -> Result<(), StoreError> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        let region = self.client.config().region().map(|r| r.as_ref().to_owned());
        // us-east-1 is the one region that takes no location constraint.
        if let Some(region) = region.filter(|r| r != "us-east-1") {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("CreateBucket", e)),
        }
    }

    /// Stores `bytes` at `key` (overwrites).
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| backend("PutObject", e))?;
        Ok(())
    }

    /// The object at `key`; `None` when there is none (expired by the lifecycle rule
    /// before its item, say).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(backend("GetObject", e)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Backend(format!("S3 GetObject body: {e}")))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// Removes the object at `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| backend("DeleteObject", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_round_trip_and_shrink() {
        let mut x = tunnel_backend::store::contract::exchange("t1", 1_000, "GET", "/a", 200);
        x.request.headers = (0..20)
            .map(|i| (format!("x-header-{i}"), "some repeated value".to_owned()))
            .collect();
        let bytes = encode(&x).unwrap();
        assert_eq!(decode(&bytes).unwrap(), x);
        let json = serde_json::to_vec(&x).unwrap();
        assert!(
            bytes.len() * 2 < json.len(),
            "{} of {}",
            bytes.len(),
            json.len()
        );
        assert!(decode(b"not deflate").is_err());
    }

    #[test]
    fn decoding_stops_at_the_size_limit() {
        let deflate = |json: &[u8]| {
            let mut z = DeflateEncoder::new(Vec::new(), Compression::fast());
            z.write_all(json).unwrap();
            z.finish().unwrap()
        };
        let x = tunnel_backend::store::contract::exchange("t1", 1_000, "GET", "/a", 200);
        // JSON allows trailing whitespace: pad the exchange to the limit exactly.
        let mut json = serde_json::to_vec(&x).unwrap();
        json.resize(usize::try_from(MAX_DECODED_BYTES).unwrap(), b' ');
        assert_eq!(decode(&deflate(&json)).unwrap(), x, "at the limit");
        json.push(b' ');
        let err = decode(&deflate(&json)).unwrap_err();
        assert!(err.to_string().contains("over the size limit"), "{err}");
    }

    #[test]
    fn keys_are_scoped_by_tunnel_under_the_prefix() {
        assert_eq!(object_key("t1", "r1"), "log/t1/r1");
        assert!(object_key("t1", "r1").starts_with(LOG_PREFIX));
    }
}
