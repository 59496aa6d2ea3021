//! Where the DynamoDB adapter gets its settings: explicit values, or the environment
//! of a Lambda function (which is what Terraform sets). The request log's bucket is
//! part of it: only the functions that write or read captured exchanges get one.

use std::env::VarError;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Names of the environment variables the adapter reads. Terraform sets the same names
/// on every function, and the infra consistency test compares the two.
pub mod env {
    /// Name of the `clients` table.
    pub const CLIENTS_TABLE: &str = "TUNNEL_CLIENTS_TABLE";
    /// Name of the `tunnels` table.
    pub const TUNNELS_TABLE: &str = "TUNNEL_TUNNELS_TABLE";
    /// Name of the `domains` table.
    pub const DOMAINS_TABLE: &str = "TUNNEL_DOMAINS_TABLE";
    /// Name of the `connections` table.
    pub const CONNECTIONS_TABLE: &str = "TUNNEL_CONNECTIONS_TABLE";
    /// Name of the `requests` table (the request log).
    pub const REQUESTS_TABLE: &str = "TUNNEL_REQUESTS_TABLE";
    /// Name of the `inbox` table (requests held while a tunnel's client is away).
    pub const INBOX_TABLE: &str = "TUNNEL_INBOX_TABLE";
    /// Name of the `rate_limits` table (failed authentications per source address).
    pub const RATE_LIMITS_TABLE: &str = "TUNNEL_RATE_LIMITS_TABLE";
    /// Optional endpoint override (the emulator's moto server); unset on AWS.
    pub const DYNAMODB_ENDPOINT: &str = "DYNAMODB_ENDPOINT";
    /// The S3 bucket holding captured exchanges too large for their DynamoDB item.
    /// Set only on the functions that write or read the request log; a function
    /// without it keeps no such exchange (see `tunnel_aws::log_bucket`).
    pub const LOG_BUCKET: &str = "TUNNEL_LOG_BUCKET";
    /// Optional S3 endpoint override (the emulator's moto server); unset on AWS.
    pub const S3_ENDPOINT: &str = "S3_ENDPOINT";
    /// Region; the Lambda runtime sets it.
    pub const AWS_REGION: &str = "AWS_REGION";
    /// Access key id of the execution role; the Lambda runtime sets it.
    pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    /// Secret of that key; the Lambda runtime sets it.
    pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    /// Session token of temporary credentials (always set on Lambda, optional elsewhere).
    pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable is set but unusable.
    #[error("environment variable {var}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The physical names of the seven tables. Names vary per deployment (a Terraform
/// prefix, a test's unique suffix), so they are always configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// Clients, keyed by `client_id`.
    pub clients: String,
    /// Tunnels, keyed by `tunnel_id`, with the `client_id-index` GSI.
    pub tunnels: String,
    /// Domain claims, keyed by `domain`.
    pub domains: String,
    /// Live WebSocket connections, keyed by `connection_id`, with TTL.
    pub connections: String,
    /// Captured exchanges, keyed by `request_id`, with the `tunnel_id-index` GSI and TTL.
    pub requests: String,
    /// Offline inboxes, keyed by `tunnel_id` and `seq`, with TTL.
    pub inbox: String,
    /// Rate-limit buckets every sandbox shares, keyed by `limit_key`, with TTL.
    pub rate_limits: String,
}

impl TableNames {
    /// `{prefix}clients`, `{prefix}tunnels`, ...: the convention tests and the emulator
    /// use to keep runs apart.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            clients: format!("{prefix}clients"),
            tunnels: format!("{prefix}tunnels"),
            domains: format!("{prefix}domains"),
            connections: format!("{prefix}connections"),
            requests: format!("{prefix}requests"),
            inbox: format!("{prefix}inbox"),
            rate_limits: format!("{prefix}rate_limits"),
        }
    }
}

