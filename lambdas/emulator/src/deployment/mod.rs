//! `tunnel-emulator`: the AWS deployment on one port, running the real Lambda
//! binaries.
//!
//! Same interface as the local stack (`/v1` REST, the WebSocket endpoint at
//! `/v1/connect`, public ingress by Host), but every request and WebSocket event
//! becomes the event API Gateway or a Function URL would send, given to the function's
//! bootstrap binary through the Lambda Runtime API emulator; the functions reach
//! DynamoDB and the request log's S3 bucket (both moto) through counting pass-throughs,
//! and post to connections through the
//! emulated `@connections` endpoint. `GET /_emulator/stats` shows the counters.
//!
//! This module starts it all and routes each request; `rest.rs` is API Gateway's REST
//! API, `public.rs` CloudFront and the Function URL, `connections.rs` the WebSocket
//! upgrade and `@connections`.

pub mod events;
pub mod websocket;

mod connections;
mod public;
mod rest;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::dynamo_proxy::DynamoProxy;
use crate::runtime::{FunctionSpec, Functions};
use crate::s3_proxy::S3Proxy;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tunnel_aws::functions::{FUNCTIONS, LOG_BUCKET_ACCESS, env as fenv};
use tunnel_aws::{Credentials, DynamoConfig, TableNames, ensure_tables, env as denv};
use tunnel_backend::PublicUrls;
use tunnel_backend::handlers::clients::WS_PATH;

use tunnel_server::{Body, Handler, full};
use websocket::WsApi;

/// REST and HTTP API payload limit.
pub const MAX_API_PAYLOAD: usize = 10 * 1024 * 1024;

/// Path prefix of the emulated `@connections` management endpoint.
pub const MANAGEMENT_PREFIX: &str = "/_aws/ws";

/// Default of `--lambda-concurrency`: instances of each function but the relay that
/// run at once. AWS sets no such cap: a function without reserved concurrency may use
/// the whole account's (`--account-concurrency`, AWS's default 1,000, see
/// [`crate::limits::ACCOUNT_CONCURRENCY`]). Each instance here is a process,
/// so the default is what one test machine runs comfortably, and it is far lower than
/// AWS's: 50 concurrent public connections through one tunnel see 429s here that AWS
/// would not give. Raise it to see AWS's behaviour.
pub const DEFAULT_FUNCTION_CONCURRENCY: usize = 32;

/// Default of `--relay-concurrency`: instances of tunnel-relay at once. On AWS the relay
/// has reserved concurrency (`relay_reserved_concurrency` in infra/), since every
/// client message is one relay invocation and a throttled one loses the message.
pub const DEFAULT_RELAY_CONCURRENCY: usize = 64;

/// Table name prefix in the emulated DynamoDB.
pub const TABLE_PREFIX: &str = "tunnel-";

/// The request log's bucket in the emulated S3.
pub const LOG_BUCKET: &str = "tunnel-log";

/// How to start the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Upstream DynamoDB endpoint (moto), which serves the request log's S3 bucket too.
    pub dynamodb_endpoint: String,
    /// Folder holding the Lambda binaries, each named after its function.
    pub functions_dir: PathBuf,
    /// Public URLs (base domain and port).
    pub public: PublicUrls,
    /// The emulator's own base URL, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Session token signing secret given to the functions.
    pub token_secret: String,
    /// WebSocket idle cap.
    pub idle_timeout: Duration,
    /// WebSocket lifetime cap.
    pub max_age: Duration,
    /// Settings for the functions (`tunnel_aws::functions::env::*_RATE`,
    /// `INACTIVE_TTL_SECS`), as environment variables.
    pub rates: Vec<(&'static str, String)>,
    /// How many invocations may run at once.
    pub concurrency: Concurrency,
}

/// The emulator's concurrency limits (each instance is a process on this machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// Instances of each function but the relay ([`DEFAULT_FUNCTION_CONCURRENCY`]).
    pub function: usize,
    /// Instances of tunnel-relay ([`DEFAULT_RELAY_CONCURRENCY`]).
    pub relay: usize,
    /// Invocations across all functions: the account's concurrency
    /// ([`crate::limits::ACCOUNT_CONCURRENCY`], AWS's default).
    pub account: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            function: DEFAULT_FUNCTION_CONCURRENCY,
            relay: DEFAULT_RELAY_CONCURRENCY,
            account: crate::limits::ACCOUNT_CONCURRENCY,
        }
    }
}

