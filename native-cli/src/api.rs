//! Sends the control-plane calls built by [`client_core::api::ApiClient`] with reqwest.
//!
//! client-core decides what to send and how to read the answer; this module only moves
//! bytes, and sorts failures into "the server said no" and "the server is not there".

use std::time::Duration;

use client_core::advice::{self, Audience};
use client_core::api::{
    ApiClient, ApiError, ApiErrorCode, Call, FromBody, HttpRequest, HttpResponse, NoContent,
};

use crate::config::UrlSource;
use crate::trust::Trust;

/// Longest wait for a TCP (and TLS) connection to the API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a whole API call; every call is small.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a command's first call tries a server that answers nothing before
/// it gives up: a wrong URL or a server not started is not worth waiting for, while
/// a server still starting up gets a moment. (A tunnel that was once online waits for
/// its server for ever instead: see `start`.)
pub const STARTUP_TRIES: u32 = 3;

/// The pause between those tries.
pub const STARTUP_PAUSE: Duration = Duration::from_millis(750);

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No HTTP answer: refused, timed out, DNS, TLS.
    // One line: `tunnel start` repeats it with "; retrying in ..." after it.
    #[error("cannot reach the tunnel server at {url}{from}: {reason} ({})", reach_hint(.url))]
    Unreachable {
        /// The API's base URL.
        url: String,
        /// Which setting gave the URL, as " (from --api-url)", or empty when unknown.
        from: String,
        /// The innermost cause, which is the informative one.
        reason: String,
        /// True when not even a connection was made, so nothing was sent and trying
        /// again cannot do anything twice.
        before_sending: bool,
    },
    /// The first call of a command met no server in [`STARTUP_TRIES`] tries.
    #[error(
        "cannot reach the tunnel server at {url}{from} after {tries} tries: {reason}; {}",
        reach_hint(.url)
    )]
    NeverAnswered {
        /// The API's base URL.
        url: String,
        /// As in [`CallError::Unreachable`].
        from: String,
        /// How many tries were made.
        tries: u32,
        /// The last try's cause.
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
            CallError::NeverAnswered { .. }
            | CallError::Invalid { .. }
            | CallError::KeyRefused { .. } => false,
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

/// What to do about a server that answers nothing at `url`: start one when the URL is
/// this machine's, check it otherwise; or point elsewhere.
fn reach_hint(url: &str) -> &'static str {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
        .unwrap_or_default();
    let local = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    };
    if local {
        "start a server there with scripts/quickstart.sh or `tunnel-server`, or point \
         elsewhere with --api-url URL or TUNNEL_API_URL"
    } else {
        "check the address and that the server is up, or point elsewhere with --api-url \
         URL or TUNNEL_API_URL"
    }
}

