//! The live feed of a tunnel's new exchanges: server-sent events, one `exchange` event
//! per exchange with its list line as JSON.

use client_core::inspect::ExchangeSummary;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

/// Where the feed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStatus {
    /// Opening the stream.
    Connecting,
    /// Receiving.
    Live,
    /// Lost; the browser retries by itself.
    Reconnecting,
    /// Given up (the server refused the stream, e.g. an expired token).
    Closed,
}

/// An open feed; dropping it closes the stream.
#[derive(Debug)]
pub struct LiveFeed {
    source: EventSource,
    // Held so the callbacks live as long as the stream.
    _on_exchange: Closure<dyn FnMut(MessageEvent)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl LiveFeed {
    /// Opens the feed at `url`; `on_exchange` gets each new exchange, `on_status` each
    /// change of state.
    pub fn open(
        url: &str,
        on_exchange: impl Fn(ExchangeSummary) + 'static,
        on_status: impl Fn(LiveStatus) + 'static,
    ) -> Result<Self, String> {
        let source = EventSource::new(url).map_err(|e| format!("{e:?}"))?;
        let on_exchange = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string()
                && let Ok(summary) = serde_json::from_str::<ExchangeSummary>(&text)
            {
                on_exchange(summary);
            }
        });
        source
            .add_event_listener_with_callback("exchange", on_exchange.as_ref().unchecked_ref())
            .map_err(|e| format!("{e:?}"))?;
        let on_status = std::rc::Rc::new(on_status);
        let opened = on_status.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            opened(LiveStatus::Live);
        });
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        let errored = source.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // CLOSED means the browser will not retry; CONNECTING means it is retrying.
            on_status(if errored.ready_state() == EventSource::CLOSED {
                LiveStatus::Closed
            } else {
                LiveStatus::Reconnecting
            });
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Self {
            source,
            _on_exchange: on_exchange,
            _on_open: on_open,
            _on_error: on_error,
        })
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.source.set_onopen(None);
        self.source.set_onerror(None);
        self.source.close();
    }
}
