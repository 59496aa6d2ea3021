//! Harness for the end-to-end tests: starts the real `tunnel-server` and `tunnel`
//! binaries on loopback (port 0, readiness read from their output, never slept on),
//! an echo origin, and an HTTP client that reaches `<name>.localhost` without DNS.
//!
//! The binaries are looked up next to the test executable, where
//! `cargo build --workspace --bins` puts them (scripts/test.sh runs it first).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod ansi;
pub mod auth_limit;
pub mod authz;
pub mod browser;
pub mod fidelity;
pub mod forwarded;
pub mod inbox;
pub mod inspection;
pub mod keep;
pub mod moto;
pub mod policy;
pub mod real_clients;
pub mod scenarios;
pub mod soak;
pub mod stored_bodies;
pub mod targets;
pub mod terminal;
pub mod webhooks;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// How long the public test client keeps an idle connection: half the server's
/// keep-alive limit (`HEADER_READ_TIMEOUT`, 10 s).
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a process to say it is ready; a bound on failure, not a delay.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of a workspace binary built by cargo beside the tests.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/e2e-hash -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Reads lines from `lines` until one satisfies `pred`; returns it.
pub async fn wait_line<R>(lines: &mut Lines<R>, what: &str, pred: impl Fn(&str) -> bool) -> String
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let found = tokio::time::timeout(READY_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if pred(&line) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        Ok(None) => panic!("output ended before {what}"),
        Err(_) => panic!("no {what} within {READY_TIMEOUT:?}"),
    }
}

/// The local stack's binary.
pub const SERVER: &str = "tunnel-server";
/// The AWS deployment's binary (crate `tunnel-emulator`).
pub const EMULATOR: &str = "tunnel-emulator";

/// A running `tunnel-server`, or `tunnel-emulator` (the AWS deployment, which takes
/// the same `--listen` and `--data-dir` and prints its URL the same way).
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// Its port.
    pub port: u16,
}

impl Server {
    /// Sends the server SIGTERM (a clean shutdown: drain, flush the request log) and
    /// returns at once; wait on `child` for the exit.
    pub async fn sigterm(&self) {
        let pid = self.child.id().expect("the server is running").to_string();
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
    }

