//! The counting DynamoDB pass-through between the real SDK client and moto.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Get, KeySchemaElement, KeyType,
    KeysAndAttributes, Put, PutRequest, ScalarAttributeType, TransactGetItem, TransactWriteItem,
    WriteRequest,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use e2e::moto::Moto;
use tunnel_emulator::DynamoProxy;

const TABLE: &str = "emu_items";

/// A client built like `tunnel_aws::DynamoConfig::client` (rustls with ring over hyper
/// 1, static credentials), pointed at `endpoint`.
fn client(endpoint: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-3"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .http_client(http)
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), AttributeValue::S(pk.to_owned()))])
}

fn item(pk: &str, n: u32) -> HashMap<String, AttributeValue> {
    let mut item = key(pk);
    item.insert("n".into(), AttributeValue::N(n.to_string()));
    item
}

#[tokio::test]
async fn every_request_passes_through_and_is_counted() {
    let moto = Moto::start();
    let proxy = DynamoProxy::start(&moto.endpoint).await.unwrap();
    let db = client(&proxy.url());

    db.create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let setup = proxy.stats();
    assert_eq!(setup.operations.get("CreateTable"), Some(&1));
    assert_eq!((setup.reads, setup.writes), (0, 0));
    proxy.reset();
    assert_eq!(proxy.stats(), Default::default());

    // One of each single-item call.
    db.put_item()
        .table_name(TABLE)
        .set_item(Some(item("a", 1)))
        .send()
        .await
        .unwrap();
    let got = db
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key("a")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["n"], AttributeValue::N("1".into()));
    db.update_item()
        .table_name(TABLE)
        .set_key(Some(key("a")))
        .update_expression("SET n = :n")
        .expression_attribute_values(":n", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap();
    db.delete_item()
        .table_name(TABLE)
        .set_key(Some(key("a")))
        .send()
        .await
        .unwrap();

    // Batches and transactions count their items.
    let puts: Vec<WriteRequest> = ["b", "c", "d"]
        .iter()
        .map(|pk| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item(pk, 1)))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    db.batch_write_item()
        .request_items(TABLE, puts)
        .send()
        .await
        .unwrap();
    let keys = KeysAndAttributes::builder()
        .keys(key("b"))
        .keys(key("c"))
        .build()
        .unwrap();
    let batch = db
        .batch_get_item()
        .request_items(TABLE, keys)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.responses().unwrap()[TABLE].len(), 2);
    db.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(TABLE)
                        .set_item(Some(item("e", 1)))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(TABLE)
                        .set_item(Some(item("f", 1)))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let gets = ["e", "f"].map(|pk| {
        TransactGetItem::builder()
            .get(
                Get::builder()
                    .table_name(TABLE)
                    .set_key(Some(key(pk)))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let read = db
        .transact_get_items()
        .set_transact_items(Some(gets.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(read.responses().len(), 2);

    // A query and a scan are one read each, whatever they return.
    let query = db
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("b".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(query.count(), 1);
    let scan = db.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(scan.count(), 5);

    // A refused conditional write still reached the table.
    let refused = db
        .put_item()
        .table_name(TABLE)
        .set_item(Some(item("b", 9)))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(refused.is_err());

    let stats = proxy.stats();
    // get 1 + batch get 2 + transact get 2 + query 1 + scan 1
    assert_eq!(stats.reads, 7, "{stats:?}");
    // put 1 + update 1 + delete 1 + batch write 3 + transact write 2 + refused put 1
    assert_eq!(stats.writes, 9, "{stats:?}");
    assert_eq!(stats.requests, 11);
    assert_eq!(stats.errors, 1);
    let expected: Vec<(&str, u64)> = vec![
        ("BatchGetItem", 1),
        ("BatchWriteItem", 1),
        ("DeleteItem", 1),
        ("GetItem", 1),
        ("PutItem", 2),
        ("Query", 1),
        ("Scan", 1),
        ("TransactGetItems", 1),
        ("TransactWriteItems", 1),
        ("UpdateItem", 1),
    ];
    let operations: Vec<(&str, u64)> = stats
        .operations
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(operations, expected);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["operations"]["PutItem"], 2);

    proxy.reset();
    assert_eq!(proxy.stats(), Default::default());
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_and_counted() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = DynamoProxy::start(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let db = client(&proxy.url());
    let err = db
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key("a")))
        .send()
        .await;
    assert!(err.is_err());
    let stats = proxy.stats();
    assert!(
        stats.requests >= 1 && stats.errors == stats.requests,
        "{stats:?}"
    );
    assert!(stats.reads >= 1);
}