/// Everything needed to build a DynamoDB client.
#[derive(Debug, Clone)]
pub struct DynamoConfig {
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for moto; `None` on AWS.
    pub endpoint_url: Option<String>,
    /// AWS region.
    pub region: String,
    /// Table names.
    pub tables: TableNames,
    /// Static credentials (their `Debug` redacts the secret).
    pub credentials: Credentials,
    /// The request log's bucket, where this function has one.
    pub log_bucket: Option<String>,
    /// S3 endpoint override, e.g. moto; `None` on AWS.
    pub s3_endpoint_url: Option<String>,
}

impl DynamoConfig {
    /// Reads the configuration from the process environment (see [`env`](mod@env)).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(std::env::var)
    }

    /// Reads the configuration through `lookup`, which answers like [`std::env::var`].
    /// Tests pass a map here: the 2024 edition makes changing the real environment
    /// `unsafe`, and the workspace forbids `unsafe`.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, VarError>,
    ) -> Result<Self, ConfigError> {
        let required = |var: &'static str| -> Result<String, ConfigError> {
            optional(&lookup, var)?.ok_or(ConfigError::Missing(var))
        };
        let tables = TableNames {
            clients: required(env::CLIENTS_TABLE)?,
            tunnels: required(env::TUNNELS_TABLE)?,
            domains: required(env::DOMAINS_TABLE)?,
            connections: required(env::CONNECTIONS_TABLE)?,
            requests: required(env::REQUESTS_TABLE)?,
            inbox: required(env::INBOX_TABLE)?,
            rate_limits: required(env::RATE_LIMITS_TABLE)?,
        };
        let region = required(env::AWS_REGION)?;
        // Lambda hands the execution role's temporary credentials to the process in
        // these variables for the life of the sandbox, so reading them once is enough
        // and spares the aws-config crate (SSO, STS, IMDS providers) in every binary.
        let credentials = Credentials::new(
            required(env::AWS_ACCESS_KEY_ID)?,
            required(env::AWS_SECRET_ACCESS_KEY)?,
            optional(&lookup, env::AWS_SESSION_TOKEN)?,
            None,
            "environment",
        );
        let endpoint = |var: &'static str| -> Result<Option<String>, ConfigError> {
            let url = optional(&lookup, var)?;
            if let Some(url) = &url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::Invalid {
                    var,
                    reason: format!("{url:?} is not an http(s) URL"),
                });
            }
            Ok(url)
        };
        Ok(Self {
            endpoint_url: endpoint(env::DYNAMODB_ENDPOINT)?,
            region,
            tables,
            credentials,
            log_bucket: optional(&lookup, env::LOG_BUCKET)?,
            s3_endpoint_url: endpoint(env::S3_ENDPOINT)?,
        })
    }

    /// The S3 client for the request log's bucket; `None` without a bucket.
    /// Synchronous and cheap, as [`Self::client`].
    pub fn log_bucket(&self) -> Option<crate::log_bucket::LogBucket> {
        use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
        let bucket = self.log_bucket.clone()?;
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .credentials_provider(self.credentials.clone())
            .http_client(http_client())
            // Checksums only where S3 requires them: the default trailer checksums
            // make every PUT a chunked upload, which buys nothing for objects this
            // small and which S3 emulators read unevenly.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(url) = &self.s3_endpoint_url {
            // An emulator on an address and port has no per-bucket host names.
            builder = builder.endpoint_url(url).force_path_style(true);
        }
        Some(crate::log_bucket::LogBucket::new(
            aws_sdk_s3::Client::from_conf(builder.build()),
            bucket,
        ))
    }

    /// Builds the SDK client. Synchronous and cheap: nothing is contacted until the
    /// first request.
    pub fn client(&self) -> Client {
        let http = http_client();
        let mut builder = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(self.credentials.clone())
            .http_client(http);
        if let Some(url) = &self.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        Client::from_conf(builder.build())
    }
}

