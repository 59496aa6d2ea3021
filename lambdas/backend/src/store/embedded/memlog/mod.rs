//! The request log in memory: each tunnel's last `keep` exchanges, which every read of
//! the log is served from, and the bookkeeping of what the file still lacks.
//!
//! No I/O here: the store puts exchanges in, and its log writer takes a [`Batch`] of
//! what to write out, writes it, and says so ([`MemLog::written`]). Recording an
//! exchange is a map insert; the file is written behind, once per
//! [`LOG_WRITE_BEHIND_MS`](super::LOG_WRITE_BEHIND_MS), and an exchange that is pushed
//! out of its log before then is never written at all. So the log's cost on disk is at
//! most `keep` exchanges per tunnel and per write-behind window, whatever the traffic.
//!
//! Memory is bounded three times: each log by `keep`; the whole exchanges (headers
//! and bodies) already in the file by a byte budget, past which the oldest keep only
//! their summary here and are read from the file when asked for
//! ([`Lookup::InFile`]); and those not yet written by a second budget, past which a
//! new exchange is kept without its bodies (sizes kept, marked truncated), as the
//! inspector's queue does, so a writer slower than the traffic costs bodies, not
//! memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use client_core::inspect::{Exchange, ExchangeSummary, Filter};

use crate::store::LogPage;

/// One exchange of a log.
#[derive(Debug)]
struct Entry {
    summary: ExchangeSummary,
    /// The whole exchange, while it is held in memory. Always held until written.
    whole: Option<Arc<Exchange>>,
    /// Names this version of the entry: a put of the same request id makes a new one,
    /// so a write of the old version does not mark the new one written.
    seq: u64,
    /// What `whole` counts against the memory budget.
    weight: usize,
    /// In the file as it is now.
    written: bool,
}

/// One tunnel's log, by request id (request ids sort by time: first is oldest).
#[derive(Debug, Default)]
struct TunnelLog {
    entries: BTreeMap<String, Entry>,
    /// Written exchanges were pushed out since the last batch: the file holds rows
    /// below the oldest kept one.
    trim: bool,
}

/// What the file must lose of one tunnel's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Trim {
    /// Every row of the tunnel's log below this request id.
    Below(String),
    /// All of the tunnel's rows (the log keeps nothing).
    All,
}

/// What one write of the file does for one tunnel.
#[derive(Debug)]
pub(super) struct TunnelBatch {
    pub(super) tunnel_id: String,
    pub(super) trim: Option<Trim>,
    /// Exchanges to write, with the version of the entry each one is.
    pub(super) puts: Vec<(u64, Arc<Exchange>)>,
}

/// What the file lacks, taken by the log writer.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) tunnels: Vec<TunnelBatch>,
}

impl Batch {
    pub(super) fn is_empty(&self) -> bool {
        self.tunnels.is_empty()
    }

    /// Exchanges to write.
    pub(super) fn puts(&self) -> usize {
        self.tunnels.iter().map(|t| t.puts.len()).sum()
    }
}

/// Where an exchange asked for is.
#[derive(Debug)]
pub(super) enum Lookup {
    /// Here, whole.
    Whole(Arc<Exchange>),
    /// In the log, but only its summary is in memory: read it from the file.
    InFile,
    /// Not in the tunnel's log.
    Absent,
}

/// Every tunnel's recent exchanges.
#[derive(Debug)]
pub(super) struct MemLog {
    tunnels: HashMap<String, TunnelLog>,
    /// Tunnels with something the file lacks.
    dirty: HashSet<String>,
    /// Entries holding their whole exchange, oldest first: seq to (tunnel, request).
    held: BTreeMap<u64, (String, String)>,
    /// The sum of the held entries' weights.
    held_bytes: usize,
    /// Past this many bytes of whole exchanges, written ones keep only their summary.
    budget: usize,
    /// The weights of the entries not yet written.
    unwritten_bytes: usize,
    /// Past this many unwritten bytes, a new exchange comes in without its bodies.
    unwritten_budget: usize,
    /// Exchanges kept without their bodies for that reason.
    stripped: u64,
    next_seq: u64,
}

/// What a whole exchange costs in memory, roughly: its bodies, headers and strings.
pub(super) fn weight(x: &Exchange) -> usize {
    let headers =
        |h: &[(String, String)]| -> usize { h.iter().map(|(n, v)| n.len() + v.len() + 48).sum() };
    let response = x
        .response
        .as_ref()
        .map_or(0, |r| r.body.bytes.len() + headers(&r.headers));
    // The struct itself and its small strings.
    512 + x.path.len() + x.request.body.bytes.len() + headers(&x.request.headers) + response
}

impl MemLog {
    /// An empty log whose whole exchanges may use `budget` bytes once written and
    /// `unwritten_budget` bytes before.
    pub(super) fn new(budget: usize, unwritten_budget: usize) -> Self {
        Self {
            tunnels: HashMap::new(),
            dirty: HashSet::new(),
            held: BTreeMap::new(),
            held_bytes: 0,
            budget,
            unwritten_bytes: 0,
            unwritten_budget,
            stripped: 0,
            next_seq: 0,
        }
    }

