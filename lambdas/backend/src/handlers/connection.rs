//! The WebSocket lifecycle: authorize-connection (`$connect`), tunnel-connect (the
//! CONNECT frame) and tunnel-disconnect (`$disconnect`).

use client_core::protocol::limits::PROTOCOL_VERSION;
use client_core::protocol::{ErrorCode, ErrorFrame, ServerFrame, encode};

use super::{ApiFailure, Caller};
use crate::auth::TokenError;
use crate::model::ConnectionRecord;
use crate::store::StoreError;
use crate::{Backend, auth_limit};

/// Checks the session token presented on `$connect` from address `source`: a forged
/// or malformed one counts against the address ([`crate::auth_limit`]), which is
/// refused with 429 once it has made too many.
pub async fn authorize_connection(
    b: &Backend,
    source: Option<&str>,
    token: Option<&str>,
    now: u64,
) -> Result<Caller, ApiFailure> {
    let token = token.ok_or_else(|| {
        ApiFailure::unauthorized(
            "no session token; get one with POST /v1/tokens and connect with ?token=",
        )
    })?;
    let now_ms = now.saturating_mul(1000);
    // No admission gate: a token is checked by its signature, with no store read to
    // save, so a valid one connects whatever others at its address guessed; a wrong
    // one counts and, over the budget, answers 429.
    let claims = match b.signer.verify(token, now) {
        Ok(claims) => claims,
        Err(e) => {
            let refused = ApiFailure::unauthorized(&format!("session token refused ({e})"));
            // An expired token is ours, only late: not a guess.
            if e == TokenError::Expired {
                return Err(refused);
            }
            return Err(auth_limit::failed(b, source, refused, now_ms).await);
        }
    };
    Ok(Caller {
        client_id: claims.sub,
        session_until: claims.until,
        key_hash_prefix: claims.kh,
    })
}

fn refusal(code: ErrorCode, message: String) -> ErrorFrame {
    ErrorFrame {
        id: None,
        code,
        message,
        reply_to: None,
        secret: None,
    }
}

/// What a connection's client can do that the deployment takes up, from CONNECT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    /// The client asked for binary BODY frames and this transport carries them
    /// (the local stack's own sockets; never API Gateway, which refuses them from
    /// clients).
    pub binary: bool,
    /// The client fetches and puts bodies by URL and this deployment stores bodies
    /// (AWS, with its body bucket; never the local stack). Kept on the connection's
    /// record, where the proxy looks before sending a `body_url`.
    pub body_urls: bool,
}

