use client_core::inspect::ExchangeSummary;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;
use yew::prelude::*;

use crate::services::browser::clock_time;
use crate::services::format::{duration, size, status_class};

/// Props of [`RequestList`].
#[derive(Debug, Properties, PartialEq)]
pub struct RequestListProps {
    /// The exchanges, newest first.
    pub requests: Vec<ExchangeSummary>,
    /// The open one.
    pub selected: Option<String>,
    /// Called with the id of an exchange to open.
    pub on_select: Callback<String>,
}

/// Moves keyboard focus to the row above or below.
fn focus_sibling(row: &HtmlElement, down: bool) {
    let next = if down {
        row.next_element_sibling()
    } else {
        row.previous_element_sibling()
    };
    if let Some(el) = next.and_then(|e| e.dyn_into::<HtmlElement>().ok()) {
        let _ = el.focus();
    }
}

/// The exchanges, one row each: click, or Enter with the arrow keys, opens one.
#[component]
pub fn RequestList(props: &RequestListProps) -> Html {
    let rows = props.requests.iter().map(|r| {
        let id = r.request_id.clone();
        let selected = props.selected.as_deref() == Some(id.as_str());
        let onclick = {
            let (cb, id) = (props.on_select.clone(), id.clone());
            Callback::from(move |_| cb.emit(id.clone()))
        };
        let onkeydown = {
            let (cb, id) = (props.on_select.clone(), id.clone());
            Callback::from(move |e: KeyboardEvent| {
                let row: HtmlElement = e.target_unchecked_into();
                match e.key().as_str() {
                    "Enter" | " " => {
                        e.prevent_default();
                        cb.emit(id.clone());
                    }
                    "ArrowDown" | "j" => {
                        e.prevent_default();
                        focus_sibling(&row, true);
                    }
                    "ArrowUp" | "k" => {
                        e.prevent_default();
                        focus_sibling(&row, false);
                    }
                    _ => {}
                }
            })
        };
        let status = match r.status {
            Some(s) => s.to_string(),
            None => r.outcome.to_string().replace('_', " "),
        };
        html! {
            <tr key={id.clone()} class={classes!("req", selected.then_some("selected"))}
                tabindex="0" aria-selected={selected.to_string()}
                {onclick} {onkeydown}
                data-testid="request-row" data-request-id={id.clone()}
                data-method={r.method.clone()} data-path={r.path.clone()}>
                <td class="time mono">{ clock_time(r.received_ms) }</td>
                <td class="method mono">{ r.method.clone() }</td>
                <td class="path mono" title={r.path.clone()}>
                    if r.replay_of.is_some() {
                        <span class="badge replay" title="a replay">{ "replay" }</span>
                    }
                    if r.inbox_of.is_some() {
                        <span class="badge replay" title="the delivery of a request the offline inbox held">{ "delivered" }</span>
                    }
                    { r.path.clone() }
                </td>
                <td class={classes!("status", "mono", status_class(r.status))}>{ status }</td>
                <td class="dur num">{ r.duration_ms.map(duration).unwrap_or_else(|| "…".into()) }</td>
                <td class="size num">{ r.response_size.map(size).unwrap_or_default() }</td>
            </tr>
        }
    });
    html! {
        <table class="table requests" aria-label="Requests, newest first">
            <thead>
                <tr>
                    <th class="time">{ "Time" }</th><th class="method">{ "Method" }</th><th>{ "Path" }</th>
                    <th class="status">{ "Status" }</th><th class="dur num">{ "Duration" }</th><th class="size num">{ "Size" }</th>
                </tr>
            </thead>
            <tbody>{ for rows }</tbody>
        </table>
    }
}
