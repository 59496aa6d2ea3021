//! Rate-limit buckets shared through DynamoDB (moto), as Lambda sandboxes share them:
//! one sandbox's takes empty another's bucket, a sandbox refuses from memory what it
//! has seen empty and asks the table when it has not, and concurrent takes never spend a token twice.

#![allow(clippy::unwrap_used)]

mod common;

use common::Moto;
use tunnel_aws::limiter::DynamoLimiter;
use tunnel_aws::{DynamoStore, TableNames, ensure_tables};
use tunnel_backend::limits::{Limiter, Rate};

async fn store(moto: &Moto) -> DynamoStore {
    let store = DynamoStore::from_config(&common::config(moto, TableNames::with_prefix("limits-")));
    ensure_tables(store.client(), store.tables()).await.unwrap();
    store
}

#[tokio::test]
async fn sandboxes_share_one_bucket() {
    let moto = Moto::start();
    let store = store(&moto).await;
    let (a, b, c) = (
        DynamoLimiter::new(store.clone()),
        DynamoLimiter::new(store.clone()),
        DynamoLimiter::new(store.clone()),
    );
    let rate = Rate::new(1.0, 3);
    let t = 1_700_000_000_000;
    a.take("k", rate, t).await.unwrap();
    b.take("k", rate, t).await.unwrap();
    assert_eq!(a.known_refusal("k", rate, t), None, "a saw one token left");
    a.take("k", rate, t).await.unwrap();
    let refused = b.take("k", rate, t).await.unwrap_err();
    assert_eq!(refused.retry_after_ms, 1000);
    assert!(
        a.known_refusal("k", rate, t).is_some(),
        "a took the last token"
    );
    assert!(b.known_refusal("k", rate, t).is_some(), "b was refused");
    assert_eq!(c.known_refusal("k", rate, t), None, "c has seen nothing");
    // A right key from there asks the shared bucket, takes nothing, and waits.
    assert!(
        c.refusal("k", rate, t).await.is_some(),
        "c reads the bucket"
    );
    assert!(
        c.take("k", rate, t).await.is_err(),
        "c reads the shared bucket"
    );
    assert!(c.known_refusal("k", rate, t).is_some());

    // A token back after a second, for whoever asks first; other keys untouched.
    assert!(a.known_refusal("k", rate, t + 1000).is_none());
    assert_eq!(c.refusal("k", rate, t + 1000).await, None, "refilled");
    assert_eq!(b.refusal("k", rate, t + 1000).await, None, "and b asks");
    c.take("k", rate, t + 1000).await.unwrap();
    assert!(a.take("k", rate, t + 1000).await.is_err());
    a.take("other", rate, t).await.unwrap();
}

#[tokio::test]
async fn concurrent_takes_never_spend_a_token_twice() {
    let moto = Moto::start();
    let store = store(&moto).await;
    let limiters: Vec<_> = (0..4).map(|_| DynamoLimiter::new(store.clone())).collect();
    let rate = Rate::new(0.001, 5);
    let t = 1_700_000_000_000;
    let takes = (0..12).map(|i| limiters[i % limiters.len()].take("burst", rate, t));
    let admitted = futures_util::future::join_all(takes)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
    assert!(
        (1..=5).contains(&admitted),
        "{admitted} of 12 admitted with a burst of 5"
    );
    // Whatever raced, the stored bucket now refuses: the burst is spent or contended.
    let fresh = DynamoLimiter::new(store.clone());
    let left = (0..5)
        .map(|_| fresh.take("burst", rate, t))
        .collect::<Vec<_>>();
    let mut more = 0;
    for take in left {
        if take.await.is_ok() {
            more += 1;
        }
    }
    assert_eq!(admitted + more, 5, "exactly the burst, over all sandboxes");
}
