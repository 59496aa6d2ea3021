//! The `Connections` port over API Gateway's `@connections` management API.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Region};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use client_core::protocol::Message;
use tunnel_backend::connections::{ConnectionError, Connections};

use crate::Credentials;

/// Posts to WebSocket connections through `https://{api}/{stage}/@connections/{id}`.
#[derive(Debug, Clone)]
pub struct ApiGatewayConnections {
    client: Client,
}

impl ApiGatewayConnections {
    /// A client for the management endpoint `endpoint` (the WebSocket API's
    /// `https://` URL with its stage, or the emulator's).
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .endpoint_url(endpoint)
            .http_client(http)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

#[async_trait]
impl Connections for ApiGatewayConnections {
    async fn send(&self, connection_id: &str, message: Message) -> Result<(), ConnectionError> {
        // API Gateway delivers the bytes as one message; text frames are what clients
        // expect, and PostToConnection sends text when the payload is UTF-8.
        let data = match message {
            Message::Text(t) => t.into_bytes(),
            Message::Binary(b) => b,
        };
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                Err(ConnectionError::Gone(connection_id.to_owned()))
            }
            Err(e) => Err(ConnectionError::Transport(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }

    async fn close(&self, connection_id: &str) -> Result<(), ConnectionError> {
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Ok(()),
            Err(e) => Err(ConnectionError::Transport(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }
}
