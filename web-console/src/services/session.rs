//! The session token in `sessionStorage`: it lives as long as the tab, is never
//! shared with other tabs, and the API key itself is never stored.

use serde::{Deserialize, Serialize};

const KEY: &str = "tunnel.session";

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token for every API call.
    pub token: String,
    /// When it stops working, seconds since the Unix epoch.
    pub expires_at: u64,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The saved session, if any.
pub fn load() -> Option<Session> {
    let text = storage()?.get_item(KEY).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// Saves `session`, or forgets it on `None`.
pub fn save(session: Option<&Session>) {
    let Some(storage) = storage() else { return };
    // Storage can refuse (private mode quota): the session then lasts until reload.
    let _ = match session.and_then(|s| serde_json::to_string(s).ok()) {
        Some(text) => storage.set_item(KEY, &text),
        None => storage.remove_item(KEY),
    };
}