/// Runs `attempt` until it gets any answer, at most `tries` times while not even a
/// connection could be made, pausing `pause` between tries; then the last failure
/// becomes [`CallError::NeverAnswered`]. Other failures return at once: the server is
/// there, and a call that may have been received is not sent twice.
pub async fn first_answer<T, F, Fut>(
    tries: u32,
    pause: Duration,
    mut attempt: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let mut tried = 0;
    loop {
        tried += 1;
        match attempt().await {
            Err(CallError::Unreachable {
                url,
                from,
                reason,
                before_sending: true,
            }) if tried >= tries => {
                return Err(CallError::NeverAnswered {
                    url,
                    from,
                    tries: tried,
                    reason,
                });
            }
            Err(CallError::Unreachable {
                before_sending: true,
                ..
            }) => tokio::time::sleep(pause).await,
            other => return other,
        }
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
    /// Which setting gave the URL, to say where to change it.
    url_source: Option<UrlSource>,
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
            url_source: None,
        })
    }

    /// Names where the key came from ("TUNNEL_API_KEY", "the API key in FILE"), so a
    /// refused key is reported as that one.
    pub fn with_key_origin(mut self, origin: String) -> Self {
        self.key_origin = Some(origin);
        self
    }

    /// Names which setting gave the URL, so an unreachable server is reported with it.
    pub fn with_url_source(mut self, source: UrlSource) -> Self {
        self.url_source = Some(source);
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

    /// [`Self::call`] as a command's first call: a server that answers nothing is
    /// tried [`STARTUP_TRIES`] times, then reported as [`CallError::NeverAnswered`].
    pub async fn call_at_startup<T: FromBody>(
        &self,
        build: impl Fn(&ApiClient) -> Call<T>,
    ) -> Result<T, CallError> {
        first_answer(STARTUP_TRIES, STARTUP_PAUSE, || self.call(&build)).await
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
                    from: self
                        .url_source
                        .as_ref()
                        .map_or_else(String::new, |s| format!(" ({s})")),
                    reason: format!("{reason}{}", crate::trust::hint(&reason)),
                    before_sending: e.is_connect(),
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
        let api = Api::new(&format!("http://127.0.0.1:{port}"), None)
            .unwrap()
            .with_url_source(UrlSource::Flag);
        let err = api.call(|c| c.me()).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(
            matches!(
                err,
                CallError::Unreachable {
                    before_sending: true,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot reach the tunnel server at http://127.0.0.1:{port} (from --api-url): "
            )),
            "{text}"
        );
        assert!(text.contains("scripts/quickstart.sh"), "{text}");

        // As a first call: STARTUP_TRIES tries, then an error that is not retried.
        let started = std::time::Instant::now();
        let err = api.call_at_startup(|c| c.me()).await.unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(
            matches!(
                err,
                CallError::NeverAnswered {
                    tries: STARTUP_TRIES,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() >= STARTUP_PAUSE * (STARTUP_TRIES - 1));
        assert!(
            err.to_string()
                .contains(&format!("(from --api-url) after {STARTUP_TRIES} tries: ")),
            "{err}"
        );
    }

    fn refused(before_sending: bool) -> CallError {
        CallError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            from: String::new(),
            reason: "Connection refused".into(),
            before_sending,
        }
    }

    /// Runs `first_answer` over scripted outcomes; returns its result and the tries.
    async fn scripted(outcomes: Vec<Result<u8, CallError>>) -> (Result<u8, CallError>, u32) {
        let mut outcomes = std::collections::VecDeque::from(outcomes);
        let mut calls = 0;
        let result = first_answer(STARTUP_TRIES, Duration::ZERO, || {
            calls += 1;
            let next = outcomes.pop_front().expect("no more tries than scripted");
            async move { next }
        })
        .await;
        (result, calls)
    }

    #[tokio::test]
    async fn startup_tries_stop_at_the_limit_and_at_any_answer() {
        // Answered on the last allowed try.
        let mut script: Vec<_> = (1..STARTUP_TRIES).map(|_| Err(refused(true))).collect();
        script.push(Ok(7));
        let (result, calls) = scripted(script).await;
        assert_eq!((result.unwrap(), calls), (7, STARTUP_TRIES));
        // Never answered: exactly STARTUP_TRIES tries.
        let script = (0..=STARTUP_TRIES).map(|_| Err(refused(true))).collect();
        let (result, calls) = scripted(script).await;
        assert_eq!(calls, STARTUP_TRIES);
        assert!(matches!(result, Err(CallError::NeverAnswered { .. })));
        // A failure after the request may have gone out is not sent again.
        let (result, calls) = scripted(vec![Err(refused(false)), Ok(1)]).await;
        assert_eq!(calls, 1);
        assert!(matches!(result, Err(CallError::Unreachable { .. })));
        // Nor is a server's refusal.
        let refusal = CallError::Api(ApiError::Server {
            status: 503,
            code: ApiErrorCode::Internal,
            message: "m".into(),
            field: None,
        });
        let (result, calls) = scripted(vec![Err(refusal), Ok(1)]).await;
        assert_eq!(calls, 1);
        assert!(result.unwrap_err().is_transient());
    }

    #[test]
    fn the_hint_fits_where_the_url_points() {
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:1/x",
        ] {
            assert!(reach_hint(local).contains("quickstart.sh"), "{local}");
        }
        for remote in [
            "https://tunnel.example.com",
            "https://127.0.0.1.nip.io.example",
        ] {
            let hint = reach_hint(remote);
            assert!(hint.contains("check the address"), "{remote}");
            assert!(hint.contains("--api-url"), "{remote}");
        }
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
