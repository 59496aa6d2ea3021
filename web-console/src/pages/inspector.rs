use client_core::api::TunnelStatus;
use client_core::inspect::{Filter, to_har};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::components::{
    CopyButton, EmptyState, ErrorBox, ExchangeDetail, FilterBar, Layout, Loading, RequestList,
};
use crate::hooks::{Detail, InspectorAction, use_inspector};
use crate::services::api::Api;
use crate::services::browser;
use crate::services::live::LiveStatus;

/// At most this many exchanges go into one HAR export (each is one fetch).
const HAR_EXPORT_MAX: usize = 200;

/// Props of [`InspectorPage`].
#[derive(Debug, Properties, PartialEq)]
pub struct InspectorPageProps {
    /// The API.
    pub api: Api,
    /// The tunnel inspected.
    pub tunnel_id: AttrValue,
}

fn live_badge(live: LiveStatus) -> Html {
    let (class, text, title) = match live {
        LiveStatus::Connecting => ("off", "connecting…", "Opening the live feed"),
        LiveStatus::Live => ("ok", "● live", "New requests appear as they arrive"),
        LiveStatus::Reconnecting => (
            "warn",
            "reconnecting…",
            "The live feed dropped; the browser is reconnecting",
        ),
        LiveStatus::Closed => (
            "bad",
            "live feed stopped",
            "Reload the page to resume live updates",
        ),
    };
    html! {
        <span class={classes!("badge", class)} title={title} data-testid="live-status"
            data-live={format!("{live:?}").to_lowercase()}>{ text }</span>
    }
}

