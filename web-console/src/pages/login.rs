use client_core::api::Registration;
use web_sys::HtmlInputElement;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::components::CopyButton;
use crate::hooks::{AuthAction, use_auth};
use crate::services::api::execute;
use crate::services::session::Session;

/// Log in with an API key (exchanged for a short-lived token; the key is not kept),
/// or register a new client and see its key once.
#[component]
pub fn LoginPage() -> Html {
    let auth = use_auth();
    let navigator = use_navigator();
    let route = use_route::<Route>();
    // Sent here by an ended session on some page: stay on it after logging in.
    let stay = !matches!(route, None | Some(Route::Login | Route::Home));
    let key = use_state(String::new);
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let registered = use_state(|| None::<Registration>);

    let log_in = {
        let (auth, navigator, busy, error) =
            (auth.clone(), navigator.clone(), busy.clone(), error.clone());
        Callback::from(move |api_key: String| {
            let api_key = api_key.trim().to_owned();
            if api_key.is_empty() {
                error.set(Some("Paste your API key (it starts with tk_).".into()));
                return;
            }
            busy.set(true);
            error.set(None);
            let (auth, navigator, busy, error) =
                (auth.clone(), navigator.clone(), busy.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match execute(auth.anonymous(Some(api_key)).session_token()).await {
                    Ok(t) => {
                        auth.state.dispatch(AuthAction::LogIn(Session {
                            token: t.token,
                            expires_at: t.expires_at,
                        }));
                        if let Some(n) = navigator.filter(|_| !stay) {
                            n.push(&Route::Tunnels);
                        }
                    }
                    Err(e) if e.is_unauthorized() => error.set(Some(
                        "This server does not know that key. Check it, or register a new client below."
                            .to_owned(),
                    )),
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        })
    };
    let onsubmit = {
        let (key, log_in) = (key.clone(), log_in.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            log_in.emit((*key).clone());
        })
    };
    let oninput = {
        let key = key.clone();
        Callback::from(move |e: InputEvent| {
            key.set(e.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    let register = {
        let (auth, busy, error, registered) = (
            auth.clone(),
            busy.clone(),
            error.clone(),
            registered.clone(),
        );
        Callback::from(move |_| {
            busy.set(true);
            error.set(None);
            let (auth, busy, error, registered) = (
                auth.clone(),
                busy.clone(),
                error.clone(),
                registered.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match execute(auth.anonymous(None).register()).await {
                    Ok(r) => registered.set(Some(r)),
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        })
    };

    let notice = auth.state.notice.clone();
    html! {
        <main class="login">
            <div class="card">
                <h1 class="brand-big"><span class="logo" aria-hidden="true">{ "⇄" }</span>{ "tunnel" }</h1>
                <p class="muted">{ "Your tunnels, and the requests that reach them." }</p>
                if let Some(n) = notice {
                    <p class="notice" role="status" data-testid="login-notice">{ n }</p>
                }
                if let Some(r) = (*registered).clone() {
                    <section class="new-key" aria-label="Your new API key">
                        <h2>{ "Your API key" }</h2>
                        <p>{ "This is shown once: save it now (a password manager is a good place). The CLI takes it with " }
                            <code>{ "tunnel auth login" }</code>{ "." }</p>
                        <div class="key-row">
                            <code class="mono key" data-testid="new-api-key">{ r.api_key.clone() }</code>
                            <CopyButton text={r.api_key.clone()} testid="copy-api-key" />
                        </div>
                        <button class="btn primary" disabled={*busy} data-testid="register-continue"
                            onclick={ let (log_in, k) = (log_in.clone(), r.api_key.clone()); move |_| log_in.emit(k.clone()) }>
                            { "I saved it: continue" }
                        </button>
                    </section>
                } else {
                    <form {onsubmit} aria-label="Log in">
                        <label for="api-key">{ "API key" }</label>
                        <input id="api-key" type="password" autocomplete="current-password"
                            placeholder="tk_…" value={(*key).clone()} {oninput}
                            data-testid="login-api-key" />
                        <button class="btn primary wide" type="submit" disabled={*busy}
                            data-testid="login-submit">
                            { if *busy { "Logging in…" } else { "Log in" } }
                        </button>
                    </form>
                    <div class="divider"><span>{ "or" }</span></div>
                    <button class="btn wide" onclick={register} disabled={*busy} data-testid="register">
                        { "Register a new client" }
                    </button>
                }
                if let Some(e) = (*error).clone() {
                    <p class="help bad" role="alert" data-testid="login-error">{ e }</p>
                }
            </div>
        </main>
    }
}
