//! The embedded store passes the store contract and keeps its data across reopening.

use client_core::inspect::Exchange;
use tunnel_backend::model::{ClientRecord, TunnelRecord};
use tunnel_backend::store::{EmbeddedStore, Store, contract};

#[tokio::test]
async fn embedded_store_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    contract::run(&store, "e").await;
    // The contract reads tunnels and claims from the routing table after each write;
    // this also finds a row the file has and the table lacks.
    store.check_routes().unwrap();
    let reads = store.read_transactions();
    store.get_domain("e-expd", NOW).await.unwrap();
    store.get_tunnel("e-t62", NOW).await.unwrap();
    assert_eq!(
        store.read_transactions(),
        reads,
        "tunnels and claims are read from memory"
    );
}

#[tokio::test]
async fn data_survives_reopening_and_connections_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let tunnel = TunnelRecord {
        tunnel_id: "t1".into(),
        client_id: "c1".into(),
        domain: "keep".into(),
        created_at: 1,
        connection_id: None,
        redact_secrets: true,
        policy: None,
        expires_at: None,
    };
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .put_client(&ClientRecord {
                client_id: "c1".into(),
                key_hash: "h".into(),
                created_at: 1,
            })
            .await
            .unwrap();
        store.create_tunnel(&tunnel, NOW).await.unwrap();
        store.attach_connection("t1", "k1", NOW).await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(store.get_client("c1").await.unwrap().is_some());
    assert_eq!(
        store
            .get_domain("keep", NOW)
            .await
            .unwrap()
            .unwrap()
            .tunnel_id,
        "t1"
    );
    store.detach_all(NOW + TTL).unwrap();
    let t = store.get_tunnel("t1", NOW).await.unwrap().unwrap();
    assert_eq!(t.connection_id, None, "a fresh process has no connections");
    assert_eq!(t.expires_at, Some(NOW + TTL), "so its tunnels are inactive");
    assert_eq!(
        store
            .get_domain("keep", NOW)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        Some(NOW + TTL)
    );
    assert_eq!(store.list_tunnels("c1", NOW).await.unwrap(), vec![t]);
    store.check_routes().unwrap();
}

const NOW: u64 = 1_700_000_000;
const TTL: u64 = tunnel_backend::model::INACTIVE_TUNNEL_TTL_SECS;

fn record(id: &str, domain: &str, expires_at: Option<u64>) -> TunnelRecord {
    TunnelRecord {
        tunnel_id: id.into(),
        client_id: "c1".into(),
        domain: domain.into(),
        created_at: 1,
        connection_id: None,
        redact_secrets: true,
        policy: None,
        expires_at,
    }
}

fn exchange(tunnel_id: &str, n: u64) -> Exchange {
    contract::exchange(tunnel_id, 1_000 + n, "GET", "/", 200)
}

/// The sweep removes what an expired tunnel held (record, claim, log, inbox) and
/// leaves a tunnel that has a second to go untouched.
#[tokio::test]
async fn the_sweep_removes_expired_tunnels_with_what_they_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let gone = record("t1", "gone", Some(NOW + TTL));
    let kept = record("t2", "kept", Some(NOW + TTL + 1));
    for t in [&gone, &kept] {
        store.create_tunnel(t, NOW).await.unwrap();
        store
            .put_exchanges(&[exchange(&t.tunnel_id, 1)], 10)
            .await
            .unwrap();
        store
            .hold_request(&contract::held(&t.tunnel_id, 1, u64::MAX), 10, NOW)
            .await
            .unwrap();
    }
    assert_eq!(store.sweep_expired(NOW + TTL).unwrap(), 1);
    // Read at a time both are live, to see what is really left in the file.
    assert_eq!(store.get_tunnel("t1", NOW).await.unwrap(), None);
    assert_eq!(store.get_domain("gone", NOW).await.unwrap(), None);
    assert_eq!(store.count_exchanges("t1").await.unwrap(), 0);
    assert_eq!(store.count_held("t1", NOW).await.unwrap(), 0);
    assert_eq!(store.list_tunnels("c1", NOW).await.unwrap(), vec![kept]);
    assert_eq!(store.count_exchanges("t2").await.unwrap(), 1);
    assert_eq!(store.count_held("t2", NOW).await.unwrap(), 1);
    store.check_routes().unwrap();
}

/// Claiming an expired tunnel's domain removes that tunnel and what it held at once,
/// so its log and inbox never pass to the new owner's view.
#[tokio::test]
async fn claiming_an_expired_domain_removes_the_old_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let old = record("t1", "name", Some(NOW + TTL));
    store.create_tunnel(&old, NOW).await.unwrap();
    store.put_exchanges(&[exchange("t1", 1)], 10).await.unwrap();
    let new = TunnelRecord {
        client_id: "c2".into(),
        ..record("t2", "name", None)
    };
    store.create_tunnel(&new, NOW + TTL).await.unwrap();
    assert_eq!(store.get_tunnel("t1", NOW).await.unwrap(), None);
    assert_eq!(store.count_exchanges("t1").await.unwrap(), 0);
    assert!(store.list_tunnels("c1", NOW).await.unwrap().is_empty());
    store.check_routes().unwrap();
}
