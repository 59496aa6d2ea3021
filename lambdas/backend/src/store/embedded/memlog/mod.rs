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
//! memory. What goes into the file is bounded too: bodies at most at a rate
//! ([`BodyRate`]), past which an exchange is written without them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use client_core::inspect::{Exchange, ExchangeSummary, Filter};

use super::body_rate::BodyRate;
use crate::handlers::inspect::{body_bytes, without_bodies};
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
    /// How fast bodies may go into the file; past it an exchange is written without.
    body_rate: BodyRate,
    /// Exchanges written to the file without their bodies for that reason.
    left_out: u64,
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
            body_rate: BodyRate::new(u64::MAX),
            left_out: 0,
            next_seq: 0,
        }
    }

    /// The same log, writing at most `per_sec` bytes of bodies a second to the file
    /// (see [`BodyRate`]); unbounded otherwise.
    pub(super) fn with_body_rate(mut self, per_sec: u64) -> Self {
        self.body_rate = BodyRate::new(per_sec);
        self
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
    pub(super) fn put(&mut self, exchanges: Vec<Exchange>, keep: usize) -> bool {
        for mut x in exchanges {
            let seq = self.seq();
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

    /// What the file lacks at `now_ms` (monotonic): the unwritten exchanges of each
    /// dirty tunnel, and the rows of exchanges pushed out since the last batch. An
    /// exchange whose bodies are past the body rate goes without them (newest first
    /// get theirs: they stay in the log longest). Until [`Self::written`] or
    /// [`Self::failed`] is called with it, the same exchanges are not taken again.
    pub(super) fn take_batch(&mut self, now_ms: u64) -> Batch {
        self.body_rate.refill(now_ms);
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
            let mut puts = Vec::new();
            for e in log.entries.values().rev().filter(|e| !e.written) {
                let Some(x) = &e.whole else { continue };
                if self.body_rate.take(body_bytes(x) as u64) {
                    puts.push((e.seq, x.clone()));
                } else {
                    self.left_out += 1;
                    puts.push((e.seq, Arc::new(without_bodies(x))));
                }
            }
            // Oldest first again: in key order, the file's inserts are appends.
            puts.reverse();
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

    /// Exchanges written to the file without their bodies, past the body rate.
    #[cfg(test)]
    pub(super) fn left_out(&self) -> u64 {
        self.left_out
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
mod tests;
