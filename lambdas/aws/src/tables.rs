//! The tables as data, and their creation for emulators.
//!
//! [`table_definitions`] is the single description of the schema: [`ensure_tables`]
//! creates tables from it, and the offline Terraform test compares `infra/dynamodb.tf`
//! against it, so the code and the infrastructure cannot drift apart silently.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableDescription, TimeToLiveSpecification,
    TimeToLiveStatus,
};

use crate::config::{TableNames, env};
use crate::item::attr;

/// Every table is on-demand: traffic is spiky and small, and nothing needs tuning.
pub const BILLING_MODE: &str = "PAY_PER_REQUEST";

/// The name of the GSI listing a client's tunnels.
pub const CLIENT_INDEX: &str = "client_id-index";

/// How long [`ensure_tables`] waits for a new table to become `ACTIVE` (AWS takes
/// seconds; emulators are immediate).
const ACTIVE_WAIT: Duration = Duration::from_secs(120);

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    /// String.
    S,
    /// Number.
    N,
}

impl AttributeType {
    /// The DynamoDB (and Terraform) spelling: `"S"` or `"N"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S => "S",
            Self::N => "N",
        }
    }

    fn scalar(self) -> ScalarAttributeType {
        match self {
            Self::S => ScalarAttributeType::S,
            Self::N => ScalarAttributeType::N,
        }
    }
}

/// A key attribute: its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: &'static str,
    /// Attribute type.
    pub kind: AttributeType,
}

/// A global secondary index. Projections are always `ALL`: the listing reads whole
/// records from the index, with no second read per item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// Index name.
    pub name: &'static str,
    /// Partition key.
    pub hash_key: KeyAttribute,
    /// Sort key.
    pub range_key: Option<KeyAttribute>,
    /// Projection type, `"ALL"`.
    pub projection: &'static str,
}

/// One table as deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Physical name.
    pub name: String,
    /// The environment variable that carries the name to the functions.
    pub env_var: &'static str,
    /// Partition key.
    pub hash_key: KeyAttribute,
    /// Sort key, if any.
    pub range_key: Option<KeyAttribute>,
    /// Global secondary indexes.
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// The attribute DynamoDB's TTL deletes by, if any.
    pub ttl_attribute: Option<&'static str>,
}

impl TableSpec {
    /// Every attribute used as a key of the table or of an index, once each, in order
    /// of first use: exactly the `attribute` blocks Terraform must declare.
    pub fn attributes(&self) -> Vec<KeyAttribute> {
        let mut out: Vec<KeyAttribute> = std::iter::once(self.hash_key)
            .chain(self.range_key)
            .collect();
        for index in &self.global_secondary_indexes {
            for key in std::iter::once(index.hash_key).chain(index.range_key) {
                if !out.iter().any(|a| a.name == key.name) {
                    out.push(key);
                }
            }
        }
        out
    }
}

const fn s(name: &'static str) -> KeyAttribute {
    KeyAttribute {
        name,
        kind: AttributeType::S,
    }
}

/// The seven tables, named per `names`.
pub fn table_definitions(names: &TableNames) -> Vec<TableSpec> {
    vec![
        TableSpec {
            name: names.clients.clone(),
            env_var: env::CLIENTS_TABLE,
            hash_key: s(attr::CLIENT_ID),
            range_key: None,
            global_secondary_indexes: Vec::new(),
            ttl_attribute: None,
        },
        TableSpec {
            name: names.tunnels.clone(),
            env_var: env::TUNNELS_TABLE,
            hash_key: s(attr::TUNNEL_ID),
            range_key: None,
            global_secondary_indexes: vec![IndexSpec {
                name: CLIENT_INDEX,
                hash_key: s(attr::CLIENT_ID),
                range_key: Some(KeyAttribute {
                    name: attr::CREATED_AT,
                    kind: AttributeType::N,
                }),
                projection: "ALL",
            }],
            ttl_attribute: Some(attr::EXPIRES_AT),
        },
        TableSpec {
            name: names.domains.clone(),
            env_var: env::DOMAINS_TABLE,
            hash_key: s(attr::DOMAIN),
            range_key: None,
            global_secondary_indexes: Vec::new(),
            ttl_attribute: Some(attr::EXPIRES_AT),
        },
        TableSpec {
            name: names.connections.clone(),
            env_var: env::CONNECTIONS_TABLE,
            hash_key: s(attr::CONNECTION_ID),
            range_key: None,
            global_secondary_indexes: Vec::new(),
            ttl_attribute: Some(attr::EXPIRES_AT),
        },
        TableSpec {
            name: names.requests.clone(),
            env_var: env::REQUESTS_TABLE,
            // One partition per tunnel, in arrival order (request ids sort by time):
            // listing is a Query of the table itself, so no index doubles each write.
            hash_key: s(attr::TUNNEL_ID),
            range_key: Some(s(attr::REQUEST_ID)),
            global_secondary_indexes: Vec::new(),
            ttl_attribute: Some(attr::EXPIRES_AT),
        },
        // One partition per tunnel, in arrival order: taking the oldest is a Query of
        // the first items, with no index to lag behind the writes.
        TableSpec {
            name: names.inbox.clone(),
            env_var: env::INBOX_TABLE,
            hash_key: s(attr::TUNNEL_ID),
            range_key: Some(KeyAttribute {
                name: attr::SEQ,
                kind: AttributeType::N,
            }),
            global_secondary_indexes: Vec::new(),
            ttl_attribute: Some(attr::EXPIRES_AT),
        },
        // Token buckets every sandbox shares (failed authentications per address);
        // a bucket expires once it would be full again, which loses nothing.
        TableSpec {
            name: names.rate_limits.clone(),
            env_var: env::RATE_LIMITS_TABLE,
            hash_key: s(attr::LIMIT_KEY),
            range_key: None,
            global_secondary_indexes: Vec::new(),
            ttl_attribute: Some(attr::EXPIRES_AT),
        },
    ]
}

