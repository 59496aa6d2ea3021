//! Bodies by URL: a large request body fetched from the `body_url` a REQUEST names,
//! and a large answer put at its `answer_url` (on AWS both are presigned S3 URLs; the
//! session offers them in CONNECT's `body_urls`, the local stack never sends any).
//!
//! Both stream: the fetched body goes to the origin through the same bounded channel
//! as BODY chunks do, and the origin's answer goes to the PUT as it is read, with the
//! `Content-Length` the origin gave (S3 takes no PUT without one).

use std::time::Duration;

use client_core::protocol::limits::STORED_BODY_MIN_BYTES;
use http_body_util::BodyDataStream;

use crate::api::root_cause;
use crate::origin::BodySender;

/// How long fetching a request body or putting an answer may take in all: the URLs
/// expire after a minute (tunnel-proxy's `BODY_URL_EXPIRY`) and S3 checks that only
/// as a transfer starts, so this bounds a stalled transfer, not a slow start.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long to wait for the storage to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for body URLs (public roots: these are the deployment's storage,
/// not the origin, whose certificate settings do not apply).
#[derive(Debug, Clone)]
pub struct BodyUrls {
    http: reqwest::Client,
}

impl Default for BodyUrls {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TRANSFER_TIMEOUT)
            .build()
            // Only a TLS back-end that cannot start fails here; the default one can.
            .unwrap_or_default();
        Self { http }
    }
}

/// Whether an answer of `len` bytes (`None`: unknown, streamed) goes to the
/// `answer_url` rather than as BODY chunks.
pub fn stores_answer(len: Option<u64>) -> bool {
    len.is_some_and(|len| len >= STORED_BODY_MIN_BYTES)
}

impl BodyUrls {
    /// [`Self::fetch_into`] as a future that owns its client.
    pub(crate) async fn fetch_owned(self, url: String, body: BodySender) {
        self.fetch_into(url, body).await;
    }

    /// Fetches `url` into `body`, piece by piece, and finishes it; on any failure the
    /// sender is dropped unfinished, so the origin sees the request cut off (and the
    /// public client an error), never a short body taken for whole.
    pub(crate) async fn fetch_into(&self, url: String, body: BodySender) {
        let mut response = match self.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                tracing::warn!(status = %r.status(), "the request body's URL was refused");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %root_cause(&e), "cannot fetch the request body");
                return;
            }
        };
        loop {
            match response.chunk().await {
                Ok(Some(data)) => {
                    if body.sender().send(data).await.is_err() {
                        // The origin answered already and wants no more.
                        return;
                    }
                }
                Ok(None) => {
                    body.finish();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %root_cause(&e), "the request body broke off");
                    return;
                }
            }
        }
    }

    /// Puts the origin's answer `body` of `len` bytes at `url`, streamed. The error
    /// says what went wrong, for the public client's 502 page.
    pub(crate) async fn put(
        &self,
        url: &str,
        body: hyper::body::Incoming,
        len: u64,
    ) -> Result<(), String> {
        let stream = BodyDataStream::new(body);
        let response = self
            .http
            .put(url)
            .header(http::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| format!("cannot store the answer's body: {}", root_cause(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(format!(
            "the answer's body was refused by its storage ({status}): {}",
            text.chars().take(300).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_known_length_from_the_threshold_are_stored() {
        assert!(!stores_answer(None), "streamed answers keep their chunks");
        assert!(!stores_answer(Some(STORED_BODY_MIN_BYTES - 1)));
        assert!(stores_answer(Some(STORED_BODY_MIN_BYTES)));
        assert!(stores_answer(Some(STORED_BODY_MIN_BYTES + 1)));
    }
}
