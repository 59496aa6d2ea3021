//! How a session ends, and which ends call for a reconnect.

use client_core::protocol::ErrorCode;
use client_core::session::CloseReason;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The shutdown future completed and the WebSocket was closed.
    Shutdown,
    /// The connection was lost or broken; a new connection may succeed.
    Lost(String),
    /// The session ended itself, idle, ahead of the server's connection age cap:
    /// reconnect at once.
    Renew,
    /// The server refused the session for good (tunnel gone, in use, not ours, ...).
    Fatal {
        /// The server's reason.
        code: ErrorCode,
        /// Its words, for the user.
        message: String,
    },
}

/// Whether a close reason ends the tunnel for good or calls for a reconnect.
pub(super) fn end_for(reason: CloseReason) -> SessionEnd {
    match reason {
        CloseReason::Server { code, message } if is_fatal(code) => {
            SessionEnd::Fatal { code, message }
        }
        CloseReason::Server { message, .. } => {
            SessionEnd::Lost(format!("the server ended the session: {message}"))
        }
        CloseReason::IdleTimeout(silent) => SessionEnd::Lost(format!(
            "no word from the server for {} s",
            silent.as_secs()
        )),
        CloseReason::Protocol(message) => SessionEnd::Lost(format!("protocol error: {message}")),
        CloseReason::Local => SessionEnd::Lost("closed locally".into()),
        CloseReason::Renew => SessionEnd::Renew,
    }
}

/// Server refusals that a new connection would only meet again.
pub fn is_fatal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownTunnel
            | ErrorCode::Unauthorized
            | ErrorCode::UnsupportedVersion
            | ErrorCode::TunnelInUse
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn fatal_codes_end_the_tunnel_others_reconnect() {
        let server = |code| CloseReason::Server {
            code,
            message: "m".into(),
        };
        assert!(matches!(
            end_for(server(ErrorCode::UnknownTunnel)),
            SessionEnd::Fatal { .. }
        ));
        assert!(matches!(
            end_for(server(ErrorCode::TunnelInUse)),
            SessionEnd::Fatal { .. }
        ));
        assert!(matches!(
            end_for(server(ErrorCode::Internal)),
            SessionEnd::Lost(_)
        ));
        assert!(matches!(
            end_for(CloseReason::IdleTimeout(Duration::from_secs(61))),
            SessionEnd::Lost(_)
        ));
    }
}