/// Why [`ensure_tables`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// A DynamoDB call failed.
    #[error("table {table}: {operation} failed: {message}")]
    Sdk {
        /// The table.
        table: String,
        /// The API call.
        operation: &'static str,
        /// The SDK's error, with its causes.
        message: String,
    },
    /// The table exists with a different key or index layout; creating it was not
    /// this function's doing, so it will not guess how to migrate it.
    #[error("table {table} exists but differs from its definition: {detail}")]
    Mismatch {
        /// The table.
        table: String,
        /// What differs.
        detail: String,
    },
}

/// Creates each table of [`table_definitions`] that does not exist yet (on-demand
/// billing), waits for it to be active, and enables its TTL. Safe to call again and
/// from several processes at once: existing tables are checked, not recreated.
pub async fn ensure_tables(client: &Client, names: &TableNames) -> Result<(), TablesError> {
    for spec in table_definitions(names) {
        ensure_table(client, &spec).await?;
    }
    Ok(())
}

async fn ensure_table(client: &Client, spec: &TableSpec) -> Result<(), TablesError> {
    let sdk = |operation: &'static str, e: &dyn std::error::Error| TablesError::Sdk {
        table: spec.name.clone(),
        operation,
        message: DisplayErrorContext(e).to_string(),
    };
    let existing = match client.describe_table().table_name(&spec.name).send().await {
        Ok(out) => out.table,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(sdk("DescribeTable", &e)),
    };
    match existing {
        Some(table) => check_layout(spec, &table)?,
        None => match create_request(client, spec)?.send().await {
            Ok(_) => {}
            // Another process created it between our describe and create.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(e) => return Err(sdk("CreateTable", &e)),
        },
    }
    client
        .wait_until_table_exists()
        .table_name(&spec.name)
        .wait(ACTIVE_WAIT)
        .await
        .map_err(|e| sdk("DescribeTable (waiting for ACTIVE)", &e))?;
    if let Some(ttl) = spec.ttl_attribute {
        let status = client
            .describe_time_to_live()
            .table_name(&spec.name)
            .send()
            .await
            .map_err(|e| sdk("DescribeTimeToLive", &e))?
            .time_to_live_description;
        let on = status.as_ref().is_some_and(|d| {
            d.attribute_name() == Some(ttl)
                && matches!(
                    d.time_to_live_status(),
                    Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                )
        });
        if !on {
            let ttl_spec = TimeToLiveSpecification::builder()
                .attribute_name(ttl)
                .enabled(true)
                .build()
                .map_err(|e| sdk("UpdateTimeToLive", &e))?;
            client
                .update_time_to_live()
                .table_name(&spec.name)
                .time_to_live_specification(ttl_spec)
                .send()
                .await
                .map_err(|e| sdk("UpdateTimeToLive", &e))?;
        }
    }
    Ok(())
}

fn create_request(
    client: &Client,
    spec: &TableSpec,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
    TablesError,
> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| TablesError::Sdk {
        table: spec.name.clone(),
        operation: "CreateTable",
        message: e.to_string(),
    };
    let key = |a: KeyAttribute, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(a.name)
            .key_type(kind)
            .build()
            .map_err(build)
    };
    let mut req = client
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.hash_key, KeyType::Hash)?);
    if let Some(range) = spec.range_key {
        req = req.key_schema(key(range, KeyType::Range)?);
    }
    for a in spec.attributes() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a.name)
                .attribute_type(a.kind.scalar())
                .build()
                .map_err(build)?,
        );
    }
    for index in &spec.global_secondary_indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .key_schema(key(index.hash_key, KeyType::Hash)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(index.projection))
                    .build(),
            );
        if let Some(range) = index.range_key {
            gsi = gsi.key_schema(key(range, KeyType::Range)?);
        }
        req = req.global_secondary_indexes(gsi.build().map_err(build)?);
    }
    Ok(req)
}

/// Compares the keys and index names of an existing table with its definition.
fn check_layout(spec: &TableSpec, table: &TableDescription) -> Result<(), TablesError> {
    let mismatch = |detail: String| TablesError::Mismatch {
        table: spec.name.clone(),
        detail,
    };
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    let want: Vec<(&str, &KeyType)> = std::iter::once((spec.hash_key.name, &KeyType::Hash))
        .chain(spec.range_key.map(|r| (r.name, &KeyType::Range)))
        .collect();
    if keys != want {
        return Err(mismatch(format!("key schema {keys:?}, expected {want:?}")));
    }
    for index in &spec.global_secondary_indexes {
        let found = table
            .global_secondary_indexes()
            .iter()
            .any(|g| g.index_name() == Some(index.name));
        if !found {
            return Err(mismatch(format!("index {} is missing", index.name)));
        }
    }
    Ok(())
}
