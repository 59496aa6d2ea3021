//! Replays on AWS: the `replay-request` function sends the edited request through the
//! same path as tunnel-proxy ([`Proxy::forward`], with its own return channel), so the
//! replay is forwarded and captured like public traffic.

use std::time::Instant;

use async_trait::async_trait;
use client_core::api::ApiErrorCode;
use client_core::inspect::{Exchange, ReplayRequest};
use futures_util::StreamExt as _;
use tokio::sync::oneshot;
use tunnel_backend::handlers::ApiFailure;
use tunnel_backend::handlers::inspect::Replayer;
use tunnel_backend::model::TunnelRecord;

use super::proxy::{Forward, ONLINE_WAIT, Proxy};

/// What a replay's captured remote address says, as it came from no public client.
pub const REPLAY_REMOTE: &str = "replay";

/// The AWS [`Replayer`]; without a proxy (functions that do not serve the replay
/// route) it refuses, which only a routing mistake could reach.
#[derive(Debug)]
pub struct ProxyReplayer {
    proxy: Option<Proxy>,
}

impl ProxyReplayer {
    /// A replayer over `proxy`.
    pub fn new(proxy: Option<Proxy>) -> Self {
        Self { proxy }
    }
}

#[async_trait]
impl Replayer for ProxyReplayer {
    async fn replay(
        &self,
        tunnel: &TunnelRecord,
        request: ReplayRequest,
        replay_of: &str,
    ) -> Result<Exchange, ApiFailure> {
        let Some(proxy) = &self.proxy else {
            return Err(ApiFailure::new(
                404,
                ApiErrorCode::NotFound,
                "replays are served by the replay-request function; check the API's routes",
            ));
        };
        if tunnel.connection_id.is_none() {
            return Err(ApiFailure::new(
                409,
                ApiErrorCode::BadRequest,
                format!(
                    "tunnel {} is offline: start it with `tunnel start <port> --domain {}`, then replay",
                    tunnel.tunnel_id, tunnel.domain
                ),
            ));
        }
        let (done, result) = oneshot::channel();
        let response = proxy
            .forward(
                Forward {
                    domain: tunnel.domain.clone(),
                    method: request.method,
                    path: request.path,
                    headers: request.headers,
                    body: request.body,
                    remote_ip: None,
                    remote_addr: REPLAY_REMOTE.into(),
                    received_ms: client_core::clock::now_ms(),
                    deadline: Instant::now() + ONLINE_WAIT,
                    replay_of: Some(replay_of.to_owned()),
                    tally: None,
                },
                Some(done),
            )
            .await;
        // Reading the answer to its end is what completes (and stores) the capture.
        let mut stream = response.stream;
        while stream.next().await.is_some() {}
        result.await.map_err(|_| {
            ApiFailure::new(
                502,
                ApiErrorCode::Internal,
                "the tunnel could not be reached for the replay; try again",
            )
        })
    }
}