/// The running emulator.
#[derive(Debug)]
pub struct Emulator {
    functions: Arc<Functions>,
    dynamo: DynamoProxy,
    s3: S3Proxy,
    ws: Arc<WsApi>,
    public: PublicUrls,
    /// The secret CloudFront adds for tunnel-proxy (`x-origin-verify`), random per run.
    origin_secret: String,
}

/// The address tunnel-proxy sees as the Function URL's caller: a CloudFront edge
/// server's, never the viewer's (who is named in `x-tunnel-viewer`). A loopback
/// address no test client uses, so a function that took it for the viewer fails the
/// allow-list and forwarding tests.
pub const EDGE_ADDRESS: &str = "127.0.0.254";

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A function's binary is missing.
    #[error(
        "no Lambda binary {0}; build them with `cargo build -p tunnel-aws --bins` or pass --functions DIR"
    )]
    MissingBinary(PathBuf),
    /// DynamoDB could not be set up.
    #[error("DynamoDB at {endpoint}: {reason}")]
    Dynamo {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// The runtime emulator failed.
    #[error("Lambda runtime emulator: {0}")]
    Runtime(String),
}

impl Emulator {
    /// Creates the tables, starts the DynamoDB pass-through and the functions.
    pub async fn start(config: EmulatorConfig) -> Result<Self, StartError> {
        let tables = TableNames::with_prefix(TABLE_PREFIX);
        let credentials = Credentials::new("emulator", "emulator", None, None, "emulator");
        let dynamo_error = |reason: String| StartError::Dynamo {
            endpoint: config.dynamodb_endpoint.clone(),
            reason,
        };
        let direct = DynamoConfig {
            endpoint_url: Some(config.dynamodb_endpoint.clone()),
            region: "us-east-1".into(),
            tables: tables.clone(),
            credentials,
            // moto serves S3 on the same port as DynamoDB.
            log_bucket: Some(LOG_BUCKET.into()),
            s3_endpoint_url: Some(config.dynamodb_endpoint.clone()),
        };
        ensure_tables(&direct.client(), &tables)
            .await
            .map_err(|e| dynamo_error(e.to_string()))?;
        if let Some(bucket) = direct.log_bucket() {
            bucket
                .ensure()
                .await
                .map_err(|e| dynamo_error(e.to_string()))?;
        }
        let dynamo = DynamoProxy::start(&config.dynamodb_endpoint)
            .await
            .map_err(|e| dynamo_error(e.to_string()))?;
        let s3 = S3Proxy::start(&config.dynamodb_endpoint)
            .await
            .map_err(|e| dynamo_error(e.to_string()))?;

        let port = config
            .public
            .port
            .map(|p| p.to_string())
            .unwrap_or_default();
        let ws_url = format!(
            "{}{WS_PATH}",
            config.base_url.replacen("http://", "ws://", 1)
        );
        // As infra/lambda.tf does with random_password.origin_secret.
        let origin_secret: String = {
            use rand::Rng as _;
            let mut rng = rand::thread_rng();
            (0..32)
                .map(|_| char::from(b'a' + rng.gen_range(0..26)))
                .collect()
        };
        let env: Vec<(String, String)> = [
            (
                tunnel_aws::functions::proxy::env::ORIGIN_SECRET,
                origin_secret.clone(),
            ),
            (denv::CLIENTS_TABLE, tables.clients.clone()),
            (denv::TUNNELS_TABLE, tables.tunnels.clone()),
            (denv::DOMAINS_TABLE, tables.domains.clone()),
            (denv::CONNECTIONS_TABLE, tables.connections.clone()),
            (denv::REQUESTS_TABLE, tables.requests.clone()),
            (denv::INBOX_TABLE, tables.inbox.clone()),
            (denv::RATE_LIMITS_TABLE, tables.rate_limits.clone()),
            (denv::DYNAMODB_ENDPOINT, dynamo.url()),
            (denv::AWS_REGION, "us-east-1".into()),
            // The S3 pass-through checks presigned URLs against these.
            (
                denv::AWS_ACCESS_KEY_ID,
                crate::presigned::ACCESS_KEY_ID.into(),
            ),
            (
                denv::AWS_SECRET_ACCESS_KEY,
                crate::presigned::SECRET_ACCESS_KEY.into(),
            ),
            (fenv::BASE_DOMAIN, config.public.base_domain.clone()),
            (fenv::PUBLIC_SCHEME, config.public.scheme.clone()),
            (fenv::PUBLIC_PORT, port),
            (fenv::WS_URL, ws_url),
            (
                fenv::WS_MANAGEMENT_ENDPOINT,
                format!("{}{MANAGEMENT_PREFIX}", config.base_url),
            ),
            (fenv::TOKEN_SECRET, config.token_secret.clone()),
            (
                tunnel_aws::functions::proxy::env::CHANNEL_MAX_IDLE_SECS,
                channel_max_idle(config.idle_timeout).to_string(),
            ),
            (
                tunnel_aws::functions::proxy::env::CHANNEL_MAX_AGE_SECS,
                channel_max_age(config.max_age).to_string(),
            ),
            (fenv::WS_MAX_AGE_SECS, config.max_age.as_secs().to_string()),
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ]
        .into_iter()
        .chain(config.rates.iter().map(|(k, v)| (*k, v.clone())))
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut specs = Vec::new();
        for name in FUNCTIONS {
            let binary = config.functions_dir.join(name);
            if !binary.exists() {
                return Err(StartError::MissingBinary(binary));
            }
            let mut spec = FunctionSpec::new(*name, binary);
            spec.env = env.clone();
            // As infra/ does: the bucket only where the function uses it.
            if LOG_BUCKET_ACCESS.iter().any(|(f, _)| f == name) {
                spec.env
                    .push((denv::LOG_BUCKET.to_owned(), LOG_BUCKET.to_owned()));
                spec.env.push((denv::S3_ENDPOINT.to_owned(), s3.url()));
            }
            // The two that hold a return channel and wait for a client's answer.
            spec.timeout = if matches!(*name, "tunnel-proxy" | "replay-request") {
                Duration::from_secs(60)
            } else {
                Duration::from_secs(30)
            };
            spec.memory_mb = 256;
            // The relay runs once per client message; bursts of body chunks from many
            // streams need room.
            spec.max_concurrency = if *name == "tunnel-relay" {
                config.concurrency.relay
            } else {
                config.concurrency.function
            };
            specs.push(spec);
        }
        let limits = crate::Limits {
            account_concurrency: config.concurrency.account,
            ..crate::Limits::default()
        };
        let functions = Arc::new(
            Functions::start_with_limits(specs, limits)
                .await
                .map_err(|e| StartError::Runtime(e.to_string()))?,
        );
        let ws = Arc::new(WsApi::new(
            functions.clone(),
            config.idle_timeout,
            config.max_age,
        ));
        Ok(Self {
            functions,
            dynamo,
            s3,
            ws,
            public: config.public,
            origin_secret,
        })
    }

