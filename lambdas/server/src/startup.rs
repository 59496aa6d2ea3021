//! What the two server binaries share at start-up: `tunnel-server` (the local stack)
//! and `tunnel-emulator` (the AWS deployment under emulation) take the same flags for
//! logs, data dir and rates, keep the session-token key the same way, and stop on the
//! same signals.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use tunnel_backend::auth::MIN_TOKEN_SECRET_BYTES;
use tunnel_backend::limits::{BadRate, Rate};

/// File in the data dir holding the session-token signing key.
pub const TOKEN_KEY_FILE: &str = "token.key";

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sends log lines to stderr in `format`, at the levels `RUST_LOG` names (default
/// info).
pub fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        // The current span carries the request id of every line about a request.
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .event_format(client_core::json_log::JsonLine::new())
            .init();
    } else {
        logs.init();
    }
}

/// A `--*-rate` value, checked and kept as written (the AWS emulator passes it on to
/// the functions' environment as is).
pub fn checked_rate(text: &str) -> Result<String, BadRate> {
    Rate::parse(text).map(|_| text.to_owned())
}

/// The rate a checked `--*-rate` value names (`None`: off).
pub fn rate(text: &str) -> Option<Rate> {
    Rate::parse(text).ok().flatten()
}

/// Why the data dir or its token key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// No `--data-dir` and no home to put the default in.
    #[error("HOME is not set; pass --data-dir DIR to say where to keep the server's data")]
    NoHome,
    /// The data dir could not be made.
    #[error("cannot create the data dir {}: {source}", path.display())]
    Create {
        /// The dir.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is there but too short to sign with.
    #[error("{} is too short; delete it to make a new one", .0.display())]
    ShortKey(PathBuf),
    /// The key file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Key {
        /// "read" or "create".
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The data dir `--data-dir` names, or `$HOME/.tunnel/server`; made if missing.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, DataDirError> {
    let dir = match flag {
        Some(d) => d,
        None => {
            let home = std::env::var_os("HOME").ok_or(DataDirError::NoHome)?;
            PathBuf::from(home).join(".tunnel").join("server")
        }
    };
    std::fs::create_dir_all(&dir).map_err(|source| DataDirError::Create {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Reads the session-token signing key from `dir`, making one on first run. Kept on
/// disk so tokens issued before a restart stay valid.
pub fn token_key(dir: &Path) -> Result<Vec<u8>, DataDirError> {
    let path = dir.join(TOKEN_KEY_FILE);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= MIN_TOKEN_SECRET_BYTES => return Ok(key),
        Ok(_) => return Err(DataDirError::ShortKey(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(DataDirError::Key {
                action: "read",
                path,
                source,
            });
        }
    }
    let key = tunnel_backend::auth::random_id(MIN_TOKEN_SECRET_BYTES).into_bytes();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&path).and_then(|mut file| {
        file.write_all(&key)?;
        file.sync_all()
    });
    written.map_err(|source| DataDirError::Key {
        action: "create",
        path,
        source,
    })?;
    Ok(key)
}

/// The `--listen` address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}; pick another with --listen")]
pub struct ListenError {
    /// The address asked for.
    pub addr: std::net::SocketAddr,
    /// Why (most often: in use, or a port below 1024 without the right).
    pub source: std::io::Error,
}

/// Binds the `--listen` address.
pub async fn listen(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = token_key(dir.path()).unwrap();
        assert!(first.len() >= MIN_TOKEN_SECRET_BYTES, "{}", first.len());
        assert_eq!(token_key(dir.path()).unwrap(), first);
    }

    #[test]
    fn a_short_key_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TOKEN_KEY_FILE),
            vec![b'k'; MIN_TOKEN_SECRET_BYTES - 1],
        )
        .unwrap();
        let e = token_key(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is too short; delete it to make a new one")
        );
    }

    #[tokio::test]
    async fn a_taken_address_is_refused_saying_which_flag_to_change() {
        let taken = listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e = listen(addr).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("cannot listen on {addr}: ")),
            "{text}"
        );
        assert!(text.ends_with("; pick another with --listen"), "{text}");
    }
}
