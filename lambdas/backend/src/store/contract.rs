#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

//! The behaviour every [`Store`] adapter must show, as one suite.
//!
//! Each adapter's tests call [`run`] on a fresh, empty store; a failure panics with the
//! rule that broke. Ids are made unique per run so the suite can share a table.

use super::{Store, StoreError};
use crate::model::{ClientRecord, ConnectionRecord, TunnelRecord};

fn tunnel(prefix: &str, n: u64, client: &str, domain: &str) -> TunnelRecord {
    TunnelRecord {
        tunnel_id: format!("{prefix}-t{n}"),
        client_id: client.to_owned(),
        domain: domain.to_owned(),
        created_at: 1_000 + n,
        connection_id: None,
    }
}

/// Runs the whole suite; `prefix` keeps this run's ids apart from others'.
pub async fn run(store: &dyn Store, prefix: &str) {
    clients(store, prefix).await;
    domains_are_exclusive(store, prefix).await;
    listing_is_per_client_and_ordered(store, prefix).await;
    delete_releases_the_domain(store, prefix).await;
    connections_bind_one_at_a_time(store, prefix).await;
    connection_records(store, prefix).await;
}

async fn clients(store: &dyn Store, p: &str) {
    let c = ClientRecord {
        client_id: format!("{p}-c1"),
        key_hash: "h".into(),
        created_at: 7,
    };
    store.put_client(&c).await.expect("put_client");
    assert!(
        matches!(store.put_client(&c).await, Err(StoreError::Exists(_))),
        "a client id cannot be registered twice"
    );
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), Some(c));
    assert_eq!(store.get_client(&format!("{p}-none")).await.unwrap(), None);
}

async fn domains_are_exclusive(store: &dyn Store, p: &str) {
    let d = format!("{p}-excl");
    let a = tunnel(p, 1, "ca", &d);
    let b = tunnel(p, 2, "cb", &d);
    store.create_tunnel(&a).await.expect("first claim wins");
    assert!(
        matches!(store.create_tunnel(&b).await, Err(StoreError::DomainTaken(x)) if x == d),
        "a second tunnel cannot take a held domain"
    );
    assert_eq!(
        store.get_tunnel(&b.tunnel_id).await.unwrap(),
        None,
        "a refused claim leaves no tunnel behind"
    );
    let claim = store.get_domain(&d).await.unwrap().expect("claim stored");
    assert_eq!(claim.tunnel_id, a.tunnel_id);
    assert_eq!(claim.client_id, "ca");
}

async fn listing_is_per_client_and_ordered(store: &dyn Store, p: &str) {
    let owner = format!("{p}-lister");
    // Inserted out of order: listing follows creation time, not insertion.
    for n in [13, 11, 12] {
        store
            .create_tunnel(&tunnel(p, n, &owner, &format!("{p}-list{n}")))
            .await
            .unwrap();
    }
    store
        .create_tunnel(&tunnel(p, 14, &format!("{owner}x"), &format!("{p}-list14")))
        .await
        .unwrap();
    let ids: Vec<_> = store
        .list_tunnels(&owner)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.tunnel_id)
        .collect();
    assert_eq!(
        ids,
        [11, 12, 13].map(|n| format!("{p}-t{n}")),
        "only the owner's tunnels, oldest first"
    );
}

async fn delete_releases_the_domain(store: &dyn Store, p: &str) {
    let d = format!("{p}-del");
    let a = tunnel(p, 21, "c", &d);
    store.create_tunnel(&a).await.unwrap();
    store.delete_tunnel(&a).await.unwrap();
    assert_eq!(store.get_tunnel(&a.tunnel_id).await.unwrap(), None);
    assert_eq!(store.get_domain(&d).await.unwrap(), None);
    assert!(store.list_tunnels("c").await.unwrap().is_empty());
    assert!(matches!(
        store.delete_tunnel(&a).await,
        Err(StoreError::NotFound(_))
    ));
    let b = tunnel(p, 22, "c2", &d);
    store
        .create_tunnel(&b)
        .await
        .expect("a released domain can be claimed again");
}

async fn connections_bind_one_at_a_time(store: &dyn Store, p: &str) {
    let t = tunnel(p, 31, "c", &format!("{p}-conn"));
    store.create_tunnel(&t).await.unwrap();
    store.attach_connection(&t.tunnel_id, "k1").await.unwrap();
    store
        .attach_connection(&t.tunnel_id, "k1")
        .await
        .expect("re-attaching the same connection is harmless");
    assert!(matches!(
        store.attach_connection(&t.tunnel_id, "k2").await,
        Err(StoreError::TunnelInUse(_))
    ));
    store
        .detach_connection(&t.tunnel_id, "k2")
        .await
        .expect("detaching a stranger is a no-op");
    let now = store.get_tunnel(&t.tunnel_id).await.unwrap().unwrap();
    assert_eq!(now.connection_id.as_deref(), Some("k1"));
    store.detach_connection(&t.tunnel_id, "k1").await.unwrap();
    store.attach_connection(&t.tunnel_id, "k2").await.unwrap();
    assert!(matches!(
        store.attach_connection(&format!("{p}-missing"), "k").await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_tunnel(&t).await.unwrap();
    store
        .detach_connection(&t.tunnel_id, "k2")
        .await
        .expect("detaching from a deleted tunnel is a no-op");
}

async fn connection_records(store: &dyn Store, p: &str) {
    let c = ConnectionRecord {
        connection_id: format!("{p}-k9"),
        client_id: "c".into(),
        tunnel_id: Some("t".into()),
        connected_at: 5,
    };
    store.put_connection(&c).await.unwrap();
    assert_eq!(
        store.get_connection(&c.connection_id).await.unwrap(),
        Some(c.clone())
    );
    store.delete_connection(&c.connection_id).await.unwrap();
    assert_eq!(store.get_connection(&c.connection_id).await.unwrap(), None);
    store
        .delete_connection(&c.connection_id)
        .await
        .expect("deleting twice is harmless");
}
