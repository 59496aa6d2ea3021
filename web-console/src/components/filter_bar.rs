use client_core::inspect::Filter;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Props of [`FilterBar`].
#[derive(Debug, Properties, PartialEq)]
pub struct FilterBarProps {
    /// The filter in force.
    pub filter: Filter,
    /// Called with a changed filter.
    pub on_change: Callback<Filter>,
}

/// Method, status class and path prefix; the list follows each change.
#[component]
pub fn FilterBar(props: &FilterBarProps) -> Html {
    let path = use_state(|| props.filter.path_prefix.clone().unwrap_or_default());
    let path_input = use_node_ref();

    let on_method = {
        let (filter, on_change) = (props.filter.clone(), props.on_change.clone());
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<HtmlSelectElement>().value();
            on_change.emit(Filter {
                method: (!v.is_empty()).then_some(v),
                ..filter.clone()
            });
        })
    };
    let on_status = {
        let (filter, on_change) = (props.filter.clone(), props.on_change.clone());
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<HtmlSelectElement>().value();
            on_change.emit(Filter {
                status_class: v.parse().ok(),
                ..filter.clone()
            });
        })
    };
    let on_path_input = {
        let path = path.clone();
        Callback::from(move |e: InputEvent| {
            path.set(e.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    // Applied on Enter or on leaving the field, not on each key: each is a fetch.
    let apply_path = {
        let (filter, on_change, path) =
            (props.filter.clone(), props.on_change.clone(), path.clone());
        move || {
            let text = path.trim();
            let prefix = match text {
                "" => None,
                t if t.starts_with('/') => Some(t.to_owned()),
                // The server matches paths as received, which always start with '/'.
                t => Some(format!("/{t}")),
            };
            on_change.emit(Filter {
                path_prefix: prefix,
                ..filter.clone()
            });
        }
    };
    let onsubmit = {
        let apply = apply_path.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            apply();
        })
    };
    let onchange = Callback::from(move |_: Event| apply_path());
    let reset = {
        let (on_change, path) = (props.on_change.clone(), path.clone());
        Callback::from(move |_| {
            path.set(String::new());
            on_change.emit(Filter::default());
        })
    };

    let method = props.filter.method.clone().unwrap_or_default();
    let status = props
        .filter
        .status_class
        .map(|c| c.to_string())
        .unwrap_or_default();
    html! {
        <form class="filters" {onsubmit} role="search" aria-label="Filter requests">
            <label>
                <span class="sr-only">{ "Method" }</span>
                <select onchange={on_method} data-testid="filter-method" aria-label="Method">
                    <option value="" selected={method.is_empty()}>{ "Any method" }</option>
                    { for METHODS.iter().map(|m| html! {
                        <option value={*m} selected={method == *m}>{ *m }</option>
                    }) }
                </select>
            </label>
            <label>
                <span class="sr-only">{ "Status" }</span>
                <select onchange={on_status} data-testid="filter-status" aria-label="Status class">
                    <option value="" selected={status.is_empty()}>{ "Any status" }</option>
                    { for (1..=5).map(|c: u8| html! {
                        <option value={c.to_string()} selected={status == c.to_string()}>{ format!("{c}xx") }</option>
                    }) }
                </select>
            </label>
            <input type="search" class="path-filter" ref={path_input} placeholder="Path starts with… (Enter)"
                value={(*path).clone()} oninput={on_path_input} {onchange}
                aria-label="Path prefix" data-testid="filter-path" />
            if !props.filter.is_empty() {
                <button type="button" class="btn small ghost" onclick={reset}>{ "Clear filters" }</button>
            }
        </form>
    }
}
