//! Counters of the local stack, served at `/metrics` in the Prometheus text format.
//! The names, labels and help lines are `tunnel_backend::telemetry`'s, which the
//! Lambda functions print as CloudWatch EMF too.
//!
//! Everything is a fixed set of atomics except the labelled counters, whose label
//! sets are bounded: tunnels that exist (unknown names share one label), status
//! classes, error kinds and limit scopes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tunnel_backend::telemetry::{
    self, ACTIVE_CONNECTIONS, ACTIVE_TUNNELS, BYTES_IN, BYTES_OUT, CONNECTIONS, DISCONNECTS,
    ERRORS, LATENCY_BUCKETS, Metric, PROXY_LATENCY, RATE_LIMITED, RECONNECTS, REQUESTS,
    STORE_READS, escape_label, prometheus_header,
};

pub use tunnel_backend::telemetry::status_class;

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str), u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    connections_total: AtomicU64,
    disconnects_total: AtomicU64,
    reconnects_total: AtomicU64,
    active_tunnels: AtomicI64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += 1;
}

impl Metrics {
    /// A public request for tunnel `domain` was answered with `status` after `latency`.
    pub fn request(&self, domain: &str, status: u16, latency: Duration) {
        bump(&self.requests, (domain.to_owned(), status_class(status)));
        let secs = latency.as_secs_f64();
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// A public request failed in way `kind` (see [`telemetry::error_kind`]).
    pub fn error(&self, kind: &'static str) {
        bump(&self.errors, kind);
    }

    /// A rate limit of `scope` refused a request.
    pub fn rate_limited(&self, scope: &'static str) {
        bump(&self.rate_limited, scope);
    }

    /// Body bytes received from public clients.
    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Body bytes sent to public clients.
    pub fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A client connection bound a tunnel; `resume` when the client says it served
    /// the tunnel on an earlier connection.
    pub fn tunnel_bound(&self, resume: bool) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.active_tunnels.fetch_add(1, Ordering::Relaxed);
        if resume {
            self.reconnects_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection that had bound a tunnel closed.
    pub fn tunnel_unbound(&self) {
        self.disconnects_total.fetch_add(1, Ordering::Relaxed);
        self.active_tunnels.fetch_sub(1, Ordering::Relaxed);
    }

    /// The text of `/metrics`, with the gauges and counters kept elsewhere: client
    /// connections open now (the hub's) and the store's read transactions.
    pub fn render(&self, active_connections: usize, store_reads: u64) -> String {
        let mut out = String::new();
        prometheus_header(&mut out, &REQUESTS);
        for ((tunnel, class), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "{}{{{}=\"{}\",{}=\"{class}\"}} {n}",
                REQUESTS.name,
                telemetry::TUNNEL,
                escape_label(tunnel),
                telemetry::STATUS_CLASS,
            );
        }
        let plain = |out: &mut String, metric: &Metric, v: i64| {
            prometheus_header(out, metric);
            let _ = writeln!(out, "{} {v}", metric.name);
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as i64;
        plain(&mut out, &BYTES_IN, load(&self.bytes_in));
        plain(&mut out, &BYTES_OUT, load(&self.bytes_out));

        prometheus_header(&mut out, &PROXY_LATENCY);
        let name = PROXY_LATENCY.name;
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");

        plain(
            &mut out,
            &ACTIVE_TUNNELS,
            self.active_tunnels.load(Ordering::Relaxed).max(0),
        );
        plain(&mut out, &ACTIVE_CONNECTIONS, active_connections as i64);
        plain(&mut out, &CONNECTIONS, load(&self.connections_total));
        plain(&mut out, &DISCONNECTS, load(&self.disconnects_total));
        plain(&mut out, &RECONNECTS, load(&self.reconnects_total));
        plain(&mut out, &STORE_READS, store_reads as i64);
        for (metric, label, map) in [
            (&RATE_LIMITED, telemetry::SCOPE, &self.rate_limited),
            (&ERRORS, telemetry::ERROR_KIND, &self.errors),
        ] {
            prometheus_header(&mut out, metric);
            for (value, n) in map.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = writeln!(out, "{}{{{label}=\"{value}\"}} {n}", metric.name);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("a", 200, Duration::from_millis(3));
        m.request("a", 204, Duration::from_millis(30));
        m.request("a", 502, Duration::from_secs(9));
        m.error("origin_refused");
        m.rate_limited(telemetry::SCOPE_TUNNEL);
        m.tunnel_bound(false);
        m.tunnel_unbound();
        m.tunnel_bound(true);
        let text = m.render(1, 7);
        assert!(
            text.contains("tunnel_requests_total{tunnel=\"a\",class=\"2xx\"} 2"),
            "{text}"
        );
        assert!(text.contains("tunnel_requests_total{tunnel=\"a\",class=\"5xx\"} 1"));
        assert!(text.contains("tunnel_proxy_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("tunnel_proxy_latency_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("tunnel_proxy_latency_seconds_bucket{le=\"5\"} 2"));
        assert!(text.contains("tunnel_proxy_latency_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("tunnel_active_connections 1"));
        assert!(text.contains("tunnel_active_tunnels 1"));
        assert!(text.contains("tunnel_connections_total 2"));
        assert!(text.contains("tunnel_reconnects_total 1"));
        assert!(text.contains("tunnel_store_read_transactions_total 7"));
        assert!(text.contains("tunnel_errors_total{kind=\"origin_refused\"} 1"));
        assert!(text.contains("tunnel_rate_limited_total{scope=\"tunnel\"} 1"));
        for metric in telemetry::ALL {
            assert!(
                text.contains(&format!("# TYPE {} ", metric.name)),
                "{} missing",
                metric.name
            );
        }
    }
}
