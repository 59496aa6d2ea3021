//! The service's metrics, named once for both backends.
//!
//! The local stack serves them in the Prometheus text format at `/metrics`; the Lambda
//! functions print them as CloudWatch Embedded Metric Format lines ([`Emf`]), which
//! CloudWatch turns into metrics of namespace [`NAMESPACE`] and which the Terraform
//! dashboard and alarms read. A label of the Prometheus series is a dimension of the
//! CloudWatch metric ([`dimension_of`]). `tests/infra` and `tests/tests/observability.rs`
//! check that what the dashboard names and what the binaries print is in [`ALL`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use client_core::inspect::Outcome;

/// CloudWatch namespace of the Lambda functions' metrics.
pub const NAMESPACE: &str = "Tunnel";

/// What a metric is, in Prometheus terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// A value now.
    Gauge,
    /// Observations in buckets ([`LATENCY_BUCKETS`]).
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric: its name on both backends, labels (CloudWatch dimensions), unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Prometheus series name and CloudWatch metric name.
    pub name: &'static str,
    /// Prometheus type.
    pub kind: Kind,
    /// CloudWatch unit (`Count`, `Bytes`, `Seconds`).
    pub unit: &'static str,
    /// Label keys, in the order they are written.
    pub labels: &'static [&'static str],
    /// One line for `# HELP`.
    pub help: &'static str,
    /// Whether the Lambda functions emit it. Gauges of live connections exist only
    /// where one process holds all the connections (the local stack).
    pub in_lambda: bool,
}

/// Label: the tunnel's subdomain.
pub const TUNNEL: &str = "tunnel";
/// Label: `1xx` .. `5xx` ([`status_class`]).
pub const STATUS_CLASS: &str = "class";
/// Label: what went wrong ([`error_kind`]).
pub const ERROR_KIND: &str = "kind";
/// Label: which limit refused (`tunnel` for public traffic, `api` for the REST API,
/// `auth` for an address over its failed authentications).
pub const SCOPE: &str = "scope";

/// `scope` of a public request refused by its tunnel's rate limit.
pub const SCOPE_TUNNEL: &str = "tunnel";
/// `scope` of a REST call refused by the caller's rate limit.
pub const SCOPE_API: &str = "api";
/// `scope` of a REST call or WebSocket connect refused because its source address
/// made too many failed authentications ([`crate::auth_limit`]).
pub const SCOPE_AUTH: &str = "auth";

/// Public requests answered, by tunnel and status class.
pub const REQUESTS: Metric = Metric {
    name: "tunnel_requests_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[TUNNEL, STATUS_CLASS],
    help: "Public requests answered, by tunnel and status class.",
    in_lambda: true,
};
/// Request body bytes received from public clients.
pub const BYTES_IN: Metric = Metric {
    name: "tunnel_bytes_in_total",
    kind: Kind::Counter,
    unit: "Bytes",
    labels: &[],
    help: "Request body bytes received from public clients.",
    in_lambda: true,
};
/// Response body bytes sent to public clients.
pub const BYTES_OUT: Metric = Metric {
    name: "tunnel_bytes_out_total",
    kind: Kind::Counter,
    unit: "Bytes",
    labels: &[],
    help: "Response body bytes sent to public clients.",
    in_lambda: true,
};
/// Time from a public request to its answer's head.
pub const PROXY_LATENCY: Metric = Metric {
    name: "tunnel_proxy_latency_seconds",
    kind: Kind::Histogram,
    unit: "Seconds",
    labels: &[],
    help: "Time from a public request to its answer's head.",
    in_lambda: true,
};
/// Tunnels a client serves now.
pub const ACTIVE_TUNNELS: Metric = Metric {
    name: "tunnel_active_tunnels",
    kind: Kind::Gauge,
    unit: "Count",
    labels: &[],
    help: "Tunnels a client serves now.",
    in_lambda: false,
};
/// Client WebSocket connections open now.
pub const ACTIVE_CONNECTIONS: Metric = Metric {
    name: "tunnel_active_connections",
    kind: Kind::Gauge,
    unit: "Count",
    labels: &[],
    help: "Tunnel client connections open now.",
    in_lambda: false,
};
/// Tunnels bound to a client connection (CONNECT accepted).
pub const CONNECTIONS: Metric = Metric {
    name: "tunnel_connections_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[],
    help: "Tunnel client connections that bound a tunnel.",
    in_lambda: true,
};
/// Client connections that went away after binding a tunnel.
pub const DISCONNECTS: Metric = Metric {
    name: "tunnel_disconnects_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[],
    help: "Tunnel client connections closed after binding a tunnel.",
    in_lambda: true,
};
/// CONNECTs the client marks as resuming (`resume` in CONNECT).
pub const RECONNECTS: Metric = Metric {
    name: "tunnel_reconnects_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[],
    help: "CONNECTs that resume a tunnel the client served on an earlier connection (after a drop or a renewal).",
    in_lambda: true,
};
/// Requests refused by a rate limit (429).
pub const RATE_LIMITED: Metric = Metric {
    name: "tunnel_rate_limited_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[SCOPE],
    help: "Requests refused with 429 by a rate limit, by scope.",
    in_lambda: true,
};
/// Public requests that did not end with the origin's answer delivered.
pub const ERRORS: Metric = Metric {
    name: "tunnel_errors_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[ERROR_KIND],
    help: "Public requests that failed, by kind.",
    in_lambda: true,
};

