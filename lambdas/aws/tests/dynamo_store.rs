//! The DynamoDB store against moto's DynamoDB server: the backend's store contract,
//! table creation, and what only this adapter does (TTL, transaction reasons).

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeyType, TimeToLiveStatus};
use client_core::clock::now_secs as now;
use client_core::inbox::HeldRequest;
use client_core::policy::MAX_INBOX_BODY_BYTES;
use common::Moto;
use tunnel_aws::store::{CONNECTION_EXPIRY_MARGIN_SECS, CONNECTION_MAX_AGE_SECS};
use tunnel_aws::tables::BILLING_MODE;
use tunnel_aws::{DynamoStore, TableNames, TablesError, ensure_tables, table_definitions};
use tunnel_backend::model::{ConnectionRecord, TunnelRecord};
use tunnel_backend::store::{Store, StoreError, contract};

async fn store_on(moto: &Moto, prefix: &str) -> DynamoStore {
    let store = DynamoStore::from_config(&common::config(moto, TableNames::with_prefix(prefix)));
    ensure_tables(store.client(), store.tables())
        .await
        .expect("ensure_tables");
    store
        .log_bucket()
        .expect("the tests' stores have a log bucket")
        .ensure()
        .await
        .expect("create the log bucket");
    store
}

#[tokio::test]
async fn dynamo_store_passes_the_contract() {
    let moto = Moto::start();
    // The suite's connection records are stamped `connected_at: 5` (1970); with the
    // real clock they would be long expired. Time is not what the suite checks, so the
    // clock stands still at the epoch here; `connections_expire` covers expiry.
    let store = store_on(&moto, "contract-").await.with_clock(|| 0);
    contract::run(&store, "a").await;
    // A second run on the same tables: the suite's ids must not collide across runs,
    // as they would not on one shared deployment.
    contract::run(&store, "b").await;
}

#[tokio::test]
async fn ensure_tables_is_idempotent_and_follows_the_definitions() {
    let moto = Moto::start();
    let store = store_on(&moto, "idem-").await;
    let (client, names) = (store.client(), store.tables());
    ensure_tables(client, names)
        .await
        .expect("a second ensure_tables succeeds");

    for spec in table_definitions(names) {
        let table = client
            .describe_table()
            .table_name(&spec.name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys: Vec<_> = table
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
            .collect();
        let want: Vec<_> = std::iter::once((spec.hash_key.name.to_owned(), KeyType::Hash))
            .chain(spec.range_key.map(|r| (r.name.to_owned(), KeyType::Range)))
            .collect();
        assert_eq!(keys, want, "{}: key schema", spec.name);
        let mut attrs: Vec<_> = table
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        let mut want: Vec<_> = spec
            .attributes()
            .iter()
            .map(|a| (a.name.to_owned(), a.kind.as_str().to_owned()))
            .collect();
        attrs.sort();
        want.sort();
        assert_eq!(attrs, want, "{}: attribute definitions", spec.name);
        let billing = table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .cloned();
        assert_eq!(billing, Some(BillingMode::PayPerRequest));
        assert_eq!(BillingMode::PayPerRequest.as_str(), BILLING_MODE);

        assert_eq!(
            table.global_secondary_indexes().len(),
            spec.global_secondary_indexes.len()
        );
        for index in &spec.global_secondary_indexes {
            let gsi = table
                .global_secondary_indexes()
                .iter()
                .find(|g| g.index_name() == Some(index.name))
                .unwrap_or_else(|| panic!("{}: index {} missing", spec.name, index.name));
            let keys: Vec<_> = gsi
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name(), k.key_type().as_str()))
                .collect();
            let mut want = vec![(index.hash_key.name, "HASH")];
            want.extend(index.range_key.map(|r| (r.name, "RANGE")));
            assert_eq!(keys, want);
            let projection = gsi.projection().and_then(|p| p.projection_type());
            assert_eq!(projection.map(|p| p.as_str()), Some(index.projection));
        }

        let ttl = client
            .describe_time_to_live()
            .table_name(&spec.name)
            .send()
            .await
            .unwrap()
            .time_to_live_description;
        let enabled = ttl.as_ref().and_then(|d| {
            (d.time_to_live_status() == Some(&TimeToLiveStatus::Enabled))
                .then(|| d.attribute_name().map(str::to_owned))
                .flatten()
        });
        assert_eq!(
            enabled.as_deref(),
            spec.ttl_attribute,
            "{}: TTL attribute",
            spec.name
        );
    }
}

