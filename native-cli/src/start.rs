//! `tunnel start`: create the tunnel, keep a session to it alive, and clean up on stop.
//!
//! Every wait here (API calls, connecting, backoff) also watches the stop signal, so
//! Ctrl-C is honoured at once wherever it lands. A server that cannot be reached is
//! waited for with backoff; only a refusal that retrying cannot fix ends the command.

use std::io::Write as _;
use std::time::Duration;

use client_core::api::{ApiClient, ErrorBody, SessionToken};
use client_core::protocol::ErrorCode;
use client_core::session::{Backoff, Connected};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::api::{Api, CallError};
use crate::origin::Origin;
use crate::screen::{Connection, Header, Live, Screen};
use crate::tunnel::{RequestOutput, SessionEnd, run_session};

mod leave;
mod retry;

use leave::leave;
pub use retry::stopped;
use retry::{first_contact, pause, retrying};

type WebSocket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Longest wait for the WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// What `tunnel start` was asked to do.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The local service (`3000`, `localhost:3000`, `https://localhost:8443`, ...).
    pub target: client_core::target::OriginTarget,
    /// How an `https://` target's certificate is checked.
    pub origin_tls: crate::origin_tls::OriginTls,
    /// What the origin gets as `Host`.
    pub host_header: client_core::target::HostHeader,
    /// The subdomain wanted (already validated), or a random one.
    pub domain: Option<String>,
    /// Print one line per proxied request.
    pub log_requests: bool,
    /// Show the live screen instead (stdout and stderr are a terminal; see
    /// [`crate::screen::wanted`]).
    pub screen: bool,
    /// How long the origin may take to start answering.
    pub origin_timeout: std::time::Duration,
    /// Whether the inspector masks credential headers (for a new tunnel).
    pub redact_secrets: bool,
    /// Who may reach the public URL (already validated); empty admits everyone.
    pub policy: client_core::policy::Policy,
}

