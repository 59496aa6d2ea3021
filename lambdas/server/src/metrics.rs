//! Counters of the local stack, served at `/metrics` in the Prometheus text format.
//!
//! Everything is a fixed set of atomics except the per-tunnel request counts, whose
//! labels are bounded by the tunnels that exist.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the proxy latency histogram: time to the answer's head.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    connections_total: AtomicU64,
}

/// `2xx` and friends for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// A public request for tunnel `domain` was answered with `status` after `latency`.
    pub fn request(&self, domain: &str, status: u16, latency: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((domain.to_owned(), status_class(status)))
            .or_default() += 1;
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

    /// Body bytes received from public clients.
    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Body bytes sent to public clients.
    pub fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A tunnel client connected.
    pub fn connection(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, with `active_connections` from the hub.
    pub fn render(&self, active_connections: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP tunnel_requests_total Public requests answered, by tunnel and status class."
        );
        let _ = writeln!(out, "# TYPE tunnel_requests_total counter");
        for ((tunnel, class), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tunnel_requests_total{{tunnel=\"{tunnel}\",class=\"{class}\"}} {n}"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "tunnel_bytes_in_total",
            "Request body bytes received from public clients.",
            self.bytes_in.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tunnel_bytes_out_total",
            "Response body bytes sent to public clients.",
            self.bytes_out.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tunnel_connections_total",
            "Tunnel client connections accepted.",
            self.connections_total.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tunnel_active_connections Tunnel client connections open now.\n# TYPE tunnel_active_connections gauge\ntunnel_active_connections {active_connections}"
        );
        let _ = writeln!(
            out,
            "# HELP tunnel_proxy_latency_seconds Time from a public request to its answer's head.\n# TYPE tunnel_proxy_latency_seconds histogram"
        );
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "tunnel_proxy_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "tunnel_proxy_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "tunnel_proxy_latency_seconds_sum {sum}");
        let _ = writeln!(out, "tunnel_proxy_latency_seconds_count {count}");
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
        let text = m.render(1);
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
        assert_eq!(status_class(99), "5xx");
    }
}
