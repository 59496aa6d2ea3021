//! REST control-plane functions: API Gateway (REST API, proxy integration) events in,
//! the shared router out. Each function names the routes it serves, so a route wired
//! to the wrong function in Terraform fails loudly instead of working by accident.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::inspect::encode_query;
use http::HeaderValue;
use lambda_runtime::{LambdaEvent, service_fn};
use tunnel_backend::Backend;
use tunnel_backend::api::{self, ApiRequest, ApiResponse, MAX_API_BODY_BYTES};
use tunnel_backend::handlers::ApiFailure;
use tunnel_backend::handlers::inspect::Replayer;

/// A route a function serves: method and path pattern, `{x}` matching one segment.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern, e.g. `/v1/tunnels/{id}`.
    pub pattern: &'static str,
}

impl Route {
    /// True when `method` and `path` fall under this route.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let want = self.pattern.trim_end_matches('/').split('/');
        let got = path.trim_end_matches('/').split('/');
        want.clone().count() == got.clone().count()
            && want
                .zip(got)
                .all(|(w, g)| (w.starts_with('{') && !g.is_empty()) || w == g)
    }
}

/// The replay route, served by `replay-request`.
pub const REPLAY_ROUTE: &str = "/v1/requests/{id}/replay";

/// Every REST route of the plan and the function serving it. Terraform's routes are
/// checked against this table.
pub const ROUTES: &[(&str, Route)] = &[
    (
        "register-client",
        Route {
            method: "POST",
            pattern: "/v1/clients",
        },
    ),
    (
        "get-client",
        Route {
            method: "GET",
            pattern: "/v1/clients/me",
        },
    ),
    // Client self-service: the caller's own record, and replacing its key.
    (
        "get-client",
        Route {
            method: "POST",
            pattern: "/v1/clients/me/key",
        },
    ),
    (
        "issue-token",
        Route {
            method: "POST",
            pattern: "/v1/tokens",
        },
    ),
    (
        "create-tunnel",
        Route {
            method: "POST",
            pattern: "/v1/tunnels",
        },
    ),
    // Setting a tunnel's policy writes the tunnel record, as creating (and resuming,
    // which also sets the policy) does: one function with that write, not another.
    (
        "create-tunnel",
        Route {
            method: "PATCH",
            pattern: "/v1/tunnels/{id}",
        },
    ),
    (
        "list-tunnels",
        Route {
            method: "GET",
            pattern: "/v1/tunnels",
        },
    ),
    (
        "list-tunnels",
        Route {
            method: "GET",
            pattern: "/v1/tunnels/{id}",
        },
    ),
    (
        "delete-tunnel",
        Route {
            method: "DELETE",
            pattern: "/v1/tunnels/{id}",
        },
    ),
    (
        "inspect-requests",
        Route {
            method: "GET",
            pattern: "/v1/tunnels/{id}/stats",
        },
    ),
    (
        "inspect-requests",
        Route {
            method: "GET",
            pattern: "/v1/tunnels/{id}/requests",
        },
    ),
    (
        "inspect-requests",
        Route {
            method: "DELETE",
            pattern: "/v1/tunnels/{id}/requests",
        },
    ),
    (
        "inspect-requests",
        Route {
            method: "GET",
            pattern: "/v1/tunnels/{id}/requests/live",
        },
    ),
    (
        "inspect-requests",
        Route {
            method: "GET",
            pattern: "/v1/requests/{id}",
        },
    ),
    (
        "replay-request",
        Route {
            method: "POST",
            pattern: "/v1/requests/{id}/replay",
        },
    ),
    // The offline inbox's client side lives with the request log it writes to.
    (
        "inspect-requests",
        Route {
            method: "POST",
            pattern: "/v1/tunnels/{id}/inbox/take",
        },
    ),
    (
        "inspect-requests",
        Route {
            method: "POST",
            pattern: "/v1/tunnels/{id}/inbox/deliveries",
        },
    ),
    (
        "get-client",
        Route {
            method: "GET",
            pattern: "/v1/openapi.json",
        },
    ),
];

/// The routes of function `name`.
pub fn routes_of(name: &str) -> Vec<Route> {
    ROUTES
        .iter()
        .filter(|(f, _)| *f == name)
        .map(|(_, r)| *r)
        .collect()
}

fn header(event: &ApiGatewayProxyRequest, name: &str) -> Option<String> {
    super::header(&event.headers, name)
}

