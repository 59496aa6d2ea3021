use client_core::api::{ApiError, ApiErrorCode, Tunnel, UpdateTunnel};
use client_core::policy::{
    DEFAULT_INBOX_MAX_REQUESTS, DEFAULT_INBOX_STATUS, DEFAULT_INBOX_TTL_SECS,
    DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_TOLERANCE_SECS, MIN_SHARE_TOKEN_BYTES, Patch,
    PolicyPatch, WebhookProvider,
};
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::field::{input_value, on_field, textarea_value};

use crate::services::api::{Api, AppError};
use crate::services::policy_form::{FieldErrors, PolicyForm, provider_choice, summary_after};

/// A refused save: the field the server named (shown beside it), and what to say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SaveError {
    field: Option<String>,
    message: String,
}

impl SaveError {
    fn of(e: &AppError) -> Self {
        match e {
            // The policy's own rule, beside its field: the message the form's check
            // would have given (the REST text less its "invalid policy: " lead).
            AppError::Api(
                api @ ApiError::Server {
                    code: ApiErrorCode::InvalidPolicy,
                    message,
                    ..
                },
            ) => Self {
                field: api.field().map(str::to_owned),
                message: message
                    .strip_prefix("invalid policy: ")
                    .unwrap_or(message)
                    .to_owned(),
            },
            other => Self {
                field: None,
                message: format!("Not saved: {other}"),
            },
        }
    }
}

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

