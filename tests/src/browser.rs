//! Headless Chromium over WebDriver, for the web console's tests.
//!
//! Chromium and chromedriver are Debian's (`scripts/setup.sh browser`). chromedriver
//! listens on a port of its choosing on loopback (read from its output); each browser
//! gets a fresh profile and talks only to loopback. Every wait polls for a condition
//! up to [`READY_TIMEOUT`]: a bound on failure, never a delay.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{READY_TIMEOUT, wait_line};

/// How often a wait checks its condition again.
const POLL: Duration = Duration::from_millis(100);

/// The workspace root (this crate is `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A built console to serve: `TUNNEL_CONSOLE_DIR` when set (scripts/test.sh builds one
/// first), else `target/console-dist`, built here with scripts/console-build.sh when it
/// is missing.
pub fn console_dist() -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    if let Some(dir) = std::env::var_os("TUNNEL_CONSOLE_DIR") {
        return PathBuf::from(dir);
    }
    let dir = workspace_root().join("target").join("console-dist");
    let _guard = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !dir.join("index.html").is_file() {
        let status = std::process::Command::new(workspace_root().join("scripts/console-build.sh"))
            .arg(&dir)
            // The native build's target dir is not for the wasm toolchain.
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("scripts/console-build.sh runs");
        assert!(status.success(), "scripts/console-build.sh failed");
    }
    dir
}

/// Names the folder [`Browser::doc_screenshot`] writes the docs' screenshots to.
pub const DOC_SCREENSHOTS_ENV: &str = "TUNNEL_SCREENSHOTS";

/// Where screenshots go: `CONSOLE_ARTIFACTS`, else `target/console-screenshots`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("CONSOLE_ARTIFACTS").map_or_else(
        || workspace_root().join("target").join("console-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn program(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: install Chromium and chromedriver with `scripts/setup.sh browser` (or set {env})",
        path.display()
    );
    path
}

/// A headless Chromium driven over WebDriver.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a viewport `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Self {
        let chromium = program("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        // A process group of its own, so a test that fails midway still takes Chromium
        // down with chromedriver (see Drop).
        let mut driver = Command::new(chromedriver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let line = wait_line(&mut lines, "chromedriver's port", |l| {
            l.contains("started successfully on port")
        })
        .await;
        let port: u16 = line
            .trim_end_matches('.')
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        // Keep reading so chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        let browser = Self {
            client,
            driver,
            _profile: profile,
        };
        browser.set_viewport(width, height).await;
        browser
    }

    /// Makes the page's viewport `width` x `height` CSS pixels, whatever the window
    /// decorations take.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .unwrap();
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if (iw, ih) != (width, height) {
            self.client
                .set_window_size(
                    width + (width - iw.min(width)),
                    height + (height - ih.min(height)),
                )
                .await
                .unwrap();
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Polls `check` until it gives `Some`, up to [`READY_TIMEOUT`].
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = self.screenshot(&format!("timeout-{}", slug(what))).await;
                panic!("timed out after {READY_TIMEOUT:?} waiting for {what}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The elements matching the CSS `selector` now.
    pub async fn all(&self, selector: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap_or_default()
    }

    /// Waits for a visible element matching `selector`.
    pub async fn find(&self, selector: &str) -> Element {
        self.wait_until(selector, || async {
            for e in self.all(selector).await {
                if e.is_displayed().await.unwrap_or(false) {
                    return Some(e);
                }
            }
            None
        })
        .await
    }

    /// Waits for the visible element with `data-testid` = `id`.
    pub async fn testid(&self, id: &str) -> Element {
        self.find(&format!("[data-testid=\"{id}\"]")).await
    }

    /// Waits until exactly `n` elements match `selector`; returns them.
    pub async fn wait_count(&self, selector: &str, n: usize) -> Vec<Element> {
        self.wait_until(&format!("{n} x {selector}"), || async {
            let all = self.all(selector).await;
            (all.len() == n).then_some(all)
        })
        .await
    }

    /// Waits until the element matching `selector` holds `text`.
    pub async fn wait_text(&self, selector: &str, text: &str) -> Element {
        self.wait_until(&format!("{selector} containing {text:?}"), || async {
            for e in self.all(selector).await {
                if e.text().await.is_ok_and(|t| t.contains(text)) {
                    return Some(e);
                }
            }
            None
        })
        .await
    }

    /// Clicks the element with `data-testid` = `id` once it is visible and enabled.
    pub async fn click(&self, id: &str) {
        let selector = format!("[data-testid=\"{id}\"]");
        let e = self
            .wait_until(&format!("{id} enabled"), || async {
                for e in self.all(&selector).await {
                    if e.is_displayed().await.unwrap_or(false)
                        && e.is_enabled().await.unwrap_or(false)
                    {
                        return Some(e);
                    }
                }
                None
            })
            .await;
        e.click().await.unwrap();
    }

    /// Replaces the text of the field with `data-testid` = `id`.
    pub async fn fill(&self, id: &str, text: &str) {
        let e = self.testid(id).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Saves a PNG of the page as `<artifacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// For the docs: when `TUNNEL_SCREENSHOTS` names a folder (scripts/screenshots.sh
    /// sets `docs/screenshots`), saves the page there as `console-<name>.png` too.
    pub async fn doc_screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os(DOC_SCREENSHOTS_ENV) else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("console-{name}.png")), png).unwrap();
    }

    /// Runs JavaScript in the page and returns its result.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Ends the session, then chromedriver and Chromium (on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(60)
        .collect()
}
