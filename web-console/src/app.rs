//! The root: loads the runtime configuration, provides the session, routes.

use std::rc::Rc;

use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::{ErrorBox, Loading};
use crate::hooks::{use_api, use_auth_provider};
use crate::pages::{InspectorPage, LoginPage, NotFoundPage, TunnelsPage};
use crate::services::config::{self, Config};

/// The console's addresses (after `#`, so any static host can serve the one page).
#[derive(Debug, Clone, PartialEq, Eq, Routable)]
pub enum Route {
    /// Where a visit starts: the tunnels, or the login page.
    #[at("/")]
    Home,
    /// Log in or register.
    #[at("/login")]
    Login,
    /// The tunnel list.
    #[at("/tunnels")]
    Tunnels,
    /// One tunnel's inspector.
    #[at("/tunnels/:id")]
    Inspector {
        /// The tunnel's id.
        id: String,
    },
    /// Anything else.
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// The console.
#[component]
pub fn App() -> Html {
    let config = use_state(|| None::<Result<Rc<Config>, String>>);
    {
        let config = config.clone();
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move {
                config.set(Some(config::load().await.map(Rc::new)));
            });
        });
    }
    match &*config {
        None => html! { <Loading label="Starting…" /> },
        Some(Err(e)) => html! { <main class="login"><ErrorBox message={e.clone()} /></main> },
        Some(Ok(c)) => html! { <Root config={c.clone()} /> },
    }
}

#[derive(Debug, Properties, PartialEq)]
struct RootProps {
    config: Rc<Config>,
}

#[component]
fn Root(props: &RootProps) -> Html {
    let auth = use_auth_provider(props.config.clone());
    html! {
        <ContextProvider<crate::hooks::AuthContext> context={auth}>
            <HashRouter>
                <Switch<Route> render={|route| html! { <Guard {route} /> }} />
            </HashRouter>
        </ContextProvider<crate::hooks::AuthContext>>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct GuardProps {
    route: Route,
}

/// Every page but the login page needs a session; without one the login page shows
/// in its place, and the page asked for follows once logged in.
#[component]
fn Guard(props: &GuardProps) -> Html {
    let Some(api) = use_api() else {
        return html! { <LoginPage /> };
    };
    match &props.route {
        Route::Login | Route::Home => html! { <Redirect<Route> to={Route::Tunnels} /> },
        Route::Tunnels => html! { <TunnelsPage {api} /> },
        Route::Inspector { id } => html! { <InspectorPage {api} tunnel_id={id.clone()} /> },
        Route::NotFound => html! { <NotFoundPage /> },
    }
}
