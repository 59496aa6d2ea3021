//! tunnel-proxy's delivery of an admitted request's head (REQUEST) to the tunnel's
//! client: through the API's `@connections` to the client's connection, naming this
//! sandbox's return channel as where the answer goes, with a large body's stored URL
//! in place of its chunks.
//!
//! Until the head is delivered nothing has reached the client, so a connection found
//! gone (a client reconnecting) means: wait for the new one and send again, with a
//! fresh look at the return channel too (it may have aged meanwhile).

use std::time::Instant;

use client_core::protocol::{Headers, ServerFrame, StreamId, encode};
use tokio::sync::OwnedMutexGuard;
use tunnel_backend::connections::ConnectionError;
use tunnel_backend::handlers::admission::{Admission, Admitted, Refusal, Source};
use tunnel_backend::model::TunnelRecord;

use super::channel::{Channel, live};
use super::proxy::Proxy;
use super::reconnect::reroute_waiting;
use super::stored_body::Plan;

/// An admitted request as it goes to the client.
pub(super) struct Outbound<'a> {
    pub(super) id: StreamId,
    /// Proves to this function that the answer's parts came from the client.
    pub(super) secret: &'a str,
    pub(super) domain: &'a str,
    pub(super) method: &'a str,
    /// Path and query as the origin gets them.
    pub(super) path: &'a str,
    pub(super) headers: &'a Headers,
    pub(super) body: &'a [u8],
}

/// What became of the head.
pub(super) enum Delivery<'a> {
    /// The client's connection took it.
    Sent {
        /// This sandbox's return channel, held until the answer is in.
        guard: OwnedMutexGuard<Option<Channel>>,
        connection_id: String,
        /// The body not sent with the head, to follow as chunks.
        rest: &'a [u8],
    },
    /// No client serves the tunnel and its inbox is to hold the request.
    Hold(Box<TunnelRecord>),
    /// The client cannot be reached.
    Refused(Refusal),
}

/// Sends `request`'s head to the connection `admitted` names (again to a new one
/// while a reconnecting client is awaited, until `deadline`).
pub(super) async fn deliver<'a>(
    proxy: &Proxy,
    mut admitted: Admitted,
    plan: &mut Option<Plan>,
    request: &Outbound<'a>,
    source: Source,
    deadline: Instant,
) -> Delivery<'a> {
    let backend = &proxy.backend;
    let max_chunk = backend.config.max_chunk;
    loop {
        let Some(connection_id) = admitted.connection_id.clone() else {
            return Delivery::Hold(Box::new(admitted.tunnel));
        };
        let mut guard = proxy.channel.clone().lock_owned().await;
        let channel = match live(&mut guard, &proxy.channels, &backend.signer).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "no return channel");
                return Delivery::Refused(Refusal::ClientUnreachable {
                    domain: request.domain.to_owned(),
                });
            }
        };
        let body_url = match plan {
            Some(p) => {
                p.request_url(backend.store.as_ref(), &connection_id, request.body)
                    .await
            }
            None => None,
        };
        // A stored body goes as its URL, none of it as chunks.
        let sent = if body_url.is_some() {
            &[][..]
        } else {
            request.body
        };
        let (inline, rest) = sent.split_at(sent.len().min(max_chunk));
        let head = ServerFrame::Request {
            id: request.id,
            method: request.method.to_owned(),
            path: request.path.to_owned(),
            headers: request.headers.clone(),
            body: inline.to_vec(),
            fin: rest.is_empty(),
            reply_to: Some(channel.connection_id.clone()),
            secret: Some(request.secret.to_owned()),
            body_url,
            answer_url: plan.as_ref().map(|p| p.answer_url.clone()),
        };
        let head = match encode(&head) {
            Ok(h) => h,
            Err(e) => {
                return Delivery::Refused(Refusal::HeadTooLarge { why: e.to_string() });
            }
        };
        match backend.connections.send(&connection_id, head).await {
            Ok(()) => {
                channel.used = Instant::now();
                return Delivery::Sent {
                    guard,
                    connection_id,
                    rest,
                };
            }
            Err(ConnectionError::Gone(_)) => {
                drop(guard);
                admitted = match reroute_waiting(
                    backend,
                    admitted,
                    &connection_id,
                    source,
                    deadline,
                )
                .await
                {
                    Admission::Forward(a) | Admission::Hold(a) => a,
                    Admission::Refuse(r) => return Delivery::Refused(r.refusal),
                };
            }
            Err(_) => {
                return Delivery::Refused(Refusal::ClientUnreachable {
                    domain: request.domain.to_owned(),
                });
            }
        }
    }
}
