#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

//! The behaviour every [`Store`] adapter must show, as one suite.
//!
//! Each adapter's tests call [`run`] on a fresh, empty store; a failure panics with the
//! rule that broke. Ids are made unique per run so the suite can share a table.

use super::{Store, StoreError};

mod inbox;
mod log;

use crate::model::{ClientRecord, ConnectionRecord, TunnelRecord};
pub use inbox::held;
use inbox::inbox;
use log::request_log;
pub use log::{SUITE_KEEP, exchange};

fn tunnel(prefix: &str, n: u64, client: &str, domain: &str) -> TunnelRecord {
    TunnelRecord {
        tunnel_id: format!("{prefix}-t{n}"),
        client_id: client.to_owned(),
        domain: domain.to_owned(),
        created_at: 1_000 + n,
        connection_id: None,
        redact_secrets: true,
        policy: None,
        expires_at: None,
    }
}

/// The suite's clock, seconds since the Unix epoch: every call is made "at" a time
/// the test picks, so expiry is tested at its edge without waiting.
const NOW: u64 = 1_700_000_000;

/// The inactive TTL the suite uses (the stores take expiry times, not the TTL).
const TTL: u64 = crate::model::INACTIVE_TUNNEL_TTL_SECS;

/// Runs the whole suite; `prefix` keeps this run's ids apart from others'.
pub async fn run(store: &dyn Store, prefix: &str) {
    clients(store, prefix).await;
    domains_are_exclusive(store, prefix).await;
    listing_is_per_client_and_ordered(store, prefix).await;
    delete_releases_the_domain(store, prefix).await;
    connections_bind_one_at_a_time(store, prefix).await;
    inactive_tunnels_expire(store, prefix).await;
    expired_domains_are_free(store, prefix).await;
    connection_records(store, prefix).await;
    policies_are_stored_and_replaced(store, prefix).await;
    request_log(store, prefix).await;
    inbox(store, prefix).await;
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
    assert_eq!(
        store.get_client(&c.client_id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(store.get_client(&format!("{p}-none")).await.unwrap(), None);
    store
        .set_client_key(&c.client_id, "h2")
        .await
        .expect("set_client_key");
    assert_eq!(
        store
            .get_client(&c.client_id)
            .await
            .unwrap()
            .unwrap()
            .key_hash,
        "h2",
        "a new key replaces the old"
    );
    assert!(
        matches!(
            store.set_client_key(&format!("{p}-none"), "h").await,
            Err(StoreError::NotFound(_))
        ),
        "no key for a client that does not exist (and no record made)"
    );
    assert_eq!(store.get_client(&format!("{p}-none")).await.unwrap(), None);
}

async fn domains_are_exclusive(store: &dyn Store, p: &str) {
    let d = format!("{p}-excl");
    let a = tunnel(p, 1, "ca", &d);
    let b = tunnel(p, 2, "cb", &d);
    store
        .create_tunnel(&a, NOW)
        .await
        .expect("first claim wins");
    assert!(
        matches!(store.create_tunnel(&b, NOW).await, Err(StoreError::DomainTaken(x)) if x == d),
        "a second tunnel cannot take a held domain"
    );
    assert_eq!(
        store.get_tunnel(&b.tunnel_id, NOW).await.unwrap(),
        None,
        "a refused claim leaves no tunnel behind"
    );
    let claim = store
        .get_domain(&d, NOW)
        .await
        .unwrap()
        .expect("claim stored");
    assert_eq!(claim.tunnel_id, a.tunnel_id);
    assert_eq!(claim.client_id, "ca");
}

async fn listing_is_per_client_and_ordered(store: &dyn Store, p: &str) {
    let owner = format!("{p}-lister");
    // Inserted out of order: listing follows creation time, not insertion.
    for n in [13, 11, 12] {
        store
            .create_tunnel(&tunnel(p, n, &owner, &format!("{p}-list{n}")), NOW)
            .await
            .unwrap();
    }
    store
        .create_tunnel(
            &tunnel(p, 14, &format!("{owner}x"), &format!("{p}-list14")),
            NOW,
        )
        .await
        .unwrap();
    let ids: Vec<_> = store
        .list_tunnels(&owner, NOW)
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

async fn policies_are_stored_and_replaced(store: &dyn Store, p: &str) {
    let mut t = tunnel(p, 41, "c", &format!("{p}-pol"));
    let policy = crate::handlers::policy::to_stored(&client_core::policy::Policy {
        basic_auth: Some("u:p".into()),
        share_token: Some("token-123".into()),
        allow_ips: vec!["10.0.0.0/8".into(), "::1".into()],
        // A named scheme with its tolerance: both stores keep every webhook setting.
        webhook: Some(client_core::policy::Webhook {
            tolerance_secs: Some(120),
            ..client_core::policy::Webhook::of(
                client_core::policy::WebhookProvider::Stripe,
                "whsec_s",
            )
        }),
        inbox: Some(client_core::policy::Inbox {
            status: Some(200),
            ..Default::default()
        }),
    })
    .unwrap();
    t.policy = policy.clone();
    store.create_tunnel(&t, NOW).await.unwrap();
    assert_eq!(
        store.get_tunnel(&t.tunnel_id, NOW).await.unwrap(),
        Some(t.clone())
    );
    store.set_policy(&t.tunnel_id, None).await.unwrap();
    t.policy = None;
    assert_eq!(
        store.get_tunnel(&t.tunnel_id, NOW).await.unwrap(),
        Some(t.clone())
    );
    store
        .set_policy(&t.tunnel_id, policy.as_ref())
        .await
        .unwrap();
    t.policy = policy;
    assert_eq!(
        store.get_tunnel(&t.tunnel_id, NOW).await.unwrap(),
        Some(t.clone())
    );
    assert!(matches!(
        store.set_policy(&format!("{p}-nope"), None).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_tunnel(&t).await.unwrap();
}

async fn delete_releases_the_domain(store: &dyn Store, p: &str) {
    let d = format!("{p}-del");
    let a = tunnel(p, 21, "c", &d);
    store.create_tunnel(&a, NOW).await.unwrap();
    store.delete_tunnel(&a).await.unwrap();
    assert_eq!(store.get_tunnel(&a.tunnel_id, NOW).await.unwrap(), None);
    assert_eq!(store.get_domain(&d, NOW).await.unwrap(), None);
    assert!(store.list_tunnels("c", NOW).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_tunnel(&a).await,
        Err(StoreError::NotFound(_))
    ));
    let b = tunnel(p, 22, "c2", &d);
    store
        .create_tunnel(&b, NOW)
        .await
        .expect("a released domain can be claimed again");
}

async fn connections_bind_one_at_a_time(store: &dyn Store, p: &str) {
    let t = tunnel(p, 31, "c", &format!("{p}-conn"));
    store.create_tunnel(&t, NOW).await.unwrap();
    store
        .attach_connection(&t.tunnel_id, "k1", NOW)
        .await
        .unwrap();
    store
        .attach_connection(&t.tunnel_id, "k1", NOW)
        .await
        .expect("re-attaching the same connection is harmless");
    assert!(matches!(
        store.attach_connection(&t.tunnel_id, "k2", NOW).await,
        Err(StoreError::TunnelInUse(_))
    ));
    store
        .detach_connection(&t.tunnel_id, "k2", NOW + TTL)
        .await
        .expect("detaching a stranger is a no-op");
    let read = store.get_tunnel(&t.tunnel_id, NOW).await.unwrap().unwrap();
    assert_eq!(read.connection_id.as_deref(), Some("k1"));
    store
        .detach_connection(&t.tunnel_id, "k1", NOW + TTL)
        .await
        .unwrap();
    store
        .attach_connection(&t.tunnel_id, "k2", NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .attach_connection(&format!("{p}-missing"), "k", NOW)
            .await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_tunnel(&t).await.unwrap();
    store
        .detach_connection(&t.tunnel_id, "k2", NOW + TTL)
        .await
        .expect("detaching from a deleted tunnel is a no-op");
}

async fn connection_records(store: &dyn Store, p: &str) {
    let c = ConnectionRecord {
        connection_id: format!("{p}-k9"),
        client_id: "c".into(),
        tunnel_id: Some("t".into()),
        connected_at: 5,
        body_urls: false,
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

/// Detach starts the clock, attach stops it; an inactive tunnel lives until the second
/// it expires and reads as absent from then on, whether or not the adapter has
/// removed it yet (DynamoDB's TTL deletes days late).
async fn inactive_tunnels_expire(store: &dyn Store, p: &str) {
    let owner = format!("{p}-expirer");
    let d = format!("{p}-exp");
    let t = tunnel(p, 51, &owner, &d);
    store.create_tunnel(&t, NOW).await.unwrap();
    store
        .attach_connection(&t.tunnel_id, "k1", NOW)
        .await
        .unwrap();
    let online = store.get_tunnel(&t.tunnel_id, NOW).await.unwrap().unwrap();
    assert_eq!(online.expires_at, None, "an active tunnel does not expire");
    store
        .detach_connection(&t.tunnel_id, "k1", NOW + TTL)
        .await
        .unwrap();
    let last = NOW + TTL - 1;
    let kept = store.get_tunnel(&t.tunnel_id, last).await.unwrap();
    assert_eq!(
        kept.as_ref().and_then(|t| t.expires_at),
        Some(NOW + TTL),
        "detach records when it expires"
    );
    assert_eq!(kept.unwrap().connection_id, None);
    assert_eq!(
        store
            .get_domain(&d, last)
            .await
            .unwrap()
            .map(|c| c.expires_at),
        Some(Some(NOW + TTL)),
        "the claim expires with its tunnel"
    );
    assert_eq!(store.list_tunnels(&owner, last).await.unwrap().len(), 1);
    // A second before expiry the owner comes back: the clock stops.
    store
        .attach_connection(&t.tunnel_id, "k2", last)
        .await
        .unwrap();
    let back = store
        .get_tunnel(&t.tunnel_id, NOW + 10 * TTL)
        .await
        .unwrap();
    assert_eq!(back.map(|t| t.expires_at), Some(None), "attach clears it");
    assert_eq!(
        store
            .get_domain(&d, NOW + 10 * TTL)
            .await
            .unwrap()
            .map(|c| c.expires_at),
        Some(None),
        "and the claim's"
    );
    // Gone again; exactly at the expiry it reads as absent everywhere.
    let later = NOW + 20 * TTL;
    store
        .detach_connection(&t.tunnel_id, "k2", later + TTL)
        .await
        .unwrap();
    let at = later + TTL;
    assert!(
        store
            .get_tunnel(&t.tunnel_id, at - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.get_tunnel(&t.tunnel_id, at).await.unwrap(), None);
    assert_eq!(store.get_domain(&d, at).await.unwrap(), None);
    assert!(store.list_tunnels(&owner, at).await.unwrap().is_empty());
    assert!(
        matches!(
            store.attach_connection(&t.tunnel_id, "k3", at).await,
            Err(StoreError::NotFound(_))
        ),
        "an expired tunnel cannot be brought back"
    );
}

/// A domain held by an expired tunnel is free to claim, and not a second before.
async fn expired_domains_are_free(store: &dyn Store, p: &str) {
    let d = format!("{p}-expd");
    let mut old = tunnel(p, 61, "c-old", &d);
    old.expires_at = Some(NOW + TTL);
    store.create_tunnel(&old, NOW).await.unwrap();
    let new = tunnel(p, 62, "c-new", &d);
    assert!(
        matches!(
            store.create_tunnel(&new, NOW + TTL - 1).await,
            Err(StoreError::DomainTaken(_))
        ),
        "held until the second it expires"
    );
    store
        .create_tunnel(&new, NOW + TTL)
        .await
        .expect("an expired tunnel's domain is free");
    let claim = store.get_domain(&d, NOW + TTL).await.unwrap().unwrap();
    assert_eq!(claim.tunnel_id, new.tunnel_id);
    assert_eq!(claim.expires_at, None);
    assert_eq!(
        store.get_tunnel(&old.tunnel_id, NOW + TTL).await.unwrap(),
        None
    );
    // The old tunnel's late detach must not touch the new claim.
    store
        .detach_connection(&old.tunnel_id, "k", NOW + 3 * TTL)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_domain(&d, NOW + 2 * TTL)
            .await
            .unwrap()
            .map(|c| c.tunnel_id),
        Some(new.tunnel_id.clone())
    );
    store.delete_tunnel(&new).await.unwrap();
}
