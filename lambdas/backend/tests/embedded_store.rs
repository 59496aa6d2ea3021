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
            .put_exchanges(vec![exchange(&t.tunnel_id, 1)], 10)
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
    // The file too: the log written behind does not bring the swept one back.
    store.flush_log().unwrap();
    assert_eq!(store.logged_in_file("t1").unwrap(), 0);
    assert_eq!(store.logged_in_file("t2").unwrap(), 1);
}

/// Claiming an expired tunnel's domain removes that tunnel and what it held at once,
/// so its log and inbox never pass to the new owner's view.
#[tokio::test]
async fn claiming_an_expired_domain_removes_the_old_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let old = record("t1", "name", Some(NOW + TTL));
    store.create_tunnel(&old, NOW).await.unwrap();
    store
        .put_exchanges(vec![exchange("t1", 1)], 10)
        .await
        .unwrap();
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

fn with_bodies(tunnel_id: &str, n: u64) -> Exchange {
    let mut x = exchange(tunnel_id, n);
    x.request.body = client_core::inspect::CapturedBody::full(vec![n as u8; 100 + n as usize]);
    x.path = format!("/{n}");
    x
}

async fn paths(store: &EmbeddedStore, tunnel_id: &str) -> Vec<String> {
    let page = store
        .list_exchanges(tunnel_backend::store::LogQuery {
            tunnel_id,
            before: None,
            filter: &client_core::inspect::Filter::default(),
            limit: 100,
        })
        .await
        .expect("list_exchanges");
    page.exchanges.into_iter().map(|s| s.path).collect()
}

/// Closing the store writes the log held in memory; reopened, the log lists the
/// same and each exchange reads back whole from the file.
#[tokio::test]
async fn the_request_log_survives_reopening_whole() {
    let dir = tempfile::tempdir().unwrap();
    let xs: Vec<_> = (1..=4).map(|n| with_bodies("t1", n)).collect();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put_exchanges(xs[..2].to_vec(), 3).await.unwrap();
        store.flush_log().unwrap();
        // The third and fourth only in memory at close; the first pushed out.
        store.put_exchanges(xs[2..].to_vec(), 3).await.unwrap();
        store
            .put_exchanges(vec![with_bodies("t2", 9)], 3)
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(paths(&store, "t1").await, ["/4", "/3", "/2"]);
    assert_eq!(
        store.logged_in_file("t1").unwrap(),
        3,
        "the oldest was trimmed"
    );
    assert_eq!(store.count_exchanges("t1").await.unwrap(), 3);
    for x in &xs[1..] {
        let got = store.get_exchange("t1", &x.request_id).await.unwrap();
        assert_eq!(got.as_ref(), Some(x));
    }
    assert_eq!(
        store.get_exchange("t1", &xs[0].request_id).await.unwrap(),
        None
    );
    assert_eq!(paths(&store, "t2").await, ["/9"]);
}

/// The writer thread writes the log within the write-behind window, unasked.
#[tokio::test]
async fn the_log_is_written_behind_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store
        .put_exchanges(vec![exchange("t1", 1)], 10)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let window = std::time::Duration::from_millis(tunnel_backend::store::LOG_WRITE_BEHIND_MS);
    while store.logged_in_file("t1").unwrap() == 0 {
        assert!(
            started.elapsed() < 5 * window,
            "not written after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A cleared log stays cleared in the file, whether it had been written or not.
#[tokio::test]
async fn a_cleared_log_stays_gone_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .put_exchanges(vec![exchange("t1", 1)], 10)
            .await
            .unwrap();
        store.flush_log().unwrap();
        store
            .put_exchanges(vec![exchange("t2", 1)], 10)
            .await
            .unwrap();
        store.clear_exchanges("t1").await.unwrap();
        store.clear_exchanges("t2").await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.count_exchanges("t1").await.unwrap(), 0);
    assert_eq!(store.count_exchanges("t2").await.unwrap(), 0);
    assert_eq!(store.logged_in_file("t2").unwrap(), 0);
}
