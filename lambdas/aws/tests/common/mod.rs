//! Test helpers: moto (from the e2e harness) and a store configuration for it.

pub use e2e::moto::Moto;
use tunnel_aws::{DynamoConfig, TableNames};

/// The request log's bucket on each test's moto.
pub const LOG_BUCKET: &str = "test-log";

/// A configuration pointing at `moto` (DynamoDB and S3); the region and credentials
/// are arbitrary (moto accepts any).
pub fn config(moto: &Moto, tables: TableNames) -> DynamoConfig {
    DynamoConfig {
        endpoint_url: Some(moto.endpoint.clone()),
        region: "eu-west-3".into(),
        tables,
        credentials: aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ),
        log_bucket: Some(LOG_BUCKET.into()),
        s3_endpoint_url: Some(moto.endpoint.clone()),
    }
}
