//! The AWS side of the backend's ports: the DynamoDB adapter of
//! [`tunnel_backend::store::Store`].
//!
//! The Lambda functions build a [`DynamoStore`] once per sandbox with
//! [`DynamoStore::from_env`] and hand it to the same handlers the local stack runs over
//! its embedded store. The store contract suite (`tunnel_backend::store::contract`)
//! runs against both adapters; here it runs against moto's DynamoDB server
//! (`tests/dynamo_store.rs`).
//!
//! # Layout
//!
//! - [`config`]: [`DynamoConfig`] (endpoint, region, table names, credentials), given
//!   explicitly or read from the environment variables named in [`env`](mod@env), and
//!   the SDK client built from it (rustls with ring; plain http for emulators).
//! - [`tables`]: the schema as data ([`table_definitions`]), compared against
//!   Terraform by the infra test, and [`ensure_tables`], which creates it for
//!   emulators.
//! - [`item`]: records to and from DynamoDB items, field by field.
//! - [`store`]: [`DynamoStore`], one conditional request per `Store` operation; by
//!   job: tunnels, domains and clients in `store/mod.rs`, connections in
//!   `store/connections.rs`, the request log in `store/log.rs`, the offline inbox in
//!   `store/inbox.rs`, the rate-limit buckets in `store/limits.rs`, and the one way a
//!   Query is paged (`Pages`, `query_all`) in `store/pages.rs`.
//! - [`log_bucket`]: the request log's stored form (deflated JSON), and the S3 bucket
//!   holding exchanges too large for their item ([`log_bucket::LogBucket`]).
//! - [`limiter`]: rate-limit buckets shared by every sandbox (failed
//!   authentications per address), in the `rate_limits` table.
//! - [`connections`]: the `Connections` port over API Gateway's `@connections`.
//! - [`functions`]: the Lambda functions' shared code, one module per trigger; each
//!   binary in `src/bin/` (one per function, named after it) is a few lines over it.
//!   `functions::proxy` is tunnel-proxy's driver, read top to bottom; each step of it
//!   is a sibling module (`incoming`, `reconnect`, `captured`, `deliver`, `channel`,
//!   `held`, `upload`, `answer`, `url_head`, `outcome`, `metered`). `functions::stored_body`:
//!   large bodies through the bucket's `body/` with presigned URLs for the client.

pub mod config;
pub mod connections;
pub mod functions;
pub mod item;
pub mod limiter;
pub mod log_bucket;
pub mod store;
pub mod tables;

pub use aws_sdk_dynamodb;
pub use aws_sdk_dynamodb::config::Credentials;
pub use aws_sdk_s3;
pub use config::{ConfigError, DynamoConfig, TableNames, env};
pub use store::DynamoStore;
pub use tables::{TableSpec, TablesError, ensure_tables, table_definitions};
