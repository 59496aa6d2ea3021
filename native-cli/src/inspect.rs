//! The inspector from the terminal: `tunnel requests` (list, follow, show, export,
//! clear) and `tunnel replay`.
//!
//! The shapes and exports come from `client_core::inspect`, the same the web console
//! uses; this module picks the tunnel, makes the calls and prints.

use std::time::Duration;

use client_core::api::{ApiErrorCode, Tunnel};
use client_core::inspect::{
    ExchangeSummary, Filter, ReplayEdits, redact_exchange, to_curl, to_har,
};

use crate::api::{Api, CallError};
use crate::commands::{CommandError, authorized_api};
use crate::config::Settings;
use crate::output;

mod text;

pub use text::{MIN_PATH_WIDTH, exchange_text, request_line, request_table};

/// How long `--follow` waits for the server before giving up on one attempt.
pub const FOLLOW_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `tunnel requests` lists.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Tunnel id or domain; the most recent tunnel when absent.
    pub tunnel: Option<String>,
    /// Filters.
    pub filter: Filter,
    /// How many, newest first.
    pub limit: Option<u32>,
    /// Print the server's JSON.
    pub json: bool,
    /// Keep printing new exchanges as they come.
    pub follow: bool,
}

/// The export formats of `tunnel requests export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// HAR 1.2, JSON.
    Har,
    /// A `curl` command line.
    Curl,
}

/// Why an inspector command could not run, beyond API failures.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The command failed in the common ways.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// No tunnel named, and not exactly one to pick.
    #[error("{0}")]
    WhichTunnel(String),
    /// A `--header` that is not `Name: value`.
    #[error("--header {0:?} is not NAME:VALUE (e.g. --header 'X-Env: staging')")]
    BadHeader(String),
    /// `--body @FILE` could not be read.
    #[error("cannot read the body file {path}: {source}")]
    BodyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The live feed broke off or could not be opened.
    #[error("the live feed at {url} failed: {reason}")]
    Feed {
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl From<CallError> for InspectError {
    fn from(e: CallError) -> Self {
        Self::Command(e.into())
    }
}

impl From<std::io::Error> for InspectError {
    fn from(e: std::io::Error) -> Self {
        Self::Command(e.into())
    }
}

/// The tunnel `wanted` names (its id or its domain), or the caller's most recent one
/// (the one `tunnel start` made last), said on stderr when there was a choice.
async fn pick_tunnel(api: &Api, wanted: Option<&str>) -> Result<Tunnel, InspectError> {
    let tunnels = api.call(|c| c.list_tunnels()).await?.tunnels;
    match wanted {
        Some(w) => tunnels
            .into_iter()
            .find(|t| t.tunnel_id == w || t.domain == w)
            .ok_or_else(|| {
                InspectError::WhichTunnel(format!(
                    "no tunnel {w:?} among yours (by id or domain); see `tunnel list`"
                ))
            }),
        None => {
            let n = tunnels.len();
            let newest = most_recent(tunnels).ok_or_else(|| {
                InspectError::WhichTunnel(
                    "you have no tunnels: start one with `tunnel start <port>`".into(),
                )
            })?;
            if n > 1 {
                eprintln!(
                    "{} (your most recent of {n} tunnels; name another: `tunnel requests <id or domain>`)",
                    newest.domain
                );
            }
            Ok(newest)
        }
    }
}

/// The tunnel a person means by "my most recent one": one a `tunnel start` serves now
/// before any offline one, then the newest (creation times are in seconds, so two made
/// in the same second tie; `max_by_key` then keeps the later listed).
fn most_recent(tunnels: Vec<Tunnel>) -> Option<Tunnel> {
    tunnels.into_iter().max_by_key(|t| {
        (
            t.status == client_core::api::TunnelStatus::Online,
            t.created_at,
        )
    })
}

/// `tunnel requests [TUNNEL]`.
pub async fn list(settings: &Settings, options: ListOptions) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let tunnel = pick_tunnel(&api, options.tunnel.as_deref()).await?;
    let page = api
        .call(|c| c.list_requests(&tunnel.tunnel_id, &options.filter, None, options.limit))
        .await?;
    if options.json && !options.follow {
        output::print(&output::json(&page))?;
        return Ok(());
    }
    if options.json {
        for s in page.requests.iter().rev() {
            output::print(&format!(
                "{}\n",
                serde_json::to_string(s).unwrap_or_default()
            ))?;
        }
    } else {
        // Oldest first when following, so new lines land at the bottom.
        let mut shown = page.requests.clone();
        if options.follow {
            shown.reverse();
        }
        output::print(&request_table(&shown, crate::table::terminal_width()))?;
    }
    if options.follow {
        follow(settings, &api, &tunnel, &options).await?;
    }
    Ok(())
}

