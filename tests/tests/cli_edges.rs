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
