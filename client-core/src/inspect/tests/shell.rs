//! Runs the produced commands under `sh`, `bash` and `dash` (those present) with a
//! fake `curl` first on PATH that records its arguments and standard input.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

struct Run {
    args: Vec<String>,
    stdin: Vec<u8>,
}

fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "client-core-inspect-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fake_curl(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join("curl");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$OUT/args\"\n\
         cat > \"$OUT/stdin\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(shell: &str, command: &str) -> Run {
    let dir = scratch_dir();
    fake_curl(&dir);
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // From a file: a large body makes the command longer than one argument may be.
    let script = dir.join("command.sh");
    std::fs::write(&script, command).unwrap();
    let status = Command::new(shell)
        .arg(&script)
        .env("PATH", path)
        .env("OUT", &dir)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{shell} failed on:\n{command}");
    let args = std::fs::read(dir.join("args")).unwrap();
    let args = args
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8(a.to_vec()).unwrap())
        .collect();
    let stdin = std::fs::read(dir.join("stdin")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Run { args, stdin }
}

fn shells() -> Vec<&'static str> {
    ["sh", "bash", "dash"]
        .into_iter()
        .filter(|s| {
            Command::new(s)
                .arg("-c")
                .arg("true")
                .status()
                .is_ok_and(|st| st.success())
        })
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn text_body_and_awkward_headers_survive_the_shell() {
    let body = "line 1\n\tit's $HOME `date` \\n %s 100% \"q\" é ✓\n@not-a-file";
    let x = request(
        "PUT",
        "/a b/[x]/../c?q='1'&r=$x",
        &[
            ("Host", "ignored"),
            ("X-Quote", "it's \"fine\" $PATH `id`"),
            ("X-Empty", ""),
            ("Transfer-Encoding", "chunked"),
            ("Accept", "*/*"),
        ],
        body.as_bytes(),
    );
    let command = to_curl(&x, BASE);
    for shell in shells() {
        let run = run(shell, &command);
        assert_eq!(
            run.args,
            strs(&[
                "https://demo.tunnel.example/a b/[x]/../c?q='1'&r=$x",
                "-X",
                "PUT",
                "--globoff",
                "--path-as-is",
                "-H",
                "X-Quote: it's \"fine\" $PATH `id`",
                "-H",
                "X-Empty;",
                "-H",
                "Accept: */*",
                "-H",
                "Content-Type:",
                "--data-raw",
                body,
            ]),
            "{shell}"
        );
        assert!(run.stdin.is_empty());
    }
}

#[test]
fn binary_body_is_piped_byte_for_byte() {
    let mut body: Vec<u8> = (0..=255u8).collect();
    body.extend_from_slice(b"%%s\\\\'\r\n\x00007");
    let x = request(
        "POST",
        "/upload",
        &[("Content-Type", "application/octet-stream")],
        &body,
    );
    let command = to_curl(&x, BASE);
    assert!(command.starts_with("printf '"), "{command}");
    for shell in shells() {
        let run = run(shell, &command);
        assert_eq!(
            run.args,
            strs(&[
                "https://demo.tunnel.example/upload",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                "@-",
            ]),
            "{shell}"
        );
        assert_eq!(run.stdin, body, "{shell}");
    }
}

#[test]
fn text_with_carriage_returns_or_large_is_piped() {
    let crlf = b"--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--\r\n".to_vec();
    let big: Vec<u8> = "x'%\\\n".repeat(20_000).into_bytes(); // 100,000 bytes
    for body in [crlf, big] {
        let x = request("PATCH", "/p", &[], &body);
        let command = to_curl(&x, BASE);
        for shell in shells() {
            let run = run(shell, &command);
            assert_eq!(
                run.args,
                strs(&[
                    "https://demo.tunnel.example/p",
                    "-X",
                    "PATCH",
                    "-H",
                    "Content-Type:",
                    "--data-binary",
                    "@-",
                ])
            );
            assert_eq!(run.stdin, body, "{shell}");
        }
    }
}

/// With a real `curl` (skipped when there is none): the request it sends to a local
/// listener is the captured one, head and body.
#[test]
fn real_curl_sends_the_captured_request() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    if !Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return;
    }
    let text = request(
        "DELETE",
        "/a/./b/[1]?x=%20y",
        &[("X-Empty", ""), ("X-Q", "it's"), ("Host", "other")],
        b"-not an option\n '@x'",
    );
    let mut binary = request("POST", "/bin", &[("Content-Type", "image/png")], b"");
    binary.request.body = CapturedBody::full((0..=255u8).rev().collect());
    for x in [text, binary] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push(line.trim_end().to_owned());
            }
            let length = head
                .iter()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .map_or(0, |n| n.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            (head, body)
        });
        let dir = scratch_dir();
        let script = dir.join("command.sh");
        std::fs::write(&script, to_curl(&x, &base)).unwrap();
        let status = Command::new("sh")
            .arg(&script)
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(status.success());
        let (head, body) = server.join().unwrap();
        assert_eq!(head[0], format!("{} {} HTTP/1.1", x.method, x.path));
        assert_eq!(body, x.request.body.bytes);
        let has = |line: &str| head.iter().any(|l| l == line);
        if x.method == "DELETE" {
            assert!(has("X-Empty:") && has("X-Q: it's"), "{head:#?}");
            assert!(
                !head
                    .iter()
                    .any(|l| l.to_ascii_lowercase().starts_with("content-type"))
            );
            assert!(!has("Host: other"));
        } else {
            assert!(has("Content-Type: image/png"), "{head:#?}");
        }
    }
}

#[test]
fn truncated_body_is_flagged_and_sent_as_captured() {
    let mut x = request("POST", "/t", &[("Content-Type", "text/plain")], b"");
    x.request.body = CapturedBody {
        bytes: b"abc".to_vec(),
        size: 10,
        truncated: true,
    };
    let command = to_curl(&x, BASE);
    assert!(
        command.starts_with(
            "# warning: the request body was truncated when captured: this sends only its first 3 of 10 bytes\n"
        ),
        "{command}"
    );
    for shell in shells() {
        let run = run(shell, &command);
        assert_eq!(run.args.last().map(String::as_str), Some("abc"));
    }
}
