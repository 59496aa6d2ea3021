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

/// Where the pass-through stands in for S3 it refuses what S3 refuses of a
/// presigned URL (`tunnel_emulator::presigned`): each refusal with S3's status and
/// code, counted, and never passed on to moto. URLs minted by the functions' own
/// code (`stored_body::BodyStore`) with the emulator's credentials.
#[tokio::test]
async fn presigned_urls_are_checked_as_s3_checks_them() {
    use std::time::{Duration, SystemTime};

    use tunnel_aws::aws_sdk_s3::presigning::PresigningConfig;
    use tunnel_aws::functions::stored_body::{BODY_URL_EXPIRY, BodyKey, BodyStore};
    use tunnel_emulator::presigned::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint).await.unwrap();
    let config = DynamoConfig {
        endpoint_url: Some(moto.endpoint.clone()),
        region: "us-east-1".into(),
        tables: TableNames::with_prefix("unused-"),
        credentials: Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "test"),
        log_bucket: Some("bodies".into()),
        s3_endpoint_url: Some(proxy.url()),
    };
    let bucket = config.log_bucket().expect("a bucket is configured");
    bucket.ensure().await.unwrap();
    let bodies = BodyStore::new(&bucket);
    let key = BodyKey::new("t1", "r1");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let get_url = bodies.put_request(&key, body.clone()).await.unwrap();
    let put_url = bodies.answer_url(&key).await.unwrap();
    assert!(get_url.starts_with(&proxy.url()), "{get_url}");
    assert!(get_url.contains("X-Amz-Expires=60"), "{get_url}");
    assert_eq!(BODY_URL_EXPIRY, Duration::from_secs(60));

    let http = reqwest::Client::new();
    let before = proxy.stats();
    // As signed: the GET reads the body, the PUT stores the answer.
    let got = http.get(&get_url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), body);
    let answer = vec![9u8; 150_000];
    let put = http
        .put(&put_url)
        .header("content-length", answer.len())
        .body(answer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let mut stored = bodies.open_response(&key).await.unwrap();
    let mut read = Vec::new();
    while let Some(piece) = tunnel_aws::functions::stored_body::next_piece(&mut stored)
        .await
        .unwrap()
    {
        read.extend_from_slice(&piece);
    }
    assert_eq!(read, answer);

    let refused = |response: reqwest::Response, code: &'static str, status: u16| async move {
        assert_eq!(response.status(), status);
        let text = response.text().await.unwrap();
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
        text
    };
    // Another method than the one signed.
    let r = http.put(&get_url).body("x").send().await.unwrap();
    refused(r, "SignatureDoesNotMatch", 403).await;
    let r = http.get(&put_url).send().await.unwrap();
    refused(r, "SignatureDoesNotMatch", 403).await;
    // Another object: the answer's key with the request body's signature.
    let r = http
        .get(get_url.replace("/req?", "/resp?"))
        .send()
        .await
        .unwrap();
    refused(r, "SignatureDoesNotMatch", 403).await;
    // A longer life than signed.
    let r = http
        .get(get_url.replace("X-Amz-Expires=60", "X-Amz-Expires=3600"))
        .send()
        .await
        .unwrap();
    refused(r, "SignatureDoesNotMatch", 403).await;
    // Signed two minutes ago for one: expired.
    let past = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(120))
        .expires_in(BODY_URL_EXPIRY)
        .build()
        .unwrap();
    let expired = bucket
        .client()
        .get_object()
        .bucket(bucket.name())
        .key(key.request())
        .presigned(past)
        .await
        .unwrap();
    let r = http.get(expired.uri()).send().await.unwrap();
    let text = refused(r, "AccessDenied", 403).await;
    assert!(text.contains("Request has expired"), "{text}");
    // Signed by a key S3 does not know.
    let stranger = DynamoConfig {
        credentials: Credentials::new("someone-else", SECRET_ACCESS_KEY, None, None, "test"),
        ..config.clone()
    };
    let foreign = BodyStore::new(&stranger.log_bucket().unwrap())
        .answer_url(&key)
        .await
        .unwrap();
    let r = http.put(&foreign).body("x").send().await.unwrap();
    refused(r, "InvalidAccessKeyId", 403).await;

    let after = proxy.stats();
    assert_eq!(after.presigned - before.presigned, 8, "{after:?}");
    assert_eq!(after.errors - before.errors, 6, "the six refusals");
    // Nothing refused reached moto: the object is still the one put.
    let again = http.get(&get_url).send().await.unwrap();
    assert_eq!(again.bytes().await.unwrap(), body);
}
