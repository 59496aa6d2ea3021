//! The AWS emulator: `tunnel-emulator`, the AWS deployment on one port.
//!
//! AWS cannot be reached from where this project is built and tested, so the AWS path
//! is proven by emulation that keeps to AWS's documented contracts and limits (see
//! `docs/aws-fidelity.md`). The binary takes `tunnel-server`'s interface (`/v1` REST,
//! the WebSocket endpoint, public ingress by Host, on one port) and gives every call
//! to the real Lambda binaries as API Gateway or a Function URL would. It lives apart
//! from `tunnel-server` so that the local stack links no AWS SDK. Its pieces:
//!
//! - the **deployment**: API Gateway REST and WebSocket APIs, the `@connections`
//!   endpoint and the Function URL (with CloudFront's headers), in front of the
//!   functions;
//! - a **Lambda Runtime API** emulator that runs the real bootstrap binaries (built
//!   with `lambda_runtime`) as child processes and invokes them, with Lambda's
//!   payload limits, timeouts, per-function concurrency and response streaming;
//! - a **counting DynamoDB pass-through** that sits in front of a real DynamoDB
//!   endpoint (moto in tests) and counts reads and writes per operation, so a test can
//!   say what one proxied request costs; and one for S3 (the request log's bucket),
//!   counting requests per operation and object bytes.
//!
//! # Layout
//!
//! - `main.rs`: the `tunnel-emulator` binary: flags, then [`deployment::Emulator`]
//!   served with `tunnel_server::serve`.
//! - [`deployment`]: [`deployment::Emulator`], the one-port front end: starting it
//!   (tables, pass-throughs, the functions' specs and environment) and routing.
//!   - `deployment/rest.rs`: API Gateway's REST API: routes, proxy events, its own
//!     error answers.
//!   - `deployment/public.rs`: public ingress: CloudFront's headers and the Function
//!     URL in front of tunnel-proxy, buffered or streamed.
//!   - `deployment/connections.rs`: the WebSocket upgrade and the `@connections`
//!     endpoint.
//!   - `deployment/events.rs`: the API Gateway and Function URL events, and reading
//!     the functions' answers.
//!   - `deployment/websocket.rs`: the WebSocket API: `$connect` with its authorizer,
//!     routes by `action`, `@connections` posts, idle and age caps.
//! - [`limits`]: every AWS figure the emulator enforces, named once, with its source.
//! - [`runtime`]: [`Functions`], one pool of instances per function.
//!   - `runtime/spec.rs`: [`FunctionSpec`], a function's definition, and the ranges
//!     Lambda holds it to.
//!   - `runtime/error.rs`: [`EmulatorError`] and [`InvokeError`], with AWS's names and
//!     statuses for each.
//!   - `runtime/pool.rs`: one function's pool: warm or cold instance or throttle, the
//!     account's shared concurrency, an invocation against its timeouts, the counters.
//!   - `runtime/instance.rs`: one child process, its environment, its log forwarding
//!     and the task that notices it exit.
//!   - `runtime/api.rs`: the Runtime API HTTP server each instance talks to
//!     (`/next`, `/response`, `/error`, `/init/error`).
//!   - `runtime/stream.rs`: streamed responses: the Function URL prelude, the size
//!     cap, error trailers.
//!   - `runtime/logs.rs`: bounded line-by-line forwarding of a child's output.
//! - [`function_url`]: what a Function URL accepts as its function's answer
//!   (payload format 2.0, buffered or as a stream's prelude), read as strictly as
//!   AWS documents it.
//! - [`dynamo_proxy`]: [`DynamoProxy`], the counting reverse proxy.
//! - [`s3_proxy`]: [`S3Proxy`], the same for S3.
//! - [`presigned`]: what S3 refuses of a presigned URL (SigV4 in the query), checked
//!   by the S3 pass-through.
//! - `serve`: the accept loop the Runtime API and both pass-throughs share.
//!
//! Everything but the binary's own `--listen` binds `127.0.0.1:0`; nothing listens beyond
//! loopback unless `--listen` says so.

pub mod deployment;
pub mod dynamo_proxy;
pub mod function_url;
pub mod limits;
pub mod presigned;
pub mod runtime;
pub mod s3_proxy;
mod serve;

pub use dynamo_proxy::{DynamoProxy, DynamoStats, ProxyError};
pub use function_url::{Buffered, Head, ResponseError};
pub use limits::Limits;
pub use runtime::{
    EmulatorError, FunctionSpec, FunctionStats, Functions, Invocation, InvokeError, StreamError,
    ThrottleReason,
};
pub use s3_proxy::{S3Proxy, S3Stats};