#[tokio::test]
async fn ensure_tables_refuses_a_table_with_other_keys() {
    let moto = Moto::start();
    let names = TableNames::with_prefix("odd-");
    let client = DynamoStore::from_config(&common::config(&moto, names.clone()))
        .client()
        .clone();
    client
        .create_table()
        .table_name(&names.clients)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = ensure_tables(&client, &names).await.unwrap_err();
    assert!(
        matches!(&err, TablesError::Mismatch { table, .. } if *table == names.clients),
        "{err}"
    );
}

#[tokio::test]
async fn adapter_specific_behaviour() {
    let moto = Moto::start();
    let store = store_on(&moto, "own-").await;

    // A tunnel id clash (not a domain clash) is reported as such, and the transaction
    // leaves the new domain unclaimed.
    let a = TunnelRecord {
        tunnel_id: "t1".into(),
        client_id: "c".into(),
        domain: "one".into(),
        created_at: 1,
        connection_id: None,
        redact_secrets: true,
        policy: None,
        expires_at: None,
    };
    store.create_tunnel(&a, 1).await.unwrap();
    let clash = TunnelRecord {
        domain: "two".into(),
        ..a.clone()
    };
    assert!(matches!(
        store.create_tunnel(&clash, 1).await,
        Err(StoreError::Exists("tunnel"))
    ));
    assert_eq!(store.get_domain("two", 1).await.unwrap(), None);

    // Deleting a tunnel whose domain is claimed by another tunnel removes the tunnel
    // and leaves the other's claim alone.
    let b = TunnelRecord {
        tunnel_id: "t2".into(),
        domain: "two".into(),
        ..a.clone()
    };
    store.create_tunnel(&b, 1).await.unwrap();
    let stale = TunnelRecord {
        domain: "two".into(),
        ..a.clone()
    };
    store.delete_tunnel(&stale).await.unwrap();
    assert_eq!(store.get_tunnel("t1", 1).await.unwrap(), None);
    assert_eq!(
        store.get_domain("two", 1).await.unwrap().unwrap().tunnel_id,
        "t2"
    );
    assert!(matches!(
        store.delete_tunnel(&stale).await,
        Err(StoreError::NotFound("tunnel"))
    ));

    // A detach for a missing tunnel must not create a stub item.
    store.detach_connection("ghost", "k", 9).await.unwrap();
    assert_eq!(store.get_tunnel("ghost", 1).await.unwrap(), None);
    assert_eq!(store.get_domain("ghost", 1).await.unwrap(), None);
}

