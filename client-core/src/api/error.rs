//! A failed call: the error body every API failure carries ([`ErrorBody`], with its
//! machine [`ApiErrorCode`]), and [`ApiError`], what the caller gets, read from an
//! answer by [`error_from`].

use serde::{Deserialize, Serialize};

use super::HttpResponse;

/// Machine-readable kinds of API error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// No key, or a key the server does not know.
    Unauthorized,
    /// The resource does not exist or is not the caller's.
    NotFound,
    /// The request body or parameters are wrong.
    BadRequest,
    /// The subdomain breaks the naming rules.
    InvalidDomain,
    /// The subdomain is held by another tunnel.
    DomainTaken,
    /// An access-policy setting breaks its rules; the error's `field` names it.
    InvalidPolicy,
    /// Too many requests; retry later.
    RateLimited,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The server failed.
    Internal,
    /// A code this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// The error body every API failure carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Its kind.
    pub code: ApiErrorCode,
    /// What a person should do.
    pub message: String,
    /// The request field at fault, when one is (an `invalid_policy`'s policy field,
    /// like `allow_ips`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A failed API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error.
    #[error("{message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Its kind.
        code: ApiErrorCode,
        /// Its message.
        message: String,
        /// The request field at fault, when the server named one.
        field: Option<String>,
    },
    /// The answer was not what this client expects (wrong server or version).
    #[error("unexpected answer from the server (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
}

impl ApiError {
    /// The error kind, when the server named one.
    pub fn code(&self) -> Option<ApiErrorCode> {
        match self {
            ApiError::Server { code, .. } => Some(*code),
            ApiError::Unexpected { .. } => None,
        }
    }

    /// The request field the server named as at fault.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::Server { field, .. } => field.as_deref(),
            ApiError::Unexpected { .. } => None,
        }
    }
}

/// The error an unsuccessful answer carries, or what was wrong with it.
pub(super) fn error_from(response: &HttpResponse) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(ErrorBody { error }) => ApiError::Server {
            status: response.status,
            code: error.code,
            message: error.message,
            field: error.field,
        },
        Err(_) => ApiError::Unexpected {
            status: response.status,
            detail: String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect(),
        },
    }
}