    /// Adds an exchange the file already holds (read back at start), summary only.
    pub(super) fn load(&mut self, summary: ExchangeSummary) {
        let seq = self.seq();
        self.tunnels
            .entry(summary.tunnel_id.clone())
            .or_default()
            .entries
            .insert(
                summary.request_id.clone(),
                Entry {
                    summary,
                    whole: None,
                    seq,
                    weight: 0,
                    written: true,
                },
            );
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Appends exchanges to their tunnels' logs, each kept to its newest `keep`. A
    /// request id already in the log is replaced. Answers whether the whole exchanges
    /// held are now over the budget (the writer should write them out early).
    pub(super) fn put(&mut self, exchanges: &[Exchange], keep: usize) -> bool {
        for x in exchanges {
            let seq = self.seq();
            let mut x = x.clone();
            let mut weight = weight(&x);
            if self.unwritten_bytes + weight > self.unwritten_budget {
                crate::handlers::inspect::strip_bodies(&mut x);
                weight = self::weight(&x);
                self.stripped += 1;
            }
            self.unwritten_bytes += weight;
            let entry = Entry {
                summary: ExchangeSummary::from(&x),
                whole: Some(Arc::new(x)),
                seq,
                weight,
                written: false,
            };
            let (tunnel_id, request_id) = (&entry.summary.tunnel_id, &entry.summary.request_id);
            let (tunnel_id, request_id) = (tunnel_id.clone(), request_id.clone());
            let log = self.tunnels.entry(tunnel_id.clone()).or_default();
            if let Some(old) = log.entries.insert(request_id.clone(), entry) {
                self.unwritten_bytes -= unwritten(&old);
                unhold(&mut self.held, &mut self.held_bytes, &old);
            }
            self.held.insert(seq, (tunnel_id.clone(), request_id));
            self.held_bytes += weight;
            while log.entries.len() > keep {
                let Some((_, gone)) = log.entries.pop_first() else {
                    break;
                };
                log.trim |= gone.written;
                self.unwritten_bytes -= unwritten(&gone);
                unhold(&mut self.held, &mut self.held_bytes, &gone);
            }
            self.dirty.insert(tunnel_id);
        }
        self.held_bytes > self.budget
    }

    /// What the file lacks: the unwritten exchanges of each dirty tunnel, and the
    /// rows of exchanges pushed out since the last batch. Until [`Self::written`] or
    /// [`Self::failed`] is called with it, the same exchanges are not taken again.
    pub(super) fn take_batch(&mut self) -> Batch {
        let mut batch = Batch::default();
        for tunnel_id in std::mem::take(&mut self.dirty) {
            let Some(log) = self.tunnels.get_mut(&tunnel_id) else {
                continue;
            };
            let trim = std::mem::take(&mut log.trim).then(|| {
                log.entries
                    .first_key_value()
                    .map_or(Trim::All, |(id, _)| Trim::Below(id.clone()))
            });
            let puts: Vec<_> = log
                .entries
                .values()
                .filter(|e| !e.written)
                .filter_map(|e| e.whole.clone().map(|x| (e.seq, x)))
                .collect();
            if trim.is_some() || !puts.is_empty() {
                batch.tunnels.push(TunnelBatch {
                    tunnel_id,
                    trim,
                    puts,
                });
            }
        }
        batch
    }

    /// `batch` is in the file: its exchanges still in their logs (in the version
    /// written) are marked written, and whole exchanges past the budget, oldest
    /// first, keep only their summary.
    pub(super) fn written(&mut self, batch: &Batch) {
        for t in &batch.tunnels {
            let Some(log) = self.tunnels.get_mut(&t.tunnel_id) else {
                continue;
            };
            for (seq, x) in &t.puts {
                if let Some(e) = log.entries.get_mut(&x.request_id)
                    && e.seq == *seq
                    && !e.written
                {
                    e.written = true;
                    self.unwritten_bytes -= e.weight;
                }
            }
        }
        self.shed();
    }

    /// Writing `batch` failed: what it carried is still owed to the file.
    pub(super) fn failed(&mut self, batch: &Batch) {
        for t in &batch.tunnels {
            if let Some(log) = self.tunnels.get_mut(&t.tunnel_id) {
                log.trim |= t.trim.is_some();
                self.dirty.insert(t.tunnel_id.clone());
            }
        }
    }

    fn shed(&mut self) {
        while self.held_bytes > self.budget {
            let Some(entry) = self.held.first_entry() else {
                return;
            };
            let (tunnel_id, request_id) = entry.get();
            let e = self
                .tunnels
                .get_mut(tunnel_id)
                .and_then(|log| log.entries.get_mut(request_id));
            match e {
                // Not in the file yet: it and everything newer stay whole.
                Some(e) if !e.written => return,
                Some(e) => {
                    e.whole = None;
                    self.held_bytes -= e.weight;
                    e.weight = 0;
                    entry.remove();
                }
                None => {
                    entry.remove();
                }
            }
        }
    }

    /// Empties a tunnel's log (its rows are gone from the file already).
    pub(super) fn clear(&mut self, tunnel_id: &str) {
        if let Some(log) = self.tunnels.remove(tunnel_id) {
            for e in log.entries.values() {
                self.unwritten_bytes -= unwritten(e);
                unhold(&mut self.held, &mut self.held_bytes, e);
            }
        }
        self.dirty.remove(tunnel_id);
    }

    /// A page of a tunnel's log, newest first: the exchanges older than `before`
    /// that `filter` matches, at most `limit`.
    pub(super) fn list(
        &self,
        tunnel_id: &str,
        before: Option<&str>,
        filter: &Filter,
        limit: usize,
    ) -> LogPage {
        let mut page = LogPage::default();
        let Some(log) = self.tunnels.get(tunnel_id) else {
            return page;
        };
        let end = before.map_or(Bound::Unbounded, Bound::Excluded);
        for e in log
            .entries
            .range::<str, _>((Bound::Unbounded, end))
            .rev()
            .map(|(_, e)| e)
        {
            if !filter.matches_summary(&e.summary) {
                continue;
            }
            if page.exchanges.len() == limit {
                page.next = page.exchanges.last().map(|s| s.request_id.clone());
                break;
            }
            page.exchanges.push(e.summary.clone());
        }
        page
    }

    /// Where one exchange of a tunnel's log is.
    pub(super) fn get(&self, tunnel_id: &str, request_id: &str) -> Lookup {
        match self
            .tunnels
            .get(tunnel_id)
            .and_then(|log| log.entries.get(request_id))
        {
            Some(Entry { whole: Some(x), .. }) => Lookup::Whole(x.clone()),
            Some(_) => Lookup::InFile,
            None => Lookup::Absent,
        }
    }

    /// How many exchanges a tunnel's log holds.
    pub(super) fn count(&self, tunnel_id: &str) -> usize {
        self.tunnels.get(tunnel_id).map_or(0, |l| l.entries.len())
    }

    /// Exchanges kept without their bodies because the unwritten ones were past
    /// their budget.
    #[cfg(test)]
    pub(super) fn stripped(&self) -> u64 {
        self.stripped
    }

    /// Bytes of whole exchanges held.
    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.held_bytes
    }
}

