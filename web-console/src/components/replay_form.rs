use std::rc::Rc;

use client_core::inspect::{Exchange, ReplayEdits};
use yew::prelude::*;

use super::field::{input_value, on_field, textarea_value};

use crate::services::edits::EditForm;

/// Props of [`ReplayForm`].
#[derive(Debug, Properties, PartialEq)]
pub struct ReplayFormProps {
    /// The exchange to replay.
    pub exchange: Rc<Exchange>,
    /// Called with the edits to send.
    pub on_submit: Callback<ReplayEdits>,
    /// Called to close the form.
    pub on_cancel: Callback<()>,
    /// A replay is in flight.
    #[prop_or_default]
    pub busy: bool,
}

/// Method, path, headers and body of the captured request, editable, then replayed.
#[component]
pub fn ReplayForm(props: &ReplayFormProps) -> Html {
    let form = use_state(|| EditForm::of(&props.exchange));
    let error = use_state(|| None::<String>);

    let update = |set: fn(&mut EditForm, String), read: fn(&InputEvent) -> String| {
        on_field(&form, &error, set, read)
    };
    let (input, text) = (input_value, textarea_value);
    let onsubmit = {
        let (form, error, exchange, on_submit) = (
            form.clone(),
            error.clone(),
            props.exchange.clone(),
            props.on_submit.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match form.to_edits(&exchange) {
                Ok(edits) => on_submit.emit(edits),
                Err(message) => error.set(Some(message)),
            }
        })
    };
    let cancel = {
        let cb = props.on_cancel.clone();
        Callback::from(move |_| cb.emit(()))
    };
    html! {
        <form class="replay-form" {onsubmit} aria-label="Edit and replay">
            <div class="row">
                <label class="grow-0">{ "Method" }
                    <input class="mono method-input" value={form.method.clone()}
                        oninput={update(|f, v| f.method = v, input)} data-testid="replay-method" />
                </label>
                <label class="grow">{ "Path" }
                    <input class="mono" value={form.path.clone()}
                        oninput={update(|f, v| f.path = v, input)} data-testid="replay-path" />
                </label>
            </div>
            <label>{ "Headers, one Name: value a line (a line removed is a header removed; redacted values are not sent)" }
                <textarea class="mono" rows="6" value={form.headers.clone()}
                    oninput={update(|f, v| f.headers = v, text)} data-testid="replay-headers" />
            </label>
            if form.body.is_some() {
                <label>{ "Body" }
                    <textarea class="mono" rows="5" value={form.body.clone().unwrap_or_default()}
                        oninput={update(|f, v| f.body = Some(v), text)} data-testid="replay-body" />
                </label>
            } else {
                <p class="muted">{ "The body is binary: it is sent as captured." }</p>
            }
            if let Some(message) = (*error).clone() {
                <p class="help bad" role="alert">{ message }</p>
            }
            <div class="row">
                <button class="btn primary" type="submit" disabled={props.busy}
                    data-testid="replay-submit">
                    { if props.busy { "Sending…" } else { "Send replay" } }
                </button>
                <button class="btn" type="button" onclick={cancel}>{ "Cancel" }</button>
            </div>
        </form>
    }
}
