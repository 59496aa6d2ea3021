//! The REST API as API Gateway's REST API runs it: a route per function, the
//! request as a proxy-integration event, and API Gateway's own answers when the
//! function cannot be used (403, 413, 500, 502, 504).

use std::net::SocketAddr;

use http::Request;
use http::Response;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tunnel_aws::functions::rest::ROUTES;
use tunnel_server::Body;

use super::{Emulator, MAX_API_PAYLOAD, events, from_proxy_response, json_response, websocket};
use crate::runtime::Invocation;

impl Emulator {
    pub(super) async fn rest(&self, req: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().map(str::to_owned);
        let Some((function, _)) = ROUTES.iter().find(|(_, r)| r.matches(&method, &path)) else {
            return json_response(
                403,
                br#"{"message":"Missing Authentication Token"}"#.to_vec(),
            );
        };
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_API_PAYLOAD).collect().await else {
            return json_response(413, br#"{"message":"Request Too Long"}"#.to_vec());
        };
        let event = events::rest_event(
            &method,
            &path,
            query.as_deref(),
            &parts.headers,
            &body.to_bytes(),
            &remote.ip().to_string(),
        );
        let Ok(payload) = serde_json::to_vec(&event) else {
            return json_response(500, br#"{"message":"Internal server error"}"#.to_vec());
        };
        let answer = tokio::time::timeout(
            websocket::INTEGRATION_TIMEOUT,
            self.functions.invoke(function, payload),
        )
        .await;
        // "If the Lambda API rejects the invocation request, API Gateway returns a 500
        // error code. If the function runs but returns an error, or returns a response
        // in the wrong format, API Gateway returns a 502."
        // (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html)
        let bytes = match answer {
            Ok(Ok(Invocation::Buffered(b))) => b,
            Ok(Err(e)) if !e.is_function_error() => {
                tracing::warn!(function, error = %e, "Lambda refused the invocation: 500");
                return json_response(500, br#"{"message":"Internal server error"}"#.to_vec());
            }
            Ok(Ok(Invocation::Streamed { .. })) | Ok(Err(_)) => {
                return json_response(502, br#"{"message":"Internal server error"}"#.to_vec());
            }
            Err(_) => {
                return json_response(504, br#"{"message":"Endpoint request timed out"}"#.to_vec());
            }
        };
        match events::read_proxy_response(&bytes) {
            Some(r) => from_proxy_response(r),
            None => json_response(502, br#"{"message":"Internal server error"}"#.to_vec()),
        }
    }
}
