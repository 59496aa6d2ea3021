use client_core::inspect::CapturedBody;
use yew::prelude::*;

use crate::services::browser::form_pairs;
use crate::services::format::{BodyView, body_view, size};

/// Props of [`BodyPanel`].
#[derive(Debug, Properties, PartialEq)]
pub struct BodyPanelProps {
    /// The body's `Content-Type`.
    pub content_type: Option<AttrValue>,
    /// The body.
    pub body: CapturedBody,
}

/// A body as what it is: JSON pretty, a form as fields, text as text, bytes as hex.
#[component]
pub fn BodyPanel(props: &BodyPanelProps) -> Html {
    let body = &props.body;
    let view = body_view(props.content_type.as_deref(), body);
    let kind = match &view {
        BodyView::Empty => "empty",
        BodyView::Json(_) => "JSON",
        BodyView::Form(_) => "form",
        BodyView::Text(_) => "text",
        BodyView::Binary { .. } => "binary",
    };
    let meta = html! {
        <div class="body-meta">
            <span>{ format!("{kind} · {}", size(body.size)) }</span>
            if body.truncated {
                <span class="badge warn" title="The server keeps only the first part of large bodies">
                    { format!("truncated: {} of {} captured", size(body.bytes.len() as u64), size(body.size)) }
                </span>
            }
        </div>
    };
    let content = match view {
        BodyView::Empty => html! { <p class="muted">{ "No body." }</p> },
        BodyView::Json(text) | BodyView::Text(text) => html! { <pre class="code">{ text }</pre> },
        BodyView::Form(text) => html! {
            <table class="kv mono">
                <tbody>
                    { for form_pairs(&text).into_iter().map(|(k, v)| html! {
                        <tr><th scope="row">{ k }</th><td>{ v }</td></tr>
                    }) }
                </tbody>
            </table>
        },
        BodyView::Binary { hex, shown } => html! {
            <>
                <pre class="code hex">{ hex }</pre>
                if (shown as u64) < body.size {
                    <p class="muted">{ format!("First {} of {} shown.", size(shown as u64), size(body.size)) }</p>
                }
            </>
        },
    };
    html! { <div class="body">{ meta }{ content }</div> }
}
