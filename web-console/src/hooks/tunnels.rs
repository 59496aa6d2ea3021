use std::rc::Rc;

use client_core::api::Tunnel;
use yew::prelude::*;

use super::use_interval;
use crate::services::api::Api;

/// How often the list is refreshed, for live status and request counts.
const REFRESH_MS: u32 = 3000;

/// The tunnel list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TunnelsState {
    /// The tunnels; `None` until the first load.
    pub tunnels: Option<Vec<Tunnel>>,
    /// The last load's failure, cleared by the next success.
    pub error: Option<String>,
}

/// Changes to [`TunnelsState`].
#[derive(Debug)]
pub enum TunnelsAction {
    /// A fresh list.
    Loaded(Vec<Tunnel>),
    /// Loading failed.
    Failed(String),
    /// A tunnel was created (or resumed).
    Added(Box<Tunnel>),
    /// A tunnel changed (its policy was saved).
    Updated(Box<Tunnel>),
    /// A tunnel was deleted.
    Removed(String),
}

impl Reducible for TunnelsState {
    type Action = TunnelsAction;

    fn reduce(self: Rc<Self>, action: TunnelsAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            TunnelsAction::Loaded(list) => {
                next.tunnels = Some(list);
                next.error = None;
            }
            TunnelsAction::Failed(e) => next.error = Some(e),
            TunnelsAction::Added(t) => {
                let list = next.tunnels.get_or_insert_with(Vec::new);
                match list.iter_mut().find(|x| x.tunnel_id == t.tunnel_id) {
                    Some(x) => *x = *t,
                    None => list.push(*t),
                }
            }
            TunnelsAction::Updated(t) => {
                // Only in place: a tunnel deleted meanwhile stays gone.
                if let Some(x) = next
                    .tunnels
                    .iter_mut()
                    .flatten()
                    .find(|x| x.tunnel_id == t.tunnel_id)
                {
                    *x = *t;
                }
            }
            TunnelsAction::Removed(id) => {
                if let Some(list) = &mut next.tunnels {
                    list.retain(|t| t.tunnel_id != id);
                }
            }
        }
        Rc::new(next)
    }
}

/// The caller's tunnels, loaded now and refreshed every few seconds.
#[hook]
pub fn use_tunnels(api: Api) -> UseReducerHandle<TunnelsState> {
    let state = use_reducer(TunnelsState::default);
    let load = {
        let dispatcher = state.dispatcher();
        let api = api.clone();
        Callback::from(move |()| {
            let dispatcher = dispatcher.clone();
            let api = api.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match api.run(api.client().list_tunnels()).await {
                    Ok(list) => dispatcher.dispatch(TunnelsAction::Loaded(list.tunnels)),
                    Err(e) => dispatcher.dispatch(TunnelsAction::Failed(e.to_string())),
                }
            });
        })
    };
    {
        let load = load.clone();
        use_effect_with(api, move |_| load.emit(()));
    }
    use_interval(REFRESH_MS, load);
    state
}
