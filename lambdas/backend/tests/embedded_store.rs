//! The embedded store passes the store contract and keeps its data across reopening.

use tunnel_backend::model::{ClientRecord, TunnelRecord};
use tunnel_backend::store::{EmbeddedStore, Store, contract};

#[tokio::test]
async fn embedded_store_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    contract::run(&store, "e").await;
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
        store.create_tunnel(&tunnel).await.unwrap();
        store.attach_connection("t1", "k1").await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(store.get_client("c1").await.unwrap().is_some());
    assert_eq!(
        store.get_domain("keep").await.unwrap().unwrap().tunnel_id,
        "t1"
    );
    store.detach_all().unwrap();
    let t = store.get_tunnel("t1").await.unwrap().unwrap();
    assert_eq!(t.connection_id, None, "a fresh process has no connections");
    assert_eq!(store.list_tunnels("c1").await.unwrap(), vec![t]);
}