#[tokio::test]
async fn connections_expire() {
    let moto = Moto::start();
    let store = store_on(&moto, "ttl-").await;
    let fresh = ConnectionRecord {
        connection_id: "fresh".into(),
        client_id: "c".into(),
        tunnel_id: None,
        connected_at: now(),
        body_urls: false,
    };
    store.put_connection(&fresh).await.unwrap();
    let raw = store
        .client()
        .get_item()
        .table_name(&store.tables().connections)
        .key("connection_id", AttributeValue::S("fresh".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let want = fresh.connected_at + CONNECTION_MAX_AGE_SECS + CONNECTION_EXPIRY_MARGIN_SECS;
    assert_eq!(
        raw.get("expires_at"),
        Some(&AttributeValue::N(want.to_string()))
    );
    assert_eq!(store.get_connection("fresh").await.unwrap(), Some(fresh));

    // Older than API Gateway's 2-hour cap plus the margin: the socket is closed even
    // though moto (like DynamoDB, for a while) still holds the item.
    let old = ConnectionRecord {
        connection_id: "old".into(),
        client_id: "c".into(),
        tunnel_id: Some("t".into()),
        connected_at: now() - CONNECTION_MAX_AGE_SECS - CONNECTION_EXPIRY_MARGIN_SECS - 1,
        body_urls: false,
    };
    store.put_connection(&old).await.unwrap();
    assert_eq!(store.get_connection("old").await.unwrap(), None);
    let stopped = store.clone().with_clock(|| 0);
    assert_eq!(
        stopped.get_connection("old").await.unwrap(),
        Some(old),
        "the item is still stored; only reading filters it"
    );
}

#[tokio::test]
async fn captured_requests_expire_at_their_ttl() {
    const TTL: u64 = 10;
    let moto = Moto::start();
    let store = store_on(&moto, "logttl-").await;
    let at = |clock: fn() -> u64| store.clone().with_clock(clock).with_log_ttl(TTL);
    let x = contract::exchange("t", 1_000_000, "GET", "/", 200);
    at(|| 1_000)
        .put_exchanges(vec![x.clone()], 1)
        .await
        .unwrap();
    let raw = store
        .client()
        .get_item()
        .table_name(&store.tables().requests)
        .key("tunnel_id", AttributeValue::S("t".into()))
        .key("request_id", AttributeValue::S(x.request_id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw.get("expires_at"),
        Some(&AttributeValue::N((1_000 + TTL).to_string()))
    );
    let all = client_core::inspect::Filter::default();
    let query = tunnel_backend::store::LogQuery {
        tunnel_id: "t",
        before: None,
        filter: &all,
        limit: 10,
    };
    // One second before expiry: visible; at expiry: gone from reads, though moto
    // (like DynamoDB, for a while) still holds the item.
    let before = at(|| 1_000 + TTL - 1);
    assert_eq!(
        before.get_exchange("t", &x.request_id).await.unwrap(),
        Some(x.clone())
    );
    assert_eq!(
        before.list_exchanges(query).await.unwrap().exchanges.len(),
        1
    );
    let after = at(|| 1_000 + TTL);
    assert_eq!(after.get_exchange("t", &x.request_id).await.unwrap(), None);
    assert!(
        after
            .list_exchanges(query)
            .await
            .unwrap()
            .exchanges
            .is_empty()
    );
}

/// The item of `x` as stored, raw.
async fn raw_item(
    store: &DynamoStore,
    x: &client_core::inspect::Exchange,
) -> std::collections::HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(&store.tables().requests)
        .key("tunnel_id", AttributeValue::S(x.tunnel_id.clone()))
        .key("request_id", AttributeValue::S(x.request_id.clone()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the item")
}

/// DynamoDB's billed size of an item: names plus values.
fn billed_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    other => panic!("unexpected attribute {other:?}"),
                }
        })
        .sum()
}

/// An exchange whose stored form (deflated JSON) is about `size` bytes: a body of
/// random hex does not compress below half.
fn exchange_of(tunnel: &str, ms: u64, body_len: usize) -> client_core::inspect::Exchange {
    use rand::RngCore as _;
    let mut body = vec![0u8; body_len / 2];
    rand::thread_rng().fill_bytes(&mut body);
    let mut x = contract::exchange(tunnel, ms, "POST", "/up", 200);
    x.request.body = client_core::inspect::CapturedBody::full(hex::encode(body).into_bytes());
    x
}

