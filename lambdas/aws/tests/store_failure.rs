//! The admission pipeline over a DynamoDB store that fails: its tables are missing
//! (a deployment gone wrong), so moto answers `ResourceNotFoundException` as DynamoDB
//! does. The caller must get the 503 that says the service is at fault, not the 404
//! that would say the name is free to take.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use client_core::protocol::Message;
use common::Moto;
use tunnel_aws::{DynamoStore, TableNames};
use tunnel_backend::Backend;
use tunnel_backend::auth::TokenSigner;
use tunnel_backend::config::{Config, PublicUrls};
use tunnel_backend::connections::{ConnectionError, Connections};
use tunnel_backend::handlers::admission::{Admission, Head, Refusal, Rules, Source, admit};
use tunnel_backend::limits::Unlimited;

/// Admission sends nothing to a connection; a send would be a bug here.
#[derive(Debug)]
struct NoConnections;

#[async_trait]
impl Connections for NoConnections {
    async fn send(&self, id: &str, _: Message) -> Result<(), ConnectionError> {
        Err(ConnectionError::Gone(id.to_owned()))
    }
    async fn close(&self, _: &str) -> Result<(), ConnectionError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_store_that_fails_is_a_503_not_a_missing_tunnel() {
    let moto = Moto::start();
    // Tables never created under this prefix.
    let store = DynamoStore::from_config(&common::config(
        &moto,
        TableNames::with_prefix("never-created-"),
    ));
    let b = Backend {
        store: Arc::new(store),
        connections: Arc::new(NoConnections),
        config: Config::new(
            PublicUrls {
                scheme: "https".into(),
                base_domain: "example.test".into(),
                port: None,
            },
            None,
        ),
        signer: TokenSigner::new(vec![7; 32]).expect("a 32-byte secret"),
        limiter: Arc::new(Unlimited),
        failures: Arc::new(Unlimited),
    };
    let headers = vec![("accept".to_owned(), "*/*".to_owned())];
    let head = Head {
        domain: "app",
        path: "/",
        headers: &headers,
        peer: None,
        body_len: None,
        websocket: false,
    };
    let refused = match admit(
        &b,
        &head,
        Source::Public,
        Rules { max_body: 1000 },
        1_700_000_000_000,
    )
    .await
    {
        Admission::Refuse(r) => r,
        other => panic!("a failing store admitted or held the request: {other:?}"),
    };
    assert_eq!(refused.refusal, Refusal::StoreUnavailable);
    assert_eq!(refused.refusal.status(), 503);
    assert!(refused.logged.is_none(), "no tunnel was found to log it in");
}
