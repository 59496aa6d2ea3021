//! One module per planned backend function. Each is a plain async function over
//! [`crate::Backend`], with no knowledge of HTTP servers, Lambda events or sockets.

pub mod admission;
pub mod clients;
pub mod connection;
pub mod exchange;
pub mod inbox;
pub mod inspect;
pub mod policy;
pub mod proxy;
pub mod stats;
pub mod tunnels;
pub mod webhook;

use client_core::api::{ApiErrorCode, ErrorBody, ErrorDetail};

use crate::store::StoreError;

/// The authenticated client making a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Its id.
    pub client_id: String,
    /// When it authenticated with a session token: the end of that session, which
    /// tokens it mints cannot pass.
    pub session_until: Option<u64>,
    /// The start of the hash of the key it proved (directly, or through its token).
    pub key_hash_prefix: Option<String>,
}

/// A refused or failed call, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code:?}: {message}")]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable kind.
    pub code: ApiErrorCode,
    /// What a person should do.
    pub message: String,
    /// Seconds to wait before retrying (a 429's `Retry-After`).
    pub retry_after: Option<u64>,
    /// The metrics scope of the rate limit that refused the call (a 429's).
    pub limit_scope: Option<&'static str>,
    /// The request field at fault (an invalid policy's field).
    pub field: Option<&'static str>,
}

impl ApiFailure {
    /// A failure with `status`, `code` and `message`.
    pub fn new(status: u16, code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            limit_scope: None,
            field: None,
        }
    }

    /// 400 `invalid_policy` for a policy setting that breaks its rules, naming the
    /// field so a client can show the message beside it.
    pub fn invalid_policy(e: &client_core::policy::PolicyError) -> Self {
        Self {
            field: Some(e.field()),
            ..Self::new(
                400,
                ApiErrorCode::InvalidPolicy,
                format!("invalid policy: {e}"),
            )
        }
    }

    /// 429 for a caller over its rate limit.
    pub fn rate_limited(what: &str, limited: crate::limits::Limited) -> Self {
        let secs = limited.retry_after_secs();
        Self {
            retry_after: Some(secs),
            limit_scope: Some(crate::telemetry::SCOPE_API),
            ..Self::new(
                429,
                ApiErrorCode::RateLimited,
                format!("{what} is over its rate limit; retry in {secs} s"),
            )
        }
    }

    /// 401 with the hint every unauthenticated caller needs.
    pub fn unauthorized(why: &str) -> Self {
        Self::new(
            401,
            ApiErrorCode::Unauthorized,
            format!(
                "{why}: send `Authorization: Bearer <api key or session token>`; POST /v1/clients issues a key"
            ),
        )
    }

    /// 404 for a resource the caller cannot see (absent or someone else's: the same
    /// answer, so ids of other clients' resources leak nothing).
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            404,
            ApiErrorCode::NotFound,
            format!(
                "no {what} {id:?} among the caller's (GET /v1/tunnels lists tunnels, GET /v1/tunnels/{{id}}/requests their requests)"
            ),
        )
    }

    /// 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, ApiErrorCode::BadRequest, message)
    }

    /// The JSON body the API sends.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.map(str::to_owned),
            },
        }
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::new(
            500,
            ApiErrorCode::Internal,
            "the server could not reach its store; try again shortly",
        )
    }
}
