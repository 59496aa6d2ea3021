//! The end-to-end suite, written once and run against each backend: the local stack,
//! and the AWS deployment under the emulator (real Lambda binaries over moto).
//!
//! Where AWS documents a different behaviour the scenario expects it: a Function URL
//! joins repeated request headers with commas, and a Lambda invocation caps request
//! bodies near 4.5 MB of raw bytes (6 MB of base64 JSON).

#![allow(clippy::missing_panics_doc)]

use std::path::PathBuf;

use serde_json::Value;

use crate::moto::Moto;
use crate::{Origin, Server, User, closed_port, public_client, random_bytes};

/// Which deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tunnel-server` on its embedded store.
    Local,
    /// `tunnel-emulator` over moto.
    Aws,
}

/// A running backend with its temp dir.
#[derive(Debug)]
pub struct Stack {
    /// Which one.
    pub kind: Kind,
    /// The server.
    pub server: Server,
    /// Scratch space (config files, data).
    pub dir: tempfile::TempDir,
    moto: Option<Moto>,
}

impl Stack {
    /// A stack of `kind` with default settings.
    pub async fn start(kind: Kind) -> Self {
        Self::start_with(kind, &[]).await
    }

    /// A stack whose server logs at debug level into `log`.
    pub async fn start_logging(kind: Kind, log: &std::path::Path) -> Self {
        Self::start_logging_with(kind, log, &[]).await
    }

    /// [`Stack::start_logging`] with extra arguments for the server (`tunnel-server` or
    /// `tunnel-emulator`).
    pub async fn start_logging_with(kind: Kind, log: &std::path::Path, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        match kind {
            Kind::Local => Self {
                kind,
                server: Server::start_logging(&data, extra, log).await,
                dir,
                moto: None,
            },
            Kind::Aws => {
                let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
                Self {
                    kind,
                    server: Server::start_emulator(&moto.endpoint, &data, extra, Some(log)).await,
                    dir,
                    moto: Some(moto),
                }
            }
        }
    }

    /// A stack with extra arguments for its server.
    pub async fn start_with(kind: Kind, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        match kind {
            Kind::Local => Self {
                kind,
                server: Server::start_with(&data, extra).await,
                dir,
                moto: None,
            },
            Kind::Aws => {
                let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
                Self {
                    kind,
                    server: Server::start_emulator(&moto.endpoint, &data, extra, None).await,
                    dir,
                    moto: Some(moto),
                }
            }
        }
    }

    /// A new CLI user with a config of their own (not registered yet).
    pub fn user(&self, name: &str) -> User {
        let home: PathBuf = self.dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        User::new(&home, &self.server)
    }

    /// The emulator's counters.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_emulator/stats", self.server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Whether moto backs this stack.
    pub fn has_moto(&self) -> bool {
        self.moto.is_some()
    }
}

/// A registered user's tunnel on `domain` to an echo origin, and a public client for it.
#[derive(Debug)]
pub struct Served {
    /// The user.
    pub user: User,
    /// The echo origin.
    pub origin: Origin,
    /// The running `tunnel start`.
    pub tunnel: crate::RunningTunnel,
    /// A client that reaches the tunnel's host.
    pub http: reqwest::Client,
}

impl Stack {
    /// Registers a user and starts `tunnel start <origin> --domain <domain> <extra>`.
    pub async fn serve(&self, domain: &str, extra: &[&str]) -> Served {
        let user = self.user("u");
        user.register().await;
        let origin = Origin::start().await;
        let port = origin.port.to_string();
        let mut args = vec![port.as_str(), "--domain", domain];
        args.extend_from_slice(extra);
        let tunnel = user.start(&args).await;
        let http = public_client(&self.server, &[domain]);
        Served {
            user,
            origin,
            tunnel,
            http,
        }
    }
}

fn echoed_headers(resp: &reqwest::Response) -> Vec<(String, String)> {
    let raw = resp.headers()["x-echo-headers"].to_str().unwrap();
    serde_json::from_str(raw).unwrap()
}