/// What `e` counts against the unwritten budget.
fn unwritten(e: &Entry) -> usize {
    if e.written { 0 } else { e.weight }
}

/// Forgets that `e` held its whole exchange.
fn unhold(held: &mut BTreeMap<u64, (String, String)>, held_bytes: &mut usize, e: &Entry) {
    if e.whole.is_some() {
        held.remove(&e.seq);
        *held_bytes -= e.weight;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
        let batch = log.take_batch();
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
        assert!(log.take_batch().is_empty(), "nothing more is owed");
        assert_eq!(ids(&log.list("t", None, &Filter::default(), 10)), [5, 4]);
    }

    #[test]
    fn written_exchanges_pushed_out_are_trimmed_below_the_oldest_kept() {
        let mut log = MemLog::new(usize::MAX, usize::MAX);
        let xs: Vec<_> = (1..=4)
            .map(|ms| exchange("t", ms, "GET", "/", 200))
            .collect();
        log.put(&xs[..2], 2);
        let first = log.take_batch();
        log.written(&first);
        log.put(&xs[2..3], 2);
        let batch = log.take_batch();
        assert_eq!(
            batch.tunnels[0].trim,
            Some(Trim::Below(xs[1].request_id.clone()))
        );
        assert_eq!(batch.puts(), 1);
        // A failed write is owed again, trim and all.
        log.failed(&batch);
        let again = log.take_batch();
        assert_eq!(again.tunnels[0].trim, batch.tunnels[0].trim);
        assert_eq!(again.puts(), 1);
    }

    #[test]
    fn a_log_that_keeps_nothing_trims_everything() {
        let mut log = MemLog::new(usize::MAX, usize::MAX);
        let x = exchange("t", 1, "GET", "/", 200);
        log.put(std::slice::from_ref(&x), 1);
        let b = log.take_batch();
        log.written(&b);
        log.put(&[], 0);
        log.put(&[exchange("t", 2, "GET", "/", 200)], 0);
        let b = log.take_batch();
        assert_eq!(b.tunnels[0].trim, Some(Trim::All));
        assert_eq!(log.count("t"), 0);
    }

    #[test]
    fn a_replaced_entry_is_written_again_and_not_marked_by_the_older_write() {
        let mut log = MemLog::new(usize::MAX, usize::MAX);
        let x = exchange("t", 1, "GET", "/", 200);
        log.put(std::slice::from_ref(&x), 5);
        let old = log.take_batch();
        let mut newer = x.clone();
        newer.path = "/newer".into();
        log.put(std::slice::from_ref(&newer), 5);
        log.written(&old);
        let b = log.take_batch();
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
        let b = log.take_batch();
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
        let b = log.take_batch();
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
        let b = log.take_batch();
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
}
