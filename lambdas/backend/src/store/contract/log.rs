//! The request-log rules: newest first, paged, filtered, trimmed to its keep.

use client_core::inspect::{
    CapturedBody, Exchange, Filter, Message, Outcome, ResponseRecord, Timings,
};

use super::super::{LogPage, LogQuery, Store};

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
) -> LogPage {
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

pub(super) async fn request_log(store: &dyn Store, p: &str) {
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
