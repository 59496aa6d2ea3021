use gloo_timers::callback::Timeout;
use yew::prelude::*;

use crate::services::browser;

/// Props of [`CopyButton`].
#[derive(Debug, Properties, PartialEq)]
pub struct CopyButtonProps {
    /// What is copied.
    pub text: AttrValue,
    /// The button's label.
    #[prop_or(AttrValue::from("Copy"))]
    pub label: AttrValue,
    /// For tests.
    #[prop_or_default]
    pub testid: Option<AttrValue>,
}

/// Copies text to the clipboard and says so for a moment.
#[component]
pub fn CopyButton(props: &CopyButtonProps) -> Html {
    // None: idle; Some(true): copied; Some(false): the browser refused.
    let copied = use_state(|| None::<bool>);
    let timer = use_mut_ref(|| None::<Timeout>);
    let onclick = {
        let (text, copied, timer) = (props.text.clone(), copied.clone(), timer.clone());
        Callback::from(move |_| {
            let (text, copied, timer) = (text.clone(), copied.clone(), timer.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let ok = browser::copy(&text).await;
                copied.set(Some(ok));
                let reset = copied.clone();
                *timer.borrow_mut() = Some(Timeout::new(2000, move || reset.set(None)));
            });
        })
    };
    let label = match *copied {
        None => props.label.to_string(),
        Some(true) => "Copied".to_owned(),
        Some(false) => "Copy failed: select the text instead".to_owned(),
    };
    html! {
        <button type="button" class="btn small" {onclick} data-testid={props.testid.clone()}
            aria-live="polite">
            { label }
        </button>
    }
}