/// Prints each new exchange of `tunnel` from the live feed until the process is
/// stopped; reconnects after the server ends a stream, resuming after the last id.
async fn follow(
    settings: &Settings,
    api: &Api,
    tunnel: &Tunnel,
    options: &ListOptions,
) -> Result<(), InspectError> {
    let key = settings.api_key.clone().unwrap_or_default();
    let query = options.filter.to_query();
    let url = format!(
        "{}{}{}",
        api.live_url(&tunnel.tunnel_id),
        if query.is_empty() { "" } else { "?" },
        query
    );
    let http = api
        .trust()
        .http(reqwest::Client::builder().connect_timeout(FOLLOW_CONNECT_TIMEOUT))
        .map_err(|reason| InspectError::Feed {
            url: url.clone(),
            reason,
        })?
        .build()
        .map_err(|e| InspectError::Feed {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let feed_error = |reason: String| InspectError::Feed {
        url: url.clone(),
        reason,
    };
    let mut last_id: Option<String> = None;
    let width = crate::table::terminal_width();
    loop {
        let mut request = http
            .get(&url)
            .bearer_auth(&key)
            .header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| feed_error(e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(feed_error(format!("{status}: {body}")));
        }
        let mut events = client_core::inspect::sse::Parser::default();
        let mut retry = Duration::from_millis(client_core::inspect::sse::DEFAULT_RETRY_MS);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| feed_error(e.to_string()))?
        {
            for event in events.push(&chunk) {
                if let Some(ms) = event.retry_ms {
                    retry = Duration::from_millis(ms);
                }
                if event.event.as_deref() != Some("exchange") {
                    continue;
                }
                if let Some(id) = event.id {
                    last_id = Some(id);
                }
                let Ok(s) = serde_json::from_str::<ExchangeSummary>(&event.data) else {
                    continue;
                };
                let line = if options.json {
                    event.data.clone()
                } else {
                    request_line(&s, width)
                };
                output::print(&format!("{line}\n"))?;
            }
        }
        // The server ended this stream (a finite one on AWS, or a stream's age cap):
        // reopen it after the pause it asked for.
        tokio::time::sleep(retry).await;
    }
}

/// `tunnel requests show ID`: the whole exchange.
pub async fn show(settings: &Settings, request_id: &str, json: bool) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let x = api.call(|c| c.get_request(request_id)).await?;
    if json {
        output::print(&output::json(&x))?;
    } else {
        output::print(&exchange_text(&x))?;
    }
    Ok(())
}

/// `tunnel requests export ID --har|--curl`. Credentials are masked in what leaves
/// the machine, whatever the tunnel's setting.
pub async fn export(
    settings: &Settings,
    request_id: &str,
    format: ExportFormat,
) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let mut x = api.call(|c| c.get_request(request_id)).await?;
    redact_exchange(&mut x);
    let tunnel = api.call(|c| c.get_tunnel(&x.tunnel_id)).await?;
    let text = match format {
        ExportFormat::Curl => format!("{}\n", to_curl(&x, &tunnel.public_url)),
        ExportFormat::Har => output::json(&to_har(
            std::slice::from_ref(&x),
            &tunnel.public_url,
            env!("CARGO_PKG_VERSION"),
        )),
    };
    output::print(&text)?;
    Ok(())
}

/// `tunnel requests clear [TUNNEL]`.
pub async fn clear(settings: &Settings, tunnel: Option<&str>) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let tunnel = pick_tunnel(&api, tunnel).await?;
    api.call_empty(|c| c.clear_requests(&tunnel.tunnel_id))
        .await?;
    eprintln!("cleared the request log of {}", tunnel.domain);
    Ok(())
}

/// What `tunnel replay` changes.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// New method.
    pub method: Option<String>,
    /// New path.
    pub path: Option<String>,
    /// `Name: value` headers to set.
    pub headers: Vec<String>,
    /// Header names to remove.
    pub remove_headers: Vec<String>,
    /// New body: text, or `@FILE`.
    pub body: Option<String>,
    /// Print the new exchange as JSON.
    pub json: bool,
}

/// Builds the edits a replay sends from the command line's options.
pub fn edits(options: &ReplayOptions) -> Result<ReplayEdits, InspectError> {
    let mut set_headers = Vec::new();
    for h in &options.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| InspectError::BadHeader(h.clone()))?;
        if name.trim().is_empty() {
            return Err(InspectError::BadHeader(h.clone()));
        }
        set_headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let body = match options.body.as_deref() {
        None => None,
        Some(b) => match b.strip_prefix('@') {
            Some(path) => Some(
                std::fs::read(path).map_err(|source| InspectError::BodyFile {
                    path: path.to_owned(),
                    source,
                })?,
            ),
            None => Some(b.as_bytes().to_vec()),
        },
    };
    Ok(ReplayEdits {
        method: options.method.clone(),
        path: options.path.clone(),
        set_headers,
        remove_headers: options.remove_headers.clone(),
        body,
    })
}

/// `tunnel replay ID`: sends the request again and prints what came back.
pub async fn replay(
    settings: &Settings,
    request_id: &str,
    options: &ReplayOptions,
) -> Result<(), InspectError> {
    let edits = edits(options)?;
    let api = authorized_api(settings)?;
    let x = match api.call(|c| c.replay(request_id, &edits)).await {
        Ok(x) => x,
        Err(e) if e.code() == Some(ApiErrorCode::NotFound) => {
            return Err(InspectError::WhichTunnel(format!(
                "no captured request {request_id:?} among your tunnels' logs; list them with `tunnel requests`"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if options.json {
        output::print(&output::json(&x))?;
    } else {
        let line = request_line(&ExchangeSummary::from(&x), crate::table::terminal_width());
        output::print(&format!("{line}\n"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_parse_headers_and_bodies() {
        let e = edits(&ReplayOptions {
            method: Some("PUT".into()),
            headers: vec!["X-Env: staging".into(), "x-empty:".into()],
            body: Some("hello".into()),
            ..ReplayOptions::default()
        })
        .unwrap();
        assert_eq!(
            e.set_headers,
            vec![
                ("X-Env".to_owned(), "staging".to_owned()),
                ("x-empty".to_owned(), String::new())
            ]
        );
        assert_eq!(e.body.as_deref(), Some(&b"hello"[..]));
        assert!(matches!(
            edits(&ReplayOptions {
                headers: vec!["no colon".into()],
                ..ReplayOptions::default()
            }),
            Err(InspectError::BadHeader(_))
        ));
        assert!(matches!(
            edits(&ReplayOptions {
                body: Some("@/nonexistent/file".into()),
                ..ReplayOptions::default()
            }),
            Err(InspectError::BodyFile { .. })
        ));
    }
}