/// Binds connection `connection_id` of `caller` to the tunnel named in CONNECT and
/// answers CONNECTED, or refuses with an ERROR frame (also sent to the connection).
pub async fn tunnel_connect(
    b: &Backend,
    connection_id: &str,
    caller: &Caller,
    version: u16,
    tunnel_id: &str,
    offers: Offers,
    now: u64,
) -> Result<ServerFrame, ErrorFrame> {
    let outcome = bind(b, connection_id, caller, version, tunnel_id, offers, now).await;
    let frame = match &outcome {
        Ok(f) => f.clone(),
        Err(e) => ServerFrame::Error(e.clone()),
    };
    match encode(&frame) {
        Ok(m) => {
            if let Err(e) = b.connections.send(connection_id, m).await {
                tracing::warn!(connection_id, error = %e, "could not answer CONNECT");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot encode CONNECT answer"),
    }
    outcome
}

async fn bind(
    b: &Backend,
    connection_id: &str,
    caller: &Caller,
    version: u16,
    tunnel_id: &str,
    offers: Offers,
    now: u64,
) -> Result<ServerFrame, ErrorFrame> {
    if version != PROTOCOL_VERSION {
        return Err(refusal(
            ErrorCode::UnsupportedVersion,
            format!(
                "this server speaks protocol version {PROTOCOL_VERSION}, the client {version}; upgrade the tunnel CLI"
            ),
        ));
    }
    let internal = |e: StoreError| {
        tracing::error!(error = %e, "store failure on CONNECT");
        refusal(
            ErrorCode::Internal,
            "the server could not reach its store; retrying".into(),
        )
    };
    let tunnel = match b.store.get_tunnel(tunnel_id, now).await.map_err(internal)? {
        Some(t) if t.client_id == caller.client_id => t,
        _ => {
            return Err(refusal(
                ErrorCode::UnknownTunnel,
                format!(
                    "no tunnel {tunnel_id:?} among yours; it may have been stopped. Start a new one with `tunnel start`"
                ),
            ));
        }
    };
    match b
        .store
        .attach_connection(tunnel_id, connection_id, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::TunnelInUse(_)) => {
            // The owner reconnected while the server still holds its old connection
            // (a half-open socket after a network drop). The newest connection wins:
            // the old one is told and released, so a reconnect never locks itself out.
            // Two CLIs cannot get here by accident: a second `tunnel start` on a domain
            // that is online is refused by create-tunnel before it has a tunnel id.
            if let Some(old) = tunnel
                .connection_id
                .as_deref()
                .filter(|c| *c != connection_id)
            {
                take_over(b, tunnel_id, old, now).await;
            }
            b.store
                .attach_connection(tunnel_id, connection_id, now)
                .await
                .map_err(|e| match e {
                    StoreError::TunnelInUse(_) => refusal(
                        ErrorCode::TunnelInUse,
                        format!("tunnel {tunnel_id} ({}) is already served by another running `tunnel start`", tunnel.domain),
                    ),
                    StoreError::NotFound(_) => {
                        refusal(ErrorCode::UnknownTunnel, format!("tunnel {tunnel_id} was just stopped"))
                    }
                    other => internal(other),
                })?;
        }
        Err(StoreError::NotFound(_)) => {
            return Err(refusal(
                ErrorCode::UnknownTunnel,
                format!("tunnel {tunnel_id} was just stopped"),
            ));
        }
        Err(e) => return Err(internal(e)),
    }
    b.store
        .put_connection(&ConnectionRecord {
            connection_id: connection_id.to_owned(),
            client_id: caller.client_id.clone(),
            tunnel_id: Some(tunnel_id.to_owned()),
            connected_at: now,
            body_urls: offers.body_urls,
        })
        .await
        .map_err(internal)?;
    tracing::info!(connection_id, tunnel_id, domain = %tunnel.domain, "tunnel online");
    Ok(ServerFrame::Connected {
        version: PROTOCOL_VERSION,
        tunnel_id: tunnel_id.to_owned(),
        public_url: b.config.public.url_for(&tunnel.domain),
        domain: tunnel.domain,
        max_chunk: b.config.max_chunk,
        window: b.config.window,
        renew_after: b.config.renew_after,
        binary: offers.binary,
    })
}

/// Moves the tunnel off connection `old`: tells it why, closes it, and detaches it.
async fn take_over(b: &Backend, tunnel_id: &str, old: &str, now: u64) {
    tracing::info!(
        tunnel_id,
        old_connection = old,
        "newer connection takes the tunnel over"
    );
    let frame = ServerFrame::Error(refusal(
        ErrorCode::TunnelInUse,
        format!("tunnel {tunnel_id} was taken over by a newer connection of its owner"),
    ));
    if let Ok(m) = encode(&frame) {
        let _ = b.connections.send(old, m).await;
    }
    let _ = b.connections.close(old).await;
    let until = b.config.inactive_until(now);
    if let Err(e) = b.store.detach_connection(tunnel_id, old, until).await {
        tracing::warn!(tunnel_id, error = %e, "could not detach the old connection");
    }
}

/// RELEASE: stops routing new requests to `connection_id` (its client is about to
/// reconnect) and answers RELEASED. Requests in flight on it go on. Until the client
/// is back the tunnel is inactive, so it expires like any other (at `now` plus the
/// inactive TTL; the reconnect clears that).
pub async fn tunnel_release(b: &Backend, connection_id: &str, now: u64) -> Result<(), StoreError> {
    if let Some(record) = b.store.get_connection(connection_id).await?
        && let Some(tunnel_id) = &record.tunnel_id
    {
        let until = b.config.inactive_until(now);
        b.store
            .detach_connection(tunnel_id, connection_id, until)
            .await?;
        tracing::info!(connection_id, tunnel_id, "connection released for renewal");
    }
    if let Ok(m) = encode(&ServerFrame::Released {}) {
        let _ = b.connections.send(connection_id, m).await;
    }
    Ok(())
}

/// Releases whatever connection `connection_id` held at `now`. Its tunnel is kept,
/// inactive, with its policy, inbox and log, until `now` plus the inactive TTL
/// ([`crate::config::Config::inactive_until`]); `tunnel stop` or the API's DELETE
/// removes it sooner. Answers whether it had bound a tunnel (what the disconnect
/// metric counts).
pub async fn tunnel_disconnect(
    b: &Backend,
    connection_id: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let Some(record) = b.store.get_connection(connection_id).await? else {
        return Ok(false);
    };
    if let Some(tunnel_id) = &record.tunnel_id {
        let until = b.config.inactive_until(now);
        b.store
            .detach_connection(tunnel_id, connection_id, until)
            .await?;
        tracing::info!(
            connection_id,
            tunnel_id,
            expires_at = until,
            "tunnel offline"
        );
    }
    b.store.delete_connection(connection_id).await?;
    Ok(record.tunnel_id.is_some())
}
