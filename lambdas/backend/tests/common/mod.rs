//! A backend over a temporary embedded store, for tests that call the router directly:
//! no client connections and no replays behind it.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use client_core::inspect::{Exchange, ReplayRequest};
use client_core::protocol::Message;
use tunnel_backend::auth::TokenSigner;
use tunnel_backend::connections::{ConnectionError, Connections};
use tunnel_backend::handlers::ApiFailure;
use tunnel_backend::handlers::inspect::Replayer;
use tunnel_backend::model::TunnelRecord;
use tunnel_backend::store::EmbeddedStore;
use tunnel_backend::{Backend, Config, PublicUrls};

#[derive(Debug)]
pub struct NoConnections;

#[async_trait]
impl Connections for NoConnections {
    async fn send(&self, id: &str, _: Message) -> Result<(), ConnectionError> {
        Err(ConnectionError::Gone(id.to_owned()))
    }
    async fn close(&self, _: &str) -> Result<(), ConnectionError> {
        Ok(())
    }
}

pub struct NoReplays;

#[async_trait]
impl Replayer for NoReplays {
    async fn replay(
        &self,
        _: &TunnelRecord,
        _: ReplayRequest,
        _: &str,
    ) -> Result<Exchange, ApiFailure> {
        unreachable!("these tests never reach a replay")
    }
}

/// A backend storing in `dir`, without rate limits (failed authentications included).
pub fn backend(dir: &Path) -> Backend {
    let mut config = Config::new(
        PublicUrls {
            scheme: "http".into(),
            base_domain: "localhost".into(),
            port: None,
        },
        None,
    );
    config.control_rate = None;
    config.register_rate = None;
    Backend {
        store: Arc::new(EmbeddedStore::open(dir).unwrap()),
        connections: Arc::new(NoConnections),
        config,
        signer: TokenSigner::new(vec![7; 32]).unwrap(),
        limiter: Arc::new(tunnel_backend::limits::Unlimited),
        failures: Arc::new(tunnel_backend::limits::Unlimited),
    }
}
