//! The short commands: `register`, `auth`, `list`, `stop`, `status`.
//!
//! Each is one or two API calls and a print; `tunnel start` has its own module.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use crate::api::{Api, CallError};
use crate::config::{self, API_KEY_ENV, ConfigError, Settings};
use crate::output::{self, Status};
use crate::trust::Trust;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Reading or writing the config file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An API call.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The command needs a key and none is set.
    #[error("no API key: run `tunnel register` or `tunnel auth login` (or set {API_KEY_ENV})")]
    NoKey,
    /// `auth login` got an empty key.
    #[error("the API key is empty: pass --api-key KEY or type the key on standard input")]
    EmptyKey,
    /// Reading the key from stdin failed.
    #[error("cannot read the API key from standard input: {0}")]
    Stdin(std::io::Error),
    /// Writing to stdout failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// The CA file is unusable.
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
    /// `stop` without a name, not confirmed.
    #[error(
        "name the tunnel to stop (`tunnel stop <id or domain>`, see `tunnel list`), \
         or pass --all to stop all {count} of yours"
    )]
    StopWhich {
        /// How many tunnels the caller has.
        count: usize,
    },
    /// `stop` could not stop every tunnel.
    #[error("{failed} of {total} tunnels could not be stopped")]
    PartialStop {
        /// How many failed.
        failed: usize,
        /// How many there were.
        total: usize,
    },
}

/// The API with the key in force, or [`CommandError::NoKey`].
pub fn authorized_api(settings: &Settings) -> Result<Api, CommandError> {
    let key = settings.api_key.clone().ok_or(CommandError::NoKey)?;
    Ok(api_with(settings, Some(key))?.with_key_origin(settings.key_origin()))
}

/// The API of `settings` with `key` (or none), trusting its CA file too.
pub fn api_with(settings: &Settings, key: Option<String>) -> Result<Api, CommandError> {
    let trust = Trust::load(settings.ca_file.as_deref())?;
    Ok(Api::with_trust(&settings.api_url, key, trust)?
        .with_url_source(settings.api_url_source.clone()))
}

/// `tunnel register`: a new client; its key is saved and shown once.
pub async fn register(settings: &Settings) -> Result<(), CommandError> {
    let api = api_with(settings, None)?;
    let registration = api.call_at_startup(|c| c.register()).await?;
    let replaced = settings.file.api_key.is_some();
    save_key(settings, Some(registration.api_key.clone()))?;
    let path = settings.path.display();
    if replaced {
        eprintln!("note: the previous API key in {path} was replaced");
    }
    output::print(&format!(
        "registered client {}\nAPI key: {}\nThe key is shown only once; it is saved to {path}.\n\n{}",
        registration.client_id, registration.api_key, NEXT_AFTER_REGISTER
    ))?;
    Ok(())
}

/// What `register` suggests next: the command that puts a local service online.
pub const NEXT_AFTER_REGISTER: &str = "\
Next, serve a local port on a public URL (Ctrl-C stops it):
  tunnel start 3000                    a random name
  tunnel start 3000 --domain myapp     a name of your choice
";

/// `tunnel auth rotate`: a new key replaces the current one, on the server and in the
/// config file; it is shown once.
pub async fn rotate(settings: &Settings) -> Result<(), CommandError> {
    let api = authorized_api(settings)?;
    let fresh = api.call(|c| c.rotate_key()).await?;
    save_key(settings, Some(fresh.api_key.clone()))?;
    output::print(&format!(
        "new API key for client {}: {}\nThe old key no longer works; the new one is saved to {}.\n",
        fresh.client_id,
        fresh.api_key,
        settings.path.display()
    ))?;
    Ok(())
}

/// `tunnel auth login`: checks `key` (or one line of stdin) with the server, then
/// saves it.
pub async fn login(settings: &Settings, key: Option<String>) -> Result<(), CommandError> {
    let key = match key {
        Some(key) => key,
        None => read_key()?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(CommandError::EmptyKey);
    }
    let api = api_with(settings, Some(key.clone()))?.with_key_origin("the API key you gave".into());
    let me = api.call(|c| c.me()).await?;
    save_key(settings, Some(key))?;
    output::print(&format!(
        "logged in as client {}; key saved to {}\n",
        me.client_id,
        settings.path.display()
    ))?;
    Ok(())
}

fn read_key() -> Result<String, CommandError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Typed, not echoed: a key on screen ends up in scrollback and screen shares.
        return rpassword::prompt_password("API key (not shown as you type): ")
            .map_err(CommandError::Stdin);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(CommandError::Stdin)?;
    Ok(line)
}

/// `tunnel auth logout`: removes the key from the file, keeping the API URL.
pub fn logout(settings: &Settings) -> Result<(), CommandError> {
    let path = settings.path.display();
    if settings.file.api_key.is_none() {
        output::print(&format!("no API key is saved in {path}\n"))?;
    } else {
        save_key(settings, None)?;
        output::print(&format!(
            "logged out; the API key was removed from {path}\n"
        ))?;
    }
    if std::env::var_os(API_KEY_ENV).is_some_and(|v| !v.is_empty()) {
        eprintln!("note: {API_KEY_ENV} is set in the environment and still provides a key");
    }
    Ok(())
}

