//! Large bodies through S3 instead of the WebSocket API (issue 20, point 1).
//!
//! A request body of at least [`STORED_BODY_MIN_BYTES`] goes to a client that offered
//! `body_urls` as one object and a presigned GET (REQUEST's `body_url`) rather than as
//! 16 KiB BODY chunks, each an API Gateway message; every REQUEST also carries a
//! presigned PUT (`answer_url`) where the client puts a large answer of known length,
//! which the proxy then streams to the viewer from the bucket. Per 1 MiB that replaces
//! 64 messages one way (and 64 relay invocations and 128 messages the other) with a
//! PUT and a GET.
//!
//! The objects live in the log bucket under [`BODY_PREFIX`], keyed
//! `body/<tunnel_id>/<request_id>/<random>/{req,resp}` ([`BodyKey`]): scoped to the
//! request, and unguessable (128 random bits), since whoever holds a URL can use it
//! until it expires ([`BODY_URL_EXPIRY`]). The client gets only the two URLs, one
//! object and one method each: no bucket-wide right. The bucket's lifecycle rule
//! removes the objects after a day (infra/logbucket.tf); nothing deletes them sooner,
//! which keeps the functions' grants to PutObject and GetObject on `body/*`.
//!
//! Why one PUT and no multipart: a request body is at most the Function URL's
//! invocation payload (`MAX_REQUEST_BODY`, 4.5 MiB), an answer at most what a
//! streamed Function URL response carries (200 MB), and a single PUT takes 5 GB.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
pub use client_core::protocol::limits::STORED_BODY_MIN_BYTES;
use tunnel_backend::auth::random_id;
use tunnel_backend::store::Store;

use crate::log_bucket::LogBucket;

/// The key prefix of stored bodies; the lifecycle rule and the grants name it.
pub const BODY_PREFIX: &str = "body/";

/// How long a body URL works. The GET is used as the REQUEST arrives; the PUT once
/// the origin's head is in, which the client waits for at most its origin timeout
/// (25 s): a minute covers both with room for a slow start.
pub const BODY_URL_EXPIRY: Duration = Duration::from_secs(60);

/// Why a body could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// S3 refused or failed.
    #[error("S3 {operation}: {detail}")]
    S3 {
        /// The operation.
        operation: &'static str,
        /// What it said.
        detail: String,
    },
    /// A URL could not be signed.
    #[error("cannot presign {0}")]
    Presign(String),
}

fn s3<E, R>(operation: &'static str, e: aws_sdk_s3::error::SdkError<E, R>) -> BodyError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    BodyError::S3 {
        operation,
        detail: DisplayErrorContext(e).to_string(),
    }
}

/// The keys of one request's bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyKey {
    base: String,
}

impl BodyKey {
    /// Fresh keys for request `request_id` of tunnel `tunnel_id`.
    pub fn new(tunnel_id: &str, request_id: &str) -> Self {
        Self {
            base: format!("{BODY_PREFIX}{tunnel_id}/{request_id}/{}", random_id(16)),
        }
    }

    /// Where the request body goes.
    pub fn request(&self) -> String {
        format!("{}/req", self.base)
    }

    /// Where the client puts the answer's body.
    pub fn response(&self) -> String {
        format!("{}/resp", self.base)
    }
}

/// Whether a request body of `len` bytes goes through S3 (given a client that
/// offered it).
pub fn stores(len: usize) -> bool {
    len as u64 >= STORED_BODY_MIN_BYTES
}

/// The bucket where bodies are stored.
#[derive(Debug, Clone)]
pub struct BodyStore {
    client: Client,
    bucket: String,
}

impl BodyStore {
    /// Bodies in `bucket` (the log bucket, under [`BODY_PREFIX`]).
    pub fn new(bucket: &LogBucket) -> Self {
        Self {
            client: bucket.client().clone(),
            bucket: bucket.name().to_owned(),
        }
    }

    fn presigning() -> Result<PresigningConfig, BodyError> {
        PresigningConfig::expires_in(BODY_URL_EXPIRY).map_err(|e| BodyError::Presign(e.to_string()))
    }

