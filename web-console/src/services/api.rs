//! The REST calls: client-core builds each request and reads each answer; this sends
//! them with `fetch` and turns a 401 into "log in again".

use client_core::advice::{self, Audience};
use client_core::api::{ApiClient, ApiError, Call, FromBody, NoContent};
use yew::Callback;

use super::http::{self, NetworkError};

/// A failed call, as a person should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// The server said no.
    Api(ApiError),
    /// The server could not be reached.
    Network(NetworkError),
}

impl AppError {
    /// True for 401: the token is missing, expired or was tampered with.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, AppError::Api(ApiError::Server { status: 401, .. }))
    }
}

/// In the console's words ([`client_core::advice`]): the sentence for the error's code,
/// then the server's detail where it names something (a field, a name), with the REST
/// text's code quotes made plain quotes.
impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Api(ApiError::Server { code, message, .. }) => {
                f.write_str(advice::sentence(*code, Audience::Console))?;
                if advice::shows_detail(*code) {
                    write!(f, " ({})", message.replace('`', "\""))?;
                }
                Ok(())
            }
            AppError::Api(e) => e.fmt(f),
            AppError::Network(e) => e.fmt(f),
        }
    }
}

/// Sends `call` and reads its typed answer.
pub async fn execute<T: FromBody>(call: Call<T>) -> Result<T, AppError> {
    let response = http::send(&call.request).await.map_err(AppError::Network)?;
    call.parse(&response).map_err(AppError::Api)
}

/// Sends a call whose success has no body.
pub async fn execute_empty(call: Call<NoContent>) -> Result<(), AppError> {
    let response = http::send(&call.request).await.map_err(AppError::Network)?;
    call.parse_empty(&response)
        .map(|_| ())
        .map_err(AppError::Api)
}

/// The API as the logged-in person: every call carries the session token, and a 401
/// logs them out with a message.
#[derive(Clone)]
pub struct Api {
    client: ApiClient,
    token: String,
    on_unauthorized: Callback<String>,
}

impl PartialEq for Api {
    fn eq(&self, other: &Self) -> bool {
        self.token == other.token && self.client.base_url() == other.client.base_url()
    }
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("Api")
            .field("base_url", &self.client.base_url())
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The API at `base_url` with `token`; `on_unauthorized` gets the message to show
    /// on the login page.
    pub fn new(base_url: &str, token: &str, on_unauthorized: Callback<String>) -> Self {
        Self {
            client: ApiClient::new(base_url, Some(token.to_owned())),
            token: token.to_owned(),
            on_unauthorized,
        }
    }

    /// The request builder, for [`Self::run`].
    pub fn client(&self) -> &ApiClient {
        &self.client
    }

    /// The session token (for the live feed, which cannot send headers).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Sends `call`.
    pub async fn run<T: FromBody>(&self, call: Call<T>) -> Result<T, AppError> {
        self.check(execute(call).await)
    }

    /// Sends a call whose success has no body.
    pub async fn run_empty(&self, call: Call<NoContent>) -> Result<(), AppError> {
        self.check(execute_empty(call).await)
    }

    fn check<T>(&self, result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(e) = &result
            && e.is_unauthorized()
        {
            self.on_unauthorized
                .emit(format!("Your session has ended ({e}). Log in again."));
        }
        result
    }
}
