use std::rc::Rc;

use client_core::api::ApiClient;
use gloo_timers::callback::Timeout;
use yew::prelude::*;

use crate::services::api::{Api, execute};
use crate::services::browser::now_secs;
use crate::services::config::Config;
use crate::services::session::{self, Session};

/// Renew the token this long before it expires.
const RENEW_BEFORE_SECS: u64 = 60;

/// Who is logged in, and what the login page should say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthState {
    /// The session, when logged in.
    pub session: Option<Session>,
    /// A message for the login page (why the person was logged out).
    pub notice: Option<String>,
}

/// Changes to [`AuthState`].
#[derive(Debug)]
pub enum AuthAction {
    /// Logged in, or the token was renewed.
    LogIn(Session),
    /// Logged out on purpose.
    LogOut,
    /// Logged out by the server (expired or refused token), with the reason.
    Expired(String),
}

impl Reducible for AuthState {
    type Action = AuthAction;

    fn reduce(self: Rc<Self>, action: AuthAction) -> Rc<Self> {
        Rc::new(match action {
            AuthAction::LogIn(session) => AuthState {
                session: Some(session),
                notice: None,
            },
            AuthAction::LogOut => AuthState {
                session: None,
                notice: Some("You are logged out.".into()),
            },
            AuthAction::Expired(message) => {
                // Several calls may fail at once; the first message is the one shown.
                if self.session.is_none() {
                    return self;
                }
                AuthState {
                    session: None,
                    notice: Some(message),
                }
            }
        })
    }
}

/// The session and the configuration, shared with every page.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthContext {
    /// The session state; dispatch [`AuthAction`]s to it.
    pub state: UseReducerHandle<AuthState>,
    /// Where the API is.
    pub config: Rc<Config>,
}

impl AuthContext {
    /// A request builder without a token (registration, login).
    pub fn anonymous(&self, key: Option<String>) -> ApiClient {
        ApiClient::new(&self.config.api_base_url, key)
    }
}

/// The provider side, for the app root: restores the session from `sessionStorage`,
/// saves it on change, and renews the token before it expires.
#[hook]
pub fn use_auth_provider(config: Rc<Config>) -> AuthContext {
    let state = use_reducer(|| match session::load() {
        Some(s) if s.expires_at > now_secs() => AuthState {
            session: Some(s),
            notice: None,
        },
        Some(_) => AuthState {
            session: None,
            notice: Some("Your session expired. Log in again.".into()),
        },
        None => AuthState::default(),
    });

    use_effect_with(state.session.clone(), |s| session::save(s.as_ref()));

    {
        let dispatcher = state.dispatcher();
        let base = config.api_base_url.clone();
        use_effect_with(state.session.clone(), move |s| {
            let timer = s.clone().map(|s| {
                let wait = s
                    .expires_at
                    .saturating_sub(now_secs())
                    .saturating_sub(RENEW_BEFORE_SECS)
                    .max(5);
                let millis = u32::try_from(wait.saturating_mul(1000)).unwrap_or(u32::MAX);
                Timeout::new(millis, move || {
                    wasm_bindgen_futures::spawn_local(async move {
                        let call = ApiClient::new(&base, Some(s.token)).session_token();
                        match execute(call).await {
                            Ok(t) => dispatcher.dispatch(AuthAction::LogIn(Session {
                                token: t.token,
                                expires_at: t.expires_at,
                            })),
                            Err(e) if e.is_unauthorized() => dispatcher.dispatch(
                                AuthAction::Expired("Your session expired. Log in again.".into()),
                            ),
                            // A network blip: the next call that fails says so.
                            Err(_) => {}
                        }
                    });
                })
            });
            move || drop(timer)
        });
    }

    AuthContext { state, config }
}

/// The shared session and configuration.
#[hook]
pub fn use_auth() -> AuthContext {
    use_context::<AuthContext>().expect("AuthContext is provided by the app root")
}

/// The API as the logged-in person; `None` when logged out.
#[hook]
pub fn use_api() -> Option<Api> {
    let auth = use_auth();
    let token = auth.state.session.as_ref().map(|s| s.token.clone());
    let dispatcher = auth.state.dispatcher();
    let base = auth.config.api_base_url.clone();
    let api = use_memo((base, token), move |(base, token)| {
        let on_unauthorized =
            Callback::from(move |message| dispatcher.dispatch(AuthAction::Expired(message)));
        token
            .as_ref()
            .map(|token| Api::new(base, token, on_unauthorized))
    });
    (*api).clone()
}