/// Read transactions the local stack's store has begun. A public request through a
/// tunnel begins none (the store keeps tunnels and domain claims in memory), so under
/// proxy load this stays flat.
pub const STORE_READS: Metric = Metric {
    name: "tunnel_store_read_transactions_total",
    kind: Kind::Counter,
    unit: "Count",
    labels: &[],
    help: "Read transactions of the local stack's store (public requests through a tunnel take none).",
    in_lambda: false,
};

/// Every metric, in exposition order.
pub const ALL: &[Metric] = &[
    REQUESTS,
    BYTES_IN,
    BYTES_OUT,
    PROXY_LATENCY,
    ACTIVE_TUNNELS,
    ACTIVE_CONNECTIONS,
    CONNECTIONS,
    DISCONNECTS,
    RECONNECTS,
    RATE_LIMITED,
    ERRORS,
    STORE_READS,
];

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// `tunnel` label of requests for names no tunnel holds: one value, so random Host
/// headers cannot grow the label set.
pub const UNKNOWN_TUNNEL: &str = "(none)";

/// `kind` of a request for a name no tunnel holds.
pub const KIND_UNKNOWN_TUNNEL: &str = "unknown_tunnel";
/// `kind` of a request the store could not serve.
pub const KIND_STORE: &str = "store";

/// Every `kind` label value: [`error_kind`]'s and the two above.
pub const ERROR_KINDS: &[&str] = &[
    KIND_UNKNOWN_TUNNEL,
    KIND_STORE,
    "tunnel_offline",
    "origin_refused",
    "origin_timeout",
    "origin_failed",
    "timeout",
    "too_large",
    "refused",
    "client_disconnected",
];

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

/// The `kind` label of an exchange that ended with `outcome`; `None` when it was
/// delivered.
pub fn error_kind(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        // A held request is answered as its owner asked: not a failure.
        Outcome::Completed | Outcome::Held => None,
        other => Some(other.as_str()),
    }
}

/// The CloudWatch dimension of a label: `tunnel` -> `Tunnel`, `class` ->
/// `StatusClass`.
pub fn dimension_of(label: &str) -> &'static str {
    match label {
        TUNNEL => "Tunnel",
        STATUS_CLASS => "StatusClass",
        ERROR_KIND => "Kind",
        SCOPE => "Scope",
        _ => "Other",
    }
}

/// One Embedded Metric Format line: values of some metrics with their labels, which
/// CloudWatch Logs turns into metrics when a Lambda function prints it on stdout.
///
/// Each metric goes in a directive with its own labels as the dimension set, and, when
/// it has a `tunnel` label, also without it: alarms and the dashboard read the
/// service-wide series, and a per-tunnel one is there to drill into.
#[derive(Debug, Clone)]
pub struct Emf {
    timestamp_ms: u64,
    values: Vec<(Metric, f64)>,
    dimensions: BTreeMap<&'static str, String>,
}

impl Emf {
    /// An empty line stamped `timestamp_ms` (Unix milliseconds).
    pub fn new(timestamp_ms: u64) -> Self {
        Self {
            timestamp_ms,
            values: Vec::new(),
            dimensions: BTreeMap::new(),
        }
    }

    /// Sets label `label` (one of the metrics' label keys) to `value`.
    #[must_use]
    pub fn label(mut self, label: &str, value: &str) -> Self {
        self.dimensions
            .insert(dimension_of(label), value.to_owned());
        self
    }

    /// Adds a value of `metric`. Its labels must have been given with [`Emf::label`].
    #[must_use]
    pub fn value(mut self, metric: Metric, value: f64) -> Self {
        self.values.push((metric, value));
        self
    }