    /// Starts a server on a free loopback port over `data_dir`.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// Starts a server with extra arguments.
    pub async fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", data_dir, extra).await
    }

    /// Starts a server on `listen` (e.g. the port of a server that was killed).
    pub async fn start_on(listen: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn(SERVER, listen, data_dir, extra, None).await
    }

    /// Starts a server logging at debug level into the file `log`, for tests that
    /// read the logs.
    pub async fn start_logging(data_dir: &Path, extra: &[&str], log: &Path) -> Self {
        Self::spawn(SERVER, "127.0.0.1:0", data_dir, extra, Some(log)).await
    }

    /// [`Self::start_logging`] on `listen` (e.g. the port of a server that was killed).
    pub async fn start_logging_on(
        listen: &str,
        data_dir: &Path,
        extra: &[&str],
        log: &Path,
    ) -> Self {
        Self::spawn(SERVER, listen, data_dir, extra, Some(log)).await
    }

    /// Starts `tunnel-emulator` over DynamoDB at `dynamodb` with extra arguments,
    /// logging at debug level (its own and the emulated functions' lines) into `log`
    /// when given.
    pub async fn start_emulator(
        dynamodb: &str,
        data_dir: &Path,
        extra: &[&str],
        log: Option<&Path>,
    ) -> Self {
        let mut args = vec!["--dynamodb-endpoint", dynamodb];
        args.extend_from_slice(extra);
        Self::spawn(EMULATOR, "127.0.0.1:0", data_dir, &args, log).await
    }

    async fn spawn(
        program: &str,
        listen: &str,
        data_dir: &Path,
        extra: &[&str],
        log: Option<&Path>,
    ) -> Self {
        let mut command = Command::new(bin(program));
        command
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            // E2E_SERVER_LOG=info shows the server's (and the emulated functions') logs.
            .env(
                "RUST_LOG",
                std::env::var("E2E_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(log) = log {
            command
                .env("RUST_LOG", "debug")
                .stderr(std::fs::File::create(log).unwrap());
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = wait_line(&mut lines, "server URL", |l| {
            l.starts_with("http://") || l.starts_with("https://")
        })
        .await;
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Self { child, url, port }
    }

    /// Kills the server the hard way (SIGKILL).
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// The public URL host of tunnel `name`.
    pub fn host_of(&self, name: &str) -> String {
        format!("{name}.localhost:{}", self.port)
    }
}

/// One user of the CLI: a config file of their own.
#[derive(Debug)]
pub struct User {
    /// Their config file.
    pub config: PathBuf,
    /// The server they talk to.
    pub api_url: String,
}

/// What a finished CLI command did.
#[derive(Debug)]
pub struct Output {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl User {
    /// A user whose config lives in `dir`.
    pub fn new(dir: &Path, server: &Server) -> Self {
        Self {
            config: dir.join("config"),
            api_url: server.url.clone(),
        }
    }

    /// A `tunnel` command for this user.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("tunnel"));
        c.args(["--api-url", &self.api_url])
            .args(args)
            .env("TUNNEL_CONFIG", &self.config)
            .env_remove("TUNNEL_API_URL")
            .env_remove("TUNNEL_API_KEY")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Runs a command to completion.
    pub async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(READY_TIMEOUT, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("`tunnel {}` did not finish", args.join(" ")))
            .unwrap();
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_eq!(
            out.code,
            Some(0),
            "`tunnel {}` failed: {out:?}",
            args.join(" ")
        );
        out.stdout
    }

    /// `tunnel register`, then the saved API key.
    pub async fn register(&self) -> String {
        self.ok(&["register"]).await;
        self.api_key()
    }

    /// The API key saved in the config file.
    pub fn api_key(&self) -> String {
        let text = std::fs::read_to_string(&self.config).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("api_key = "))
            .map(|v| v.trim_matches('"').to_owned())
            .expect("config holds the api_key")
    }

    /// Starts `tunnel start` with `args` and waits for its public URL.
    pub async fn start(&self, args: &[&str]) -> RunningTunnel {
        let mut full = vec!["start"];
        full.extend_from_slice(args);
        let mut child = self
            .command(&full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = wait_line(&mut stdout, "public URL", |l| {
            l.starts_with("http://") || l.starts_with("https://")
        })
        .await;
        RunningTunnel {
            child,
            url,
            stdout,
            stderr,
        }
    }
}

/// A `tunnel start` in the foreground.
#[derive(Debug)]
pub struct RunningTunnel {
    /// The process.
    pub child: Child,
    /// The public URL it printed.
    pub url: String,
    /// The rest of its standard output.
    pub stdout: Lines<BufReader<ChildStdout>>,
    /// Its standard error.
    pub stderr: Lines<BufReader<ChildStderr>>,
}

impl RunningTunnel {
    /// The subdomain of its URL.
    pub fn domain(&self) -> String {
        let host = self.url.trim_start_matches("http://");
        host.split('.').next().unwrap().to_owned()
    }

    async fn sigint(&self) {
        let pid = self.child.id().unwrap();
        let status = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    /// [`Self::interrupt`], and what it wrote to stderr from then on.
    pub async fn interrupt_with_stderr(mut self) -> (Option<i32>, String) {
        self.sigint().await;
        let mut rest = String::new();
        // Ends when the process exits and its stderr closes.
        tokio::time::timeout(READY_TIMEOUT, async {
            while let Ok(Some(line)) = self.stderr.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
        })
        .await
        .expect("tunnel exits after Ctrl-C");
        let code = tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .expect("tunnel exits after Ctrl-C")
            .unwrap()
            .code();
        (code, rest)
    }

    /// Sends SIGINT (as Ctrl-C does) and waits for the exit code.
    pub async fn interrupt(mut self) -> Option<i32> {
        self.sigint().await;
        tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .expect("tunnel exits after Ctrl-C")
            .unwrap()
            .code()
    }
}

/// An origin that echoes each request: the body back as the body, and the method,
/// target and headers it saw in `x-echo-*` response headers. `GET /bytes/N` answers
/// N bytes of [`pattern`] instead, and `/status/N` an empty answer with status N.
#[derive(Debug)]
pub struct Origin {
    /// Its port on 127.0.0.1.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    /// Starts an echo origin on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let target = req
                        .uri()
                        .path_and_query()
                        .map_or("/".into(), ToString::to_string);
                    log.lock().unwrap().push(target);
                    echo(req)
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { port, task, seen }
    }

    /// The request targets received so far, in arrival order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// `len` bytes of a fixed pattern, as served by the origin at `/bytes/{len}`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(len) = req
        .uri()
        .path()
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse().ok())
    {
        return Ok(Response::new(Full::new(Bytes::from(pattern(len)))));
    }
    if let Some(status) = req
        .uri()
        .path()
        .strip_prefix("/status/")
        .and_then(|n| http::StatusCode::from_bytes(n.as_bytes()).ok())
    {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = status;
        return Ok(resp);
    }
    let method = req.method().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), ToString::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut resp = Response::new(Full::new(body));
    let h = resp.headers_mut();
    h.insert("x-echo-method", method.parse().unwrap());
    h.insert(
        "x-echo-target",
        http::HeaderValue::from_str(&target).unwrap(),
    );
    h.insert(
        "x-echo-headers",
        http::HeaderValue::from_str(&serde_json::to_string(&headers).unwrap()).unwrap(),
    );
    h.append("x-multi-out", "one".parse().unwrap());
    h.append("x-multi-out", "two".parse().unwrap());
    Ok(resp)
}

/// A port with nothing listening on it (bound, then released).
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// An HTTP client that sends `<name>.localhost:<port>` to 127.0.0.1, as curl and
/// browsers do, without needing DNS for it.
pub fn public_client(server: &Server, names: &[&str]) -> reqwest::Client {
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    // Idle connections are dropped well before tunnel-server closes them (its
    // HEADER_READ_TIMEOUT, 10 s, also bounds keep-alive idleness): a request sent on a
    // connection at the moment the server closes it fails before the server sees it.
    // The full soak lost one request of 20,000 that way with reqwest's default 90 s.
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(CLIENT_IDLE_TIMEOUT);
    for n in names {
        b = b.resolve(&format!("{n}.localhost"), addr);
    }
    b.build().unwrap()
}

/// For a test that speaks the tunnel protocol itself: creates tunnel `domain` for the
/// holder of `key` and returns its id and the WebSocket URL, with a fresh session
/// token, that a client connects to before sending CONNECT.
pub async fn raw_session(server: &Server, key: &str, domain: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let post = |path: &str| http.post(format!("{}{path}", server.url)).bearer_auth(key);
    let token: serde_json::Value = post("/v1/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tunnel: serde_json::Value = post("/v1/tunnels")
        .json(&serde_json::json!({ "domain": domain }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws_url = format!(
        "{}/v1/connect?token={}",
        server.url.replace("http://", "ws://"),
        token["token"].as_str().unwrap()
    );
    (tunnel["tunnel_id"].as_str().unwrap().to_owned(), ws_url)
}

/// Random bytes, for bodies that must arrive exactly.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut v);
    v
}
