use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use yew::prelude::*;

/// Calls `callback` every `millis` while the component is mounted. The latest
/// callback is called, so the timer is not reset on every render.
#[hook]
pub fn use_interval(millis: u32, callback: Callback<()>) {
    let latest: Rc<RefCell<Callback<()>>> = use_mut_ref(|| callback.clone());
    *latest.borrow_mut() = callback;
    use_effect_with(millis, move |millis| {
        let interval = Interval::new(*millis, move || latest.borrow().emit(()));
        move || drop(interval)
    });
}
