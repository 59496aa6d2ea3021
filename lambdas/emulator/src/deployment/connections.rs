//! The WebSocket API's HTTP side: the upgrade at the WebSocket endpoint (after the
//! `$connect` authorizer) and the `@connections` management endpoint functions post
//! to, with its AWS error answers.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tunnel_server::{Body, full};

use super::websocket::{self, PostOutcome};
use super::{Emulator, json_response};

impl Emulator {
    pub(super) async fn upgrade(
        &self,
        mut req: Request<Incoming>,
        remote: SocketAddr,
    ) -> Response<Body> {
        let connection_id = tunnel_backend::auth::random_id(12);
        let query = req.uri().query().map(str::to_owned);
        let source_ip = remote.ip().to_string();
        let Some(context) = self
            .ws
            .authorize(&connection_id, req.headers(), query.as_deref(), &source_ip)
            .await
        else {
            return json_response(403, br#"{"message":"Forbidden"}"#.to_vec());
        };
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return json_response(400, br#"{"message":"WebSocket upgrade expected"}"#.to_vec());
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let ws = self.ws.clone();
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                ws.run(upgraded, connection_id, context).await;
            }
        });
        tunnel_server::control::switching_protocols(&key)
    }

    pub(super) async fn management(&self, req: Request<Incoming>, id: &str) -> Response<Body> {
        let method = req.method().clone();
        let body = match Limited::new(req.into_body(), websocket::MAX_MESSAGE_BYTES + 1)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes().to_vec(),
            Err(_) => return aws_error(413, "PayloadTooLargeException"),
        };
        let outcome = match method.as_str() {
            "POST" => self.ws.post(id, body).await,
            "DELETE" => self.ws.delete(id).await,
            _ => return aws_error(400, "BadRequestException"),
        };
        match outcome {
            PostOutcome::Posted => {
                let mut r = Response::new(full(Bytes::new()));
                *r.status_mut() = StatusCode::OK;
                r
            }
            PostOutcome::Gone => aws_error(410, "GoneException"),
            PostOutcome::TooLarge => aws_error(413, "PayloadTooLargeException"),
        }
    }
}

/// An AWS REST-JSON error: the SDK reads the type from `x-amzn-ErrorType`.
fn aws_error(status: u16, kind: &'static str) -> Response<Body> {
    let mut r = json_response(status, format!(r#"{{"message":"{kind}"}}"#).into_bytes());
    r.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    r
}
