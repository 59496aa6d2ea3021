//! A moto DynamoDB server per test, on a port the OS picks, stopped on drop.

#![allow(clippy::missing_panics_doc)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long moto may take to start (it imports every AWS service model first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moto_server`, killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

fn moto_server() -> PathBuf {
    let venv = std::env::var_os("TUNNEL_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is not set");
            PathBuf::from(home).join(".cache/tunnel-venv")
        },
        PathBuf::from,
    );
    venv.join("bin/moto_server")
}

/// The port in werkzeug's "Running on http://127.0.0.1:PORT" line.
fn port_in(line: &str) -> Option<u16> {
    let rest = line.split("Running on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|&p| p != 0)
}

/// True once moto answers its own API (so it is moto, and it serves requests).
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = "GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    let mut head = [0u8; 12];
    s.write_all(req.as_bytes()).is_ok()
        && s.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
        && head.ends_with(b"200")
}

impl Moto {
    /// Starts moto on a port the OS picks (`-p 0`, read back from its log line, so no
    /// other process can take the port in between) and waits until it answers.
    pub fn start() -> Self {
        let bin = moto_server();
        assert!(
            bin.is_file(),
            "moto_server not found at {}: run `scripts/setup.sh python` to install it \
             (or point TUNNEL_VENV at a virtualenv holding moto[server])",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // moto logs every request to stderr; this thread keeps reading it for the life
        // of the server so that a full pipe never blocks it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut log = Vec::new();
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = port_in(&line) {
                        break port;
                    }
                    log.push(line);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto_server did not report its port ({e:?}); its output:\n{}",
                        log.join("\n")
                    );
                }
            }
        };
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        while !answers(port) {
            assert!(
                Instant::now() < deadline,
                "moto_server on port {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
