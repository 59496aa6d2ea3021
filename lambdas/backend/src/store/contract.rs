#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

//! The behaviour every [`Store`] adapter must show, as one suite.
//!
//! Each adapter's tests call [`run`] on a fresh, empty store; a failure panics with the
//! rule that broke. Ids are made unique per run so the suite can share a table.

use client_core::inbox::HeldRequest;
use client_core::inspect::{
    CapturedBody, Exchange, Filter, Message, Outcome, ResponseRecord, Timings,
};

use super::{LogQuery, Store, StoreError};
use crate::model::{ClientRecord, ConnectionRecord, TunnelRecord};

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

async fn inbox(store: &dyn Store, p: &str) {
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

/// How many exchanges the request-log rules keep per tunnel in the suite.
pub const SUITE_KEEP: usize = 5;

/// An exchange of tunnel `tunnel` received at `ms`, answered with `status`.
pub fn exchange(tunnel: &str, ms: u64, method: &str, path: &str, status: u16) -> Exchange {
    Exchange {
        request_id: crate::handlers::inspect::new_request_id(ms),
        tunnel_id: tunnel.to_owned(),
        replay_of: None,
        inbox_of: None,
        method: method.to_owned(),
        path: path.to_owned(),
        remote_addr: "127.0.0.1:1".into(),
        request: Message {
            headers: vec![("host".into(), "x".into())],
            body: CapturedBody::full(b"in".to_vec()),
        },
        response: Some(ResponseRecord {
            status,
            headers: vec![],
            body: CapturedBody::full(vec![7; 3]),
        }),
        outcome: Outcome::Completed,
        timings: Timings {
            received_ms: ms,
            done_ms: Some(ms + 1),
            ..Timings::default()
        },
    }
}

async fn page(
    store: &dyn Store,
    tunnel: &str,
    before: Option<&str>,
    filter: &Filter,
    limit: usize,
) -> super::LogPage {
    store
        .list_exchanges(LogQuery {
            tunnel_id: tunnel,
            before,
            filter,
            limit,
        })
        .await
        .expect("list_exchanges")
}

async fn request_log(store: &dyn Store, p: &str) {
    let (t1, t2) = (format!("{p}-log1"), format!("{p}-log2"));
    let all = Filter::default();
    assert!(page(store, &t1, None, &all, 10).await.exchanges.is_empty());
    assert_eq!(store.count_exchanges(&t1).await.unwrap(), 0);

    // Filled exactly to the bound: nothing dropped.
    let xs: Vec<Exchange> = (0..SUITE_KEEP as u64)
        .map(|i| {
            let method = if i % 2 == 0 { "GET" } else { "POST" };
            exchange(
                &t1,
                1_000 + i,
                method,
                &format!("/p{i}"),
                200 + 200 * (i % 2) as u16,
            )
        })
        .collect();
    store
        .put_exchanges(&xs[..2], SUITE_KEEP)
        .await
        .expect("put");
    store
        .put_exchanges(&xs[2..], SUITE_KEEP)
        .await
        .expect("put");
    store
        .put_exchanges(&[exchange(&t2, 1_000, "GET", "/other", 200)], SUITE_KEEP)
        .await
        .expect("put");
    let got = page(store, &t1, None, &all, 10).await;
    let ids: Vec<_> = got.exchanges.iter().map(|s| s.request_id.clone()).collect();
    let mut want: Vec<_> = xs.iter().map(|x| x.request_id.clone()).collect();
    want.reverse();
    assert_eq!(
        ids, want,
        "a tunnel's log lists its own exchanges, newest first"
    );
    assert_eq!(got.next, None);
    assert_eq!(
        store
            .get_exchange(&t1, &xs[0].request_id)
            .await
            .unwrap()
            .as_ref(),
        Some(&xs[0]),
        "an exchange reads back whole"
    );
    assert_eq!(
        store.get_exchange(&t2, &xs[0].request_id).await.unwrap(),
        None,
        "an exchange is found only in its own tunnel's log"
    );

    // Cursor paging: pages of 2 cover the log once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let pg = page(store, &t1, cursor.as_deref(), &all, 2).await;
        assert!(pg.exchanges.len() <= 2);
        seen.extend(pg.exchanges.iter().map(|s| s.request_id.clone()));
        match pg.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, want, "pages cover the log once");

    // Filters.
    let posts = Filter::from_query("method=post").unwrap();
    assert!(
        page(store, &t1, None, &posts, 10)
            .await
            .exchanges
            .iter()
            .all(|s| s.method == "POST")
    );
    assert_eq!(page(store, &t1, None, &posts, 10).await.exchanges.len(), 2);
    let fours = Filter::from_query("status=4xx").unwrap();
    assert_eq!(page(store, &t1, None, &fours, 10).await.exchanges.len(), 2);
    let prefix = Filter::from_query("path_prefix=/p1").unwrap();
    assert_eq!(page(store, &t1, None, &prefix, 10).await.exchanges.len(), 1);

    // One past the bound: the oldest goes, with its body (where the bound is a count;
    // an adapter bounding by age tests its expiry itself).
    let newest = exchange(&t1, 2_000, "GET", "/new", 200);
    store
        .put_exchanges(std::slice::from_ref(&newest), SUITE_KEEP)
        .await
        .expect("put");
    let got = page(store, &t1, None, &all, 10).await;
    assert_eq!(got.exchanges[0].request_id, newest.request_id);
    let count = store.count_exchanges(&t1).await.unwrap();
    if store.bounds_log_by_count() {
        assert_eq!(got.exchanges.len(), SUITE_KEEP, "the log stays bounded");
        assert!(
            got.exchanges
                .iter()
                .all(|s| s.request_id != xs[0].request_id)
        );
        assert_eq!(
            store.get_exchange(&t1, &xs[0].request_id).await.unwrap(),
            None
        );
        assert_eq!(count, SUITE_KEEP as u64);
    } else {
        assert_eq!(got.exchanges.len(), SUITE_KEEP + 1);
        assert_eq!(count, SUITE_KEEP as u64 + 1);
    }

    // Clearing one tunnel leaves the other alone.
    store.clear_exchanges(&t1).await.expect("clear");
    assert!(page(store, &t1, None, &all, 10).await.exchanges.is_empty());
    assert_eq!(store.count_exchanges(&t1).await.unwrap(), 0);
    assert_eq!(
        store.get_exchange(&t1, &newest.request_id).await.unwrap(),
        None
    );
    assert_eq!(page(store, &t2, None, &all, 10).await.exchanges.len(), 1);
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
