//! The web console in a real browser: headless Chromium over WebDriver, against the
//! real `tunnel-server` serving the console build, the real `tunnel` CLI and an echo
//! origin, all on loopback. Screenshots of each page go to
//! `target/console-screenshots/` (`CONSOLE_ARTIFACTS` to change).
//!
//! Needs Chromium and chromedriver (`scripts/setup.sh browser`) and a console build
//! (`scripts/console-build.sh`, run here when `target/console-dist` is missing).

#![allow(clippy::unwrap_used)]

use e2e::browser::{Browser, console_dist};
use e2e::{Origin, Server, User, public_client};
use serde_json::Value;

const WIDE: (u32, u32) = (1280, 860);
const PHONE: (u32, u32) = (390, 844);

/// A server that serves the console, and a registered CLI user.
struct Stack {
    server: Server,
    user: User,
    key: String,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start() -> Self {
        let dist = console_dist();
        let dir = tempfile::tempdir().unwrap();
        let dist = dist.to_str().unwrap().to_owned();
        let server = Server::start_with(&dir.path().join("data"), &["--console-dir", &dist]).await;
        let user = User::new(dir.path(), &server);
        let key = user.register().await;
        Self {
            server,
            user,
            key,
            _dir: dir,
        }
    }

    /// `GET` on the REST API with the user's key.
    async fn api(&self, path: &str) -> Value {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.server.url))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }
}

/// Logs in through the login page and waits for the tunnels page.
async fn log_in(b: &Browser, stack: &Stack) {
    b.goto(&format!("{}/", stack.server.url)).await;
    b.fill("login-api-key", &stack.key).await;
    b.click("login-submit").await;
    b.testid("tunnel-create-domain").await;
}

