//! Real clients through the tunnel, as a user would point them at it: curl (100-continue,
//! rate-limited uploads), Python's `websockets`, and headless Chromium opening a Vite
//! dev server with hot reload and reading server-sent events with `EventSource`.
//!
//! Each scenario runs on the local stack and on the emulated AWS deployment; where
//! AWS cannot do what the local stack does (a Function URL delivers the request body
//! whole; it cannot carry a WebSocket), the AWS run checks the documented behaviour.
//!
//! Order is proven with a [`Journal`] that the origins and the test write to: "the
//! origin had the first piece before the client sent the last" is an order of lines,
//! never a timing. Needs curl, a Python with `websockets` ([`python`]), Node with
//! `tests/vite-app` installed ([`vite_bin`]) and Chromium (`scripts/setup.sh browser`).

#![allow(clippy::missing_panics_doc)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc};

use crate::READY_TIMEOUT;
use crate::browser::workspace_root;

/// Lines in arrival order, written by the origins and the test alike; a test waits on
/// it for a line to appear (bounded by [`READY_TIMEOUT`], never a sleep).
#[derive(Debug, Clone, Default)]
pub struct Journal {
    lines: Arc<Mutex<Vec<String>>>,
    changed: Arc<Notify>,
}

impl Journal {
    /// Appends a line.
    pub fn push(&self, line: impl Into<String>) {
        self.lines.lock().unwrap().push(line.into());
        self.changed.notify_waiters();
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Position of the first line satisfying `pred`, if any.
    pub fn position(&self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.lines.lock().unwrap().iter().position(|l| pred(l))
    }

    /// Position of the first line that starts with `prefix`; panics naming the journal
    /// when there is none.
    pub fn index_of(&self, prefix: &str) -> usize {
        self.position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.lines()))
    }

    /// Waits until a line satisfies `pred`; returns its position.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> usize {
        let waited = tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                // Registered before the check, so a push in between still wakes us.
                changed.as_mut().enable();
                if let Some(i) = self.position(&pred) {
                    return i;
                }
                changed.await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            panic!(
                "no {what} within {READY_TIMEOUT:?}; journal: {:?}",
                self.lines()
            )
        })
    }
}

/// A checksum of a body that sees order and position (a plain sum would not), so a
/// test can compare what the origin received with what was sent.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter().enumerate().fold(0u64, |acc, (i, &b)| {
        acc.wrapping_mul(31)
            .wrapping_add(u64::from(b) ^ (i as u64 & 0xff))
    })
}

type OriginBody = BoxBody<Bytes, Infallible>;

/// The origin of the real-client scenarios, on a port the OS picks. It writes to its
/// [`Journal`] what it sees, as it sees it:
///
/// - `* /refuse`: `refuse: head` and a 401 at once, the body left unread.
/// - `* /upload`: `upload: head, length <n>` (or `chunked`), `upload: data <bytes so
///   far>` for each piece as it arrives, `upload: end <total>`; answers
///   `<total> <checksum>`.
/// - `GET /sse/page`: a page whose `EventSource` reads `/sse/events` into
///   `window.got`.
/// - `GET /sse/events`: server-sent events, sent one at a time by [`Self::sse_send`]
///   (`sse: open` once the stream is there).
#[derive(Debug)]
pub struct ClientOrigin {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// What it saw.
    pub journal: Journal,
    sse: Arc<Mutex<Option<mpsc::Sender<Bytes>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClientOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The page that reads the event stream; every event's data goes to `window.got`,
/// every error (a reconnect) is counted in `window.errors`.
const SSE_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>events</title></head>
<body><ul id="events"></ul>
<script>
window.got = [];
window.errors = 0;
const source = new EventSource('/sse/events');
source.onmessage = (e) => {
  window.got.push(e.data);
  const li = document.createElement('li');
  li.textContent = e.data;
  document.getElementById('events').appendChild(li);
};
source.onerror = () => { window.errors += 1; };
</script></body></html>
"#;

impl ClientOrigin {
    /// Starts it.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let journal = Journal::default();
        let sse = Arc::new(Mutex::new(None));
        let (j, s) = (journal.clone(), sse.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (j, s) = (j.clone(), s.clone());
                let service = hyper::service::service_fn(move |req| {
                    let (j, s) = (j.clone(), s.clone());
                    async move { Ok::<_, Infallible>(serve(req, j, s).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            port,
            journal,
            sse,
            task,
        }
    }

    /// Sends one server-sent event with `data` on the open event stream.
    pub async fn sse_send(&self, data: &str) {
        let tx = self
            .sse
            .lock()
            .unwrap()
            .clone()
            .expect("the event stream is open");
        tx.send(Bytes::from(format!("data: {data}\n\n")))
            .await
            .expect("the event stream is still read");
    }
}

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<OriginBody> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
    r
}

async fn serve(
    req: Request<Incoming>,
    journal: Journal,
    sse: Arc<Mutex<Option<mpsc::Sender<Bytes>>>>,
) -> Response<OriginBody> {
    match req.uri().path() {
        "/refuse" => {
            // Answered from the head alone, as an origin checking credentials does.
            journal.push("refuse: head");
            reply(401, "text/plain", "credentials required\n")
        }
        "/upload" => {
            // How the body is framed on the last hop: the caller's length, or chunked.
            let framing = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| "chunked".to_owned(), |n| format!("length {n}"));
            journal.push(format!("upload: head, {framing}"));
            let mut body = req.into_body();
            let mut got = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    journal.push("upload: broken");
                    return reply(400, "text/plain", "broken upload\n");
                };
                if let Ok(data) = frame.into_data() {
                    got.extend_from_slice(&data);
                    journal.push(format!("upload: data {}", got.len()));
                }
            }
            journal.push(format!("upload: end {}", got.len()));
            reply(
                200,
                "text/plain",
                format!("{} {}", got.len(), checksum(&got)),
            )
        }
        "/sse/page" => reply(200, "text/html; charset=utf-8", SSE_PAGE),
        "/sse/events" => {
            let (tx, rx) = mpsc::channel::<Bytes>(4);
            *sse.lock().unwrap() = Some(tx);
            journal.push("sse: open");
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            let mut r = Response::new(StreamBody::new(stream).boxed());
            let h = r.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                "text/event-stream".parse().unwrap(),
            );
            h.insert(http::header::CACHE_CONTROL, "no-cache".parse().unwrap());
            r
        }
        _ => reply(404, "text/plain", "no such page\n"),
    }
}

