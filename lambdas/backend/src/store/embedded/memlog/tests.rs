//! The log in memory on its own: what it keeps, what it owes the file, its budgets.
#![allow(clippy::unwrap_used)]

use client_core::inspect::{CapturedBody, Filter};

use super::*;
use crate::store::contract::exchange;

fn ids(page: &LogPage) -> Vec<u64> {
    page.exchanges.iter().map(|s| s.received_ms).collect()
}

fn whole(log: &MemLog, x: &Exchange) -> bool {
    matches!(log.get(&x.tunnel_id, &x.request_id), Lookup::Whole(_))
}

#[test]
fn an_exchange_pushed_out_before_the_write_is_never_written() {
    let mut log = MemLog::new(usize::MAX, usize::MAX);
    let xs: Vec<_> = (1..=5)
        .map(|ms| exchange("t", ms, "GET", "/", 200))
        .collect();
    log.put(&xs, 2);
    let batch = log.take_batch(0);
    assert_eq!(batch.tunnels.len(), 1);
    let written: Vec<_> = batch.tunnels[0]
        .puts
        .iter()
        .map(|(_, x)| x.timings.received_ms)
        .collect();
    assert_eq!(written, [4, 5], "only the two kept are written");
    assert_eq!(
        batch.tunnels[0].trim, None,
        "the file holds nothing to trim"
    );
    log.written(&batch);
    assert!(log.take_batch(0).is_empty(), "nothing more is owed");
    assert_eq!(ids(&log.list("t", None, &Filter::default(), 10)), [5, 4]);
}

#[test]
fn written_exchanges_pushed_out_are_trimmed_below_the_oldest_kept() {
    let mut log = MemLog::new(usize::MAX, usize::MAX);
    let xs: Vec<_> = (1..=4)
        .map(|ms| exchange("t", ms, "GET", "/", 200))
        .collect();
    log.put(&xs[..2], 2);
    let first = log.take_batch(0);
    log.written(&first);
    log.put(&xs[2..3], 2);
    let batch = log.take_batch(0);
    assert_eq!(
        batch.tunnels[0].trim,
        Some(Trim::Below(xs[1].request_id.clone()))
    );
    assert_eq!(batch.puts(), 1);
    // A failed write is owed again, trim and all.
    log.failed(&batch);
    let again = log.take_batch(0);
    assert_eq!(again.tunnels[0].trim, batch.tunnels[0].trim);
    assert_eq!(again.puts(), 1);
}

#[test]
fn a_log_that_keeps_nothing_trims_everything() {
    let mut log = MemLog::new(usize::MAX, usize::MAX);
    let x = exchange("t", 1, "GET", "/", 200);
    log.put(std::slice::from_ref(&x), 1);
    let b = log.take_batch(0);
    log.written(&b);
    log.put(&[], 0);
    log.put(&[exchange("t", 2, "GET", "/", 200)], 0);
    let b = log.take_batch(0);
    assert_eq!(b.tunnels[0].trim, Some(Trim::All));
    assert_eq!(log.count("t"), 0);
}

#[test]
fn a_replaced_entry_is_written_again_and_not_marked_by_the_older_write() {
    let mut log = MemLog::new(usize::MAX, usize::MAX);
    let x = exchange("t", 1, "GET", "/", 200);
    log.put(std::slice::from_ref(&x), 5);
    let old = log.take_batch(0);
    let mut newer = x.clone();
    newer.path = "/newer".into();
    log.put(std::slice::from_ref(&newer), 5);
    log.written(&old);
    let b = log.take_batch(0);
    assert_eq!(b.puts(), 1, "the newer version is still owed");
    assert_eq!(b.tunnels[0].puts[0].1.path, "/newer");
    assert_eq!(log.count("t"), 1);
}

#[test]
fn past_the_budget_the_oldest_written_exchanges_keep_only_their_summary() {
    let xs: Vec<_> = (1..=4)
        .map(|ms| exchange("t", ms, "GET", "/", 200))
        .collect();
    let each = weight(&xs[0]);
    // Room for exactly two whole exchanges.
    let mut log = MemLog::new(2 * each, usize::MAX);
    assert!(!log.put(&xs[..2], 10), "at the budget is not over it");
    assert!(log.put(&xs[2..3], 10), "one more is over");
    // Unwritten exchanges stay whole whatever the budget.
    assert!(xs[..3].iter().all(|x| whole(&log, x)));
    let b = log.take_batch(0);
    log.written(&b);
    assert!(!whole(&log, &xs[0]), "the oldest goes to the file only");
    assert!(matches!(log.get("t", &xs[0].request_id), Lookup::InFile));
    assert!(whole(&log, &xs[1]) && whole(&log, &xs[2]));
    assert_eq!(log.held_bytes(), 2 * each);
    assert_eq!(log.count("t"), 3, "its summary is still listed");
    // Pushed out of the log, an entry frees its share.
    log.put(&xs[3..], 1);
    assert_eq!(log.held_bytes(), each);
}

