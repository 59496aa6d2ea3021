use std::rc::Rc;

use client_core::api::Tunnel;
use client_core::inspect::{Exchange, ExchangeSummary, Filter, ReplayEdits};
use yew::prelude::*;

use crate::services::api::Api;
use crate::services::live::{LiveFeed, LiveStatus};

/// Exchanges asked for per page.
pub const PAGE_SIZE: u32 = 50;

/// Most exchanges kept in the list; live ones past it push the oldest out.
pub const LIST_CAP: usize = 1000;

/// The exchange shown in detail.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// Being fetched.
    Loading(String),
    /// Here.
    Ready(Rc<Exchange>),
    /// Could not be fetched: its id and why.
    Failed(String, String),
}

impl Detail {
    /// The exchange's id.
    pub fn id(&self) -> &str {
        match self {
            Detail::Loading(id) | Detail::Failed(id, _) => id,
            Detail::Ready(x) => &x.request_id,
        }
    }
}

/// A replay of the exchange in detail, shown beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayView {
    /// The exchange replayed.
    pub original_id: String,
    /// `None` while in flight; then the new exchange or why it failed.
    pub result: Option<Result<Rc<Exchange>, String>>,
}

/// Everything the inspector page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectorState {
    /// The tunnel, or why it could not be loaded; `None` while loading.
    pub tunnel: Option<Result<Tunnel, String>>,
    /// The list's filter.
    pub filter: Filter,
    /// Bumped by every filter change, so answers for an older filter are dropped.
    pub generation: u32,
    /// The exchanges listed, newest first.
    pub requests: Vec<ExchangeSummary>,
    /// Cursor of the next (older) page; `None` on the last.
    pub next_cursor: Option<String>,
    /// A page is being fetched.
    pub list_loading: bool,
    /// The last page fetch failed.
    pub list_error: Option<String>,
    /// Which exchange is open.
    pub detail: Option<Detail>,
    /// The replay of the open exchange.
    pub replay: Option<ReplayView>,
    /// The live feed's state.
    pub live: LiveStatus,
    /// A message about the last action (cleared the log, copied, ...).
    pub notice: Option<String>,
}

impl Default for InspectorState {
    fn default() -> Self {
        Self {
            tunnel: None,
            filter: Filter::default(),
            generation: 0,
            requests: Vec::new(),
            next_cursor: None,
            list_loading: true,
            list_error: None,
            detail: None,
            replay: None,
            live: LiveStatus::Connecting,
            notice: None,
        }
    }
}

impl InspectorState {
    fn restart_list(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.requests.clear();
        self.next_cursor = None;
        self.list_loading = true;
        self.list_error = None;
    }
}

/// Changes to [`InspectorState`].
#[derive(Debug)]
pub enum InspectorAction {
    /// The tunnel's record arrived (or failed).
    Tunnel(Result<Tunnel, String>),
    /// A new filter: the list starts over.
    SetFilter(Filter),
    /// The list starts over with the same filter.
    Reload,
    /// An older page is being fetched.
    LoadingMore,
    /// A page arrived for filter `generation`; `append` adds it below the list.
    Page {
        /// The filter generation it was asked for.
        generation: u32,
        /// The page.
        page: client_core::inspect::RequestPage,
        /// Below the list (an older page) rather than replacing it.
        append: bool,
    },
    /// A page fetch failed.
    PageFailed(u32, String),
    /// A new exchange from the live feed.
    Live(ExchangeSummary),
    /// The live feed's state changed.
    LiveStatus(LiveStatus),
    /// An exchange was opened.
    Select(String),
    /// The open exchange arrived.
    DetailLoaded(Exchange),
    /// The open exchange could not be fetched.
    DetailFailed(String, String),
    /// A replay of `0` was sent.
    ReplayStarted(String),
    /// The replay of `0` came back.
    ReplayFinished(String, Result<Exchange, String>),
    /// The log was emptied.
    Cleared,
    /// A message about an action.
    Notice(Option<String>),
}

impl Reducible for InspectorState {
    type Action = InspectorAction;