    /// The JSON line (no newline).
    pub fn line(&self) -> String {
        let mut directives: BTreeMap<Vec<&'static str>, Vec<serde_json::Value>> = BTreeMap::new();
        let mut root = serde_json::Map::new();
        for (metric, value) in &self.values {
            let dims: Vec<&'static str> = metric.labels.iter().map(|l| dimension_of(l)).collect();
            directives.entry(dims).or_default().push(serde_json::json!({
                "Name": metric.name,
                "Unit": metric.unit,
            }));
            root.insert(metric.name.to_owned(), serde_json::json!(value));
        }
        let cloudwatch: Vec<serde_json::Value> = directives
            .into_iter()
            .map(|(dims, metrics)| {
                let mut sets = vec![dims.clone()];
                let without_tunnel: Vec<&str> =
                    dims.iter().copied().filter(|d| *d != "Tunnel").collect();
                if without_tunnel.len() != dims.len() {
                    sets.push(without_tunnel);
                }
                serde_json::json!({
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": metrics,
                })
            })
            .collect();
        for (dim, value) in &self.dimensions {
            root.insert((*dim).to_owned(), serde_json::json!(value));
        }
        root.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": cloudwatch,
            }),
        );
        serde_json::Value::Object(root).to_string()
    }

    /// Prints the line on stdout, where Lambda's log capture finds it. Written whole
    /// with one call so lines from concurrent tasks never interleave.
    pub fn emit(&self) {
        use std::io::Write as _;
        let mut line = self.line();
        line.push('\n');
        let mut out = std::io::stdout().lock();
        // Nowhere better to report a failed write to stdout; the request goes on.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// A Prometheus `# HELP`/`# TYPE` header for `metric`.
pub fn prometheus_header(out: &mut String, metric: &Metric) {
    let _ = writeln!(
        out,
        "# HELP {} {}\n# TYPE {} {}",
        metric.name,
        metric.help,
        metric.name,
        metric.kind.as_str()
    );
}

/// A label value escaped for the Prometheus text format.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prometheus_shaped() {
        let mut seen = std::collections::HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("tunnel_"));
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            );
            if m.kind == Kind::Counter {
                assert!(m.name.ends_with("_total"), "{}", m.name);
            }
        }
    }

    #[test]
    fn emf_groups_metrics_by_their_dimensions() {
        let line = Emf::new(1_700_000_000_000)
            .label(TUNNEL, "myapp")
            .label(STATUS_CLASS, "5xx")
            .label(ERROR_KIND, "origin_refused")
            .value(REQUESTS, 1.0)
            .value(PROXY_LATENCY, 0.25)
            .value(ERRORS, 1.0)
            .line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Tunnel"], "myapp");
        assert_eq!(v["StatusClass"], "5xx");
        assert_eq!(v["Kind"], "origin_refused");
        assert_eq!(v["tunnel_requests_total"], 1.0);
        assert_eq!(v["tunnel_proxy_latency_seconds"], 0.25);
        let directives = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 3);
        for d in directives {
            assert_eq!(d["Namespace"], NAMESPACE);
        }
        let requests = directives
            .iter()
            .find(|d| d["Metrics"][0]["Name"] == REQUESTS.name)
            .unwrap();
        assert_eq!(
            requests["Dimensions"],
            serde_json::json!([["Tunnel", "StatusClass"], ["StatusClass"]])
        );
        let latency = directives
            .iter()
            .find(|d| d["Metrics"][0]["Name"] == PROXY_LATENCY.name)
            .unwrap();
        assert_eq!(latency["Dimensions"], serde_json::json!([[]]));
        assert_eq!(latency["Metrics"][0]["Unit"], "Seconds");
    }

    #[test]
    fn failed_outcomes_have_a_listed_kind() {
        for outcome in [
            Outcome::OriginRefused,
            Outcome::OriginTimeout,
            Outcome::OriginFailed,
            Outcome::ClientDisconnected,
            Outcome::TunnelOffline,
            Outcome::Timeout,
            Outcome::TooLarge,
            Outcome::Refused,
        ] {
            let kind = error_kind(outcome).unwrap();
            assert!(ERROR_KINDS.contains(&kind), "{kind}");
        }
    }

    #[test]
    fn completed_has_no_kind_and_labels_escape() {
        assert_eq!(error_kind(Outcome::Completed), None);
        assert_eq!(error_kind(Outcome::OriginRefused), Some("origin_refused"));
        assert_eq!(status_class(99), "5xx");
        assert_eq!(escape_label("a\"b"), "a\\\"b");
    }
}
