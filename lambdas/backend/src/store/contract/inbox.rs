//! The inbox rules: requests held while the tunnel is offline, taken in order.

use client_core::inbox::HeldRequest;

use super::super::{Store, StoreError};

/// A held request for the suite: `n` names it and goes in its body.
pub fn held(tunnel: &str, n: u64, expires_at: u64) -> HeldRequest {
    HeldRequest {
        request_id: format!("{tunnel}-h{n}"),
        tunnel_id: tunnel.to_owned(),
        seq: 0,
        received_ms: 1_000 + n,
        expires_at,
        method: "POST".into(),
        path: format!("/hook/{n}"),
        headers: vec![("x-n".into(), n.to_string())],
        body: format!("body {n}").into_bytes(),
    }
}

pub(super) async fn inbox(store: &dyn Store, p: &str) {
    const NOW: u64 = 10_000;
    const MAX: u32 = 3;
    let t = format!("{p}-inbox");
    let other = format!("{p}-inbox-other");
    assert_eq!(store.take_held(&t, NOW).await.unwrap(), None);
    assert_eq!(store.count_held(&t, NOW).await.unwrap(), 0);
    // Arrival numbers rise; up to MAX are held, the next is refused.
    let mut seqs = Vec::new();
    for n in 1..=u64::from(MAX) {
        seqs.push(
            store
                .hold_request(&held(&t, n, NOW + 100), MAX, NOW)
                .await
                .unwrap(),
        );
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(matches!(
        store.hold_request(&held(&t, 9, NOW + 100), MAX, NOW).await,
        Err(StoreError::InboxFull(MAX))
    ));
    assert_eq!(store.count_held(&t, NOW).await.unwrap(), u64::from(MAX));
    // Another tunnel's inbox is its own.
    store
        .hold_request(&held(&other, 1, NOW + 100), MAX, NOW)
        .await
        .unwrap();
    // Taken oldest first, whole, and gone once taken.
    let first = store.take_held(&t, NOW).await.unwrap().unwrap();
    assert_eq!((first.seq, first.path.as_str()), (seqs[0], "/hook/1"));
    assert_eq!(first.body, b"body 1");
    assert_eq!(first.headers, vec![("x-n".to_owned(), "1".to_owned())]);
    assert_eq!(first.request_id, format!("{t}-h1"));
    // Room again: the newcomer goes after those still held.
    let fourth = store
        .hold_request(&held(&t, 4, NOW + 100), MAX, NOW)
        .await
        .unwrap();
    assert!(fourth > seqs[2]);
    let order: Vec<String> = [
        store.take_held(&t, NOW).await.unwrap(),
        store.take_held(&t, NOW).await.unwrap(),
        store.take_held(&t, NOW).await.unwrap(),
    ]
    .into_iter()
    .map(|h| h.unwrap().path)
    .collect();
    assert_eq!(order, ["/hook/2", "/hook/3", "/hook/4"]);
    assert_eq!(store.take_held(&t, NOW).await.unwrap(), None);
    assert_eq!(store.count_held(&other, NOW).await.unwrap(), 1);

    // Expiry at the edge: expires_at == now is expired, now + 1 is not; the expired
    // neither count against the limit nor come out.
    let e = format!("{p}-inbox-ttl");
    store
        .hold_request(&held(&e, 1, NOW), MAX, NOW - 1)
        .await
        .unwrap();
    store
        .hold_request(&held(&e, 2, NOW + 1), MAX, NOW - 1)
        .await
        .unwrap();
    assert_eq!(store.count_held(&e, NOW).await.unwrap(), 1);
    for n in 3..=u64::from(MAX) + 1 {
        store
            .hold_request(&held(&e, n, NOW + 1), MAX, NOW)
            .await
            .unwrap();
    }
    assert!(matches!(
        store.hold_request(&held(&e, 9, NOW + 1), MAX, NOW).await,
        Err(StoreError::InboxFull(MAX))
    ));
    let next = store.take_held(&e, NOW).await.unwrap().unwrap();
    assert_eq!(next.path, "/hook/2");
    assert_eq!(store.count_held(&e, NOW + 1).await.unwrap(), 0);
    assert_eq!(store.take_held(&e, NOW + 1).await.unwrap(), None);
}
