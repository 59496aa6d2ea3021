use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::components::{EmptyState, Layout};

/// An address the console does not have.
#[component]
pub fn NotFoundPage() -> Html {
    html! {
        <Layout>
            <EmptyState title="There is no such page.">
                <Link<Route> to={Route::Tunnels} classes="btn">{ "Go to your tunnels" }</Link<Route>>
            </EmptyState>
        </Layout>
    }
}
