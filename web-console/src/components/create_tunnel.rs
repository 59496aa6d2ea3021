use client_core::api::Tunnel;
use client_core::domain::validate_subdomain;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::services::api::Api;

/// Props of [`CreateTunnelForm`].
#[derive(Debug, Properties, PartialEq)]
pub struct CreateTunnelProps {
    /// The API.
    pub api: Api,
    /// Called with the new (or resumed) tunnel.
    pub on_created: Callback<Tunnel>,
}

/// A domain field checked as you type, by the server's own rules, and a create button.
#[component]
pub fn CreateTunnelForm(props: &CreateTunnelProps) -> Html {
    let domain = use_state(String::new);
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);

    let invalid = if domain.is_empty() {
        None
    } else {
        validate_subdomain(&domain).err().map(|e| e.to_string())
    };

    let oninput = {
        let (domain, error) = (domain.clone(), error.clone());
        Callback::from(move |e: InputEvent| {
            domain.set(e.target_unchecked_into::<HtmlInputElement>().value());
            error.set(None);
        })
    };
    let onsubmit = {
        let (domain, busy, error) = (domain.clone(), busy.clone(), error.clone());
        let (api, on_created) = (props.api.clone(), props.on_created.clone());
        let blocked = invalid.is_some();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if blocked || *busy {
                return;
            }
            busy.set(true);
            let name = (*domain).clone();
            let (domain, busy, error) = (domain.clone(), busy.clone(), error.clone());
            let (api, on_created) = (api.clone(), on_created.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let wanted = (!name.is_empty()).then_some(name.as_str());
                match api.run(api.client().create_tunnel(wanted)).await {
                    Ok(t) => {
                        domain.set(String::new());
                        on_created.emit(t);
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        })
    };

    let message = invalid.clone().or_else(|| (*error).clone());
    let hint = if domain.is_empty() {
        "Leave empty for a random name, e.g. brave-otter-3f9a1c."
    } else if invalid.is_none() {
        "Looks good."
    } else {
        ""
    };
    html! {
        <form class="create-form" {onsubmit} novalidate=true>
            <label for="domain">{ "New tunnel" }</label>
            <div class="row">
                <input id="domain" type="text" placeholder="subdomain (optional)"
                    autocomplete="off" spellcheck="false" autocapitalize="none"
                    value={(*domain).clone()} {oninput}
                    aria-invalid={invalid.is_some().to_string()}
                    aria-describedby="domain-help"
                    data-testid="tunnel-create-domain" />
                <button class="btn primary" type="submit"
                    disabled={invalid.is_some() || *busy}
                    data-testid="tunnel-create-submit">
                    { if *busy { "Creating…" } else { "Create tunnel" } }
                </button>
            </div>
            <p id="domain-help" class={classes!("help", message.is_some().then_some("bad"))}
                aria-live="polite" data-testid="tunnel-create-help">
                { message.unwrap_or_else(|| hint.to_owned()) }
            </p>
        </form>
    }
}
