//! The CLI's sharp edges, as a person meets them: `stop` without a name never stops
//! everything by accident, `requests` picks the most recent tunnel, `auth login` does
//! not show the key as it is typed (on a real pseudo-terminal), and `--help`,
//! completions and the man page come from the same definitions.

#![allow(clippy::unwrap_used)]

use e2e::terminal::Terminal;
use e2e::{Origin, Server, User, bin};
use serde_json::{Value, json};

/// Creates a tunnel through the REST API (offline: no `tunnel start` serves it).
async fn create(server: &Server, key: &str, domain: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/tunnels", server.url))
        .bearer_auth(key)
        .json(&json!({ "domain": domain }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The user's tunnels' domains, sorted.
async fn domains(user: &User) -> Vec<String> {
    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    let mut d: Vec<String> = list["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["domain"].as_str().unwrap().to_owned())
        .collect();
    d.sort();
    d
}

#[tokio::test]
async fn stop_without_a_name_needs_all_and_requests_takes_the_most_recent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    let key = user.register().await;
    create(&server, &key, "older-one").await;
    // The one in use: served by a running `tunnel start`.
    let origin = Origin::start().await;
    let running = user
        .start(&[&origin.port.to_string(), "--domain", "newer-one"])
        .await;

    // Not a terminal: no name and no --all is refused, and nothing is stopped.
    let out = user.run(&["stop"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("--all"), "says how: {}", out.stderr);
    assert!(out.stderr.contains("all 2 of yours"), "{}", out.stderr);
    assert_eq!(domains(&user).await, ["newer-one", "older-one"]);

    // `requests` with two tunnels: the newer one, and it says which.
    let out = user.run(&["requests"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("newer-one (your most recent of 2 tunnels"),
        "{}",
        out.stderr
    );

    // By domain, then the rest with --all.
    user.ok(&["stop", "older-one"]).await;
    assert_eq!(domains(&user).await, ["newer-one"]);
    let out = user.ok(&["stop", "--all"]).await;
    assert!(out.contains("stopped tunnel"), "{out}");
    assert!(domains(&user).await.is_empty());
    drop(running);
}

#[tokio::test]
async fn login_on_a_terminal_does_not_echo_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    let key = user.register().await;
    // Log out, then log in again by typing the key at the prompt.
    user.ok(&["auth", "logout"]).await;
    let config = user.config.display().to_string();
    let tunnel = bin("tunnel");
    let api_url = server.url.clone();
    let term = Terminal::start(
        &[
            tunnel.as_path(),
            "--api-url".as_ref(),
            api_url.as_ref(),
            "auth".as_ref(),
            "login".as_ref(),
        ],
        &[("TUNNEL_CONFIG", &config), ("RUST_LOG", "warn")],
        100,
        20,
    );
    term.wait_for("the key prompt", |s| {
        s.contains("API key (not shown as you type):")
    });
    term.send_keys(&key, true);
    term.send_keys("Enter", false);
    let screen = term.wait_for("the login result", |s| s.contains("logged in as client"));
    assert!(!screen.contains(&key), "the key was echoed:\n{screen}");
    assert_eq!(user.api_key(), key, "the typed key was saved");
}

#[tokio::test]
async fn help_completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    let help = user.ok(&["--help"]).await;
    assert!(help.contains("Examples:") && help.contains("tunnel start 3000 --domain myapp"));
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tunnel"),
        ("fish", "complete -c tunnel"),
    ] {
        let out = user.ok(&["completions", shell]).await;
        assert!(out.contains(mark), "{shell}: {out}");
        assert!(out.contains("replay"), "{shell} completes subcommands");
    }
    let out = user.run(&["completions", "tcsh"]).await;
    assert_eq!(out.code, Some(2), "an unknown shell is a usage error");
    let man = user.ok(&["man"]).await;
    assert!(man.contains(".TH tunnel"), "{man}");
    assert!(man.contains("register"), "the man page lists the commands");
}

#[tokio::test]
async fn errors_speak_the_cli_s_language() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    user.register().await;

    // A stale TUNNEL_API_KEY overrides a good key in the file: say which one failed.
    let out = user
        .command(&["list"])
        .env("TUNNEL_API_KEY", "tk_0011_2233")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("TUNNEL_API_KEY (which overrides the one in"),
        "{stderr}"
    );
    assert!(stderr.contains("tunnel auth login"), "{stderr}");
    assert!(
        !stderr.contains("Authorization") && !stderr.contains("/v1/"),
        "REST words in the CLI: {stderr}"
    );

    // No server at the URL: how to start one, or where to point instead.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let nowhere = User {
        config: dir.path().join("other-config"),
        api_url: url.clone(),
    };
    let out = nowhere.run(&["register"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    assert!(
        out.stderr.contains("`tunnel-server`") && out.stderr.contains("--api-url"),
        "{}",
        out.stderr
    );
}

/// How long a command facing no server may take: its start-up tries and pauses, and
/// a margin for a loaded machine. The old code retried for ever.
fn give_up_bound() -> std::time::Duration {
    native_cli::api::STARTUP_PAUSE * native_cli::api::STARTUP_TRIES
        + std::time::Duration::from_secs(10)
}

/// Runs `command` to its end, failing the test if it outlives [`give_up_bound`].
async fn bounded(mut command: tokio::process::Command, what: &str) -> (Option<i32>, String) {
    let out = tokio::time::timeout(give_up_bound(), command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} kept trying past {:?}", give_up_bound()))
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn register_and_start_give_up_on_a_url_that_answers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", e2e::closed_port().await);
    let tries = format!("after {} tries", native_cli::api::STARTUP_TRIES);
    let nowhere = User {
        config: dir.path().join("config"),
        api_url: url.clone(),
    };

    // The URL from --api-url.
    let (code, stderr) = bounded(nowhere.command(&["register"]), "register").await;
    assert_eq!(code, Some(1), "{stderr}");
    for part in [
        &format!("{url} (from --api-url) {tries}"),
        "scripts/quickstart.sh",
        "`tunnel-server`",
        "TUNNEL_API_URL",
    ] {
        assert!(stderr.contains(part), "{part:?} missing: {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    // `start` with a key saved for that URL in the config file: no endless retry.
    std::fs::write(
        &nowhere.config,
        format!("api_url = \"{url}\"\napi_key = \"tk_0011_2233\"\n"),
    )
    .unwrap();
    let mut start = tokio::process::Command::new(bin("tunnel"));
    start
        .args(["start", "3000", "--domain", "myapp"])
        .env("TUNNEL_CONFIG", &nowhere.config)
        .env_remove("TUNNEL_API_URL")
        .env_remove("TUNNEL_API_KEY")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let (code, stderr) = bounded(start, "start").await;
    assert_eq!(code, Some(1), "{stderr}");
    let file = nowhere.config.display().to_string();
    assert!(
        stderr.contains(&format!("{url} (from api_url in {file}) {tries}")),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/quickstart.sh"), "{stderr}");

    // The URL from TUNNEL_API_URL (the flag left out), named as such.
    let mut register = tokio::process::Command::new(bin("tunnel"));
    register
        .arg("register")
        .env("TUNNEL_CONFIG", dir.path().join("fresh"))
        .env("TUNNEL_API_URL", &url)
        .env_remove("TUNNEL_API_KEY")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let (code, stderr) = bounded(register, "register").await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{url} (from TUNNEL_API_URL) {tries}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn register_says_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    let out = user.ok(&["register"]).await;
    assert!(out.contains("Next,"), "{out}");
    assert!(out.contains("tunnel start 3000 --domain myapp"), "{out}");
}

/// What the shell prints after the program, with its exit status.
const EXITED: &str = "[tunnel exited with ";

/// Runs `tunnel ARGS` for `user` on an 80-column terminal and returns its lines as
/// printed (wrapped ones joined again) once it has ended. A shell runs it and stays:
/// tmux 3.3a sometimes misses a pane's program ending, so the end is read from the
/// shell's line instead of the pane's death.
fn on_80_columns(user: &User, args: &[&str]) -> Vec<String> {
    let mut command = format!("'{}' --api-url '{}'", bin("tunnel").display(), user.api_url);
    for a in args {
        command.push_str(&format!(" '{a}'"));
    }
    command.push_str(&format!("; printf '{EXITED}%d]\\n' $?; exec sleep 600"));
    let argv: [&std::path::Path; 3] = ["sh".as_ref(), "-c".as_ref(), command.as_ref()];
    let config = user.config.display().to_string();
    let term = Terminal::start(
        &argv,
        &[("TUNNEL_CONFIG", &config), ("RUST_LOG", "warn")],
        80,
        40,
    );
    let deadline = std::time::Instant::now() + e2e::READY_TIMEOUT;
    loop {
        let lines = term.logical_lines();
        if let Some(status) = lines.iter().find_map(|l| {
            l.strip_prefix(EXITED)
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse::<i32>().ok())
        }) {
            assert_eq!(status, 0, "{}", lines.join("\n"));
            return lines
                .into_iter()
                .filter(|l| !l.starts_with(EXITED))
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`tunnel {}` did not end:\n{}",
            args.join(" "),
            term.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn assert_fits(lines: &[String], what: &str) {
    for l in lines {
        assert!(
            l.chars().count() <= 80,
            "`{what}` wrapped at 80 columns ({} chars): {l}\n{}",
            l.chars().count(),
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn tables_fit_an_80_column_terminal_and_pipes_get_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    let key = user.register().await;
    // Names as long as people pick, and one served with traffic on a long path.
    create(&server, &key, "customer-portal-staging-eu").await;
    let origin = Origin::start().await;
    let running = user
        .start(&[
            &origin.port.to_string(),
            "--domain",
            "payments-webhook-receiver",
        ])
        .await;
    let client = e2e::public_client(&server, &["payments-webhook-receiver"]);
    let long_path = format!("/api/v2/webhooks/stripe/events/{}", "e".repeat(60));
    let r = client
        .get(format!(
            "http://{}{long_path}",
            server.host_of("payments-webhook-receiver")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Capture is stored as the exchange ends; wait until the CLI lists it.
    let deadline = tokio::time::Instant::now() + e2e::READY_TIMEOUT;
    let piped = loop {
        let out = user.ok(&["requests", "payments-webhook-receiver"]).await;
        if out.contains(&long_path) {
            break out;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never captured: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // A pipe gets whole values: the full path.
    assert!(piped.lines().any(|l| l.chars().count() > 80), "{piped}");

    let lines = on_80_columns(&user, &["list"]);
    assert_fits(&lines, "tunnel list");
    let text = lines.join("\n");
    assert!(
        text.contains("DOMAIN") && text.contains("customer-portal-staging-eu"),
        "{text}"
    );
    assert!(text.contains("payments-webhook-receiver"), "{text}");
    assert!(
        user.ok(&["list"])
            .await
            .lines()
            .any(|l| l.chars().count() > 80),
        "a pipe gets ids and URLs whole"
    );

    let lines = on_80_columns(&user, &["status"]);
    assert_fits(&lines, "tunnel status");
    let text = lines.join("\n");
    assert!(
        text.contains("traffic, last 60 s:") && text.contains("P50"),
        "{text}"
    );

    let lines = on_80_columns(&user, &["requests", "payments-webhook-receiver"]);
    assert_fits(&lines, "tunnel requests");
    let text = lines.join("\n");
    assert!(
        // The id stays whole (`tunnel requests show ID` needs it); the path gets
        // what is left of 80 columns, at least MIN_PATH_WIDTH characters.
        text.contains("/api/v2/webhooks"),
        "{text}"
    );
    assert!(text.contains('…'), "the path is cut, visibly: {text}");
    drop(running);
}