    async fn dispatch(
        self: Arc<Self>,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> Response<Body> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if self.public.subdomain_of(&host).is_some() {
            return self.function_url(req, &host, remote).await;
        }
        let path = req.uri().path().to_owned();
        if path == WS_PATH {
            return self.upgrade(req, remote).await;
        }
        if let Some(id) = path
            .strip_prefix(MANAGEMENT_PREFIX)
            .and_then(|p| p.strip_prefix("/@connections/"))
        {
            let id = id.to_owned();
            return self.management(req, &id).await;
        }
        if path == "/_emulator/stats" {
            return self.stats();
        }
        self.rest(req, remote).await
    }

    fn stats(&self) -> Response<Body> {
        let body = serde_json::json!({
            "functions": self.functions.stats(),
            "dynamodb": self.dynamo.stats(),
            "s3": self.s3.stats(),
            "websocket": self.ws.stats(),
        });
        json_response(200, body.to_string().into_bytes())
    }
}

impl Handler for Emulator {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send {
        self.dispatch(req, remote)
    }
}

/// An HTTP answer from a proxy-integration answer.
fn from_proxy_response(r: events::ProxyResponse) -> Response<Body> {
    let mut resp = Response::new(full(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    append_headers(resp.headers_mut(), r.headers);
    resp
}

fn append_headers(map: &mut http::HeaderMap, headers: Vec<(String, String)>) {
    for (n, v) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            map.append(n, v);
        }
    }
}

fn json_response(status: u16, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Seconds the proxy's return channel may sit unused: a quarter of the idle cap, so a
/// request taken on it has three quarters for its answer before the cap could close it
/// (on AWS: replaced after 150 s unused, which costs two invocations).
fn channel_max_idle(idle: Duration) -> u64 {
    (idle.as_secs() / 4).max(1)
}

/// Seconds the return channel may live: under the age cap by half of it, at most a
/// minute (ample for the 25 s a request may wait for its answer).
fn channel_max_age(max_age: Duration) -> u64 {
    let cap = max_age.as_secs();
    (cap - (cap / 2).min(60)).max(1)
}

/// The folder cargo put the running binary in, where it also puts the Lambda binaries.
pub fn default_functions_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}
