use client_core::api::{Tunnel, TunnelStatus};
use yew::prelude::*;
use yew_router::prelude::*;

use super::PolicyEditor;
use crate::app::Route;
use crate::services::api::Api;
use crate::services::browser::{date_time, focus};

/// Props of [`TunnelTable`].
#[derive(Debug, Properties, PartialEq)]
pub struct TunnelTableProps {
    /// The API, for the policy editor.
    pub api: Api,
    /// The tunnels.
    pub tunnels: Vec<Tunnel>,
    /// Called with a tunnel whose policy was saved, as the server answered.
    pub on_updated: Callback<Tunnel>,
    /// Called with a tunnel id once its deletion is confirmed.
    pub on_delete: Callback<String>,
    /// Ids being deleted.
    #[prop_or_default]
    pub deleting: Vec<String>,
}

/// Where focus goes back to when a tunnel's policy editor closes.
fn access_button_id(tunnel_id: &str) -> String {
    format!("access-{tunnel_id}")
}

/// The tunnels, one row each; delete asks for confirmation in place, and the access
/// policy opens for editing under its row.
#[component]
pub fn TunnelTable(props: &TunnelTableProps) -> Html {
    let confirming = use_state(|| None::<String>);
    let editing = use_state(|| None::<String>);
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
        let is_editing = editing.as_deref() == Some(id.as_str());
        let toggle_edit = {
            let (editing, id) = (editing.clone(), id.clone());
            Callback::from(move |_| {
                editing.set((editing.as_deref() != Some(id.as_str())).then(|| id.clone()))
            })
        };
        let close_edit = {
            let (editing, id) = (editing.clone(), id.clone());
            Callback::from(move |()| {
                editing.set(None);
                focus(&access_button_id(&id));
            })
        };
        let saved = {
            let (on_updated, close_edit) = (props.on_updated.clone(), close_edit.clone());
            Callback::from(move |t: Tunnel| {
                on_updated.emit(t);
                close_edit.emit(());
            })
        };
        let editor_id = format!("access-editor-{id}");
        html! {
            <key={id.clone()}>
            <tr data-testid="tunnel-row" data-domain={t.domain.clone()}
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
                    if let (false, Some(until)) = (online, t.expires_at) {
                        // Inactive tunnels are kept with their policy and log, not
                        // forever: say until when.
                        <div class="hint" data-testid="tunnel-expiry">
                            { format!("Inactive, kept until {}", date_time(until)) }
                        </div>
                    }
                    if !online {
                        // The next step for a tunnel made here: serve it from the machine
                        // that runs the service.
                        <div class="hint" data-testid="offline-hint">
                            { "Serve it: " }<code>{ format!("tunnel start PORT --domain {}", t.domain) }</code>
                        </div>
                    }
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
                    <button id={access_button_id(&id)} class="btn small" onclick={toggle_edit}
                        aria-expanded={is_editing.to_string()} aria-controls={editor_id.clone()}
                        aria-label={format!("Access policy of {}", t.domain)}
                        data-testid="tunnel-access-edit">
                        { "Access" }
                    </button>
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
            if is_editing {
                <tr class="editor-row" id={editor_id}>
                    <td colspan="7">
                        <PolicyEditor api={props.api.clone()} tunnel={t.clone()}
                            on_saved={saved} on_close={close_edit} />
                    </td>
                </tr>
            }
            </>
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
