use client_core::api::{Tunnel, TunnelStatus};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::services::browser::date_time;

/// Props of [`TunnelTable`].
#[derive(Debug, Properties, PartialEq)]
pub struct TunnelTableProps {
    /// The tunnels.
    pub tunnels: Vec<Tunnel>,
    /// Called with a tunnel id once its deletion is confirmed.
    pub on_delete: Callback<String>,
    /// Ids being deleted.
    #[prop_or_default]
    pub deleting: Vec<String>,
}

/// The tunnels, one row each; delete asks for confirmation in place.
#[component]
pub fn TunnelTable(props: &TunnelTableProps) -> Html {
    let confirming = use_state(|| None::<String>);
    let rows = props.tunnels.iter().map(|t| {
        let online = t.status == TunnelStatus::Online;
        let id = t.tunnel_id.clone();
        let is_confirming = confirming.as_deref() == Some(id.as_str());
        let busy = props.deleting.contains(&id);
        let ask = {
            let (confirming, id) = (confirming.clone(), id.clone());
            Callback::from(move |_| confirming.set(Some(id.clone())))
        };
        let cancel = {
            let confirming = confirming.clone();
            Callback::from(move |_| confirming.set(None))
        };
        let confirm = {
            let (confirming, on_delete, id) = (confirming.clone(), props.on_delete.clone(), id.clone());
            Callback::from(move |_| {
                confirming.set(None);
                on_delete.emit(id.clone());
            })
        };
        html! {
            <tr key={id.clone()} data-testid="tunnel-row" data-domain={t.domain.clone()}
                data-status={t.status.to_string()}>
                <td data-label="Domain">
                    <Link<Route> to={Route::Inspector { id: id.clone() }} classes="strong">
                        { t.domain.clone() }
                    </Link<Route>>
                </td>
                <td data-label="Status">
                    <span class={classes!("badge", if online { "ok" } else { "off" })}
                        title={if online { "a tunnel client is connected" } else { "no tunnel client is connected: public requests get 502" }}>
                        { if online { "● connected" } else { "○ not connected" } }
                    </span>
                </td>
                <td data-label="Public URL" class="url">
                    <a href={t.public_url.clone()} target="_blank" rel="noopener noreferrer">{ t.public_url.clone() }</a>
                </td>
                <td data-label="Access" data-testid="tunnel-access">
                    { t.policy.as_ref().map_or_else(|| "anyone".to_owned(), |p| p.describe()) }
                </td>
                <td data-label="Created">{ date_time(t.created_at) }</td>
                <td data-label="Requests" class="num" data-testid="tunnel-request-count">{ t.request_count }</td>
                <td class="actions">
                    <Link<Route> to={Route::Inspector { id: id.clone() }} classes="btn small">{ "Inspect" }</Link<Route>>
                    if is_confirming {
                        <span class="confirm" role="group" aria-label={format!("Delete {}?", t.domain)}>
                            <span>{ "Delete?" }</span>
                            <button class="btn small danger" onclick={confirm}
                                data-testid="tunnel-delete-confirm">{ "Delete" }</button>
                            <button class="btn small" onclick={cancel}>{ "Cancel" }</button>
                        </span>
                    } else {
                        <button class="btn small danger-outline" onclick={ask} disabled={busy}
                            aria-label={format!("Delete tunnel {}", t.domain)}
                            data-testid="tunnel-delete">
                            { if busy { "Deleting…" } else { "Delete" } }
                        </button>
                    }
                </td>
            </tr>
        }
    });
    html! {
        <table class="table tunnels">
            <thead>
                <tr>
                    <th>{ "Domain" }</th><th>{ "Status" }</th><th>{ "Public URL" }</th>
                    <th>{ "Access" }</th><th>{ "Created" }</th><th class="num">{ "Requests" }</th><th><span class="sr-only">{ "Actions" }</span></th>
                </tr>
            </thead>
            <tbody>{ for rows }</tbody>
        </table>
    }
}
