//! The live screen of `tunnel start` on a terminal: where the tunnel forwards, its
//! inspector page, the connection and its latency, live counters, and the latest
//! requests updating in place (one still waiting for the origin shows at once).
//!
//! - [`model`]: the state, a pure machine fed events with the time as a parameter.
//! - [`view`]: draws the model with ratatui, at any width.
//! - [`term`]: the terminal itself (raw mode, alternate screen, keys, resizes) and
//!   getting it back on every way out.
//!
//! The session driver and `tunnel start` feed one [`Screen`], a model behind a mutex
//! shared with the drawing thread: nothing queues up however fast requests come, and
//! the drawing thread takes a copy ten times a second.

pub mod model;
pub mod term;
pub mod view;

use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

pub use model::{Connection, Header, Model, RowId};
pub use term::Live;

/// How often the tunnel measures its round trip to the server while the screen
/// shows it (one PING each time; see `SessionConfig::latency_probe`).
pub const LATENCY_PROBE: Duration = Duration::from_secs(15);

/// Whether `tunnel start` should show the live screen: stdout and stderr are both a
/// terminal that can draw one. Pipes, `--log`, `--quiet` and JSON logs keep lines.
pub fn wanted() -> bool {
    std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb" && !t.is_empty())
}

/// A handle on the screen's model, for whoever has something to show.
#[derive(Debug, Clone)]
pub struct Screen {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    model: Mutex<Model>,
    opened: Instant,
}

impl Screen {
    /// A screen showing `header`, its clock starting now.
    pub fn new(header: Header) -> Self {
        Self {
            shared: Arc::new(Shared {
                model: Mutex::new(Model::new(header, SystemTime::now())),
                opened: Instant::now(),
            }),
        }
    }

    /// Time since the screen opened: the model's clock.
    pub fn now(&self) -> Duration {
        self.shared.opened.elapsed()
    }

    /// Runs `f` on the model at the current time.
    pub fn update<R>(&self, f: impl FnOnce(&mut Model, Duration) -> R) -> R {
        let now = self.now();
        // A panic elsewhere while holding the lock leaves a model still worth showing.
        let mut model = self
            .shared
            .model
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut model, now)
    }
}

/// The console's inspector page for a tunnel: the console's routes are hash routes
/// (`web-console/src/app.rs`, `Route::Inspector`) served from the server's base URL.
pub fn inspector_url(server: &str, tunnel_id: &str) -> String {
    format!("{}/#/tunnels/{tunnel_id}", server.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspector_link_follows_the_consoles_route() {
        assert_eq!(
            inspector_url("http://127.0.0.1:8080/", "tun_1"),
            "http://127.0.0.1:8080/#/tunnels/tun_1"
        );
        assert_eq!(
            inspector_url("https://api.example.com", "t"),
            "https://api.example.com/#/tunnels/t"
        );
    }
}
