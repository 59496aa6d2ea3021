//! `tunnel start`'s live screen on a real pseudo-terminal (tmux), against a real local
//! stack: the header, a request shown while its origin still holds it and then with
//! its status, the layout following resizes, and one Ctrl-C (or `q`) giving the
//! terminal back as it was, with a fatal error printed after the screen is left.
//!
//! With `TUNNEL_SCREENSHOTS=DIR` (scripts/screenshots.sh) it also saves what the
//! terminal shows as `DIR/terminal-*.png`, drawn by headless Chromium from tmux's
//! colours.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use e2e::fidelity::HoldingOrigin;
use e2e::terminal::Terminal;
use e2e::{READY_TIMEOUT, Server, User, bin, public_client};

const DOMAIN: &str = "screen-demo";

/// Marks the line the shell prints with the program's exit status.
const EXITED: &str = "[tunnel exited with ";

/// `tunnel start ARGS...` in a `width` x `height` terminal, after a line from the
/// shell that the screen must leave intact.
///
/// The shell outlives the program and prints its exit status: tmux (3.3) marks a
/// dead pane by scrolling it a line and hiding its cursor, and at times misses the
/// death altogether, so what the program left behind is read from a live pane. The
/// shell waits out the Ctrl-C meant for the program (`trap :`, reset for the
/// program itself).
fn start_in_terminal(user: &User, args: &[&str], width: u16, height: u16) -> Terminal {
    let mut command = format!(
        "trap : INT; printf 'before the screen\\n'; '{}' --api-url '{}' start",
        bin("tunnel").display(),
        user.api_url
    );
    for a in args {
        command.push_str(&format!(" '{a}'"));
    }
    command.push_str(&format!("; printf '{EXITED}%d]\\n' $?; exec sleep 600"));
    let config = user.config.display().to_string();
    let argv: [&Path; 3] = ["sh".as_ref(), "-c".as_ref(), command.as_ref()];
    Terminal::start(
        &argv,
        &[("TUNNEL_CONFIG", &config), ("RUST_LOG", "warn")],
        width,
        height,
    )
}

/// Waits (bounded) for the program to end; its exit status.
fn wait_exit(term: &Terminal) -> i32 {
    let start = Instant::now();
    loop {
        let screen = term.screen();
        if let Some(status) = screen.lines().find_map(|l| {
            l.trim_end()
                .strip_prefix(EXITED)
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        }) {
            return status;
        }
        assert!(
            start.elapsed() < READY_TIMEOUT,
            "the program did not end; screen:\n{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A server, a registered user and an origin that answers when told to.
struct Setup {
    /// Holds the server's data and the user's home until the test ends.
    dir: tempfile::TempDir,
    server: Server,
    user: User,
    origin: HoldingOrigin,
}

impl Setup {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&dir.path().join("data")).await;
        let user = User::new(dir.path(), &server);
        user.register().await;
        let origin = HoldingOrigin::start().await;
        Self {
            dir,
            server,
            user,
            origin,
        }
    }
}

/// The row of the request list about `path`.
fn row<'a>(screen: &'a str, path: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(path))
}

#[tokio::test]
async fn live_screen_shows_requests_as_they_happen_and_gives_the_terminal_back() {
    let Setup {
        dir: _dir,
        server,
        user,
        origin,
    } = Setup::start().await;
    let port = origin.port.to_string();
    let term = start_in_terminal(&user, &[&port, "--domain", DOMAIN], 80, 24);
    let shots = Screenshots::from_env();

    let host = server.host_of(DOMAIN);
    let screen = term.wait_for("the header, online, with the account", |s| {
        s.contains("online")
            && s.contains("(account ")
            && !s.contains("(account ...)")
            && s.contains("latency")
    });
    let line = |prefix: &str| {
        screen
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in\n{screen}"))
            .to_owned()
    };
    assert_eq!(
        line("Forwarding"),
        format!("Forwarding   http://{host} -> http://localhost:{port}")
    );
    assert!(
        line("Inspector").starts_with(&format!("Inspector    {}/#/tunnels/", server.url)),
        "{screen}"
    );
    assert!(line("Server").contains(&server.url));
    assert!(line("Requests").contains("0 open"));
    assert!(screen.contains("No requests yet"));

    let client = public_client(&server, &[DOMAIN]);
    for status in ["200", "304", "404", "500"] {
        let r = client
            .get(format!("http://{host}/status/{status}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_str(), status);
    }
    // A request the origin holds shows at once, as in flight, its duration counting.
    let slow = format!("http://{host}/hold/monthly-report?format=pdf");
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.get(slow).send().await.unwrap().status() }
    });
    origin.wait_held(1).await;
    let screen = term.wait_for("the held request, in flight", |s| {
        row(s, "/hold/monthly-report").is_some_and(|r| r.contains("GET") && r.contains("..."))
    });
    assert!(row(&screen, "/status/404").unwrap().contains(" 404 "));
    assert!(screen.contains("1 open"), "{screen}");
    shots.take(&term, "terminal-80x24", 80, 24).await;

    origin.release();
    assert_eq!(pending.await.unwrap(), 200);
    let screen = term.wait_for("the held request, answered", |s| {
        row(s, "/hold/monthly-report").is_some_and(|r| r.contains(" 200 ") && !r.contains("..."))
    });
    assert!(
        screen.contains("0 open") && screen.contains("5 total"),
        "{screen}"
    );

    // The layout follows the window: the columns end at its right edge.
    for width in [120u16, 60, 80] {
        term.resize(width, 24);
        let screen = term.wait_for(&format!("the layout at {width} columns"), |s| {
            s.lines().any(|l| {
                l.contains("METHOD")
                    && l.ends_with("DURATION")
                    && l.chars().count() == usize::from(width)
            })
        });
        let time_column = screen.lines().any(|l| l.starts_with("TIME"));
        assert_eq!(time_column, width >= 72, "{screen}");
        if width == 120 {
            shots.take(&term, "terminal-120x24", 120, 24).await;
        }
    }

    // One Ctrl-C: the tunnel stops, and the shell's screen is back as it was, cursor
    // shown, alternate screen left.
    term.send_keys("C-c", false);
    assert_eq!(wait_exit(&term), 0);
    let screen = term.screen();
    assert!(screen.contains("before the screen"), "{screen}");
    assert!(
        screen.contains("stopped"),
        "the goodbye line is on the terminal:\n{screen}"
    );
    assert!(
        !screen.contains("to quit"),
        "the screen was left:\n{screen}"
    );
    assert_eq!(term.pane("#{alternate_on} #{cursor_flag}"), "0 1");
}