    /// Puts the request body at `key` and returns the presigned GET for it.
    pub async fn put_request(&self, key: &BodyKey, body: Vec<u8>) -> Result<String, BodyError> {
        let key = key.request();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| s3("PutObject", e))?;
        let url = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(Self::presigning()?)
            .await
            .map_err(|e| BodyError::Presign(DisplayErrorContext(e).to_string()))?;
        Ok(url.uri().to_owned())
    }

    /// The presigned PUT for the answer's body at `key` (no request: signing is
    /// local).
    pub async fn answer_url(&self, key: &BodyKey) -> Result<String, BodyError> {
        let url = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.response())
            .presigned(Self::presigning()?)
            .await
            .map_err(|e| BodyError::Presign(DisplayErrorContext(e).to_string()))?;
        Ok(url.uri().to_owned())
    }

    /// The answer's body the client put at `key`, as it streams from S3.
    pub async fn open_response(&self, key: &BodyKey) -> Result<ByteStream, BodyError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.response())
            .send()
            .await
            .map_err(|e| s3("GetObject", e))?;
        Ok(out.body)
    }
}

/// What one request's REQUEST says of stored bodies, and where they are.
#[derive(Debug)]
pub struct Plan {
    store: BodyStore,
    key: BodyKey,
    /// The presigned PUT for the answer; every REQUEST carries it (clients that did
    /// not offer `body_urls` ignore it, older ones do not know the field).
    pub answer_url: String,
    /// The presigned GET of the request body, once put.
    request_url: Option<String>,
}

impl Plan {
    /// The plan for request `request_id` of tunnel `tunnel_id`, where the function
    /// has a bucket; `None` (every body as chunks) without one or when signing fails.
    pub async fn new(store: Option<&BodyStore>, tunnel_id: &str, request_id: &str) -> Option<Self> {
        let store = store?.clone();
        let key = BodyKey::new(tunnel_id, request_id);
        match store.answer_url(&key).await {
            Ok(answer_url) => Some(Self {
                store,
                key,
                answer_url,
                request_url: None,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "answers go as chunks");
                None
            }
        }
    }

    /// The `body_url` for `body` sent to connection `connection_id`: a body past the
    /// threshold, for a client that offered `body_urls` (its connection record says;
    /// one read, for large bodies only), put once. `None`: send it as chunks, as to
    /// any other client (also when S3 fails: the chunks still work).
    pub async fn request_url(
        &mut self,
        records: &dyn Store,
        connection_id: &str,
        body: &[u8],
    ) -> Option<String> {
        if !stores(body.len()) {
            return None;
        }
        match records.get_connection(connection_id).await {
            Ok(Some(c)) if c.body_urls => {}
            _ => return None,
        }
        if self.request_url.is_none() {
            match self.store.put_request(&self.key, body.to_vec()).await {
                Ok(url) => self.request_url = Some(url),
                Err(e) => tracing::warn!(error = %e, "request body goes as chunks"),
            }
        }
        self.request_url.clone()
    }

    /// The answer's body the client put, as it streams from S3.
    pub async fn open_response(&self) -> Result<ByteStream, BodyError> {
        self.store.open_response(&self.key).await
    }
}

/// The next piece of `body`; `None` at its end.
pub async fn next_piece(body: &mut ByteStream) -> Result<Option<Bytes>, BodyError> {
    body.try_next().await.map_err(|e| BodyError::S3 {
        operation: "GetObject",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_to_the_request_and_unguessable() {
        let a = BodyKey::new("t1", "r1");
        let b = BodyKey::new("t1", "r1");
        assert!(a.request().starts_with("body/t1/r1/"));
        assert!(a.request().ends_with("/req"));
        assert!(a.response().ends_with("/resp"));
        assert_ne!(a, b, "a fresh random part each time");
        let random = a.request()["body/t1/r1/".len()..].len() - "/req".len();
        assert_eq!(random, 32, "128 random bits, as hex");
    }

    #[test]
    fn the_threshold_is_inclusive() {
        let at = usize::try_from(STORED_BODY_MIN_BYTES).unwrap();
        assert!(!stores(at - 1));
        assert!(stores(at));
        assert!(stores(at + 1));
    }
}
