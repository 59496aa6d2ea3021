//! A backend over a temporary embedded store, for tests that call the router directly:
//! no client connections and no replays behind it.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use client_core::inspect::{Exchange, ReplayRequest};
use client_core::protocol::Message;
use serde_json::Value;
use tunnel_backend::api::{self, ApiRequest};
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

// Not every test file calls these: each file includes this module on its own.

/// Calls the router as the holder of `key`, with `body` as JSON; the status and the
/// answer's JSON (`Null` when there is none).
#[allow(dead_code)]
pub async fn call(
    b: &Backend,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = ApiRequest {
        method: method.into(),
        path: path.into(),
        authorization: Some(format!("Bearer {key}")),
        body: body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default(),
        ..ApiRequest::default()
    };
    let r = api::handle(b, req, 1_000, &NoReplays).await;
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

/// Registers a client; its API key.
#[allow(dead_code)]
pub async fn register(b: &Backend) -> String {
    let req = ApiRequest {
        method: "POST".into(),
        path: "/v1/clients".into(),
        ..ApiRequest::default()
    };
    let r = api::handle(b, req, 1_000, &NoReplays).await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["api_key"].as_str().unwrap().to_owned()
}