#[tokio::test]
async fn q_quits_and_a_fatal_error_is_printed_after_the_screen() {
    let Setup {
        dir,
        server,
        user,
        origin,
    } = Setup::start().await;
    let port = origin.port.to_string();

    let term = start_in_terminal(&user, &[&port, "--domain", DOMAIN], 80, 24);
    term.wait_for("the screen", |s| s.contains("online"));
    term.send_keys("q", true);
    assert_eq!(wait_exit(&term), 0);
    assert_eq!(term.pane("#{alternate_on} #{cursor_flag}"), "0 1");
    drop(term);

    // Someone else's tunnel holds the name: the server refuses for good. (Another
    // name: the one quit above stays this user's, kept inactive.)
    let taken = "screen-taken";
    let other = User::new(&dir.path().join("other"), &server);
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    other.register().await;
    let holder = other.start(&[&port, "--domain", taken]).await;
    let term = start_in_terminal(&user, &[&port, "--domain", taken], 80, 24);
    assert_eq!(wait_exit(&term), 1);
    let screen = term.screen();
    assert!(screen.contains("before the screen"), "{screen}");
    assert!(
        screen.contains("error:"),
        "the error is on the terminal:\n{screen}"
    );
    assert!(!screen.contains("to quit"), "{screen}");
    assert_eq!(term.pane("#{alternate_on} #{cursor_flag}"), "0 1");
    holder.interrupt().await;
}

#[tokio::test]
async fn pipes_and_log_keep_plain_lines() {
    let Setup {
        dir: _dir,
        server,
        user,
        origin,
    } = Setup::start().await;
    let port = origin.port.to_string();
    // --log on a terminal: one line per request, no screen.
    let term = start_in_terminal(&user, &[&port, "--domain", DOMAIN, "--log"], 80, 24);
    term.wait_for("the plain announcement", |s| {
        s.contains("Forwarding http://")
    });
    let client = public_client(&server, &[DOMAIN]);
    let host = server.host_of(DOMAIN);
    client
        .get(format!("http://{host}/status/404"))
        .send()
        .await
        .unwrap();
    let screen = term.wait_for("a log line", |s| row(s, "/status/404").is_some());
    assert!(
        row(&screen, "/status/404")
            .unwrap()
            .contains("GET /status/404 404")
    );
    assert_eq!(term.pane("#{alternate_on}"), "0");
    term.send_keys("C-c", false);
    assert_eq!(wait_exit(&term), 0);
}

/// Pictures of the terminal, when `TUNNEL_SCREENSHOTS` names a folder.
struct Screenshots {
    dir: Option<PathBuf>,
}

impl Screenshots {
    fn from_env() -> Self {
        Self {
            dir: std::env::var_os("TUNNEL_SCREENSHOTS").map(PathBuf::from),
        }
    }

    /// Saves what `term` shows (`cols` x `rows`) as `<dir>/<name>.png`.
    async fn take(&self, term: &Terminal, name: &str, cols: u32, rows: u32) {
        let Some(dir) = &self.dir else { return };
        std::fs::create_dir_all(dir).unwrap();
        let html = e2e::ansi::to_html(&term.screen_ansi(), cols as usize);
        let page = tempfile::Builder::new().suffix(".html").tempfile().unwrap();
        std::fs::write(page.path(), html).unwrap();
        // Roomy enough for the whole <pre>; the picture is of the element alone.
        let browser = e2e::browser::Browser::start(cols * 10 + 60, rows * 22 + 60).await;
        browser
            .goto(&format!("file://{}", page.path().display()))
            .await;
        let png = browser.find("pre").await.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        browser.close().await;
    }
}
