use std::rc::Rc;

use client_core::inspect::{Exchange, ReplayEdits, Timings, to_curl, to_har};
use yew::prelude::*;

use super::{BodyPanel, CopyButton, ErrorBox, HeadersTable, Loading, ReplayForm};
use crate::hooks::ReplayView;
use crate::services::browser::{self, clock_time};
use crate::services::format::{duration, header, status_class};

/// Props of [`ExchangeDetail`].
#[derive(Debug, Properties, PartialEq)]
pub struct ExchangeDetailProps {
    /// The exchange.
    pub exchange: Rc<Exchange>,
    /// The tunnel's public URL, for curl and HAR.
    pub public_url: AttrValue,
    /// Its replay, if one was sent from here.
    pub replay: Option<ReplayView>,
    /// Replays it with edits (none for a plain replay).
    pub on_replay: Callback<ReplayEdits>,
    /// Opens another exchange (the original of a replay).
    pub on_open: Callback<String>,
}

fn status_text(x: &Exchange) -> String {
    match &x.response {
        Some(r) => r.status.to_string(),
        None => x.outcome.to_string().replace('_', " "),
    }
}

fn timings(t: &Timings) -> Html {
    let at = |label: &str, ms: Option<u64>| {
        let text = ms.map_or_else(
            || "—".to_owned(),
            |v| format!("+{}", duration(v.saturating_sub(t.received_ms))),
        );
        html! { <div class="timing"><dt>{ label.to_owned() }</dt><dd class="mono">{ text }</dd></div> }
    };
    let total = t.duration_ms().unwrap_or(0).max(1) as f64;
    let pct = |ms: Option<u64>| {
        ms.map_or(0.0, |v| {
            (v.saturating_sub(t.received_ms) as f64 / total * 100.0).min(100.0)
        })
    };
    let (fwd, first) = (pct(t.forwarded_ms), pct(t.first_byte_ms));
    html! {
        <section class="timings" aria-label="Timings">
            <dl>
                <div class="timing"><dt>{ "Received" }</dt><dd class="mono">{ clock_time(t.received_ms) }</dd></div>
                { at("Forwarded", t.forwarded_ms) }
                { at("First byte", t.first_byte_ms) }
                { at("Done", t.done_ms) }
            </dl>
            <div class="bar" aria-hidden="true">
                <span class="seg tunnel" style={format!("width:{fwd:.1}%")}></span>
                <span class="seg origin" style={format!("width:{:.1}%", (first - fwd).max(0.0))}></span>
                <span class="seg body" style={format!("width:{:.1}%", (100.0 - first).max(0.0))}></span>
            </div>
        </section>
    }
}

fn response_panel(x: &Exchange) -> Html {
    match &x.response {
        Some(r) => html! {
            <>
                <HeadersTable headers={r.headers.clone()} />
                <BodyPanel content_type={header(&r.headers, "content-type").map(|v| AttrValue::from(v.to_owned()))}
                    body={r.body.clone()} />
            </>
        },
        None => html! {
            <p class="muted">{ format!("No response: {}.", x.outcome.to_string().replace('_', " ")) }</p>
        },
    }
}

