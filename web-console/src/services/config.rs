//! The runtime configuration, read from `config.json` beside the page, so one build
//! can be served by `tunnel-server` or from a static host in front of any API.

use serde::Deserialize;

use super::http;

/// What `config.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Config {
    /// Base URL of the REST API; empty means the page's own origin.
    #[serde(default)]
    pub api_base_url: String,
}

/// Loads `config.json` and resolves an empty base URL to the page's origin.
pub async fn load() -> Result<Config, String> {
    let request = client_core::api::HttpRequest {
        method: "GET",
        url: "config.json".into(),
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
    };
    let response = http::send(&request).await.map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!(
            "config.json answered HTTP {}: the console is not deployed completely",
            response.status
        ));
    }
    let mut config: Config = serde_json::from_slice(&response.body)
        .map_err(|e| format!("config.json is not valid: {e}"))?;
    if config.api_base_url.is_empty() {
        config.api_base_url = origin();
    }
    Ok(config)
}

fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}