/// Creates a tunnel on `domain` from the tunnels page and waits for its row.
async fn create_tunnel(b: &Browser, domain: &str) {
    b.fill("tunnel-create-domain", domain).await;
    b.click("tunnel-create-submit").await;
    b.find(&format!("[data-testid=tunnel-row][data-domain={domain}]"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_create_inspect_replay_delete_log_out() {
    let stack = Stack::start().await;
    let origin = Origin::start().await;
    let b = Browser::start(WIDE.0, WIDE.1).await;

    // Login page; a wrong key is refused with a message.
    b.goto(&format!("{}/", stack.server.url)).await;
    b.testid("login-api-key").await;
    b.screenshot("wide-01-login").await;
    b.fill("login-api-key", "tk_nobody_0000").await;
    b.click("login-submit").await;
    b.testid("login-error").await;
    b.doc_screenshot("login-error").await;
    log_in(&b, &stack).await;

    // The domain is checked as it is typed, by the server's rules.
    b.fill("tunnel-create-domain", "ab").await;
    b.wait_text("[data-testid=tunnel-create-help]", "too short")
        .await;
    assert!(
        !b.testid("tunnel-create-submit")
            .await
            .is_enabled()
            .await
            .unwrap()
    );
    b.fill("tunnel-create-domain", "api").await;
    b.wait_text("[data-testid=tunnel-create-help]", "reserved")
        .await;
    create_tunnel(&b, "console-e2e").await;
    let tunnel_row = "[data-testid=tunnel-row][data-domain=console-e2e]";
    b.find(&format!("{tunnel_row}[data-status=offline]")).await;
    b.doc_screenshot("offline-tunnel").await;

    // The CLI serves the tunnel made in the console (same client, same domain): the row
    // goes online by itself.
    let port = origin.port.to_string();
    let _cli = stack.user.start(&[&port, "--domain", "console-e2e"]).await;
    b.find(&format!("{tunnel_row}[data-status=online]")).await;
    b.screenshot("wide-02-tunnels").await;

    // The inspector, its live feed open before any traffic.
    b.find(&format!("{tunnel_row} a.strong"))
        .await
        .click()
        .await
        .unwrap();
    b.find("[data-testid=live-status][data-live=live]").await;
    b.wait_text(".empty-title", "No requests yet").await;

    // Traffic through the public URL appears live, newest first.
    let client = public_client(&stack.server, &["console-e2e"]);
    let base = format!("http://{}", stack.server.host_of("console-e2e"));
    let r = client
        .get(format!("{base}/hello?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{base}/api/items"))
        .header("authorization", "Bearer secret-token")
        .header("content-type", "application/json")
        .body(r#"{"name":"widget","tags":["a","b"],"price":12.5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{base}/form"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("who=ada+lovelace&lang=en%2Fgb")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows = b.wait_count("[data-testid=request-row]", 3).await;
    assert_eq!(
        rows[0].attr("data-path").await.unwrap().as_deref(),
        Some("/form")
    );
    assert_eq!(
        rows[2].attr("data-path").await.unwrap().as_deref(),
        Some("/hello?x=1")
    );

    // The form body is shown decoded.
    rows[0].click().await.unwrap();
    b.wait_text("[data-testid=request-detail]", "ada lovelace")
        .await;
    b.wait_text("[data-testid=request-detail]", "en/gb").await;

    // The JSON one: pretty-printed, its Authorization marked redacted.
    b.find("[data-testid=request-row][data-path='/api/items']")
        .await
        .click()
        .await
        .unwrap();
    let detail = b
        .wait_text("[data-testid=request-detail]", "\"name\": \"widget\"")
        .await;
    let original_id = detail.attr("data-request-id").await.unwrap().unwrap();
    b.find("[data-testid=request-detail] [data-testid=redacted]")
        .await;
    // The curl command sits folded under the detail.
    let curl = b.all("[data-testid=curl-text]").await;
    assert!(curl[0].html(true).await.unwrap().contains("/api/items"));
    b.screenshot("wide-03-inspector").await;

    // Edit and replay with a new header and the real credential; the new response shows
    // beside the original, and the origin saw the header.
    b.click("replay-edit").await;
    let headers = b.testid("replay-headers").await;
    let text = headers.prop("value").await.unwrap().unwrap_or_default();
    let edited = format!(
        "{}\nX-Console-Test: edited-in-browser",
        text.replace("[redacted]", "Bearer real-token")
    );
    headers.clear().await.unwrap();
    headers.send_keys(&edited).await.unwrap();
    b.click("replay-submit").await;
    b.wait_text("[data-testid=replay-result]", "edited-in-browser")
        .await;
    b.testid("replay-status").await;
    b.screenshot("wide-04-replay").await;

    let tunnel_id = b
        .js("return location.hash.split('/').pop()")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let page = stack
        .api(&format!("/v1/tunnels/{tunnel_id}/requests"))
        .await;
    let replay = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["replay_of"] == original_id.as_str())
        .expect("the replay is recorded and linked to the original")
        .clone();
    let replayed = stack
        .api(&format!(
            "/v1/requests/{}",
            replay["request_id"].as_str().unwrap()
        ))
        .await;
    let echoed = replayed["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-echo-headers")
        .map(|h| h[1].as_str().unwrap().to_owned())
        .unwrap();
    assert!(echoed.contains("edited-in-browser"), "{echoed}");
    assert!(
        origin.seen().iter().filter(|t| *t == "/api/items").count() >= 2,
        "{:?}",
        origin.seen()
    );
    // The replay is in the live list too, marked as one.
    b.find("[data-testid=request-row] .badge.replay").await;

    // One-click replay of the same exchange.
    b.click("replay").await;
    b.wait_count("[data-testid=request-row]", 5).await;

    // Filters: by path, then by method.
    b.fill("filter-path", "/hello").await;
    b.testid("filter-path")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.wait_count("[data-testid=request-row]", 1).await;
    // Erased with the keyboard (select all, delete), then Enter.
    b.testid("filter-path")
        .await
        .send_keys("\u{E009}a\u{E003}\u{E007}")
        .await
        .unwrap();
    b.wait_count("[data-testid=request-row]", 5).await;
    b.testid("filter-method")
        .await
        .select_by_value("GET")
        .await
        .unwrap();
    b.wait_count("[data-testid=request-row]", 1).await;

    // Keyboard: focus the row and open it with Enter.
    let row = b.find("[data-testid=request-row]").await;
    row.send_keys("\u{E007}").await.unwrap();
    b.wait_text("[data-testid=request-detail]", "/hello?x=1")
        .await;

    // Back to the list; the request count shows; delete with confirmation.
    b.goto(&format!("{}/#/tunnels", stack.server.url)).await;
    b.wait_until("the request count", || async {
        let cell = b
            .find(&format!("{tunnel_row} [data-testid=tunnel-request-count]"))
            .await;
        let n: u64 = cell.text().await.ok()?.trim().parse().ok()?;
        (n >= 5).then_some(())
    })
    .await;
    b.click("tunnel-delete").await;
    b.click("tunnel-delete-confirm").await;
    b.wait_count("[data-testid=tunnel-row]", 0).await;
    b.wait_text(".empty-title", "No tunnels yet").await;

    // Log out: back at the login page, and the token is gone from the tab.
    b.click("logout").await;
    b.testid("login-api-key").await;
    b.testid("login-notice").await;
    assert_eq!(
        b.js("return sessionStorage.getItem('tunnel.session')")
            .await,
        Value::Null
    );
    b.screenshot("wide-05-logged-out").await;
    b.close().await;
}

/// The tunnel on `domain`, as `GET /v1/tunnels` shows it.
async fn tunnel_by_domain(stack: &Stack, domain: &str) -> Value {
    let list = stack.api("/v1/tunnels").await;
    list["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["domain"] == domain)
        .unwrap_or_else(|| panic!("no tunnel {domain} in {list}"))
        .clone()
}

/// The `data-testid` of the focused element.
async fn focused(b: &Browser) -> Option<String> {
    b.js("return document.activeElement && document.activeElement.dataset.testid || null")
        .await
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_a_tunnels_access_policy() {
    let stack = Stack::start().await;
    let b = Browser::start(WIDE.0, WIDE.1).await;
    log_in(&b, &stack).await;
    create_tunnel(&b, "policy-e2e").await;
    let row = "[data-testid=tunnel-row][data-domain=policy-e2e]";
    let access = format!("{row} [data-testid=tunnel-access]");
    b.wait_text(&access, "anyone").await;

    // From the keyboard: Enter opens the editor with focus in its first field, Escape
    // closes it and gives focus back to the button.
    b.find(&format!("{row} [data-testid=tunnel-access-edit]"))
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.testid("policy-editor").await;
    b.wait_until("focus in the policy form", || async {
        (focused(&b).await.as_deref() == Some("policy-user")).then_some(())
    })
    .await;
    b.testid("policy-user")
        .await
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    b.wait_count("[data-testid=policy-editor]", 0).await;
    assert_eq!(focused(&b).await.as_deref(), Some("tunnel-access-edit"));

    // Checked as it is typed, by the server's rules: a short token cannot be saved.
    b.click("tunnel-access-edit").await;
    b.wait_text(
        "[data-testid=policy-merge-note]",
        "changes only what you edit",
    )
    .await;
    // Nothing changed yet: nothing to save.
    assert!(!b.testid("policy-save").await.is_enabled().await.unwrap());
    b.fill("policy-share-token", "short").await;
    b.wait_text(
        "[data-testid=policy-error-share_token]",
        "8 to 256 characters",
    )
    .await;
    assert!(!b.testid("policy-save").await.is_enabled().await.unwrap());

    // A share token and the offline inbox, previewed in the table's words, then saved.
    b.fill("policy-share-token", "console-share-token").await;
    b.click("policy-inbox").await;
    b.fill("policy-inbox-max", "5").await;
    b.wait_text(
        "[data-testid=policy-help]",
        "Saving allows: share token; offline inbox (up to 5 requests",
    )
    .await;
    b.screenshot("wide-07-access-policy").await;
    b.click("policy-save").await;
    b.wait_count("[data-testid=policy-editor]", 0).await;
    b.wait_text(&access, "share token").await;
    b.wait_text(&access, "offline inbox").await;
    b.screenshot("wide-08-access-saved").await;
    let t = tunnel_by_domain(&stack, "policy-e2e").await;
    assert_eq!(t["policy"]["share_token"], true, "{t}");
    assert_eq!(t["policy"]["inbox"]["max_requests"], 5, "{t}");
    assert!(!t.to_string().contains("console-share-token"), "{t}");

    // Opened again: what the API shows is filled in; the token is said to be set, not
    // shown, and kept when left blank.
    b.click("tunnel-access-edit").await;
    assert!(b.testid("policy-inbox").await.is_selected().await.unwrap());
    assert_eq!(
        b.testid("policy-inbox-max")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("5")
    );
    assert_eq!(
        b.testid("policy-share-token")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("")
    );
    b.wait_text(
        "[data-testid=policy-share-token-set]",
        "Share token set — leave blank to keep it.",
    )
    .await;

    // Remove all checks: anyone may come in again.
    b.click("policy-remove").await;
    b.wait_count("[data-testid=policy-editor]", 0).await;
    b.wait_text(&access, "anyone").await;
    let t = tunnel_by_domain(&stack, "policy-e2e").await;
    assert!(t["policy"].is_null(), "{t}");
    b.close().await;
}

/// The issue this guards against: saving the form after changing only the IP list used
/// to drop basic auth unless the password was typed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_ip_list_keeps_basic_auth() {
    let stack = Stack::start().await;
    let origin = Origin::start().await;
    let port = origin.port.to_string();
    let _cli = stack
        .user
        .start(&[
            &port,
            "--domain",
            "guarded",
            "--basic-auth",
            "alice:console-pw",
        ])
        .await;
    let b = Browser::start(WIDE.0, WIDE.1).await;
    log_in(&b, &stack).await;
    let row = "[data-testid=tunnel-row][data-domain=guarded]";
    b.wait_text(
        &format!("{row} [data-testid=tunnel-access]"),
        "basic auth (user alice)",
    )
    .await;
    b.find(&format!("{row} [data-testid=tunnel-access-edit]"))
        .await
        .click()
        .await
        .unwrap();
    b.wait_text(
        "[data-testid=policy-password-set]",
        "Password set — leave blank to keep it.",
    )
    .await;

    // A bad entry: the error beside the IP field, which keeps what was typed.
    b.fill("policy-allow-ips", "127.0.0.0/8\n10.0.0.0/33").await;
    b.wait_text(
        "[data-testid=policy-error-allow_ips]",
        "\"10.0.0.0/33\" is not an IP address or CIDR",
    )
    .await;
    assert!(!b.testid("policy-save").await.is_enabled().await.unwrap());
    let beside = b
        .js(
            "const e = document.querySelector('[data-testid=policy-error-allow_ips]'); \
             return e.closest('fieldset').querySelector('textarea').dataset.testid",
        )
        .await;
    assert_eq!(
        beside, "policy-allow-ips",
        "the error sits in the IP list's fieldset"
    );
    assert_eq!(
        b.testid("policy-allow-ips")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("127.0.0.0/8\n10.0.0.0/33")
    );
    b.doc_screenshot("policy-field-error").await;

    // Fixed, previewed and saved: only the list is sent, basic auth stays.
    b.fill("policy-allow-ips", "127.0.0.0/8\n::1").await;
    b.wait_text(
        "[data-testid=policy-help]",
        "Saving allows: basic auth (user alice); from 127.0.0.0/8, ::1/128",
    )
    .await;
    b.click("policy-save").await;
    b.wait_count("[data-testid=policy-editor]", 0).await;
    b.wait_text(
        &format!("{row} [data-testid=tunnel-access]"),
        "from 127.0.0.0/8",
    )
    .await;
    let t = tunnel_by_domain(&stack, "guarded").await;
    assert_eq!(t["policy"]["basic_auth_user"], "alice", "{t}");
    assert_eq!(
        t["policy"]["allow_ips"],
        serde_json::json!(["127.0.0.0/8", "::1/128"])
    );

    // Enforced: no password is still 401, the password still lets one in.
    let client = public_client(&stack.server, &["guarded"]);
    let url = format!("http://{}/x", stack.server.host_of("guarded"));
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(&url)
        .basic_auth("alice", Some("console-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Removing basic auth is its own action, undone as easily.
    b.find(&format!("{row} [data-testid=tunnel-access-edit]"))
        .await
        .click()
        .await
        .unwrap();
    b.click("policy-remove-basic-auth").await;
    b.wait_text(
        "[data-testid=policy-editor]",
        "Basic auth will be removed when you save.",
    )
    .await;
    b.wait_text(
        "[data-testid=policy-help]",
        "Saving allows: from 127.0.0.0/8, ::1/128",
    )
    .await;
    b.click("policy-remove-basic-auth-undo").await;
    b.wait_text("[data-testid=policy-help]", "No changes yet.")
        .await;
    b.click("policy-cancel").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_use_at_phone_width() {
    let stack = Stack::start().await;
    let b = Browser::start(PHONE.0, PHONE.1).await;
    b.goto(&format!("{}/", stack.server.url)).await;

    // Register a new client: its key is shown once, then used to log in.
    b.click("register").await;
    let key = b.testid("new-api-key").await.text().await.unwrap();
    assert!(key.starts_with("tk_"), "{key}");
    b.screenshot("phone-01-new-key").await;
    b.click("register-continue").await;
    b.testid("tunnel-create-domain").await;

    // A random domain when none is given.
    b.click("tunnel-create-submit").await;
    b.wait_count("[data-testid=tunnel-row]", 1).await;
    b.screenshot("phone-02-tunnels").await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the tunnels page scrolls sideways by {overflow} px at 390 px"
    );

    // The access policy editor, every field showing, fits too.
    b.click("tunnel-access-edit").await;
    b.click("policy-inbox").await;
    b.testid("policy-inbox-body").await;
    b.screenshot("phone-02-access-policy").await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the policy editor scrolls sideways by {overflow} px at 390 px"
    );
    b.click("policy-cancel").await;
    b.wait_count("[data-testid=policy-editor]", 0).await;

    b.find("[data-testid=tunnel-row] a.strong")
        .await
        .click()
        .await
        .unwrap();
    b.find("[data-testid=live-status]").await;
    b.wait_text(".empty-title", "No requests yet").await;
    b.screenshot("phone-03-inspector-empty").await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the inspector scrolls sideways by {overflow} px at 390 px"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_returns_to_login_with_a_message() {
    let stack = Stack::start().await;
    let b = Browser::start(WIDE.0, WIDE.1).await;
    log_in(&b, &stack).await;
    let saved = b
        .js("return JSON.parse(sessionStorage.getItem('tunnel.session'))")
        .await;
    assert!(saved["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        !saved.to_string().contains(&stack.key),
        "the API key itself is not stored"
    );

    // A token the server refuses (tampered, or expired while the tab slept).
    b.js(
        "const s = JSON.parse(sessionStorage.getItem('tunnel.session'));\
          s.token = s.token.slice(0, -4) + 'AAAA';\
          sessionStorage.setItem('tunnel.session', JSON.stringify(s));\
          location.reload(); return null",
    )
    .await;
    b.wait_text("[data-testid=login-notice]", "Log in again")
        .await;
    b.screenshot("wide-06-session-ended").await;

    // An expired one never leaves the browser.
    log_in(&b, &stack).await;
    b.js(
        "const s = JSON.parse(sessionStorage.getItem('tunnel.session'));\
          s.expires_at = 1;\
          sessionStorage.setItem('tunnel.session', JSON.stringify(s));\
          location.reload(); return null",
    )
    .await;
    b.wait_text("[data-testid=login-notice]", "expired").await;
    b.close().await;
}