/// Why `tunnel start` gave up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An API call was refused (taken domain, bad key, ...).
    #[error(transparent)]
    Api(#[from] CallError),
    /// The server ended the session for good; its words.
    #[error("{message}")]
    Refused {
        /// The server's reason.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// The TLS settings for the origin cannot be used (an unreadable `--origin-ca`).
    #[error(transparent)]
    OriginTls(#[from] crate::origin_tls::OriginTlsError),
    /// The WebSocket endpoint refused the upgrade.
    #[error("the server refused the WebSocket connection (HTTP {status}): {message}")]
    Handshake {
        /// HTTP status of the refusal.
        status: u16,
        /// The server's message, or the body's start.
        message: String,
    },
}

/// Runs `tunnel start` until `stop` turns true or the server refuses for good.
pub async fn start(
    api: &Api,
    options: &StartOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StartError> {
    let origin = Origin::to(options.target.clone(), &options.origin_tls)?
        .with_timeout(options.origin_timeout)
        .with_host_header(options.host_header.clone());
    // Up before the first call, so a slow or absent server shows as connecting.
    let (screen, live) = match options.screen.then(|| enter_screen(api, &origin)) {
        Some(Ok((screen, live))) => (Some(screen), Some(live)),
        Some(Err(e)) => {
            eprintln!("cannot draw the live screen ({e}); printing a line per request");
            (None, None)
        }
        None => (None, None),
    };
    let account = screen
        .clone()
        .map(|s| tokio::spawn(show_account(api.clone(), s)));
    let output = match &screen {
        Some(screen) => RequestOutput::Screen(screen.clone()),
        None if options.log_requests => RequestOutput::Lines,
        None => RequestOutput::Quiet,
    };
    let screen = screen.as_ref();
    let mut backoff = Backoff::default();
    let domain = options.domain.as_deref();
    let Some(tunnel) = first_contact(api, &mut backoff, &mut stop, screen, |c| {
        c.create_tunnel_with(&client_core::api::CreateTunnel {
            domain: domain.map(str::to_owned),
            redact_secrets: Some(options.redact_secrets),
            // A resumed tunnel keeps its stored policy; the settings given here
            // replace theirs, the others stay.
            policy: Some(options.policy.clone()),
        })
    })
    .await?
    else {
        eprintln!("tunnel stopped");
        return Ok(());
    };
    backoff.reset();
    if let Some(screen) = screen {
        let inspector = crate::screen::inspector_url(api.base_url(), &tunnel.tunnel_id);
        screen.update(|m, _| m.handle_tunnel(&tunnel.public_url, inspector));
    }
    if let Some(p) = &tunnel.policy {
        if options.policy.is_empty() {
            // Nothing asked for on this command line: the checks are from before
            // (the console, `tunnel policy`, or an earlier run's flags).
            eprintln!(
                "Protected by: {} (set earlier; `tunnel policy {}` changes it)",
                p.describe(),
                tunnel.domain
            );
        } else {
            eprintln!("Access: {}", p.describe());
        }
    }
    let mut announced = false;
    // The tunnel's own settings, not this run's flags: a resumed tunnel keeps an
    // inbox turned on earlier.
    let keeps_inbox = tunnel.policy.as_ref().is_some_and(|p| p.inbox.is_some());
    // Each connection kicks one drain of the offline inbox; a kick while one runs is
    // folded into it (the channel holds one).
    let (kick, kicks) = mpsc::channel::<()>(1);
    let drainer = tokio::spawn(drain_on_kick(
        api.clone(),
        origin.clone(),
        tunnel.tunnel_id.clone(),
        kicks,
    ));
    loop {
        let Some(token) = retrying(
            api,
            &mut backoff,
            &mut stop,
            screen,
            ApiClient::session_token,
        )
        .await?
        else {
            break;
        };
        let ws = tokio::select! {
            connecting = connect(&token, api.trust()) => match connecting? {
                Ok(ws) => ws,
                Err(unreachable) => {
                    if pause(&mut backoff, &mut stop, screen, &unreachable).await {
                        continue;
                    }
                    break;
                }
            },
            () = stopped(stop.clone()) => break,
        };
        // Once the tunnel has been live, every later connection resumes it.
        let resume = announced;
        let on_connected = |live: &Connected| {
            backoff.reset();
            match screen {
                Some(screen) => {
                    announced = true;
                    screen.update(|m, _| m.handle_connected(&live.public_url));
                }
                None => announce(live, &origin, &mut announced),
            }
            // Only a run that asked for an inbox looks in it: the others would pay a
            // control-plane call per connection for nothing.
            if keeps_inbox {
                let _ = kick.try_send(());
            }
        };
        let end = run_session(
            ws,
            &tunnel.tunnel_id,
            resume,
            &origin,
            &output,
            on_connected,
            stopped(stop.clone()),
        )
        .await;
        if let Some(screen) = screen {
            screen.update(|m, now| {
                m.handle_connection_lost(now);
                m.handle_connection_state(Connection::Connecting);
            });
        }
        match end {
            SessionEnd::Shutdown => break,
            SessionEnd::Renew => eprintln!("renewing the connection ahead of its age limit"),
            SessionEnd::Fatal { code, message } => {
                return Err(StartError::Refused { code, message });
            }
            SessionEnd::Lost(reason) => {
                if !pause(
                    &mut backoff,
                    &mut stop,
                    screen,
                    &format!("connection lost: {reason}"),
                )
                .await
                {
                    break;
                }
            }
        }
    }
    drainer.abort();
    if let Some(account) = account {
        account.abort();
    }
    // Leave the screen before the goodbye lines, so they stay on the terminal.
    drop(live);
    leave(api, &tunnel, options).await;
    eprintln!("tunnel stopped");
    Ok(())
}

/// Drains the offline inbox after each kick (a connection), and once more a moment
/// later for a request held as the connection was being attached.
async fn drain_on_kick(api: Api, origin: Origin, tunnel_id: String, mut kicks: mpsc::Receiver<()>) {
    while kicks.recv().await.is_some() {
        for pass in 0..2 {
            if pass == 1 {
                tokio::time::sleep(crate::inbox::SETTLE).await;
            }
            match crate::inbox::drain(&api, &origin, &tunnel_id).await {
                Ok(0) => {}
                Ok(n) => eprintln!("delivered {n} held request(s)"),
                // The next connection tries again; what was not taken stays held.
                Err(e) => tracing::warn!(error = %e, "cannot drain the offline inbox"),
            }
        }
    }
}

/// Opens the WebSocket with `token`. The inner error says why the server could not be
/// reached (worth a retry); the outer one is a refusal of the upgrade (not worth one).
async fn connect(
    token: &SessionToken,
    trust: &crate::trust::Trust,
) -> Result<Result<WebSocket, String>, StartError> {
    let unreachable = |why: String| {
        let hint = crate::trust::hint(&why);
        format!(
            "cannot reach the tunnel server at {}: {why}{hint}",
            token.ws_url
        )
    };
    let url = session_url(token);
    match timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            true,
            trust.websocket(),
        ),
    )
    .await
    {
        Ok(Ok((ws, _))) => Ok(Ok(ws)),
        Ok(Err(tungstenite::Error::Http(response))) if is_refusal(response.status()) => {
            Err(handshake_refusal(&response))
        }
        Ok(Err(e)) => Ok(Err(unreachable(e.to_string()))),
        Err(_) => Ok(Err(unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        )))),
    }
}

