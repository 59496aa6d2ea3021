//! The WebSocket API's lifecycle functions: the `$connect` REQUEST authorizer
//! (authorize-connection), the `connect` and `release` routes (tunnel-connect) and
//! `$disconnect`
//! (tunnel-disconnect).

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use client_core::clock::{now_ms as unix_now_ms, now_secs as unix_now};
use client_core::protocol::{ClientFrame, decode_text};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::json;
use tunnel_backend::Backend;
use tunnel_backend::handlers::Caller;
use tunnel_backend::handlers::connection::{
    Offers, authorize_connection, tunnel_connect, tunnel_disconnect, tunnel_release,
};
use tunnel_backend::telemetry::{CONNECTIONS, DISCONNECTS, Emf, RECONNECTS};

/// Key of the authorizer context entry that carries the client id to the routes.
pub const CONTEXT_CLIENT_ID: &str = "client_id";

fn policy(effect: IamPolicyEffect, resource: &str) -> ApiGatewayCustomAuthorizerPolicy {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = effect;
    statement.resource = vec![resource.to_owned()];
    let mut p = ApiGatewayCustomAuthorizerPolicy::default();
    p.version = Some("2012-10-17".into());
    p.statement = vec![statement];
    p
}

/// Allows `$connect` for a valid session token (`?token=`), passing the client id on
/// in the context; denies anything else. Needs no store read; a forged token costs
/// its source address one of its failed authentications (a DynamoDB write), and an
/// address over that limit is denied too. API Gateway answers a denial 403 whatever
/// the reason: an authorizer cannot choose 429 (the CLI, whose token comes from the
/// REST API, meets the 429 there first).
pub async fn authorize(
    b: &Backend,
    event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    now: u64,
) -> ApiGatewayCustomAuthorizerResponse {
    let resource = event.method_arn.clone().unwrap_or_else(|| "*".into());
    let token = event.query_string_parameters.first("token");
    let source = event
        .request_context
        .identity
        .as_ref()
        .and_then(|i| i.source_ip.as_deref());
    let mut out = ApiGatewayCustomAuthorizerResponse::default();
    match authorize_connection(b, source, token, now).await {
        Ok(caller) => {
            out.principal_id = Some(caller.client_id.clone());
            out.policy_document = policy(IamPolicyEffect::Allow, &resource);
            out.context = json!({ CONTEXT_CLIENT_ID: caller.client_id });
        }
        Err(f) => {
            tracing::info!(reason = %f.message, "connection refused");
            if let Some(scope) = f.limit_scope {
                Emf::new(unix_now_ms())
                    .label(tunnel_backend::telemetry::SCOPE, scope)
                    .value(tunnel_backend::telemetry::RATE_LIMITED, 1.0)
                    .emit();
            }
            out.principal_id = Some("anonymous".into());
            out.policy_document = policy(IamPolicyEffect::Deny, &resource);
        }
    }
    out
}

fn ok() -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = 200;
    r
}

fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> String {
    event
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default()
}

/// The caller the authorizer let in, from the route event's context.
pub fn caller_of(event: &ApiGatewayWebsocketProxyRequest) -> Option<Caller> {
    // WebSocket APIs put a Lambda authorizer's context keys straight into
    // `requestContext.authorizer` (HTTP APIs nest them under `lambda`, which is
    // `fields`); the flat ones land in `other`.
    let authorizer = &event.request_context.authorizer;
    authorizer
        .fields
        .get(CONTEXT_CLIENT_ID)
        .or_else(|| authorizer.other.get(CONTEXT_CLIENT_ID))
        .and_then(|v| v.as_str())
        .map(|c| Caller {
            client_id: c.to_owned(),
            session_until: None,
            key_hash_prefix: None,
        })
}

/// The `connect` route: binds the connection to the tunnel named in CONNECT.
pub async fn connect(
    b: &Backend,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let id = connection_id(event);
    let Some(caller) = caller_of(event) else {
        tracing::error!(connection_id = %id, "route event without authorizer context");
        return ok();
    };
    match decode_text::<ClientFrame>(event.body.as_deref().unwrap_or_default()) {
        Ok(ClientFrame::Connect {
            version,
            tunnel_id,
            resume,
            body_urls,
            ..
        }) => {
            // API Gateway refuses binary messages from clients: JSON only, whatever
            // the client asked for. Bodies past the threshold go through S3 for a
            // client that can fetch and put them (tunnel-proxy's `stored_body`).
            let offers = Offers {
                binary: false,
                body_urls,
            };
            if tunnel_connect(b, &id, &caller, version, &tunnel_id, offers, unix_now())
                .await
                .is_ok()
            {
                let mut line = Emf::new(unix_now_ms()).value(CONNECTIONS, 1.0);
                if resume {
                    line = line.value(RECONNECTS, 1.0);
                }
                line.emit();
            }
        }
        Ok(ClientFrame::Release {}) => {
            if let Err(e) = tunnel_release(b, &id, unix_now()).await {
                tracing::error!(connection_id = %id, error = %e, "could not release");
            }
        }
        Ok(other) => {
            tracing::warn!(connection_id = %id, frame = ?other, "non-CONNECT frame on the connect route")
        }
        Err(e) => tracing::warn!(connection_id = %id, error = %e, "undecodable CONNECT"),
    }
    ok()
}

/// `$disconnect`: releases the tunnel the connection served.
pub async fn disconnect(
    b: &Backend,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let id = connection_id(event);
    match tunnel_disconnect(b, &id, unix_now()).await {
        Ok(true) => Emf::new(unix_now_ms()).value(DISCONNECTS, 1.0).emit(),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(connection_id = %id, error = %e, "could not release the connection");
        }
    }
    ok()
}

/// Main loop of authorize-connection.
pub async fn run_authorizer() -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let backend = super::backend_from_env()?;
    let backend = &backend;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            Ok::<_, lambda_runtime::Error>(authorize(backend, &event.payload, unix_now()).await)
        },
    ))
    .await
}

/// Which lifecycle route a function serves.
#[derive(Debug, Clone, Copy)]
pub enum Lifecycle {
    /// The `connect` route.
    Connect,
    /// `$disconnect`.
    Disconnect,
}

/// Main loop of tunnel-connect or tunnel-disconnect.
pub async fn run(which: Lifecycle) -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let backend = super::backend_from_env()?;
    let backend = &backend;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            let r = match which {
                Lifecycle::Connect => connect(backend, &event.payload).await,
                Lifecycle::Disconnect => disconnect(backend, &event.payload).await,
            };
            Ok::<_, lambda_runtime::Error>(r)
        },
    ))
    .await
}
