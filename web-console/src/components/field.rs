//! Text fields of the editing forms (replay, access policy): each keystroke goes into
//! a copy of the form's state, and clears the form's error, since the user is fixing
//! what it said.

use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

/// The `oninput` of a field: `read` takes the value from the event, `set` puts it in
/// the form.
pub fn on_field<F: Clone + 'static, E: 'static>(
    form: &UseStateHandle<F>,
    error: &UseStateHandle<Option<E>>,
    set: fn(&mut F, String),
    read: fn(&InputEvent) -> String,
) -> Callback<InputEvent> {
    let (form, error) = (form.clone(), error.clone());
    Callback::from(move |e: InputEvent| {
        let mut next = (*form).clone();
        set(&mut next, read(&e));
        form.set(next);
        error.set(None);
    })
}

/// The value of an `<input>`.
pub fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

/// The value of a `<textarea>`.
pub fn textarea_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlTextAreaElement>().value()
}