    fn reduce(self: Rc<Self>, action: InspectorAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            InspectorAction::Tunnel(t) => s.tunnel = Some(t),
            InspectorAction::SetFilter(filter) => {
                if filter == s.filter {
                    return self;
                }
                s.filter = filter;
                s.restart_list();
            }
            InspectorAction::Reload => s.restart_list(),
            InspectorAction::LoadingMore => s.list_loading = true,
            InspectorAction::Page {
                generation,
                page,
                append,
            } => {
                if generation != s.generation {
                    return self;
                }
                if append {
                    for r in page.requests {
                        if !s.requests.iter().any(|x| x.request_id == r.request_id) {
                            s.requests.push(r);
                        }
                    }
                } else {
                    // Live lines that came in while the page was on its way stay.
                    let live: Vec<_> = s
                        .requests
                        .drain(..)
                        .filter(|x| !page.requests.iter().any(|r| r.request_id == x.request_id))
                        .collect();
                    s.requests = live.into_iter().chain(page.requests).collect();
                    s.requests.sort_by_key(|r| std::cmp::Reverse(r.received_ms));
                }
                s.next_cursor = page.next_cursor;
                s.list_loading = false;
                s.list_error = None;
            }
            InspectorAction::PageFailed(generation, e) => {
                if generation != s.generation {
                    return self;
                }
                s.list_loading = false;
                s.list_error = Some(e);
            }
            InspectorAction::Live(summary) => {
                if !s.filter.matches_summary(&summary) {
                    return self;
                }
                match s
                    .requests
                    .iter_mut()
                    .find(|x| x.request_id == summary.request_id)
                {
                    Some(x) => *x = summary,
                    None => {
                        s.requests.insert(0, summary);
                        s.requests.truncate(LIST_CAP);
                    }
                }
            }
            InspectorAction::LiveStatus(live) => s.live = live,
            InspectorAction::Select(id) => {
                if s.detail.as_ref().is_some_and(|d| d.id() == id) {
                    return self;
                }
                s.detail = Some(Detail::Loading(id));
                s.replay = None;
            }
            InspectorAction::DetailLoaded(x) => {
                if s.detail.as_ref().is_none_or(|d| d.id() != x.request_id) {
                    return self;
                }
                s.detail = Some(Detail::Ready(Rc::new(x)));
            }
            InspectorAction::DetailFailed(id, e) => {
                if s.detail.as_ref().is_none_or(|d| d.id() != id) {
                    return self;
                }
                s.detail = Some(Detail::Failed(id, e));
            }
            InspectorAction::ReplayStarted(id) => {
                s.replay = Some(ReplayView {
                    original_id: id,
                    result: None,
                });
            }
            InspectorAction::ReplayFinished(id, result) => {
                if s.detail.as_ref().is_none_or(|d| d.id() != id) {
                    return self;
                }
                if let Ok(x) = &result {
                    let summary = ExchangeSummary::from(x);
                    if s.filter.matches_summary(&summary)
                        && !s.requests.iter().any(|r| r.request_id == x.request_id)
                    {
                        s.requests.insert(0, summary);
                    }
                }
                s.replay = Some(ReplayView {
                    original_id: id,
                    result: Some(result.map(Rc::new)),
                });
            }
            InspectorAction::Cleared => {
                s.requests.clear();
                s.next_cursor = None;
                s.detail = None;
                s.replay = None;
                s.notice = Some("The request log is empty now.".into());
            }
            InspectorAction::Notice(n) => s.notice = n,
        }
        Rc::new(s)
    }
}

/// The inspector's state and what can be done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspector {
    /// The state; dispatch [`InspectorAction`]s for plain changes.
    pub state: UseReducerHandle<InspectorState>,
    /// Fetches the next older page.
    pub load_more: Callback<()>,
    /// Opens an exchange.
    pub select: Callback<String>,
    /// Replays the open exchange with these edits.
    pub replay: Callback<(String, ReplayEdits)>,
    /// Empties the tunnel's log.
    pub clear: Callback<()>,
}