#[test]
fn past_the_unwritten_budget_an_exchange_comes_in_without_its_bodies() {
    let mut big = exchange("t", 1, "POST", "/", 200);
    big.request.body = CapturedBody::full(vec![1; 1000]);
    let each = weight(&big);
    let mut log = MemLog::new(usize::MAX, 2 * each);
    let xs: Vec<_> = (1..=3)
        .map(|ms| {
            let mut x = big.clone();
            x.request_id = exchange("t", ms, "POST", "/", 200).request_id;
            x
        })
        .collect();
    log.put(&xs[..2], 10);
    assert_eq!(log.stripped(), 0, "exactly at the budget: whole");
    log.put(&xs[2..], 10);
    assert_eq!(log.stripped(), 1);
    let Lookup::Whole(third) = log.get("t", &xs[2].request_id) else {
        panic!("held in memory")
    };
    assert!(third.request.body.bytes.is_empty() && third.request.body.truncated);
    assert_eq!(third.request.body.size, 1000, "its size is kept");
    // Written, the budget is free again.
    let b = log.take_batch(0);
    log.written(&b);
    let mut fourth = big.clone();
    fourth.request_id = exchange("t", 4, "POST", "/", 200).request_id;
    log.put(&[fourth], 10);
    assert_eq!(log.stripped(), 1);
}

#[test]
fn clearing_forgets_the_log_and_what_it_owed() {
    let mut log = MemLog::new(usize::MAX, usize::MAX);
    log.put(&[exchange("t", 1, "GET", "/", 200)], 5);
    log.put(&[exchange("u", 1, "GET", "/", 200)], 5);
    log.clear("t");
    assert_eq!(log.count("t"), 0);
    assert_eq!(log.held_bytes(), weight(&exchange("u", 1, "GET", "/", 200)));
    let b = log.take_batch(0);
    assert_eq!(b.tunnels.len(), 1);
    assert_eq!(b.tunnels[0].tunnel_id, "u");
}

#[test]
fn pages_follow_the_cursor_newest_first() {
    let mut log = MemLog::new(usize::MAX, usize::MAX);
    // Finished out of order: listed by request id (arrival), not by put order.
    let xs: Vec<_> = [3, 1, 2]
        .iter()
        .map(|&ms| exchange("t", ms, "GET", "/", 200))
        .collect();
    log.put(&xs, 10);
    let all = Filter::default();
    let first = log.list("t", None, &all, 2);
    assert_eq!(ids(&first), [3, 2]);
    let rest = log.list("t", first.next.as_deref(), &all, 2);
    assert_eq!(ids(&rest), [1]);
    assert_eq!(rest.next, None);
    // Trimmed by request id too: the oldest arrival goes.
    log.put(&[exchange("t", 4, "GET", "/", 200)], 3);
    assert_eq!(ids(&log.list("t", None, &all, 10)), [4, 3, 2]);
}

#[test]
fn bodies_past_the_rate_are_written_without_them_newest_first_keeping_theirs() {
    // Each exchange of the suite carries 2 + 3 body bytes; the rate allows two.
    let mut log = MemLog::new(usize::MAX, usize::MAX).with_body_rate(10);
    let xs: Vec<_> = (1..=3)
        .map(|ms| exchange("t", ms, "POST", "/", 200))
        .collect();
    log.put(&xs, 10);
    let batch = log.take_batch(0);
    let written: Vec<_> = batch.tunnels[0]
        .puts
        .iter()
        .map(|(_, x)| x.clone())
        .collect();
    let by_ms = |ms| {
        written
            .iter()
            .find(|x| x.timings.received_ms == ms)
            .unwrap()
    };
    assert_eq!(
        by_ms(3).request.body.bytes,
        b"in",
        "the newest keeps its bodies"
    );
    assert_eq!(by_ms(2).request.body.bytes, b"in");
    let oldest = by_ms(1);
    assert!(oldest.request.body.bytes.is_empty() && oldest.request.body.truncated);
    assert_eq!(oldest.request.body.size, 2, "the size stays");
    assert_eq!(log.left_out(), 1);
    log.written(&batch);
    assert!(
        whole(&log, &xs[0]),
        "memory still shows the bodies the file lacks"
    );

    // A second later the rate allows two more; a fourth at the edge, a fifth past.
    let more: Vec<_> = (4..=5)
        .map(|ms| exchange("t", ms, "POST", "/", 200))
        .collect();
    log.put(&more, 10);
    let batch = log.take_batch(999);
    assert_eq!(
        log.left_out(),
        2,
        "999 ms earned 9 bytes: one exchange of 5, not two"
    );
    log.written(&batch);
    log.put(&[exchange("t", 6, "POST", "/", 200)], 10);
    log.take_batch(1_000);
    assert_eq!(log.left_out(), 2, "1 ms more earned the byte that makes 5");
}