/// A WebSocket origin on a port the OS picks that echoes every message.
pub async fn websocket_echo_origin() -> u16 {
    use futures_util::{SinkExt as _, StreamExt as _};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// What a finished client program did.
#[derive(Debug)]
pub struct Ran {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Waits for `child` (stdout and stderr piped) to exit, bounded by [`READY_TIMEOUT`].
pub async fn finish(child: Child, what: &str) -> Ran {
    let out = tokio::time::timeout(READY_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {READY_TIMEOUT:?}"))
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `curl` for a tunnel's host on loopback: `--resolve` sends `<domain>.localhost` to
/// 127.0.0.1 whatever the resolver thinks, and no proxy from the environment applies.
pub fn curl(port: u16, domain: &str, args: &[&str]) -> Command {
    let mut c = Command::new("curl");
    c.args([
        "--silent",
        "--show-error",
        "--noproxy",
        "*",
        "--resolve",
        &format!("{domain}.localhost:{port}:127.0.0.1"),
    ])
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    c
}

/// The Python that runs the `websockets` client: `E2E_PYTHON` when set, else the
/// project venv's (`TUNNEL_VENV`, default `~/.cache/tunnel-venv`), where
/// `scripts/setup.sh python` installs `websockets`.
pub fn python() -> PathBuf {
    let path = std::env::var_os("E2E_PYTHON").map_or_else(
        || {
            let venv = std::env::var_os("TUNNEL_VENV").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/tunnel-venv"),
                PathBuf::from,
            );
            venv.join("bin/python")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: run `scripts/setup.sh python` (or set E2E_PYTHON to a Python with `websockets`)",
        path.display()
    );
    path
}

/// The Python client script (`tests/python/ws_echo_client.py`).
pub fn ws_client_script() -> PathBuf {
    workspace_root().join("tests/python/ws_echo_client.py")
}

/// The Vite app the browser test serves (`tests/vite-app`).
pub fn vite_app() -> PathBuf {
    workspace_root().join("tests/vite-app")
}

/// Vite's command-line entry in `tests/vite-app/node_modules` (`npm ci` there).
pub fn vite_bin() -> PathBuf {
    let bin = vite_app().join("node_modules/vite/bin/vite.js");
    assert!(
        bin.exists(),
        "{} is missing: run `npm ci --prefix tests/vite-app` (scripts/setup.sh does)",
        bin.display()
    );
    bin
}

/// A Vite dev server over a copy of `tests/vite-app` (so the test can edit its
/// modules), on a port the OS picks.
#[derive(Debug)]
pub struct ViteServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The copy it serves; edit files here.
    pub root: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ViteServer {
    /// Copies the app and starts `vite` on it; returns once it says where it listens.
    pub async fn start() -> Self {
        let bin = vite_bin();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        copy_app(&vite_app(), &root);
        let mut child = Command::new("node")
            .arg(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--strictPort",
                "--clearScreen",
                "false",
            ])
            .current_dir(&root)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs vite");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = crate::wait_line(&mut lines, "Vite's address", |l| {
            l.contains("http://127.0.0.1:")
        })
        .await;
        let port = line
            .split("http://127.0.0.1:")
            .nth(1)
            .map(|r| {
                r.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        // Keep reading so Vite never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            port,
            root,
            child,
            _dir: dir,
        }
    }

    /// Replaces `relative`'s contents in the served copy, as an editor's save does.
    pub async fn write(&self, relative: &str, contents: &str) {
        let path = self.root.join(relative);
        let mut f = tokio::fs::File::create(&path).await.unwrap();
        f.write_all(contents.as_bytes()).await.unwrap();
        f.sync_all().await.unwrap();
    }
}

impl Drop for ViteServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Copies the app's own files (not `node_modules`).
fn copy_app(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_app(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The value of `tunnel_requests_total` for `tunnel` and status `class` in the
/// server's Prometheus text (0 when absent).
pub async fn requests_counted(server_url: &str, tunnel: &str, class: &str) -> u64 {
    let text = reqwest::get(format!("{server_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let labels = [format!("tunnel=\"{tunnel}\""), format!("class=\"{class}\"")];
    text.lines()
        .filter(|l| l.starts_with("tunnel_requests_total{"))
        .filter(|l| labels.iter().all(|want| l.contains(want.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}