/// One exchange in full: request and response with headers and bodies, timings, and
/// the actions on it (replay, edit and replay, copy as curl, download HAR).
#[component]
pub fn ExchangeDetail(props: &ExchangeDetailProps) -> Html {
    let editing = use_state(|| false);
    let download_error = use_state(|| None::<String>);
    let x = &props.exchange;
    let in_flight = props.replay.as_ref().is_some_and(|r| r.result.is_none());

    let replay = {
        let cb = props.on_replay.clone();
        Callback::from(move |_| cb.emit(ReplayEdits::default()))
    };
    let toggle_edit = {
        let editing = editing.clone();
        Callback::from(move |_| editing.set(!*editing))
    };
    let submit_edit = {
        let (cb, editing) = (props.on_replay.clone(), editing.clone());
        Callback::from(move |edits| {
            editing.set(false);
            cb.emit(edits);
        })
    };
    let cancel_edit = {
        let editing = editing.clone();
        Callback::from(move |()| editing.set(false))
    };
    let download_har = {
        let (x, url, err) = (x.clone(), props.public_url.clone(), download_error.clone());
        Callback::from(move |_| {
            let har = to_har(std::slice::from_ref(&*x), &url, env!("CARGO_PKG_VERSION"));
            let text = serde_json::to_string_pretty(&har).unwrap_or_default();
            let name = format!("{}.har", x.request_id);
            err.set(browser::download(&name, "application/json", &text).err());
        })
    };
    let open = |id: &String| {
        let cb = props.on_open.clone();
        let target = id.clone();
        (id.clone(), Callback::from(move |_| cb.emit(target.clone())))
    };
    let open_original = x.replay_of.as_ref().map(open);
    let open_held = x.inbox_of.as_ref().map(open);

    let curl = to_curl(x, &props.public_url);
    let req_type =
        header(&x.request.headers, "content-type").map(|v| AttrValue::from(v.to_owned()));

    html! {
        <article class="detail" data-testid="request-detail" data-request-id={x.request_id.clone()}
            aria-label="Request detail">
            <header class="detail-head">
                <h2 class="mono">
                    <span class="method">{ x.method.clone() }</span>{ " " }
                    <span class="path">{ x.path.clone() }</span>
                </h2>
                <div class="meta">
                    <span class={classes!("badge", "status", status_class(x.response.as_ref().map(|r| r.status)))}
                        data-testid="detail-status">{ status_text(x) }</span>
                    if let Some(d) = x.timings.duration_ms() { <span>{ duration(d) }</span> }
                    <span class="muted" title="The public client's address">{ x.remote_addr.clone() }</span>
                    if let Some((id, open)) = open_original {
                        <button class="btn link" onclick={open} title={id}>{ "↻ replay of the original" }</button>
                    }
                    if let Some((id, open)) = open_held {
                        <button class="btn link" onclick={open} title={id}>{ "✉ delivery of the held request" }</button>
                    }
                </div>
                <div class="toolbar" role="toolbar" aria-label="Actions">
                    <button class="btn primary" onclick={replay} disabled={in_flight}
                        data-testid="replay">{ "Replay" }</button>
                    <button class="btn" onclick={toggle_edit} aria-expanded={editing.to_string()}
                        data-testid="replay-edit">{ "Edit and replay" }</button>
                    <CopyButton text={curl.clone()} label="Copy as curl" testid="copy-curl" />
                    <button class="btn small" onclick={download_har} data-testid="download-har">{ "Download HAR" }</button>
                </div>
                if let Some(e) = (*download_error).clone() { <ErrorBox message={e} /> }
            </header>

            if *editing {
                <ReplayForm exchange={x.clone()} on_submit={submit_edit} on_cancel={cancel_edit} busy={in_flight} />
            }

            if let Some(r) = &props.replay {
                <section class="compare" data-testid="replay-result" aria-label="Replay compared with the original">
                    <div class="col">
                        <h3>{ "Original response" }<span class={classes!("badge", status_class(x.response.as_ref().map(|r| r.status)))}>{ status_text(x) }</span></h3>
                        { response_panel(x) }
                    </div>
                    <div class="col">
                        { match &r.result {
                            None => html! { <><h3>{ "Replay" }</h3><Loading label="Sending the replay through the tunnel…" /></> },
                            Some(Err(e)) => html! { <><h3>{ "Replay" }</h3><ErrorBox message={e.clone()} /></> },
                            Some(Ok(new)) => html! {
                                <>
                                    <h3>{ "Replay response" }
                                        <span class={classes!("badge", status_class(new.response.as_ref().map(|r| r.status)))}
                                            data-testid="replay-status">{ status_text(new) }</span>
                                        if let Some(d) = new.timings.duration_ms() { <span class="muted">{ duration(d) }</span> }
                                    </h3>
                                    { response_panel(new) }
                                </>
                            },
                        } }
                    </div>
                </section>
            }

            { timings(&x.timings) }

            <div class="sections">
                <section aria-label="Request">
                    <h3>{ "Request" }</h3>
                    <HeadersTable headers={x.request.headers.clone()} />
                    <BodyPanel content_type={req_type} body={x.request.body.clone()} />
                </section>
                <section aria-label="Response">
                    <h3>{ "Response" }</h3>
                    { response_panel(x) }
                </section>
            </div>

            <details class="curl">
                <summary>{ "curl command" }</summary>
                <pre class="code" data-testid="curl-text">{ curl }</pre>
            </details>
        </article>
    }
}