/// Saves the key in force (or removes it) together with the API URL it belongs to.
fn save_key(settings: &Settings, key: Option<String>) -> Result<(), ConfigError> {
    let mut file = settings.file.clone();
    if key.is_some() {
        // A key only means something to the server that issued it.
        file.api_url = Some(settings.api_url.clone());
    }
    file.api_key = key;
    config::write(&settings.path, &file)
}

/// `tunnel list`.
pub async fn list(settings: &Settings, json: bool) -> Result<(), CommandError> {
    let api = authorized_api(settings)?;
    let list = api.call(|c| c.list_tunnels()).await?;
    let text = if json {
        output::json(&list)
    } else {
        output::tunnel_table(&list.tunnels, crate::table::terminal_width())
    };
    output::print(&text)?;
    Ok(())
}

/// `tunnel stop [ID]`: that tunnel, or all of the caller's.
pub async fn stop(
    settings: &Settings,
    tunnel: Option<String>,
    all: bool,
) -> Result<(), CommandError> {
    let api = authorized_api(settings)?;
    let tunnels = api.call(|c| c.list_tunnels()).await?.tunnels;
    if let Some(name) = tunnel {
        // By id or domain; an unknown name goes to the server as an id, whose 404 says so.
        let id = tunnels
            .iter()
            .find(|t| t.tunnel_id == name || t.domain == name)
            .map_or(name, |t| t.tunnel_id.clone());
        api.call_empty(|c| c.delete_tunnel(&id)).await?;
        output::print(&format!("stopped tunnel {id}\n"))?;
        return Ok(());
    }
    if tunnels.is_empty() {
        output::print("no tunnels to stop\n")?;
        return Ok(());
    }
    if !all && !confirm_stop_all(&tunnels)? {
        return Err(CommandError::StopWhich {
            count: tunnels.len(),
        });
    }
    let mut failed = 0;
    for tunnel in &tunnels {
        match api.call_empty(|c| c.delete_tunnel(&tunnel.tunnel_id)).await {
            Ok(()) => output::print(&format!(
                "stopped tunnel {} ({})\n",
                tunnel.tunnel_id, tunnel.public_url
            ))?,
            Err(e) => {
                failed += 1;
                eprintln!("could not stop tunnel {}: {e}", tunnel.tunnel_id);
            }
        }
    }
    if failed > 0 {
        return Err(CommandError::PartialStop {
            failed,
            total: tunnels.len(),
        });
    }
    Ok(())
}

/// Asks on a terminal whether to stop every tunnel; false (ask for --all) elsewhere,
/// so a script never stops running sessions by leaving out a name.
fn confirm_stop_all(tunnels: &[client_core::api::Tunnel]) -> Result<bool, CommandError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(false);
    }
    let names: Vec<&str> = tunnels.iter().map(|t| t.domain.as_str()).collect();
    eprint!(
        "Stop all {} of your tunnels ({})? [y/N] ",
        tunnels.len(),
        names.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(CommandError::Stdin)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `tunnel status`: what is configured and what the server says about it.
pub async fn status(settings: &Settings, json: bool) -> Result<(), CommandError> {
    let status = gather_status(settings).await?;
    let text = if json {
        output::json(&status)
    } else {
        output::status_text(
            &status,
            client_core::clock::now_secs(),
            crate::table::terminal_width(),
        )
    };
    output::print(&text)?;
    Ok(())
}

async fn gather_status(settings: &Settings) -> Result<Status, CommandError> {
    let mut status = Status {
        config_path: settings.path.display().to_string(),
        api_url: settings.api_url.clone(),
        logged_in: settings.api_key.is_some(),
        server_reachable: false,
        client_id: None,
        tunnels: Vec::new(),
        stats: Vec::new(),
        problem: None,
    };
    // Without a key the call still tells whether anything answers at that URL.
    let api = api_with(settings, settings.api_key.clone())?;
    match api.call(|c| c.me()).await {
        Ok(me) => {
            status.server_reachable = true;
            status.client_id = Some(me.client_id);
        }
        Err(e @ CallError::Unreachable { .. }) => status.problem = Some(e.to_string()),
        Err(e) => {
            status.server_reachable = true;
            if status.logged_in {
                status.problem = Some(format!("the server refused the API key: {e}"));
            }
        }
    }
    if status.client_id.is_some() {
        match api.call(|c| c.list_tunnels()).await {
            Ok(list) => status.tunnels = list.tunnels,
            Err(e) => status.problem = Some(format!("cannot list tunnels: {e}")),
        }
        for t in &status.tunnels {
            match api.call(|c| c.tunnel_stats(&t.tunnel_id)).await {
                Ok(s) => status.stats.push(s),
                Err(e) => {
                    status.problem = Some(format!("cannot read the stats of {}: {e}", t.domain));
                }
            }
        }
    }
    Ok(status)
}