fn respond(resp: ApiResponse) -> ApiGatewayProxyResponse {
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(resp.status);
    if resp.status != 204 {
        out.headers
            .insert("content-type", HeaderValue::from_static(resp.content_type));
        out.body = Some(Body::Text(String::from_utf8_lossy(&resp.body).into_owned()));
    }
    if let Some(secs) = resp.retry_after {
        out.headers.insert("retry-after", HeaderValue::from(secs));
    }
    out
}

/// Handles one REST event for a function serving `routes`; replays (served by
/// `replay-request` only) go out through `replayer`.
pub async fn handle(
    b: &Backend,
    routes: &[Route],
    event: ApiGatewayProxyRequest,
    replayer: &dyn Replayer,
) -> ApiGatewayProxyResponse {
    let method = event.http_method.as_str().to_owned();
    let path = event.path.clone().unwrap_or_default();
    if !routes.iter().any(|r| r.matches(&method, &path)) {
        return respond(ApiResponse::from_failure(&ApiFailure::new(
            404,
            client_core::api::ApiErrorCode::NotFound,
            format!("{method} {path} is not served by this function"),
        )));
    }
    let body = match (&event.body, event.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(b), false) => b.clone().into_bytes(),
        (Some(b), true) => match STANDARD.decode(b) {
            Ok(bytes) => bytes,
            Err(_) => {
                return respond(ApiResponse::from_failure(&ApiFailure::bad_request(
                    "the request body is not valid base64",
                )));
            }
        },
    };
    if body.len() > MAX_API_BODY_BYTES {
        return respond(ApiResponse::from_failure(&ApiFailure::new(
            413,
            client_core::api::ApiErrorCode::PayloadTooLarge,
            format!("control-plane request bodies are limited to {MAX_API_BODY_BYTES} bytes"),
        )));
    }
    let query = event
        .query_string_parameters
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query(k), encode_query(v)))
        .collect::<Vec<_>>()
        .join("&");
    let req = ApiRequest {
        method,
        path,
        host: header(&event, "host"),
        authorization: header(&event, "authorization"),
        query,
        last_event_id: header(&event, "last-event-id"),
        remote_ip: event.request_context.identity.source_ip.clone(),
        body,
    };
    let answer = api::handle(b, req, client_core::clock::now_secs(), replayer).await;
    if answer.status == 429 {
        use tunnel_backend::telemetry;
        let scope = answer.limit_scope.unwrap_or(telemetry::SCOPE_API);
        telemetry::Emf::new(client_core::clock::now_ms())
            .label(telemetry::SCOPE, scope)
            .value(telemetry::RATE_LIMITED, 1.0)
            .emit();
    }
    respond(answer)
}

/// The main loop of a REST function named `name`.
pub async fn run(name: &'static str) -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let backend = super::backend_from_env()?;
    let routes = routes_of(name);
    // Only the function serving the replay route needs a proxy (and its return
    // channel); the others never reach the replayer, as their routes exclude it.
    let proxy = if routes.iter().any(|r| r.pattern == REPLAY_ROUTE) {
        Some(super::proxy::Proxy::from_env()?)
    } else {
        None
    };
    let replayer = super::replay::ProxyReplayer::new(proxy);
    let (backend, routes, replayer) = (&backend, &routes, &replayer);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, lambda_runtime::Error>(handle(backend, routes, event.payload, replayer).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_segments() {
        let r = Route {
            method: "GET",
            pattern: "/v1/tunnels/{id}",
        };
        assert!(r.matches("GET", "/v1/tunnels/abc"));
        assert!(r.matches("get", "/v1/tunnels/abc/"));
        assert!(!r.matches("GET", "/v1/tunnels"));
        assert!(!r.matches("GET", "/v1/tunnels/a/b"));
        assert!(!r.matches("DELETE", "/v1/tunnels/abc"));
    }

    #[test]
    fn the_functions_serve_exactly_the_routers_routes() {
        let shape = |p: &str| {
            p.split('/')
                .map(|s| if s.starts_with('{') { "{}" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        };
        let mut ours: Vec<_> = ROUTES
            .iter()
            .map(|(_, r)| (r.method.to_owned(), shape(r.pattern)))
            .collect();
        let mut router: Vec<_> = tunnel_backend::api::ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), shape(p)))
            .collect();
        ours.sort();
        router.sort();
        assert_eq!(ours, router);
    }

    #[test]
    fn the_replay_route_is_served_by_replay_request() {
        assert!(
            routes_of("replay-request")
                .iter()
                .any(|r| r.pattern == REPLAY_ROUTE && r.method == "POST")
        );
    }

    #[test]
    fn every_route_has_a_function_and_names_are_distinct_routes() {
        for (f, r) in ROUTES {
            assert!(routes_of(f).iter().any(|x| x.pattern == r.pattern));
        }
    }
}