fn fetch_page(
    api: Api,
    dispatcher: UseReducerDispatcher<InspectorState>,
    tunnel_id: String,
    filter: Filter,
    cursor: Option<String>,
    generation: u32,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let call =
            api.client()
                .list_requests(&tunnel_id, &filter, cursor.as_deref(), Some(PAGE_SIZE));
        dispatcher.dispatch(match api.run(call).await {
            Ok(page) => InspectorAction::Page {
                generation,
                page,
                append: cursor.is_some(),
            },
            Err(e) => InspectorAction::PageFailed(generation, e.to_string()),
        });
    });
}

/// The inspector of tunnel `tunnel_id`: its record, a filtered list that the live feed
/// keeps current, the open exchange and its replay.
#[hook]
pub fn use_inspector(api: Api, tunnel_id: String) -> Inspector {
    let state = use_reducer(InspectorState::default);

    {
        let dispatcher = state.dispatcher();
        use_effect_with((api.clone(), tunnel_id.clone()), move |(api, id)| {
            let (a, tid) = (api.clone(), id.clone());
            let d = dispatcher.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let result = a.run(a.client().get_tunnel(&tid)).await;
                d.dispatch(InspectorAction::Tunnel(result.map_err(|e| e.to_string())));
            });
            let on_exchange = {
                let d = dispatcher.clone();
                move |s| d.dispatch(InspectorAction::Live(s))
            };
            let on_status = move |s| dispatcher.dispatch(InspectorAction::LiveStatus(s));
            let url = api.client().live_url(id, Some(api.token()));
            let feed = LiveFeed::open(&url, on_exchange, on_status).ok();
            move || drop(feed)
        });
    }

    {
        let dispatcher = state.dispatcher();
        use_effect_with(
            (
                api.clone(),
                tunnel_id.clone(),
                state.filter.clone(),
                state.generation,
            ),
            move |(api, id, filter, generation)| {
                fetch_page(
                    api.clone(),
                    dispatcher,
                    id.clone(),
                    filter.clone(),
                    None,
                    *generation,
                );
            },
        );
    }

    let load_more = {
        let (api, id, state) = (api.clone(), tunnel_id.clone(), state.clone());
        Callback::from(move |()| {
            let Some(cursor) = state.next_cursor.clone() else {
                return;
            };
            state.dispatch(InspectorAction::LoadingMore);
            fetch_page(
                api.clone(),
                state.dispatcher(),
                id.clone(),
                state.filter.clone(),
                Some(cursor),
                state.generation,
            );
        })
    };

    let select = {
        let (api, dispatcher) = (api.clone(), state.dispatcher());
        Callback::from(move |id: String| {
            dispatcher.dispatch(InspectorAction::Select(id.clone()));
            let (api, d) = (api.clone(), dispatcher.clone());
            wasm_bindgen_futures::spawn_local(async move {
                d.dispatch(match api.run(api.client().get_request(&id)).await {
                    Ok(x) => InspectorAction::DetailLoaded(x),
                    Err(e) => InspectorAction::DetailFailed(id, e.to_string()),
                });
            });
        })
    };

    let replay = {
        let (api, dispatcher) = (api.clone(), state.dispatcher());
        Callback::from(move |(id, edits): (String, ReplayEdits)| {
            dispatcher.dispatch(InspectorAction::ReplayStarted(id.clone()));
            let (api, d) = (api.clone(), dispatcher.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let result = api.run(api.client().replay(&id, &edits)).await;
                d.dispatch(InspectorAction::ReplayFinished(
                    id,
                    result.map_err(|e| e.to_string()),
                ));
            });
        })
    };

    let clear = {
        let (api, dispatcher, id) = (api, state.dispatcher(), tunnel_id);
        Callback::from(move |()| {
            let (api, d, id) = (api.clone(), dispatcher.clone(), id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                d.dispatch(
                    match api.run_empty(api.client().clear_requests(&id)).await {
                        Ok(()) => InspectorAction::Cleared,
                        Err(e) => InspectorAction::Notice(Some(format!(
                            "The log could not be cleared: {e}"
                        ))),
                    },
                );
            });
        })
    };

    Inspector {
        state,
        load_more,
        select,
        replay,
        clear,
    }
}