/// A tunnel's access policy as a form, checked as it is typed by client-core's rules
/// (each error beside its field), saved as a change: only what was edited is sent, a
/// secret left blank stays in force, and a check goes only by its own Remove button.
#[component]
pub fn PolicyEditor(props: &PolicyEditorProps) -> Html {
    let form = use_state(|| PolicyForm::of(props.tunnel.policy.as_ref()));
    let busy = use_state(|| false);
    let error = use_state(|| None::<SaveError>);
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

    let checked = form.to_patch();
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
        Callback::from(move |policy: Patch<PolicyPatch>| {
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
                        // The form keeps what was typed, to be fixed and saved again.
                        error.set(Some(SaveError::of(&e)));
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
            if let Ok(patch) = &checked {
                save.emit(Patch::Set(patch.clone()));
            }
        })
    };
    let remove = {
        let save = save.clone();
        Callback::from(move |_| save.emit(Patch::Remove))
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

    let toggle = |flip: fn(&mut PolicyForm)| {
        let (form, error) = (form.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let mut next = (*form).clone();
            flip(&mut next);
            form.set(next);
            error.set(None);
        })
    };
    // Errors by field: the form's own checks, and the server's when it named a field.
    let mut field_errors: FieldErrors = checked.clone().err().unwrap_or_default();
    let server = (*error).clone();
    let general = match &server {
        Some(SaveError {
            field: Some(f),
            message,
        }) => match client_core::policy::POLICY_FIELDS
            .into_iter()
            .find(|n| *n == f.as_str())
        {
            Some(name) => {
                field_errors.entry(name).or_insert_with(|| message.clone());
                None
            }
            None => Some(message.clone()),
        },
        Some(SaveError { message, .. }) => Some(message.clone()),
        None => None,
    };
    // Always one node, shown or empty: `{ for option }` would splice in zero or one,
    // and Yew's unkeyed diff, matching children from the end, would then rebuild the
    // field before it (the textarea being typed in loses focus after one key).
    let error_for = |field: &'static str| -> Html {
        field_errors.get(field).map_or_else(Html::default, |m| {
            html! {
                <p class="help bad" id={field_id(&format!("{field}-error"))} role="alert"
                    data-testid={format!("policy-error-{field}")}>{ m.clone() }</p>
            }
        })
    };
    let described = |field: &'static str| {
        field_errors
            .contains_key(field)
            .then(|| field_id(&format!("{field}-error")))
    };
    // A secret in force is never shown: say it is there, and how to keep it.
    let secret_note = |on: bool, removing: bool, what: &str, testid: &str| -> Html {
        if on && !removing {
            html! { <p class="help" data-testid={testid.to_owned()}>{ format!("{what} set — leave blank to keep it.") }</p> }
        } else {
            Html::default()
        }
    };
    // The Remove button of a check in force, or, once pressed, what saving will do.
    let remove_check = |on: bool,
                        removing: bool,
                        what: &str,
                        testid: &str,
                        flip: fn(&mut PolicyForm)| {
        if !on {
            return html! {};
        }
        if removing {
            html! {
                <p class="help warn">
                    { format!("{what} will be removed when you save. ") }
                    <button class="btn link" type="button" onclick={toggle(flip)}
                        data-testid={format!("{testid}-undo")}>{ "Keep it" }</button>
                </p>
            }
        } else {
            html! {
                <button class="btn small danger-outline" type="button" onclick={toggle(flip)}
                    data-testid={testid.to_owned()}>{ format!("Remove {}", what.to_lowercase()) }</button>
            }
        }
    };
    let unchanged = matches!(&checked, Ok(p) if p.is_empty());
    let (help, invalid) = match &checked {
        Ok(p) if p.is_empty() => ("No changes yet.".to_owned(), false),
        Ok(p) => (
            format!(
                "Saving allows: {}",
                summary_after(&form.current, p).describe()
            ),
            false,
        ),
        Err(e) => (
            format!(
                "Fix the field{} marked below to save.",
                if e.len() > 1 { "s" } else { "" }
            ),
            true,
        ),
    };
    let cur = form.current.clone();
    let heading = field_id("title");
    let help_id = field_id("help");
    html! {
        <form class="policy-form" {onsubmit} {onkeydown} novalidate=true
            aria-labelledby={heading.clone()} data-testid="policy-editor">
            <h2 id={heading}>{ format!("Access to {}", props.tunnel.domain) }</h2>
            <p class="notice" data-testid="policy-merge-note">
                { "Saving changes only what you edit here. Passwords, the share token and the webhook secret are never shown back; left blank, they stay as they are. A check goes only with its Remove button." }
            </p>

            <fieldset>
                <legend>{ "Basic auth" }</legend>
                <div class="row">
                    <label class="grow">{ "User" }
                        <input ref={first} type="text" autocomplete="off" spellcheck="false"
                            autocapitalize="none" value={form.user.clone()} disabled={form.remove_basic_auth}
                            aria-invalid={field_errors.contains_key("basic_auth").to_string()}
                            aria-describedby={described("basic_auth")}
                            oninput={update(|f, v| f.user = v, input)} data-testid="policy-user" />
                    </label>
                    <label class="grow">{ "Password" }
                        <input type="password" autocomplete="new-password" value={form.password.clone()}
                            disabled={form.remove_basic_auth}
                            placeholder={cur.basic_auth_user.is_some().then_some("unchanged")}
                            aria-invalid={field_errors.contains_key("basic_auth").to_string()}
                            aria-describedby={described("basic_auth")}
                            oninput={update(|f, v| f.password = v, input)} data-testid="policy-password" />
                    </label>
                </div>
                { error_for("basic_auth") }
                { secret_note(cur.basic_auth_user.is_some(), form.remove_basic_auth, "Password", "policy-password-set") }
                { remove_check(cur.basic_auth_user.is_some(), form.remove_basic_auth, "Basic auth", "policy-remove-basic-auth", |f| f.remove_basic_auth = !f.remove_basic_auth) }
            </fieldset>

            <fieldset>
                <legend>{ "Share token" }</legend>
                <label>
                    <span class="hint">
                        { format!("At least {MIN_SHARE_TOKEN_BYTES} letters, digits or - . _ ~; callers send it as the ") }
                        <code>{ "X-Tunnel-Token" }</code>{ " header or " }<code>{ "?tunnel_token=" }</code>
                    </span>
                    <input class="mono" type="text" autocomplete="off" spellcheck="false"
                        autocapitalize="none" value={form.share_token.clone()} disabled={form.remove_share_token}
                        aria-invalid={field_errors.contains_key("share_token").to_string()}
                        aria-describedby={described("share_token")}
                        oninput={update(|f, v| f.share_token = v, input)} data-testid="policy-share-token" />
                </label>
                { error_for("share_token") }
                { secret_note(cur.share_token, form.remove_share_token, "Share token", "policy-share-token-set") }
                { remove_check(cur.share_token, form.remove_share_token, "Share token", "policy-remove-share-token", |f| f.remove_share_token = !f.remove_share_token) }
            </fieldset>

            <fieldset>
                <legend>{ "Allowed addresses" }</legend>
                <label>
                    <span class="hint">{ "One IP or CIDR a line (10.0.0.0/8, 2001:db8::/32); empty allows every address" }</span>
                    <textarea class="mono" rows="3" spellcheck="false" value={form.allow_ips.clone()}
                        aria-invalid={field_errors.contains_key("allow_ips").to_string()}
                        aria-describedby={described("allow_ips")}
                        oninput={update(|f, v| f.allow_ips = v, text)} data-testid="policy-allow-ips" />
                </label>
                { error_for("allow_ips") }
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
                            disabled={form.remove_webhook}
                            aria-invalid={field_errors.contains_key("webhook").to_string()}
                            aria-describedby={described("webhook")}
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
                { error_for("webhook") }
                { secret_note(cur.webhook.is_some(), form.remove_webhook, "Secret", "policy-webhook-secret-set") }
                { remove_check(cur.webhook.is_some(), form.remove_webhook, "Webhook check", "policy-remove-webhook", |f| f.remove_webhook = !f.remove_webhook) }
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
                { error_for("inbox") }
            </fieldset>

            <p id={help_id.clone()} class={classes!("help", invalid.then_some("bad"))}
                aria-live="polite" data-testid="policy-help">{ help }</p>
            if let Some(message) = general {
                <p class="help bad" role="alert" data-testid="policy-error">{ message }</p>
            }
            <div class="row">
                <button class="btn primary" type="submit" disabled={invalid || unchanged || *busy}
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
