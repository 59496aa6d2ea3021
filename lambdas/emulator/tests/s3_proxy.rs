//! The counting S3 pass-through between the request log's bucket client (the real
//! SDK, as the functions build it) and moto.

use e2e::moto::Moto;
use tunnel_aws::{Credentials, DynamoConfig, TableNames};
use tunnel_emulator::S3Proxy;

#[tokio::test]
async fn every_request_passes_through_and_is_counted() {
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint).await.unwrap();
    let config = DynamoConfig {
        endpoint_url: Some(moto.endpoint.clone()),
        region: "eu-west-3".into(),
        tables: TableNames::with_prefix("unused-"),
        credentials: Credentials::new("testing", "testing", None, None, "test"),
        log_bucket: Some("counted".into()),
        s3_endpoint_url: Some(proxy.url()),
    };
    let bucket = config.log_bucket().expect("a bucket is configured");
    bucket.ensure().await.unwrap();
    bucket.ensure().await.expect("ensure is idempotent");

    let object = vec![7u8; 1000];
    bucket.put("log/t/r1", object.clone()).await.unwrap();
    assert_eq!(bucket.get("log/t/r1").await.unwrap(), Some(object));
    assert_eq!(bucket.get("log/t/missing").await.unwrap(), None);
    bucket.delete("log/t/r1").await.unwrap();
    assert_eq!(bucket.get("log/t/r1").await.unwrap(), None);

    let stats = proxy.stats();
    let op = |name: &str| stats.operations.get(name).copied().unwrap_or(0);
    assert_eq!(op("CreateBucket"), 2);
    assert_eq!(op("PutObject"), 1);
    assert_eq!(op("GetObject"), 3);
    assert_eq!(op("DeleteObject"), 1);
    assert_eq!(stats.requests, 7);
    // The object, and the two CreateBucket bodies (a location constraint each).
    assert!(
        (1000..1000 + 1024).contains(&stats.bytes_in),
        "{}",
        stats.bytes_in
    );
    assert_eq!(stats.bytes_out, 1000, "only the object that was found");
    // The second CreateBucket (already owned) and the two misses.
    assert_eq!(stats.errors, 3, "{stats:?}");
}
