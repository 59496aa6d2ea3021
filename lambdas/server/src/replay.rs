//! Replays on the local stack: a captured request, edited, sent again through the
//! ingress path a public request takes, so it is forwarded and captured the same way.

use std::sync::Arc;
use tracing::Instrument as _;

use async_trait::async_trait;
use bytes::Bytes;
use client_core::api::ApiErrorCode;
use client_core::inspect::{Exchange, ReplayRequest};
use http::Request;
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;
use tunnel_backend::handlers::ApiFailure;
use tunnel_backend::handlers::inspect::{Recording, Replayer};
use tunnel_backend::handlers::proxy::Target;
use tunnel_backend::model::TunnelRecord;

use crate::State;
use crate::ingress::start_capture;
use crate::inspector::Capture;
use crate::relay::relay;
use client_core::clock::now_ms;

/// What a replay's captured remote address says, as it came from no public client.
pub const REPLAY_REMOTE: &str = "replay";

/// The local stack's [`Replayer`].
#[derive(Debug, Clone)]
pub struct LocalReplayer(pub Arc<State>);

fn offline(tunnel: &TunnelRecord) -> ApiFailure {
    ApiFailure::new(
        409,
        ApiErrorCode::BadRequest,
        format!(
            "tunnel {} is offline: start it with `tunnel start <port> --domain {}`, then replay",
            tunnel.tunnel_id, tunnel.domain
        ),
    )
}

#[async_trait]
impl Replayer for LocalReplayer {
    async fn replay(
        &self,
        tunnel: &TunnelRecord,
        request: ReplayRequest,
        replay_of: &str,
    ) -> Result<Exchange, ApiFailure> {
        let state = &self.0;
        let connection_id = tunnel
            .connection_id
            .clone()
            .ok_or_else(|| offline(tunnel))?;
        let mut builder = Request::builder()
            .method(request.method.as_str())
            .uri(request.path.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let req = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| ApiFailure::new(422, ApiErrorCode::BadRequest, e.to_string()))?;
        let target = Target {
            tunnel: tunnel.clone(),
            connection_id,
        };
        let received = now_ms();
        let request_id = state.request_ids.next(received);
        let mut recording: Recording = start_capture(
            state,
            &target.tunnel,
            &request_id,
            &req,
            REPLAY_REMOTE,
            received,
        );
        recording.replay_of(replay_of);
        let (done, result) = oneshot::channel();
        let capture = Capture::for_replay(recording, done);
        // Logged like a public request, with the original's id beside the new one.
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            replay_of,
            domain = %tunnel.domain,
        );
        async {
            let response = relay(
                state.clone(),
                &tunnel.domain,
                req,
                None,
                target,
                &request_id,
                Some(capture),
            )
            .await;
            // Reading the body to its end is what completes the exchange; the capture
            // keeps what it needs of it.
            let _ = response.into_body().collect().await;
        }
        .instrument(span)
        .await;
        let exchange = result.await.map_err(|_| {
            ApiFailure::new(500, ApiErrorCode::Internal, "the replay was not captured")
        })?;
        state
            .inspector
            .record_now(
                state.backend.store.as_ref(),
                state.backend.config.log_keep,
                &exchange,
            )
            .await?;
        Ok(exchange)
    }

    async fn record(
        &self,
        b: &tunnel_backend::Backend,
        exchange: &Exchange,
    ) -> Result<(), tunnel_backend::store::StoreError> {
        self.0
            .inspector
            .record_now(b.store.as_ref(), b.config.log_keep, exchange)
            .await
    }
}