/// Every method, path and query, repeated headers, binary and empty bodies and large
/// ones arrive exactly; concurrent requests do not mix; Ctrl-C keeps a chosen name,
/// `tunnel stop` removes it.
pub async fn round_trip(stack: &Stack) {
    let server = &stack.server;
    let user = stack.user("u");
    user.register().await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "myapp"])
        .await;
    assert_eq!(
        tunnel.url,
        format!("http://myapp.localhost:{}", server.port)
    );
    let http = public_client(server, &["myapp"]);
    let base = tunnel.url.clone();

    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let target = "/a/b%20c/d.json?x=1&y=%C3%A9&empty=&x=2";
        let resp = http
            .request(method.parse().unwrap(), format!("{base}{target}"))
            .header("x-multi", "first")
            .header("x-multi", "second")
            .header("x-custom", "v a l")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        assert_eq!(resp.headers()["x-echo-method"], method);
        assert_eq!(resp.headers()["x-echo-target"], target);
        let outs: Vec<_> = resp.headers().get_all("x-multi-out").iter().collect();
        match stack.kind {
            Kind::Local => assert_eq!(outs, ["one", "two"], "repeated response headers kept"),
            // A Function URL takes one string per header: the proxy joins repeated
            // ones (RFC 9110 5.3); Set-Cookie is the exception (e2e::fidelity).
            Kind::Aws => assert_eq!(outs, ["one, two"], "repeated response headers joined"),
        }
        let seen = echoed_headers(&resp);
        let multi: Vec<_> = seen
            .iter()
            .filter(|(n, _)| n == "x-multi")
            .map(|(_, v)| v.as_str())
            .collect();
        match stack.kind {
            Kind::Local => assert_eq!(multi, ["first", "second"], "repeated headers in order"),
            // Function URLs join repeated request headers, in order (RFC 9110 5.3).
            Kind::Aws => assert_eq!(multi, ["first,second"]),
        }
        assert!(seen.contains(&("x-custom".into(), "v a l".into())));
        let host = &seen.iter().find(|(n, _)| n == "host").unwrap().1;
        assert_eq!(
            host,
            &format!("localhost:{}", origin.port),
            "Host rewritten for the origin"
        );
        assert!(
            seen.iter()
                .any(|(n, v)| n == "x-request-id"
                    && tunnel_backend::handlers::inspect::is_request_id(v)),
            "a request id reaches the origin: {seen:?}"
        );
        let forwarded = format!("myapp.localhost:{}", server.port);
        assert!(
            seen.iter()
                .any(|(n, v)| n == "x-forwarded-host" && v == &forwarded)
        );
        assert!(
            resp.bytes().await.unwrap().is_empty(),
            "empty body stays empty"
        );
    }

    let traced = http
        .get(format!("{base}/traced"))
        .header("x-request-id", "caller-chosen-id")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = echoed_headers(&traced)
        .into_iter()
        .filter(|(n, _)| n == "x-request-id")
        .map(|(_, v)| v)
        .collect();
    assert!(
        ids.len() == 1 && tunnel_backend::handlers::inspect::is_request_id(&ids[0]),
        "a caller's id is replaced by the service's, not kept or doubled: {ids:?}"
    );

    let head = http.head(format!("{base}/h")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-echo-method"], "HEAD");

    let largest_upload = match stack.kind {
        Kind::Local => 5 * 1024 * 1024,
        Kind::Aws => 4 * 1024 * 1024,
    };
    for size in [0, 1, 16 * 1024, 16 * 1024 + 1, 300_000, largest_upload] {
        let body = random_bytes(size);
        let resp = http
            .post(format!("{base}/upload"))
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "upload of {size}");
        let got = resp.bytes().await.unwrap();
        assert_eq!(got.len(), body.len(), "size {size}");
        assert!(
            got.as_ref() == body.as_slice(),
            "body of {size} bytes differs"
        );
    }
    // A 5 MB answer (streamed back on AWS past the 6 MB buffered limit's reach).
    let size = 5 * 1024 * 1024 + 7;
    let resp = http
        .get(format!("{base}/bytes/{size}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = resp.bytes().await.unwrap();
    assert!(
        got.as_ref() == crate::pattern(size).as_slice(),
        "5 MB download differs"
    );

    let mut tasks = Vec::new();
    for i in 0..16 {
        let http = http.clone();
        let url = format!("{base}/c{i}");
        tasks.push(tokio::spawn(async move {
            let body = random_bytes(50_000 + i * 997);
            let resp = http.post(url).body(body.clone()).send().await.unwrap();
            let status = resp.status();
            let got = resp.bytes().await.unwrap();
            assert_eq!(
                status,
                200,
                "concurrent request {i}: {}",
                String::from_utf8_lossy(&got[..got.len().min(400)])
            );
            assert!(
                got.as_ref() == body.as_slice(),
                "concurrent request {i} mixed up"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let (code, said) = tunnel.interrupt_with_stderr().await;
    assert_eq!(code, Some(0), "Ctrl-C exits cleanly");
    // A chosen name is kept, inactive, and the one line says how to resume or delete.
    assert!(said.contains("tunnel myapp kept, inactive until"), "{said}");
    assert!(said.contains("--domain myapp` resumes it"), "{said}");
    assert!(said.contains("`tunnel stop myapp` deletes it"), "{said}");
    user.ok(&["stop", "myapp"]).await;
    let after = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(after.status(), 404, "a stopped tunnel is gone");
    assert!(after.text().await.unwrap().contains("myapp"));
}

/// Random names work; a taken or invalid name is refused with a one-line error.
pub async fn domains(stack: &Stack) {
    let alice = stack.user("alice");
    let bob = stack.user("bob");
    alice.register().await;
    bob.register().await;
    let origin = Origin::start().await;
    let port = origin.port.to_string();

    let random = alice.start(&[&port]).await;
    let name = random.domain();
    client_core::domain::validate_subdomain(&name).unwrap();
    let http = public_client(&stack.server, &[&name]);
    let resp = http.get(format!("{}/r", random.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let taken = bob.run(&["start", &port, "--domain", &name]).await;
    assert_ne!(taken.code, Some(0));
    assert!(taken.stderr.contains("taken"), "{taken:?}");
    assert_eq!(
        taken.stderr.trim().lines().count(),
        1,
        "one-line error: {taken:?}"
    );

    for bad in ["ab", "Bad_Name", "-edge", "www"] {
        let out = bob.run(&["start", &port, "--domain", bad]).await;
        assert_ne!(out.code, Some(0), "{bad}");
        assert!(out.stderr.contains(bad), "names the domain: {out:?}");
    }
    random.interrupt().await;
}

/// list, stop and status work; no key, a wrong key and another client's key are
/// refused; logout and login.
pub async fn list_stop_status_and_auth(stack: &Stack) {
    let server = &stack.server;
    let user = stack.user("u");

    let no_key = user.run(&["list"]).await;
    assert_ne!(no_key.code, Some(0));
    assert!(
        no_key.stderr.contains("tunnel register") || no_key.stderr.contains("auth login"),
        "{no_key:?}"
    );

    let raw = reqwest::Client::new();
    let r = raw
        .get(format!("{}/v1/tunnels", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    // The REST text is for whoever calls the API: HTTP terms, not CLI commands.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("POST /v1/clients"), "{message}");
    assert!(!message.contains("tunnel register"), "{message}");
    let bad = raw
        .get(format!("{}/v1/tunnels", server.url))
        .bearer_auth("tk_0011_2233")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    let key = user.register().await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "listed"])
        .await;

    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    let tunnels = list["tunnels"].as_array().unwrap();
    assert_eq!(tunnels.len(), 1);
    assert_eq!(tunnels[0]["domain"], "listed");
    assert_eq!(tunnels[0]["status"], "online");
    let id = tunnels[0]["tunnel_id"].as_str().unwrap().to_owned();

    let status: Value = serde_json::from_str(&user.ok(&["status", "--json"]).await).unwrap();
    assert_eq!(status["server_reachable"], true);
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["tunnels"][0]["tunnel_id"], id.as_str());

    let other: Value = raw
        .post(format!("{}/v1/clients", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = other["api_key"].as_str().unwrap();
    for method in ["GET", "DELETE"] {
        let r = raw
            .request(
                method.parse().unwrap(),
                format!("{}/v1/tunnels/{id}", server.url),
            )
            .bearer_auth(other_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} by another client");
    }
    let mine = raw
        .get(format!("{}/v1/tunnels/{id}", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);

    // `tunnel stop` from elsewhere ends the running `tunnel start`.
    user.ok(&["stop", &id]).await;
    let mut child = tunnel.child;
    let code = tokio::time::timeout(crate::READY_TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!code.success(), "a stopped tunnel's CLI exits and says so");
    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    assert!(list["tunnels"].as_array().unwrap().is_empty());

    user.ok(&["auth", "logout"]).await;
    assert_ne!(user.run(&["list"]).await.code, Some(0));
    let mut login = user.command(&["auth", "login", "--api-key", &key]);
    assert!(login.status().await.unwrap().success());
    user.ok(&["list"]).await;
}

/// An unknown tunnel is a 404 naming it, the same page on both backends (the
/// admission pipeline's one text); a refused origin port a 502 saying so.
pub async fn error_pages(stack: &Stack) {
    let server = &stack.server;
    let user = stack.user("u");
    user.register().await;
    let http = public_client(server, &["nosuch", "deadport"]);
    let r = http
        .get(format!("http://nosuch.localhost:{}/", server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.headers()["content-type"],
        "text/html; charset=utf-8",
        "{:?}",
        r.headers()
    );
    let page = r.text().await.unwrap();
    let unknown = tunnel_backend::handlers::admission::Refusal::UnknownTunnel {
        domain: "nosuch".into(),
    };
    assert_eq!(page.as_bytes(), unknown.body(), "{page}");
    assert!(
        page.contains("No tunnel is registered for nosuch. Check the address, or start one with `tunnel start &lt;port&gt; --domain nosuch`."),
        "{page}"
    );

    let port = closed_port().await;
    let tunnel = user
        .start(&[&port.to_string(), "--domain", "deadport"])
        .await;
    let r = http.get(format!("{}/x", tunnel.url)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(page.contains("refused"), "{page}");
    // The inspector records the failure, with no response.
    let key = user.api_key();
    let rest = crate::inspection::Rest::new(stack, Some(&key));
    let tunnel_id = rest.tunnel_id("deadport").await;
    let logged = &rest.wait_for(&tunnel_id, 1).await.requests[0];
    assert_eq!(logged.outcome, client_core::inspect::Outcome::OriginRefused);
    assert_eq!(logged.status, None);
    tunnel.interrupt().await;
}

/// An origin that accepts but never answers gets the public client a 504 saying so,
/// at the CLI's origin timeout: well before any gateway would give up.
pub async fn hung_origin(stack: &Stack) {
    let user = stack.user("u");
    user.register().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let tunnel = user
        .start(&[
            &port.to_string(),
            "--domain",
            "hung",
            "--origin-timeout",
            "2",
        ])
        .await;
    let http = public_client(&stack.server, &["hung"]);
    let started = std::time::Instant::now();
    let r = http
        .get(format!("{}/slow", tunnel.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(r.text().await.unwrap().contains("did not answer in time"));
    // A bound on correctness, not speed: the answer came from the origin timeout, not
    // from a gateway timeout (25 s and more).
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    tunnel.interrupt().await;
    holder.abort();
}

/// With `--api-rate 1:3 --public-rate 1:2`: a client's fourth quick API call and a
/// tunnel's third quick public request get 429 with `Retry-After`; other clients and
/// tunnels keep their own buckets.
pub async fn rate_limits(kind: Kind) {
    let stack = Stack::start_with(kind, &["--api-rate", "1:3", "--public-rate", "1:2"]).await;
    let served = stack.serve("limited", &["--quiet"]).await;
    let url = format!("http://limited.localhost:{}", stack.server.port);
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..3 {
        let r = served.http.get(format!("{url}/x")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            refused = Some(r);
        }
    }
    assert_eq!(statuses, [200, 200, 429], "a burst of 2, then refused");
    let refused = refused.unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(refused.text().await.unwrap().contains("rate limit"));

    let fresh = stack.user("fresh");
    let key = fresh.register().await;
    let http = reqwest::Client::new();
    let call = || {
        http.get(format!("{}/v1/tunnels", stack.server.url))
            .bearer_auth(&key)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(call().await.unwrap().status(), 200);
    }
    let r = call().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another client's bucket is its own.
    let other = stack.user("other");
    let other_key = other.register().await;
    let r = http
        .get(format!("{}/v1/tunnels", stack.server.url))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `kill -9` of the CLI while a request waits on a hung origin: the requester gets 502
/// (no response to wait for), and the server frees the tunnel (offline, domain kept).
pub async fn cli_killed_mid_request(stack: &Stack) {
    let user = stack.user("u");
    let key = user.register().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::channel(1);
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted_tx.try_send(());
        }
    });
    let mut tunnel = user.start(&[&port.to_string(), "--domain", "killed"]).await;
    let http = public_client(&stack.server, &["killed"]);
    let url = format!("{}/hangs", tunnel.url);
    let pending = tokio::spawn(async move {
        let r = http.get(url).send().await.unwrap();
        (r.status().as_u16(), std::time::Instant::now())
    });
    // The request reached the origin through the CLI: now kill the CLI.
    tokio::time::timeout(crate::READY_TIMEOUT, accepted.recv())
        .await
        .expect("the request reaches the origin");
    let killed_at = std::time::Instant::now();
    tunnel.child.start_kill().unwrap();
    let (status, answered_at) = pending.await.unwrap();
    assert_eq!(status, 502);
    let waited = answered_at - killed_at;
    assert!(
        waited < std::time::Duration::from_secs(2),
        "the requester waited {waited:?} after the client died"
    );
    let rest = crate::inspection::Rest::new(stack, Some(&key));
    let (_, t) = rest
        .call(
            "GET",
            &format!("/v1/tunnels/{}", rest.tunnel_id("killed").await),
            None,
        )
        .await;
    assert_eq!(t["status"], "offline", "the server freed the tunnel: {t}");
    // Offline: the same page on both backends, saying how to bring it back (AWS
    // answers it after waiting `ONLINE_WAIT` for a client reconnecting).
    let r = public_client(&stack.server, &["killed"])
        .get(format!("{}/again", tunnel.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    let offline = tunnel_backend::handlers::admission::Refusal::Offline {
        domain: "killed".into(),
    };
    assert_eq!(page.as_bytes(), offline.body(), "{page}");
    assert!(
        page.contains(
            "Run `tunnel start &lt;port&gt; --domain killed` on the machine that serves it."
        ),
        "{page}"
    );
    holder.abort();
}
