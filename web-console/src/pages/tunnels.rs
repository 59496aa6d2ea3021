use client_core::api::Tunnel;
use yew::prelude::*;

use crate::components::{CreateTunnelForm, EmptyState, ErrorBox, Layout, Loading, TunnelTable};
use crate::hooks::{TunnelsAction, use_tunnels};
use crate::services::api::Api;

/// Props of [`TunnelsPage`].
#[derive(Debug, Properties, PartialEq)]
pub struct TunnelsPageProps {
    /// The API.
    pub api: Api,
}

/// The person's tunnels: live status, create, edit access, delete.
#[component]
pub fn TunnelsPage(props: &TunnelsPageProps) -> Html {
    let state = use_tunnels(props.api.clone());
    let deleting = use_state(Vec::<String>::new);
    let action_error = use_state(|| None::<String>);

    let on_created = {
        let state = state.clone();
        Callback::from(move |t: Tunnel| state.dispatch(TunnelsAction::Added(Box::new(t))))
    };
    let on_updated = {
        let state = state.clone();
        Callback::from(move |t: Tunnel| state.dispatch(TunnelsAction::Updated(Box::new(t))))
    };
    let on_delete = {
        let (api, state, deleting, action_error) = (
            props.api.clone(),
            state.clone(),
            deleting.clone(),
            action_error.clone(),
        );
        Callback::from(move |id: String| {
            let mut now = (*deleting).clone();
            now.push(id.clone());
            deleting.set(now);
            let (api, state, deleting, action_error) = (
                api.clone(),
                state.clone(),
                deleting.clone(),
                action_error.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match api.run_empty(api.client().delete_tunnel(&id)).await {
                    Ok(()) => {
                        state.dispatch(TunnelsAction::Removed(id.clone()));
                        action_error.set(None);
                    }
                    Err(e) => action_error.set(Some(format!("The tunnel was not deleted: {e}"))),
                }
                deleting.set((*deleting).iter().filter(|d| **d != id).cloned().collect());
            });
        })
    };

    let body = match (&state.tunnels, &state.error) {
        (None, None) => html! { <Loading label="Loading your tunnels…" /> },
        (None, Some(e)) => html! { <ErrorBox message={e.clone()} /> },
        (Some(list), _) if list.is_empty() => html! {
            <EmptyState title="No tunnels yet.">
                <p>{ "Create one above, or from your machine:" }</p>
                <pre class="code">{ "tunnel start 3000" }</pre>
            </EmptyState>
        },
        (Some(list), e) => html! {
            <>
                if let Some(e) = e { <ErrorBox message={format!("Refreshing failed: {e}")} /> }
                <TunnelTable api={props.api.clone()} tunnels={list.clone()} {on_updated} {on_delete}
                    deleting={(*deleting).clone()} />
            </>
        },
    };
    html! {
        <Layout>
            <div class="page-head">
                <h1>{ "Tunnels" }</h1>
                <p class="muted">{ "A tunnel is connected while " }<code>{ "tunnel start" }</code>{ " serves it from your machine." }</p>
            </div>
            <CreateTunnelForm api={props.api.clone()} {on_created} />
            if let Some(e) = (*action_error).clone() { <ErrorBox message={e} /> }
            { body }
        </Layout>
    }
}
