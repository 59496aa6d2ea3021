use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::hooks::{AuthAction, use_auth};

/// Props of [`Layout`].
#[derive(Debug, Properties, PartialEq)]
pub struct LayoutProps {
    /// The page.
    pub children: Html,
}

/// The top bar (name, navigation, log out) around a logged-in page.
#[component]
pub fn Layout(props: &LayoutProps) -> Html {
    let auth = use_auth();
    let navigator = use_navigator();
    let logout = {
        let auth = auth.clone();
        Callback::from(move |_| {
            auth.state.dispatch(AuthAction::LogOut);
            if let Some(n) = &navigator {
                n.push(&Route::Login);
            }
        })
    };
    html! {
        <>
            <header class="topbar">
                <Link<Route> to={Route::Tunnels} classes="brand">
                    <span class="logo" aria-hidden="true">{ "⇄" }</span>{ "tunnel" }
                </Link<Route>>
                <nav aria-label="Main">
                    <Link<Route> to={Route::Tunnels} classes="nav-link">{ "Tunnels" }</Link<Route>>
                </nav>
                <span class="spacer"></span>
                <span class="api-host" title="API">{ auth.config.api_base_url.clone() }</span>
                <button class="btn ghost" onclick={logout} data-testid="logout">{ "Log out" }</button>
            </header>
            <main class="page">{ props.children.clone() }</main>
        </>
    }
}