#[tokio::test]
async fn small_exchanges_stay_in_their_item_large_ones_go_to_the_bucket() {
    use tunnel_aws::log_bucket::{LOG_ITEM_MAX_BYTES, encode, object_key};
    let moto = Moto::start();
    let store = store_on(&moto, "logsplit-").await;
    let bucket = store.log_bucket().unwrap().clone();
    let objects = || async {
        bucket
            .client()
            .list_objects_v2()
            .bucket(common::LOG_BUCKET)
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect::<Vec<_>>()
    };

    // A small GET: one write unit (under 1 KB), no object.
    let small = contract::exchange("t", 1_000_000, "GET", "/", 200);
    store.put_exchanges(vec![small.clone()], 1).await.unwrap();
    let item = raw_item(&store, &small).await;
    assert!(billed_size(&item) < 1024, "{} bytes", billed_size(&item));
    assert!(item.contains_key("exchange") && !item.contains_key("object"));
    assert!(objects().await.is_empty());

    // At the edge: growing the body 8 bytes at a time, the last exchange whose item
    // fits LOG_ITEM_MAX_BYTES stays inline at that size or less, the first that does
    // not goes to the bucket. Names and key values: tunnel_id, request_id,
    // expires_at (10 digits until 2286), exchange.
    let fixed = |x: &client_core::inspect::Exchange| 9 + 1 + 10 + x.request_id.len() + 10 + 10 + 8;
    let mut len = 3000;
    let mut x = exchange_of("t", 1_000_001, len);
    let over = loop {
        let next = exchange_of("t", 1_000_001, len + 8);
        if fixed(&next) + encode(&next).unwrap().len() > LOG_ITEM_MAX_BYTES {
            break next;
        }
        (x, len) = (next, len + 8);
    };
    store
        .put_exchanges(vec![x.clone(), over.clone()], 1)
        .await
        .unwrap();
    let item = raw_item(&store, &x).await;
    assert!(item.contains_key("exchange"), "at the limit: inline");
    let size = billed_size(&item);
    assert!(
        (LOG_ITEM_MAX_BYTES - 64..=LOG_ITEM_MAX_BYTES).contains(&size),
        "{size}"
    );
    let item = raw_item(&store, &over).await;
    assert!(item.contains_key("object"), "over the limit: in the bucket");
    for x in [&x, &over] {
        assert_eq!(
            store
                .get_exchange("t", &x.request_id)
                .await
                .unwrap()
                .as_ref(),
            Some(x),
            "read back whole"
        );
    }

    // Two 1 MiB bodies: the whole capture is kept (no cut), in one object, and the
    // item keeps only the list line.
    let mut big = contract::exchange("t", 1_000_002, "POST", "/big", 200);
    big.request.body = client_core::inspect::CapturedBody::full(vec![b'a'; 1024 * 1024]);
    if let Some(r) = &mut big.response {
        r.body = client_core::inspect::CapturedBody::full(vec![b'b'; 1024 * 1024]);
    }
    store.put_exchanges(vec![big.clone()], 1).await.unwrap();
    let item = raw_item(&store, &big).await;
    let key = object_key("t", &big.request_id);
    assert_eq!(item.get("object"), Some(&AttributeValue::S(key.clone())));
    assert!(!item.contains_key("exchange"));
    assert!(billed_size(&item) < 1024, "{} bytes", billed_size(&item));
    assert!(objects().await.contains(&key));
    let got = store
        .get_exchange("t", &big.request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, big, "both bodies whole, byte for byte");

    // Listing reads the list lines of both kinds; another tunnel finds nothing.
    let all = client_core::inspect::Filter::default();
    let page = store
        .list_exchanges(tunnel_backend::store::LogQuery {
            tunnel_id: "t",
            before: None,
            filter: &all,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(page.exchanges.len(), 4);
    assert_eq!(page.exchanges[0].request_id, big.request_id);
    assert_eq!(page.exchanges[0].request_size, 1024 * 1024);
    assert_eq!(
        store.get_exchange("u", &big.request_id).await.unwrap(),
        None
    );

    // A store without the bucket cannot keep a large exchange, and says why.
    let bare = DynamoStore::new(store.client().clone(), store.tables().clone());
    let err = bare.put_exchanges(vec![big.clone()], 1).await.unwrap_err();
    assert!(err.to_string().contains("TUNNEL_LOG_BUCKET"), "{err}");

    // Clearing the log removes the objects with the items.
    store.clear_exchanges("t").await.unwrap();
    assert_eq!(store.count_exchanges("t").await.unwrap(), 0);
    assert!(objects().await.is_empty(), "{:?}", objects().await);
}

fn held(tunnel_id: &str, n: u64, expires_at: u64) -> HeldRequest {
    HeldRequest {
        request_id: format!("{tunnel_id}-r{n}"),
        tunnel_id: tunnel_id.to_owned(),
        seq: 0,
        received_ms: n,
        expires_at,
        method: "POST".into(),
        path: format!("/hook/{n}"),
        headers: vec![("x-n".into(), n.to_string())],
        body: n.to_string().into_bytes(),
    }
}

#[tokio::test]
async fn held_requests_keep_the_largest_body_byte_exact() {
    let moto = Moto::start();
    let store = store_on(&moto, "inboxbig-").await;
    let t = "big";
    // Every byte value, in an order no run-length trick would flatten.
    let body: Vec<u8> = (0..MAX_INBOX_BODY_BYTES)
        .map(|i| u8::try_from((i * 131 + i / 256) % 256).expect("a byte"))
        .collect();
    let request = HeldRequest {
        headers: vec![
            ("content-type".into(), "application/octet-stream".into()),
            ("x-twice".into(), "1".into()),
            ("x-twice".into(), "2".into()),
            ("x-text".into(), "é \"quoted\" ✓".into()),
        ],
        body,
        ..held(t, 1, now() + 3600)
    };
    let seq = store.hold_request(&request, 5, now()).await.unwrap();
    let raw = store
        .client()
        .get_item()
        .table_name(&store.tables().inbox)
        .key("tunnel_id", AttributeValue::S(t.into()))
        .key("seq", AttributeValue::N(seq.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        matches!(raw.get("body"), Some(AttributeValue::B(b)) if b.as_ref() == request.body),
        "the body is one binary attribute"
    );
    let taken = store.take_held(t, now()).await.unwrap();
    assert_eq!(taken, Some(HeldRequest { seq, ..request }));
    assert_eq!(store.take_held(t, now()).await.unwrap(), None);
}

#[tokio::test]
async fn the_held_count_forgets_what_ttl_deleted() {
    const MAX: u32 = 3;
    const NOW: u64 = 50_000;
    let moto = Moto::start();
    let store = store_on(&moto, "inboxttl-").await;
    let t = "gone";
    // The first expires soonest.
    let mut seqs = Vec::new();
    for (n, expires_at) in [(1, NOW + 10), (2, NOW + 100), (3, NOW + 100)] {
        seqs.push(
            store
                .hold_request(&held(t, n, expires_at), MAX, NOW)
                .await
                .unwrap(),
        );
    }
    assert!(matches!(
        store.hold_request(&held(t, 9, NOW + 100), MAX, NOW).await,
        Err(StoreError::InboxFull(MAX))
    ));
    // The count that refused it noted when it could next find room, so refusals
    // until then read no items.
    let meta = store
        .client()
        .get_item()
        .table_name(&store.tables().inbox)
        .key("tunnel_id", AttributeValue::S(t.into()))
        .key("seq", AttributeValue::N("0".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        meta.get("recount_after"),
        Some(&AttributeValue::N((NOW + 10).to_string()))
    );
    assert!(matches!(
        store
            .hold_request(&held(t, 9, NOW + 100), MAX, NOW + 9)
            .await,
        Err(StoreError::InboxFull(MAX))
    ));
    // What DynamoDB's TTL does once the first has expired: the item goes, and
    // nothing else changes.
    store
        .client()
        .delete_item()
        .table_name(&store.tables().inbox)
        .key("tunnel_id", AttributeValue::S(t.into()))
        .key("seq", AttributeValue::N(seqs[0].to_string()))
        .send()
        .await
        .unwrap();
    let fourth = store
        .hold_request(&held(t, 4, NOW + 100), MAX, NOW + 10)
        .await
        .expect("room once the counter is set from the items");
    assert!(fourth > seqs[2], "arrival numbers still rise");
    assert!(matches!(
        store
            .hold_request(&held(t, 5, NOW + 100), MAX, NOW + 10)
            .await,
        Err(StoreError::InboxFull(MAX))
    ));

    // An expired item still stored, left out of the count by a reconcile, must not
    // be uncounted again when a take removes it: the inbox would then hold more than
    // its limit.
    let e = "stale";
    store
        .hold_request(&held(e, 1, NOW), MAX, NOW - 1)
        .await
        .unwrap();
    for n in 2..=u64::from(MAX) + 1 {
        store
            .hold_request(&held(e, n, NOW + 100), MAX, NOW)
            .await
            .unwrap();
    }
    let next = store.take_held(e, NOW).await.unwrap().unwrap();
    assert_eq!(next.path, "/hook/2", "the expired one is skipped");
    store
        .hold_request(&held(e, 5, NOW + 100), MAX, NOW)
        .await
        .unwrap();
    assert_eq!(store.count_held(e, NOW).await.unwrap(), u64::from(MAX));
    assert!(matches!(
        store.hold_request(&held(e, 6, NOW + 100), MAX, NOW).await,
        Err(StoreError::InboxFull(MAX))
    ));
}
