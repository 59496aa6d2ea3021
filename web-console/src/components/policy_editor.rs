use client_core::api::{Tunnel, UpdateTunnel};
use client_core::policy::{
    DEFAULT_INBOX_MAX_REQUESTS, DEFAULT_INBOX_STATUS, DEFAULT_INBOX_TTL_SECS,
    DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_TOLERANCE_SECS, MIN_SHARE_TOKEN_BYTES, Policy,
    WebhookProvider,
};
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::field::{input_value, on_field, textarea_value};

use crate::services::api::Api;
use crate::services::policy_form::{PolicyForm, provider_choice, summary_of};

/// Props of [`PolicyEditor`].
#[derive(Debug, Properties, PartialEq)]
pub struct PolicyEditorProps {
    /// The API.
    pub api: Api,
    /// The tunnel whose policy is edited.
    pub tunnel: Tunnel,
    /// Called with the tunnel as the server answered, once saved.
    pub on_saved: Callback<Tunnel>,
    /// Called to close the editor.
    pub on_close: Callback<()>,
}

/// A tunnel's access policy as a form, checked as it is typed by client-core's rules,
/// saved whole (`PATCH` replaces the policy).
#[component]
pub fn PolicyEditor(props: &PolicyEditorProps) -> Html {
    let summary = props.tunnel.policy.clone().unwrap_or_default();
    let form = use_state(|| PolicyForm::of(props.tunnel.policy.as_ref()));
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let first = use_node_ref();
    {
        // Opened from a button: the keyboard continues in the form.
        let first = first.clone();
        use_effect_with((), move |()| {
            if let Some(input) = first.cast::<HtmlElement>() {
                let _ = input.focus();
            }
        });
    }

    let checked = form.to_policy();
    let id = props.tunnel.tunnel_id.clone();
    let field_id = |name: &str| format!("policy-{id}-{name}");

    let save = {
        let (api, busy, error, on_saved, id) = (
            props.api.clone(),
            busy.clone(),
            error.clone(),
            props.on_saved.clone(),
            id.clone(),
        );
        Callback::from(move |policy: Option<Policy>| {
            if *busy {
                return;
            }
            busy.set(true);
            error.set(None);
            let (api, busy, error, on_saved, id) = (
                api.clone(),
                busy.clone(),
                error.clone(),
                on_saved.clone(),
                id.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let body = UpdateTunnel { policy };
                match api.run(api.client().update_tunnel(&id, &body)).await {
                    Ok(t) => on_saved.emit(t),
                    Err(e) => {
                        error.set(Some(format!("Not saved: {e}")));
                        busy.set(false);
                    }
                }
            });
        })
    };
    let onsubmit = {
        let (save, checked) = (save.clone(), checked.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Ok(policy) = &checked {
                save.emit(policy.clone());
            }
        })
    };
    let remove = {
        let save = save.clone();
        Callback::from(move |_| save.emit(None))
    };
    let close = {
        let cb = props.on_close.clone();
        Callback::from(move |_| cb.emit(()))
    };
    let onkeydown = {
        let cb = props.on_close.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" {
                e.prevent_default();
                cb.emit(());
            }
        })
    };

    let update = |set: fn(&mut PolicyForm, String), read: fn(&InputEvent) -> String| {
        on_field(&form, &error, set, read)
    };
    let (input, text) = (input_value, textarea_value);
    let choose_provider = {
        let (form, error) = (form.clone(), error.clone());
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
            let mut next = (*form).clone();
            next.webhook_provider = value.parse().unwrap_or_default();
            form.set(next);
            error.set(None);
        })
    };
    let provider = form.webhook_provider;
    let toggle_inbox = {
        let (form, error) = (form.clone(), error.clone());
        Callback::from(move |e: Event| {
            let mut next = (*form).clone();
            next.inbox = e.target_unchecked_into::<HtmlInputElement>().checked();
            form.set(next);
            error.set(None);
        })
    };

    // A check that is on now but whose secret was not typed again would be turned off
    // by saving: say so beside it.
    let was_on = |on: bool, empty: bool, what: &str| {
        (on && empty).then(|| {
            html! { <p class="help warn">{ format!("On now. Enter {what} again to keep it; left empty, saving turns it off.") }</p> }
        })
    };
    let (help, invalid) = match &checked {
        Ok(p) => (
            format!("Saving allows: {}", summary_of(p.as_ref()).describe()),
            false,
        ),
        Err(e) => (e.clone(), true),
    };
    let heading = field_id("title");
    let help_id = field_id("help");
    html! {
        <form class="policy-form" {onsubmit} {onkeydown} novalidate=true
            aria-labelledby={heading.clone()} data-testid="policy-editor">
            <h2 id={heading}>{ format!("Access to {}", props.tunnel.domain) }</h2>
            <p class="notice" data-testid="policy-replace-note">
                { "Saving replaces the whole policy. Passwords, the share token and the webhook secret are never shown back: type them again to keep them. Empty fields turn their check off." }
            </p>

            <fieldset>
                <legend>{ "Basic auth" }</legend>
                <div class="row">
                    <label class="grow">{ "User" }
                        <input ref={first} type="text" autocomplete="off" spellcheck="false"
                            autocapitalize="none" value={form.user.clone()}
                            oninput={update(|f, v| f.user = v, input)} data-testid="policy-user" />
                    </label>
                    <label class="grow">{ "Password" }
                        <input type="password" autocomplete="new-password" value={form.password.clone()}
                            oninput={update(|f, v| f.password = v, input)} data-testid="policy-password" />
                    </label>
                </div>
                { for was_on(summary.basic_auth_user.is_some(), form.password.is_empty(), "the password") }
            </fieldset>

            <fieldset>
                <legend>{ "Share token" }</legend>
                <label>
                    <span class="hint">
                        { format!("At least {MIN_SHARE_TOKEN_BYTES} letters, digits or - . _ ~; callers send it as the ") }
                        <code>{ "X-Tunnel-Token" }</code>{ " header or " }<code>{ "?tunnel_token=" }</code>
                    </span>
                    <input class="mono" type="text" autocomplete="off" spellcheck="false"
                        autocapitalize="none" value={form.share_token.clone()}
                        oninput={update(|f, v| f.share_token = v, input)} data-testid="policy-share-token" />
                </label>
                { for was_on(summary.share_token, form.share_token.is_empty(), "a token") }
            </fieldset>

            <fieldset>
                <legend>{ "Allowed addresses" }</legend>
                <label>
                    <span class="hint">{ "One IP or CIDR a line (10.0.0.0/8, 2001:db8::/32); empty allows every address" }</span>
                    <textarea class="mono" rows="3" spellcheck="false" value={form.allow_ips.clone()}
                        oninput={update(|f, v| f.allow_ips = v, text)} data-testid="policy-allow-ips" />
                </label>
            </fieldset>

            <fieldset>
                <legend>{ "Webhook signature" }</legend>
                <div class="row">
                    <label class="grow-0">{ "Sender" }
                        <select onchange={choose_provider} data-testid="policy-webhook-provider">
                            { for WebhookProvider::ALL.iter().map(|p| html! {
                                <option value={p.name()} selected={*p == provider}>{ provider_choice(*p) }</option>
                            }) }
                        </select>
                    </label>
                    <label class="grow">{ "Secret" }
                        <input type="password" autocomplete="off" value={form.webhook_secret.clone()}
                            placeholder={(provider == WebhookProvider::Standard).then_some("whsec_...")}
                            oninput={update(|f, v| f.webhook_secret = v, input)} data-testid="policy-webhook-secret" />
                    </label>
                    if provider == WebhookProvider::Hmac {
                        <label class="grow">{ "Header" }
                            <input class="mono" type="text" autocomplete="off" spellcheck="false"
                                placeholder={DEFAULT_WEBHOOK_HEADER} value={form.webhook_header.clone()}
                                oninput={update(|f, v| f.webhook_header = v, input)} data-testid="policy-webhook-header" />
                        </label>
                        <label class="grow-0">{ "Prefix" }
                            <input class="mono short" type="text" autocomplete="off" spellcheck="false"
                                value={form.webhook_prefix.clone()}
                                oninput={update(|f, v| f.webhook_prefix = v, input)} data-testid="policy-webhook-prefix" />
                        </label>
                    }
                    if provider.has_timestamp() {
                        <label class="grow-0">{ "Timestamp tolerance (s)" }
                            <input class="short" type="text" inputmode="numeric"
                                placeholder={DEFAULT_WEBHOOK_TOLERANCE_SECS.to_string()} value={form.webhook_tolerance.clone()}
                                oninput={update(|f, v| f.webhook_tolerance = v, input)} data-testid="policy-webhook-tolerance" />
                        </label>
                    }
                </div>
                { for was_on(summary.webhook.is_some(), form.webhook_secret.is_empty(), "the secret") }
            </fieldset>

            <fieldset>
                <legend>{ "Offline inbox" }</legend>
                <label class="check">
                    <input type="checkbox" checked={form.inbox} onchange={toggle_inbox}
                        data-testid="policy-inbox" />
                    { "Hold requests while the tunnel's client is offline, and deliver them when it is back" }
                </label>
                if form.inbox {
                    <div class="row">
                        <label class="grow-0">{ "Answer status" }
                            <input class="short" type="text" inputmode="numeric"
                                placeholder={DEFAULT_INBOX_STATUS.to_string()} value={form.inbox_status.clone()}
                                oninput={update(|f, v| f.inbox_status = v, input)} data-testid="policy-inbox-status" />
                        </label>
                        <label class="grow-0">{ "Max requests" }
                            <input class="short" type="text" inputmode="numeric"
                                placeholder={DEFAULT_INBOX_MAX_REQUESTS.to_string()} value={form.inbox_max_requests.clone()}
                                oninput={update(|f, v| f.inbox_max_requests = v, input)} data-testid="policy-inbox-max" />
                        </label>
                        <label class="grow-0">{ "Kept for (s)" }
                            <input class="short" type="text" inputmode="numeric"
                                placeholder={DEFAULT_INBOX_TTL_SECS.to_string()} value={form.inbox_ttl_secs.clone()}
                                oninput={update(|f, v| f.inbox_ttl_secs = v, input)} data-testid="policy-inbox-ttl" />
                        </label>
                    </div>
                    <label>
                        <span class="hint">{ "Answer body (plain text; empty for a short JSON note)" }</span>
                        <textarea rows="2" value={form.inbox_body.clone()}
                            oninput={update(|f, v| f.inbox_body = v, text)} data-testid="policy-inbox-body" />
                    </label>
                }
            </fieldset>

            <p id={help_id.clone()} class={classes!("help", invalid.then_some("bad"))}
                aria-live="polite" data-testid="policy-help">{ help }</p>
            if let Some(message) = (*error).clone() {
                <p class="help bad" role="alert" data-testid="policy-error">{ message }</p>
            }
            <div class="row">
                <button class="btn primary" type="submit" disabled={invalid || *busy}
                    aria-describedby={help_id} data-testid="policy-save">
                    { if *busy { "Saving…" } else { "Save policy" } }
                </button>
                <button class="btn" type="button" onclick={close} data-testid="policy-cancel">{ "Cancel" }</button>
                <span class="spacer"></span>
                <button class="btn danger-outline" type="button" onclick={remove}
                    disabled={*busy || props.tunnel.policy.is_none()} data-testid="policy-remove">
                    { "Remove all checks" }
                </button>
            </div>
        </form>
    }
}
