//! Building blocks of the AWS emulator behind `tunnel-server --emulate-aws`.
//!
//! AWS cannot be reached from where this project is built and tested, so the AWS path
//! is proven by emulation that keeps to AWS's documented contracts and limits (see
//! `docs/architecture.md`). This crate holds two of the pieces:
//!
//! - a **Lambda Runtime API** emulator that runs the real bootstrap binaries (built
//!   with `lambda_runtime`) as child processes and invokes them, with Lambda's
//!   payload limits, timeouts, per-function concurrency and response streaming;
//! - a **counting DynamoDB pass-through** that sits in front of a real DynamoDB
//!   endpoint (moto in tests) and counts reads and writes per operation, so a test can
//!   say what one proxied request costs.
//!
//! # Layout
//!
//! - [`limits`]: every AWS figure the emulator enforces, named once, with its source.
//! - [`runtime`]: [`Functions`], one pool of instances per function.
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
//!
//! Everything binds `127.0.0.1:0`; nothing listens beyond loopback.

pub mod dynamo_proxy;
pub mod function_url;
pub mod limits;
pub mod runtime;
mod serve;

pub use dynamo_proxy::{DynamoProxy, DynamoStats, ProxyError};
pub use function_url::{Buffered, Head, ResponseError};
pub use limits::Limits;
pub use runtime::{
    EmulatorError, FunctionSpec, FunctionStats, Functions, Invocation, InvokeError, StreamError,
    ThrottleReason,
};
