//! Test helpers: moto (from the e2e harness) and a store configuration for it.

pub use e2e::moto::Moto;
use tunnel_aws::{DynamoConfig, TableNames};

/// A configuration pointing at `moto`; the region and credentials are arbitrary (moto
/// accepts any).
pub fn config(moto: &Moto, tables: TableNames) -> DynamoConfig {
    DynamoConfig {
        endpoint_url: Some(moto.endpoint.clone()),
        region: "eu-west-3".into(),
        tables,
        credentials: aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ),
    }
}
