//! Observability end to end: `/metrics` counts exactly, `/healthz` and
//! `--metrics-listen` answer, `tunnel status --json` reports a tunnel's traffic, one
//! request's id is in the server's log, the CLI's log, the origin's headers and the
//! inspector (and no API key in any log), the Lambda functions print EMF lines with
//! the server's metric names, and the Terraform dashboard names only those.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use e2e::inspection::Rest;
use e2e::scenarios::{Kind, Stack};
use e2e::{Origin, READY_TIMEOUT, Server, closed_port, public_client, wait_line};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tunnel_backend::telemetry::{self, ALL, NAMESPACE};

/// One sample of a Prometheus text exposition: name and sorted labels.
type Series = (String, BTreeMap<String, String>);

/// A strict reader of the Prometheus text format (0.0.4) as the server writes it:
/// every sample belongs to a metric declared by `# HELP` and `# TYPE` before it,
/// label values are quoted and escaped, values are numbers, no series twice.
fn parse_prometheus(text: &str) -> BTreeMap<Series, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in:\n{text}");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a text");
            assert!(!help.is_empty());
            assert!(helped.insert(name.to_owned()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind}"
            );
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE twice for {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                (name, parse_labels(body))
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name {name}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        assert!(
            samples.insert((name.to_owned(), labels), value).is_none(),
            "series twice: {line}"
        );
    }
    samples
}

fn parse_labels(mut body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (i, '"') => break i,
                (_, '\\') => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                (_, c) => value.push(c),
            }
        };
        assert!(labels.insert(key.to_owned(), value).is_none());
        body = &rest[end + 1..];
        body = body.strip_prefix(',').unwrap_or(body);
    }
    labels
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    samples.get(&key).copied().unwrap_or(0.0)
}

async fn scrape(http: &reqwest::Client, base: &str) -> BTreeMap<Series, f64> {
    let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    parse_prometheus(&resp.text().await.unwrap())
}