/// rustls with ring, over hyper 1. The connector speaks plain http too, which the
/// emulator's endpoints need.
fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// An empty value counts as unset: Terraform and shell scripts write `VAR=` for "none".
fn optional(
    lookup: &impl Fn(&'static str) -> Result<String, VarError>,
    var: &'static str,
) -> Result<Option<String>, ConfigError> {
    match lookup(var) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            var,
            reason: "not valid UTF-8".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn full() -> HashMap<&'static str, String> {
        [
            (env::CLIENTS_TABLE, "c"),
            (env::TUNNELS_TABLE, "t"),
            (env::DOMAINS_TABLE, "d"),
            (env::CONNECTIONS_TABLE, "k"),
            (env::REQUESTS_TABLE, "r"),
            (env::INBOX_TABLE, "i"),
            (env::RATE_LIMITS_TABLE, "l"),
            (env::AWS_REGION, "eu-west-3"),
            (env::AWS_ACCESS_KEY_ID, "id"),
            (env::AWS_SECRET_ACCESS_KEY, "secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }

    fn read(vars: &HashMap<&'static str, String>) -> Result<DynamoConfig, ConfigError> {
        DynamoConfig::from_lookup(|k| vars.get(k).cloned().ok_or(VarError::NotPresent))
    }

    #[test]
    fn reads_every_value() {
        let mut vars = full();
        vars.insert(env::DYNAMODB_ENDPOINT, "http://127.0.0.1:9".into());
        let c = read(&vars).unwrap();
        assert_eq!(c.region, "eu-west-3");
        assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            c.tables,
            TableNames {
                clients: "c".into(),
                tunnels: "t".into(),
                domains: "d".into(),
                connections: "k".into(),
                requests: "r".into(),
                inbox: "i".into(),
                rate_limits: "l".into(),
            }
        );
        assert_eq!(c.credentials.access_key_id(), "id");
        assert_eq!(c.credentials.session_token(), None);
        assert_eq!(c.log_bucket, None, "no bucket unless the function has one");
        assert!(c.log_bucket().is_none());
        vars.insert(env::LOG_BUCKET, "log-bucket".into());
        vars.insert(env::S3_ENDPOINT, "http://127.0.0.1:9".into());
        let c = read(&vars).unwrap();
        assert_eq!(c.log_bucket.as_deref(), Some("log-bucket"));
        assert_eq!(c.s3_endpoint_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            c.log_bucket().map(|b| b.name().to_owned()).as_deref(),
            Some("log-bucket")
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        for var in [
            env::CLIENTS_TABLE,
            env::TUNNELS_TABLE,
            env::DOMAINS_TABLE,
            env::CONNECTIONS_TABLE,
            env::REQUESTS_TABLE,
            env::INBOX_TABLE,
            env::RATE_LIMITS_TABLE,
            env::AWS_REGION,
            env::AWS_ACCESS_KEY_ID,
            env::AWS_SECRET_ACCESS_KEY,
        ] {
            for value in [None, Some("")] {
                let mut vars = full();
                match value {
                    None => vars.remove(var),
                    Some(v) => vars.insert(var, v.into()),
                };
                let err = read(&vars).unwrap_err();
                assert!(matches!(err, ConfigError::Missing(v) if v == var), "{err}");
                assert!(err.to_string().contains(var), "{err}");
            }
        }
    }

    #[test]
    fn optional_values_may_be_absent_but_not_malformed() {
        let c = read(&full()).unwrap();
        assert_eq!(c.endpoint_url, None);
        let mut vars = full();
        vars.insert(env::DYNAMODB_ENDPOINT, "127.0.0.1:9".into());
        let err = read(&vars).unwrap_err();
        assert!(err.to_string().contains(env::DYNAMODB_ENDPOINT), "{err}");
        let mut vars = full();
        vars.insert(env::S3_ENDPOINT, "127.0.0.1:9".into());
        let err = read(&vars).unwrap_err();
        assert!(err.to_string().contains(env::S3_ENDPOINT), "{err}");
    }
}
