//! Sends the control-plane calls built by [`client_core::api::ApiClient`] with reqwest.
//!
//! client-core decides what to send and how to read the answer; this module only moves
//! bytes, and sorts failures into "the server said no" and "the server is not there".

use std::time::Duration;

use client_core::advice::{self, Audience};
use client_core::api::{
    ApiClient, ApiError, ApiErrorCode, Call, FromBody, HttpRequest, HttpResponse, NoContent,
};

use crate::trust::Trust;

/// Longest wait for a TCP (and TLS) connection to the API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a whole API call; every call is small.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No HTTP answer: refused, timed out, DNS, TLS.
    // One line: `tunnel start` repeats it with "; retrying in ..." after it.
    #[error(
        "cannot reach the tunnel server at {url}: {reason} (start one with `tunnel-server` \
         or scripts/quickstart.sh, or point elsewhere with --api-url or TUNNEL_API_URL)"
    )]
    Unreachable {
        /// The API's base URL.
        url: String,
        /// The innermost cause, which is the informative one.
        reason: String,
    },
    /// The server refused the API key; `origin` says which one (the environment
    /// variable overrides the config file, and a person rarely remembers that).
    #[error(
        "{origin} is not accepted by the server: {}",
        advice::sentence(ApiErrorCode::Unauthorized, Audience::Cli)
    )]
    KeyRefused {
        /// Where the key came from, e.g. "the API key in ~/.tunnel/config".
        origin: String,
    },
    /// The server answered with an error, or with something unreadable. Shown in the
    /// CLI's words ([`client_core::advice`]), with the server's detail where it adds one.
    /// (Not `#[from]`: that would make the ApiError its source, and `{:#}` would print
    /// the server's message a second time after the sentence.)
    #[error("{}", cli_text(.0))]
    Api(ApiError),
    /// The request could not be built (a malformed API URL).
    #[error("invalid request to {url}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl CallError {
    /// True when trying again later may succeed: the server is unreachable, overloaded
    /// or failing, as opposed to refusing this request.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Unreachable { .. } => true,
            CallError::Api(ApiError::Server { status, code, .. }) => {
                *status >= 500 || *code == ApiErrorCode::RateLimited
            }
            CallError::Api(ApiError::Unexpected { status, .. }) => *status >= 500,
            CallError::Invalid { .. } | CallError::KeyRefused { .. } => false,
        }
    }

    /// The API's error kind, when the server named one.
    pub fn code(&self) -> Option<ApiErrorCode> {
        match self {
            CallError::Api(e) => e.code(),
            CallError::KeyRefused { .. } => Some(ApiErrorCode::Unauthorized),
            _ => None,
        }
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        CallError::Api(e)
    }
}

/// An API error in the CLI's words: the sentence for its code, then the server's own
/// message where it names what the sentence cannot (a field, a domain).
fn cli_text(e: &ApiError) -> String {
    match e {
        ApiError::Server { code, message, .. } => {
            let sentence = advice::sentence(*code, Audience::Cli);
            if advice::shows_detail(*code) {
                // One line: `tunnel start` and the e2e suites hold errors to one.
                format!("{sentence} (server: {message})")
            } else {
                sentence.to_owned()
            }
        }
        ApiError::Unexpected { .. } => e.to_string(),
    }
}

/// The REST API of one server, with one key (or none).
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    core: ApiClient,
    trust: Trust,
    /// Where the key came from, to say which one a 401 refused.
    key_origin: Option<String>,
}

impl Api {
    /// A client for the API at `base_url`, authenticating with `api_key` when given,
    /// trusting the public CAs only.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self, CallError> {
        Self::with_trust(base_url, api_key, Trust::default())
    }

    /// [`Self::new`] trusting the CAs of `trust` too.
    pub fn with_trust(
        base_url: &str,
        api_key: Option<String>,
        trust: Trust,
    ) -> Result<Self, CallError> {
        let invalid = |reason: String| CallError::Invalid {
            url: base_url.to_owned(),
            reason,
        };
        let builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .user_agent(concat!("tunnel/", env!("CARGO_PKG_VERSION")));
        let http = trust
            .http(builder)
            .map_err(invalid)?
            .build()
            .map_err(|e| invalid(root_cause(&e)))?;
        Ok(Self {
            http,
            core: ApiClient::new(base_url, api_key),
            trust,
            key_origin: None,
        })
    }

    /// Names where the key came from ("TUNNEL_API_KEY", "the API key in FILE"), so a
    /// refused key is reported as that one.
    pub fn with_key_origin(mut self, origin: String) -> Self {
        self.key_origin = Some(origin);
        self
    }

    /// A refused key as [`CallError::KeyRefused`] when its origin is known.
    fn explain(&self, e: ApiError) -> CallError {
        match (&self.key_origin, e.code()) {
            (Some(origin), Some(ApiErrorCode::Unauthorized)) => CallError::KeyRefused {
                origin: origin.clone(),
            },
            _ => CallError::Api(e),
        }
    }

    /// The CAs this client trusts (for the WebSocket and the live feed).
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        self.core.base_url()
    }

    /// URL of the live feed of `tunnel_id` (authenticated by header, not query).
    pub fn live_url(&self, tunnel_id: &str) -> String {
        self.core.live_url(tunnel_id, None)
    }

    /// Builds a call with `build` and sends it: `api.call(|c| c.me())`.
    pub async fn call<T: FromBody>(
        &self,
        build: impl FnOnce(&ApiClient) -> Call<T>,
    ) -> Result<T, CallError> {
        let call = build(&self.core);
        let response = self.send(&call.request).await?;
        call.parse(&response).map_err(|e| self.explain(e))
    }

    /// Like [`Self::call`] for calls whose success has no body.
    pub async fn call_empty(
        &self,
        build: impl FnOnce(&ApiClient) -> Call<NoContent>,
    ) -> Result<(), CallError> {
        let call = build(&self.core);
        let response = self.send(&call.request).await?;
        call.parse_empty(&response).map_err(|e| self.explain(e))?;
        Ok(())
    }

    async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, CallError> {
        let invalid = |reason: String| CallError::Invalid {
            url: request.url.clone(),
            reason,
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let mut builder = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let unreachable = |e: reqwest::Error| {
            if e.is_builder() {
                invalid(root_cause(&e))
            } else {
                let reason = root_cause(&e);
                CallError::Unreachable {
                    url: self.base_url().to_owned(),
                    reason: format!("{reason}{}", crate::trust::hint(&reason)),
                }
            }
        };
        let response = builder.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok(HttpResponse {
            status,
            body: body.to_vec(),
        })
    }
}

/// The innermost cause of `error`: reqwest's own message only repeats the URL, while
/// the bottom of the chain says "Connection refused" or "dns error".
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connection_is_unreachable_and_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let api = Api::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let err = api.call(|c| c.me()).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot reach the tunnel server at http://127.0.0.1:{port}: "
            )),
            "{text}"
        );
    }

    #[test]
    fn server_refusals_are_not_transient() {
        let refusal = |status, code| {
            CallError::Api(ApiError::Server {
                status,
                code,
                message: "m".into(),
                field: None,
            })
        };
        assert!(!refusal(409, ApiErrorCode::DomainTaken).is_transient());
        assert!(!refusal(401, ApiErrorCode::Unauthorized).is_transient());
        assert!(refusal(503, ApiErrorCode::Internal).is_transient());
        assert!(refusal(429, ApiErrorCode::RateLimited).is_transient());
    }
}