/// Opens the live screen for a tunnel to `origin` through `api`'s server.
fn enter_screen(api: &Api, origin: &Origin) -> std::io::Result<(Screen, Live)> {
    let screen = Screen::new(Header {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        target: origin.url(),
        server: api.base_url().to_owned(),
        ..Header::default()
    });
    let live = Live::enter(&screen)?;
    Ok((screen, live))
}

/// Shows the client id the key belongs to; the screen does without if the server
/// does not say.
async fn show_account(api: Api, screen: Screen) {
    if let Ok(me) = api.call(ApiClient::me).await {
        screen.update(|m, _| m.handle_account(me.client_id));
    }
}

/// Prints the public URL alone on stdout the first time (scripts read it from there),
/// and the human version on stderr every time.
fn announce(live: &Connected, origin: &Origin, announced: &mut bool) {
    if *announced {
        eprintln!(
            "reconnected: forwarding {} -> {}",
            live.public_url,
            origin.url()
        );
        return;
    }
    *announced = true;
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (the reader took the URL and left) must not stop the tunnel.
    let _ = writeln!(stdout, "{}", live.public_url).and_then(|()| stdout.flush());
    eprintln!("Forwarding {} -> {}", live.public_url, origin.url());
    eprintln!("Press Ctrl-C to stop.");
}

/// The WebSocket URL with the token appended.
pub fn session_url(token: &SessionToken) -> String {
    let separator = if token.ws_url.contains('?') { '&' } else { '?' };
    format!(
        "{}{separator}token={}",
        token.ws_url,
        percent_encode(&token.token)
    )
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A refusal of the upgrade that a retry would meet again (a rate limit is not one).
fn is_refusal(status: http::StatusCode) -> bool {
    status.is_client_error() && status != http::StatusCode::TOO_MANY_REQUESTS
}

fn handshake_refusal(response: &http::Response<Option<Vec<u8>>>) -> StartError {
    let status = response.status().as_u16();
    let body = response.body().as_deref().unwrap_or_default();
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => error.message,
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    };
    StartError::Handshake { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(ws_url: &str, token: &str) -> SessionToken {
        SessionToken {
            token: token.into(),
            expires_at: 0,
            ws_url: ws_url.into(),
        }
    }

    #[test]
    fn token_is_appended_and_escaped() {
        assert_eq!(
            session_url(&token("ws://h:1/v1/connect", "a.b-c_d")),
            "ws://h:1/v1/connect?token=a.b-c_d"
        );
        assert_eq!(
            session_url(&token("wss://h/ws?stage=prod", "a+b/c=")),
            "wss://h/ws?stage=prod&token=a%2Bb%2Fc%3D"
        );
    }

    #[test]
    fn handshake_refusal_shows_the_servers_words() {
        let response = http::Response::builder()
            .status(401)
            .body(Some(
                br#"{"error":{"code":"unauthorized","message":"token expired"}}"#.to_vec(),
            ))
            .unwrap();
        assert_eq!(
            handshake_refusal(&response).to_string(),
            "the server refused the WebSocket connection (HTTP 401): token expired"
        );
        assert!(is_refusal(http::StatusCode::FORBIDDEN));
        assert!(!is_refusal(http::StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_refusal(http::StatusCode::BAD_GATEWAY));
    }
}