/// 7 requests (5 echoed POSTs of 3 bytes, 2 answered 500 by the origin) and one for
/// a name no tunnel holds: `/metrics` moves by exactly that, on the bare host and on
/// `--metrics-listen`; `tunnel status --json` reports the same counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_status_count_known_requests_exactly() {
    let probe_port = closed_port().await;
    let probe = format!("127.0.0.1:{probe_port}");
    let stack = Stack::start_with(Kind::Local, &["--metrics-listen", &probe]).await;
    let served = stack.serve("counted", &[]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let probe_url = format!("http://{probe}");
    let before = scrape(&http, &probe_url).await;

    let url = served.tunnel.url.clone();
    for _ in 0..5 {
        let r = served
            .http
            .post(format!("{url}/echo"))
            .body("abc")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"abc");
    }
    for _ in 0..2 {
        let r = served
            .http
            .get(format!("{url}/status/500"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
    }
    let stranger = public_client(&stack.server, &["nobody"]);
    let r = stranger
        .get(format!("http://nobody.localhost:{}/", stack.server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let after = scrape(&http, &probe_url).await;
    let bare = scrape(&http, &stack.server.url).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let requests = telemetry::REQUESTS.name;
    assert_eq!(
        delta(requests, &[("tunnel", "counted"), ("class", "2xx")]),
        5.0
    );
    assert_eq!(
        delta(requests, &[("tunnel", "counted"), ("class", "5xx")]),
        2.0
    );
    assert_eq!(
        delta(
            requests,
            &[("tunnel", telemetry::UNKNOWN_TUNNEL), ("class", "4xx")]
        ),
        1.0
    );
    assert_eq!(delta(telemetry::BYTES_IN.name, &[]), 15.0);
    assert_eq!(delta(telemetry::BYTES_OUT.name, &[]), 15.0);
    let latency = telemetry::PROXY_LATENCY.name;
    assert_eq!(delta(&format!("{latency}_count"), &[]), 8.0);
    assert_eq!(delta(&format!("{latency}_bucket"), &[("le", "+Inf")]), 8.0);
    assert!(delta(&format!("{latency}_sum"), &[]) > 0.0);
    assert_eq!(
        delta(
            telemetry::ERRORS.name,
            &[("kind", telemetry::KIND_UNKNOWN_TUNNEL)]
        ),
        1.0
    );
    // An origin's own 500 is an answer delivered, not a failure of the tunnel.
    let errors: f64 = after
        .iter()
        .filter(|((n, _), _)| n == telemetry::ERRORS.name)
        .map(|(_, v)| v)
        .sum();
    assert_eq!(errors, 1.0, "{after:?}");
    assert_eq!(value(&after, telemetry::ACTIVE_TUNNELS.name, &[]), 1.0);
    assert_eq!(value(&after, telemetry::ACTIVE_CONNECTIONS.name, &[]), 1.0);
    assert_eq!(value(&after, telemetry::CONNECTIONS.name, &[]), 1.0);
    assert_eq!(value(&after, telemetry::RECONNECTS.name, &[]), 0.0);
    // Both listeners serve the same counters (the scrape itself is not counted).
    assert_eq!(after, bare);

    // The probe listener serves /healthz too, and nothing else.
    let health: Value = http
        .get(format!("{probe_url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["store"], "ok", "{health}");
    assert!(health["uptime_secs"].is_u64());
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let api = http
        .get(format!("{probe_url}/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);

    // tunnel status --json, from the request log once all 7 are in.
    let rest = Rest::new(&stack, Some(&served.user.api_key()));
    let tunnel_id = rest.tunnel_id("counted").await;
    rest.wait_for(&tunnel_id, 7).await;
    let status: Value = serde_json::from_str(&served.user.ok(&["status", "--json"]).await).unwrap();
    let stats = &status["stats"][0];
    assert_eq!(stats["tunnel_id"], tunnel_id.as_str(), "{status}");
    assert_eq!(stats["status"], "online");
    assert_eq!(stats["requests"], 7);
    assert_eq!(stats["errors"], 2);
    assert_eq!(stats["bytes_in"], 15);
    assert_eq!(stats["bytes_out"], 15);
    assert_eq!(stats["window_secs"], 60);
    assert_eq!(stats["truncated"], false);
    assert_eq!(stats["public_url"], served.tunnel.url.as_str());
    let since = stats["connected_since"].as_u64().unwrap();
    assert!(
        since <= client_core::clock::now_secs() && since + 600 > client_core::clock::now_secs()
    );
    assert!(stats["p50_ms"].as_u64().unwrap() <= stats["p99_ms"].as_u64().unwrap());
    let text = served.user.ok(&["status"]).await;
    assert!(text.contains("traffic, last 60 s:"), "{text}");

    // A killed CLI started again on its domain is a new connection, not a reconnect.
    let mut served = served;
    served.tunnel.child.kill().await.unwrap();
    wait_metric(&http, &probe_url, telemetry::ACTIVE_TUNNELS.name, 0.0).await;
    let again = served
        .user
        .start(&[&served.origin.port.to_string(), "--domain", "counted"])
        .await;
    assert_eq!(again.url, served.tunnel.url);
    // The server counts the bind right after sending CONNECTED, which the CLI may
    // print its URL on first.
    let after = wait_metric(&http, &probe_url, telemetry::CONNECTIONS.name, 2.0).await;
    assert_eq!(value(&after, telemetry::DISCONNECTS.name, &[]), 1.0);
    assert_eq!(value(&after, telemetry::RECONNECTS.name, &[]), 0.0);
    assert_eq!(value(&after, telemetry::ACTIVE_TUNNELS.name, &[]), 1.0);

    // The server restarts: the running CLI comes back on its own, resuming the tunnel.
    let mut stack = stack;
    let listen = format!("127.0.0.1:{}", stack.server.port);
    stack.server.kill().await;
    let data = stack.dir.path().join("data");
    stack.server = Server::start_on(&listen, &data, &["--metrics-listen", &probe]).await;
    let after = wait_metric(&http, &probe_url, telemetry::ACTIVE_TUNNELS.name, 1.0).await;
    assert_eq!(value(&after, telemetry::CONNECTIONS.name, &[]), 1.0);
    assert_eq!(value(&after, telemetry::RECONNECTS.name, &[]), 1.0);
    drop(again);
}

/// `tunnel status --json` after 7 requests through the emulated AWS deployment, 2 of
/// them answered 500: the stats route runs in inspect-requests over DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_counters_on_aws_too() {
    let stack = Stack::start(Kind::Aws).await;
    let served = stack.serve("awsstats", &[]).await;
    let url = served.tunnel.url.clone();
    for path in ["/a", "/b", "/status/500", "/c", "/status/500", "/d", "/e"] {
        let r = served
            .http
            .post(format!("{url}{path}"))
            .body("xy")
            .send()
            .await
            .unwrap();
        assert!(r.status() == 200 || r.status() == 500);
    }
    let rest = Rest::new(&stack, Some(&served.user.api_key()));
    let tunnel_id = rest.tunnel_id("awsstats").await;
    rest.wait_for(&tunnel_id, 7).await;
    let status: Value = serde_json::from_str(&served.user.ok(&["status", "--json"]).await).unwrap();
    let stats = &status["stats"][0];
    assert_eq!(stats["status"], "online", "{status}");
    assert_eq!(stats["requests"], 7);
    assert_eq!(stats["errors"], 2);
    assert_eq!(stats["bytes_in"], 14);
    assert_eq!(stats["bytes_out"], 10, "5 echoed bodies of 2 bytes");
    assert!(stats["connected_since"].is_u64());
    assert!(stats["p99_ms"].is_u64());
}

/// Scrapes until the unlabelled `name` is `want`; returns that scrape.
async fn wait_metric(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    want: f64,
) -> BTreeMap<Series, f64> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let samples = scrape(http, base).await;
        if value(&samples, name, &[]) == want {
            return samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Lines of a log file that mention `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// One request's id is in the server's JSON log (on the request's span), in the
/// CLI's JSON log, in the origin's X-Request-Id and is the inspector record's id. A
/// caller's own X-Request-Id reaches the origin and is logged beside ours. No API key
/// is in any log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_from_edge_to_origin_and_no_key_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let stack = Stack::start_logging(Kind::Local, &log).await;
    let user = stack.user("u");
    let key = user.register().await;
    let origin = Origin::start().await;
    let mut cli = user
        .command(&[
            "start",
            &origin.port.to_string(),
            "--domain",
            "traced",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(cli.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(cli.stderr.take().unwrap()).lines();
    let url = wait_line(&mut stdout, "public URL", |l| l.starts_with("http://")).await;
    let http = public_client(&stack.server, &["traced"]);

    let resp = http.get(format!("{url}/hook")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Vec<(String, String)> =
        serde_json::from_str(resp.headers()["x-echo-headers"].to_str().unwrap()).unwrap();
    let at_origin = seen
        .iter()
        .find(|(n, _)| n == "x-request-id")
        .map(|(_, v)| v.clone())
        .expect("the origin got an X-Request-Id");

    let rest = Rest::new(&stack, Some(&key));
    let tunnel_id = rest.tunnel_id("traced").await;
    let page = rest.wait_for(&tunnel_id, 1).await;
    assert_eq!(
        page.requests[0].request_id, at_origin,
        "inspector record id"
    );

    // The CLI: a JSON line with the id as a field.
    let cli_line = wait_line(&mut stderr, "the CLI's request log line", |l| {
        l.contains(&at_origin)
    })
    .await;
    let cli_json: Value = serde_json::from_str(&cli_line).unwrap();
    assert_eq!(
        cli_json["fields"]["request_id"],
        at_origin.as_str(),
        "{cli_line}"
    );
    assert_eq!(cli_json["fields"]["path"], "/hook");

    // A caller's own id cannot pass for the service's: the origin gets ours, the
    // inspector's, and the server logs the caller's beside it.
    let resp = http
        .get(format!("{url}/own"))
        .header("x-request-id", "caller-id-42")
        .send()
        .await
        .unwrap();
    let seen: Vec<(String, String)> =
        serde_json::from_str(resp.headers()["x-echo-headers"].to_str().unwrap()).unwrap();
    let page = rest.wait_for(&tunnel_id, 2).await;
    let ours = page.requests[0].request_id.clone();
    assert_ne!(ours, "caller-id-42");
    let ids: Vec<&str> = seen
        .iter()
        .filter(|(n, _)| n == "x-request-id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        ids,
        [ours.as_str()],
        "the origin gets the inspector's id only"
    );

    cli.start_kill().unwrap();
    let mut cli_log = vec![cli_line];
    while let Ok(Some(l)) = stderr.next_line().await {
        cli_log.push(l);
    }

    // The server: its lines about the request carry the id on the request's span,
    // including the access line with the status.
    let server_log = std::fs::read_to_string(&log).unwrap();
    let about = lines_with(&server_log, &at_origin);
    assert!(!about.is_empty(), "the id is not in the server's log");
    let answered = about
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["fields"]["message"] == "public request answered")
        .expect("an access line for the request");
    assert_eq!(answered["span"]["request_id"], at_origin.as_str());
    assert_eq!(answered["span"]["domain"], "traced");
    assert_eq!(answered["fields"]["status"], 200);
    let own = lines_with(&server_log, "caller-id-42");
    assert!(
        own.iter().any(|l| l.contains(&ours)),
        "the caller's id is logged beside ours: {own:?}"
    );

    // No API key, or its secret part, in any captured log.
    let secret = key.rsplit('_').next().unwrap();
    assert!(secret.len() >= 32);
    for (name, text) in [("server", server_log), ("CLI", cli_log.join("\n"))] {
        assert!(!text.contains(secret), "an API key is in the {name}'s log");
    }
}

/// Metric names and dimensions the Terraform monitoring reads from namespace
/// [`NAMESPACE`]: `(metric, dimension names)`.
fn terraform_metrics(tf: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    // Dashboard rows: [local.metrics_namespace, "name", "Dim", value, ...].
    for row in tf.split("[local.metrics_namespace, ").skip(1) {
        let row = &row[..row.find(']').unwrap()];
        let strings: Vec<&str> = row.split('"').skip(1).step_by(2).collect();
        let name = strings[0].to_owned();
        let mut dims = Vec::new();
        // After the name, "Dim", value pairs; a value may be an expression (c, k).
        let rest = row[row.find(&format!("\"{name}\"")).unwrap() + name.len() + 2..].trim();
        let parts: Vec<&str> = rest
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.starts_with('{'))
            .collect();
        for pair in parts.chunks(2) {
            dims.push(pair[0].trim_matches('"').to_owned());
        }
        found.push((name, dims));
    }
    // Alarms: namespace = local.metrics_namespace, metric_name, dimensions = { D = .. }.
    for block in tf.split("resource \"aws_cloudwatch_metric_alarm\"").skip(1) {
        let block = &block[..block.find("\n}").unwrap()];
        if !block.contains("namespace           = local.metrics_namespace") {
            continue;
        }
        let name = block
            .split("metric_name")
            .nth(1)
            .and_then(|r| r.split('"').nth(1))
            .unwrap()
            .to_owned();
        let dims = block
            .split("dimensions")
            .nth(1)
            .and_then(|r| r.split_once('{'))
            .map(|(_, r)| {
                r[..r.find('}').unwrap()]
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, _)| k.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        found.push((name, dims));
    }
    found
}

/// Every metric of the Terraform dashboard and alarms in the functions' namespace is
/// one the Lambda functions emit, with dimensions it has; the namespace is the code's.
#[test]
fn terraform_monitoring_names_what_the_code_emits() {
    let tf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/monitoring.tf"),
    )
    .unwrap();
    assert!(
        tf.contains(&format!("metrics_namespace = \"{NAMESPACE}\"")),
        "monitoring.tf names another namespace than {NAMESPACE}"
    );
    let kinds = tf
        .split("error_kinds = [")
        .nth(1)
        .map(|r| &r[..r.find(']').unwrap()])
        .unwrap();
    let kinds: Vec<&str> = kinds.split('"').skip(1).step_by(2).collect();
    assert_eq!(kinds, telemetry::ERROR_KINDS, "local.error_kinds");
    let used = terraform_metrics(&tf);
    assert!(used.len() >= 8, "{used:?}");
    for (name, dims) in &used {
        let metric = ALL
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("monitoring.tf reads {name}, which the code never emits"));
        assert!(
            metric.in_lambda,
            "{name} is not emitted by the Lambda functions"
        );
        let allowed: Vec<&str> = metric
            .labels
            .iter()
            .map(|l| telemetry::dimension_of(l))
            .collect();
        for d in dims {
            assert!(allowed.contains(&d.as_str()), "{name} has no dimension {d}");
            // The EMF lines publish every label set without Tunnel, which alarms use.
            assert_ne!(d, "Tunnel", "{name}: read the service-wide series");
        }
    }
    // Only AWS namespaces besides ours.
    for line in tf
        .lines()
        .filter(|l| l.trim_start().starts_with("namespace "))
    {
        assert!(
            line.contains("\"AWS/") || line.contains("local.metrics_namespace"),
            "{line}"
        );
    }
}

/// EMF lines the functions printed (the emulator prefixes each output line with
/// `[function#n] `), parsed.
fn emf_lines(log: &str) -> Vec<(String, Value)> {
    log.lines()
        .filter_map(|l| {
            let (prefix, rest) = l.split_once("] ")?;
            let function = prefix.strip_prefix('[')?.split('#').next()?.to_owned();
            let v: Value = serde_json::from_str(rest).ok()?;
            v.get("_aws").is_some().then_some((function, v))
        })
        .collect()
}

/// The real Lambda binaries under the emulator print EMF lines that parse, in the
/// code's namespace, with only the server's metric names, values for every metric
/// they declare and the dimensions they declare; tunnel-proxy's log lines about a
/// request carry its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_functions_emit_emf_with_the_servers_metric_names() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let stack = Stack::start_logging(Kind::Aws, &log).await;
    let served = stack.serve("emfapp", &[]).await;
    let url = served.tunnel.url.clone();
    for _ in 0..3 {
        let r = served
            .http
            .post(format!("{url}/x"))
            .body("abcd")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"abcd");
    }
    let r = served
        .http
        .get(format!("{url}/status/503"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let rest = Rest::new(&stack, Some(&served.user.api_key()));
    let tunnel_id = rest.tunnel_id("emfapp").await;
    let page = rest.wait_for(&tunnel_id, 4).await;

    // The lines reach the log through the emulator's output forwarding: wait for them.
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let (text, lines) = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let lines = emf_lines(&text);
        let requests = lines
            .iter()
            .filter(|(_, v)| v[telemetry::REQUESTS.name].is_number())
            .count();
        if requests >= 4 {
            break (text, lines);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{requests} request lines: {lines:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    let mut names = std::collections::BTreeSet::new();
    for (function, v) in &lines {
        let aws = &v["_aws"];
        assert!(aws["Timestamp"].is_u64(), "{v}");
        for d in aws["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(d["Namespace"], NAMESPACE, "{function}: {v}");
            for m in d["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                let metric = ALL
                    .iter()
                    .find(|x| x.name == name)
                    .unwrap_or_else(|| panic!("{function} emits {name}, unknown to the server"));
                assert!(metric.in_lambda);
                assert_eq!(m["Unit"], metric.unit);
                assert!(v[name].is_number(), "{name} has no value: {v}");
                names.insert(name.to_owned());
                for set in d["Dimensions"].as_array().unwrap() {
                    for dim in set.as_array().unwrap() {
                        let dim = dim.as_str().unwrap();
                        assert!(
                            metric
                                .labels
                                .iter()
                                .any(|l| telemetry::dimension_of(l) == dim),
                            "{name} with dimension {dim}"
                        );
                        assert!(v[dim].is_string(), "no value for dimension {dim}: {v}");
                    }
                }
            }
        }
    }
    let from = |function: &str, name: &str| {
        lines
            .iter()
            .filter(|(f, v)| f == function && v[name].is_number())
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let requests = from("tunnel-proxy", telemetry::REQUESTS.name);
    let ok: Vec<_> = requests
        .iter()
        .filter(|v| v["Tunnel"] == "emfapp" && v["StatusClass"] == "2xx")
        .collect();
    assert_eq!(ok.len(), 3, "{requests:?}");
    for v in &ok {
        assert_eq!(v[telemetry::BYTES_IN.name], 4.0);
        assert_eq!(v[telemetry::BYTES_OUT.name], 4.0);
        assert!(v[telemetry::PROXY_LATENCY.name].as_f64().unwrap() > 0.0);
    }
    assert!(
        requests
            .iter()
            .any(|v| v["Tunnel"] == "emfapp" && v["StatusClass"] == "5xx")
    );
    assert_eq!(
        from("tunnel-connect", telemetry::CONNECTIONS.name).len(),
        1,
        "one CONNECT"
    );
    for name in [
        telemetry::REQUESTS.name,
        telemetry::BYTES_IN.name,
        telemetry::BYTES_OUT.name,
        telemetry::PROXY_LATENCY.name,
        telemetry::CONNECTIONS.name,
    ] {
        assert!(names.contains(name), "{name} never emitted: {names:?}");
    }

    // Lambda logs are JSON, and tunnel-proxy's lines about a request carry its id.
    let id = &page.requests[0].request_id;
    let proxy_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("[tunnel-proxy#"))
        .collect();
    for l in &proxy_lines {
        let json = l.split_once("] ").unwrap().1;
        serde_json::from_str::<Value>(json).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let about: Vec<Value> = proxy_lines
        .iter()
        .filter(|l| l.contains(id.as_str()) && !l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l.split_once("] ").unwrap().1).unwrap())
        .collect();
    assert!(
        about.iter().any(|v| v["span"]["request_id"] == id.as_str()),
        "no tunnel-proxy line on the request's span: {about:?}"
    );
}

/// A client renewing its connection ahead of the WebSocket API's age cap (4 s here)
/// comes back with a resuming CONNECT: tunnel-connect emits a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_on_aws_emits_a_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let stack = Stack::start_logging_with(Kind::Aws, &log, &["--ws-max-age", "4"]).await;
    let _served = stack.serve("renewing", &[]).await;
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let reconnect = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let found = emf_lines(&text)
            .into_iter()
            .find(|(f, v)| f == "tunnel-connect" && v[telemetry::RECONNECTS.name].is_number());
        if let Some((_, v)) = found {
            break v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnect line after the renewal"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(reconnect[telemetry::RECONNECTS.name], 1.0);
    assert_eq!(reconnect[telemetry::CONNECTIONS.name], 1.0);
    let names: Vec<&str> = reconnect["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&telemetry::RECONNECTS.name), "{reconnect}");
}