/// A tunnel's traffic: the live list, filters, one exchange in detail, replay.
#[component]
pub fn InspectorPage(props: &InspectorPageProps) -> Html {
    let inspector = use_inspector(props.api.clone(), props.tunnel_id.to_string());
    let state = inspector.state.clone();
    let confirm_clear = use_state(|| false);
    let exporting = use_state(|| false);

    let public_url = match &state.tunnel {
        Some(Ok(t)) => t.public_url.clone(),
        _ => String::new(),
    };

    let on_filter = {
        let state = state.clone();
        Callback::from(move |f: Filter| state.dispatch(InspectorAction::SetFilter(f)))
    };
    let on_replay = {
        let (replay, detail) = (inspector.replay.clone(), state.detail.clone());
        Callback::from(move |edits| {
            if let Some(d) = &detail {
                replay.emit((d.id().to_owned(), edits));
            }
        })
    };
    let ask_clear = {
        let c = confirm_clear.clone();
        Callback::from(move |_| c.set(true))
    };
    let do_clear = {
        let (c, clear) = (confirm_clear.clone(), inspector.clear.clone());
        Callback::from(move |_| {
            c.set(false);
            clear.emit(());
        })
    };
    let cancel_clear = {
        let c = confirm_clear.clone();
        Callback::from(move |_| c.set(false))
    };
    let export = {
        let (api, state, exporting, url) = (
            props.api.clone(),
            state.clone(),
            exporting.clone(),
            public_url.clone(),
        );
        Callback::from(move |_| {
            if *exporting {
                return;
            }
            exporting.set(true);
            let ids: Vec<String> = state
                .requests
                .iter()
                .take(HAR_EXPORT_MAX)
                .map(|r| r.request_id.clone())
                .collect();
            let (api, state, exporting, url) =
                (api.clone(), state.clone(), exporting.clone(), url.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let mut exchanges = Vec::with_capacity(ids.len());
                let mut failed = None;
                for id in ids {
                    match api.run(api.client().get_request(&id)).await {
                        Ok(x) => exchanges.push(x),
                        // Gone from the bounded log since it was listed: leave it out.
                        Err(e) if e.to_string().contains("not found") => {}
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                let notice = match failed {
                    Some(e) => Some(format!("The HAR export failed: {e}")),
                    None => {
                        let har = to_har(&exchanges, &url, env!("CARGO_PKG_VERSION"));
                        let text = serde_json::to_string_pretty(&har).unwrap_or_default();
                        browser::download("requests.har", "application/json", &text)
                            .err()
                            .map(|e| format!("The HAR export failed: {e}"))
                    }
                };
                state.dispatch(InspectorAction::Notice(notice));
                exporting.set(false);
            });
        })
    };
    let retry_list = {
        let state = state.clone();
        Callback::from(move |()| state.dispatch(InspectorAction::Reload))
    };

    let head = match &state.tunnel {
        None => html! { <Loading label="Loading the tunnel…" /> },
        Some(Err(e)) => html! { <ErrorBox message={e.clone()} /> },
        Some(Ok(t)) => {
            let online = t.status == TunnelStatus::Online;
            html! {
                <div class="tunnel-head">
                    <h1>{ t.domain.clone() }</h1>
                    <span class={classes!("badge", if online { "ok" } else { "off" })}>
                        { if online { "● connected" } else { "○ not connected" } }
                    </span>
                    <a class="url" href={t.public_url.clone()} target="_blank" rel="noopener noreferrer">{ t.public_url.clone() }</a>
                    <CopyButton text={t.public_url.clone()} label="Copy URL" />
                </div>
            }
        }
    };

    let list = if let Some(e) = &state.list_error
        && state.requests.is_empty()
    {
        html! { <ErrorBox message={e.clone()} retry={retry_list} /> }
    } else if state.requests.is_empty() && state.list_loading {
        html! { <Loading label="Loading requests…" /> }
    } else if state.requests.is_empty() {
        let offline = matches!(&state.tunnel, Some(Ok(t)) if t.status != TunnelStatus::Online);
        if state.filter.is_empty() && offline {
            // A curl now would only meet "not connected": the next step is the client.
            let domain = match &state.tunnel {
                Some(Ok(t)) => t.domain.clone(),
                _ => String::new(),
            };
            html! {
                <EmptyState title="No requests yet: this tunnel is not connected.">
                    <p>{ "On the machine that runs your service, start serving it (PORT is your service's port):" }</p>
                    <pre class="code" data-testid="offline-start">{ format!("tunnel start PORT --domain {domain}") }</pre>
                    <p>{ "Requests to " }{ public_url.clone() }{ " then show here as they arrive." }</p>
                </EmptyState>
            }
        } else if state.filter.is_empty() {
            html! {
                <EmptyState title="No requests yet.">
                    <p>{ "They appear here as they reach the tunnel. Try:" }</p>
                    <pre class="code">{ format!("curl {public_url}") }</pre>
                </EmptyState>
            }
        } else {
            html! { <EmptyState title="No request matches these filters." /> }
        }
    } else {
        html! {
            <>
                <RequestList requests={state.requests.clone()}
                    selected={state.detail.as_ref().map(|d| d.id().to_owned())}
                    on_select={inspector.select.clone()} />
                if let Some(e) = &state.list_error { <ErrorBox message={e.clone()} /> }
                if state.next_cursor.is_some() {
                    <button class="btn wide" disabled={state.list_loading}
                        onclick={ let m = inspector.load_more.clone(); move |_| m.emit(()) }>
                        { if state.list_loading { "Loading…" } else { "Load older requests" } }
                    </button>
                }
            </>
        }
    };

    let detail = match &state.detail {
        None => html! {
            <EmptyState title="Select a request to see it in full.">
                <p class="muted">{ "Click a row, or focus the list and use ↑ ↓ and Enter." }</p>
            </EmptyState>
        },
        Some(Detail::Loading(_)) => html! { <Loading label="Loading the request…" /> },
        Some(Detail::Failed(_, e)) => html! { <ErrorBox message={e.clone()} /> },
        Some(Detail::Ready(x)) => html! {
            <ExchangeDetail key={x.request_id.clone()} exchange={x.clone()} public_url={public_url.clone()}
                replay={state.replay.clone()} {on_replay} on_open={inspector.select.clone()} />
        },
    };

    html! {
        <Layout>
            <nav class="crumbs" aria-label="Breadcrumb">
                <Link<Route> to={Route::Tunnels}>{ "Tunnels" }</Link<Route>>
                <span aria-hidden="true">{ " / " }</span>
                <span>{ "Inspector" }</span>
            </nav>
            { head }
            <div class="inspector-bar">
                { live_badge(state.live) }
                <FilterBar filter={state.filter.clone()} on_change={on_filter} />
                <span class="spacer"></span>
                <button class="btn small" onclick={export} disabled={*exporting || state.requests.is_empty()}
                    data-testid="export-har">{ if *exporting { "Exporting…" } else { "Export HAR" } }</button>
                if *confirm_clear {
                    <span class="confirm" role="group" aria-label="Clear the log?">
                        <span>{ "Delete every captured request?" }</span>
                        <button class="btn small danger" onclick={do_clear} data-testid="clear-confirm">{ "Clear" }</button>
                        <button class="btn small" onclick={cancel_clear}>{ "Cancel" }</button>
                    </span>
                } else {
                    <button class="btn small danger-outline" onclick={ask_clear}
                        disabled={state.requests.is_empty()} data-testid="clear-log">{ "Clear log" }</button>
                }
            </div>
            if let Some(n) = &state.notice {
                <p class="notice" role="status">{ n.clone() }</p>
            }
            <div class={classes!("inspector", state.detail.is_some().then_some("has-detail"))}>
                <section class="list-pane" aria-label="Requests">{ list }</section>
                <section class="detail-pane" aria-label="Detail">{ detail }</section>
            </div>
        </Layout>
    }
}
