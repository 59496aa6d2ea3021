use yew::prelude::*;

/// Props of [`Loading`].
#[derive(Debug, Properties, PartialEq)]
pub struct LoadingProps {
    /// What is loading.
    pub label: AttrValue,
}

/// A spinner with a label, announced to screen readers.
#[component]
pub fn Loading(props: &LoadingProps) -> Html {
    html! {
        <div class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            { props.label.clone() }
        </div>
    }
}

/// Props of [`ErrorBox`].
#[derive(Debug, Properties, PartialEq)]
pub struct ErrorBoxProps {
    /// What went wrong and what to do.
    pub message: AttrValue,
    /// Offered as a "Try again" button.
    #[prop_or_default]
    pub retry: Option<Callback<()>>,
}

/// An error, with a way to try again when there is one.
#[component]
pub fn ErrorBox(props: &ErrorBoxProps) -> Html {
    html! {
        <div class="error-box" role="alert">
            <span>{ props.message.clone() }</span>
            if let Some(retry) = props.retry.clone() {
                <button class="btn small" onclick={move |_| retry.emit(())}>{ "Try again" }</button>
            }
        </div>
    }
}

/// Props of [`EmptyState`].
#[derive(Debug, Properties, PartialEq)]
pub struct EmptyStateProps {
    /// The headline.
    pub title: AttrValue,
    /// What to do about it.
    #[prop_or_default]
    pub children: Html,
}

/// Nothing to show yet, and how to get something.
#[component]
pub fn EmptyState(props: &EmptyStateProps) -> Html {
    html! {
        <div class="empty">
            <p class="empty-title">{ props.title.clone() }</p>
            <div class="empty-body">{ props.children.clone() }</div>
        </div>
    }
}
