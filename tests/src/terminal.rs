//! A program on a real pseudo-terminal, driven as a person would: tmux runs it in a
//! detached session of a given size, `send_keys` types, `screen` reads what is shown.
//! Each `Terminal` has a tmux server of its own (a socket in a temporary folder), so
//! tests never meet each other's sessions or a developer's own tmux.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::READY_TIMEOUT;

/// One tmux server with one session running one command.
#[derive(Debug)]
pub struct Terminal {
    dir: tempfile::TempDir,
}

impl Terminal {
    /// Runs `argv` with `env` on a `width` x `height` terminal. The session stays
    /// after the program ends (remain-on-exit), so its last screen can be read.
    pub fn start(argv: &[&Path], env: &[(&str, &str)], width: u16, height: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let t = Self { dir };
        let mut cmd = vec!["new-session", "-d", "-s", "t"];
        let (w, h) = (width.to_string(), height.to_string());
        cmd.extend(["-x", &w, "-y", &h]);
        let mut envs = Vec::new();
        for (k, v) in env {
            envs.push(format!("{k}={v}"));
        }
        for e in &envs {
            cmd.extend(["-e", e]);
        }
        let args: Vec<String> = argv.iter().map(|p| p.display().to_string()).collect();
        cmd.extend(args.iter().map(String::as_str));
        // remain-on-exit must hold before the program can end: set it on the global
        // options of this private server first, then start the session.
        t.tmux(&[
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
        ])
        .args(&cmd)
        .status()
        .map(|s| assert!(s.success(), "tmux new-session failed"))
        .expect("tmux is installed (scripts/setup.sh base)");
        t
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(self.dir.path().join("sock")).args(args);
        c
    }

    /// The visible screen, one line per row, trailing blanks trimmed.
    pub fn screen(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with the lines the terminal wrapped joined again, trailing blanks
    /// trimmed: a line longer than the width shows as one line here.
    pub fn logical_lines(&self) -> Vec<String> {
        let out = self
            .tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_owned())
            .collect()
    }

    /// The visible screen with its colours and attributes as SGR escape sequences,
    /// every row at full width (for [`crate::ansi::to_html`]).
    pub fn screen_ansi(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-e", "-N", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format about the pane (`#{alternate_on}`, `#{cursor_flag}`, ...).
    pub fn pane(&self, format: &str) -> String {
        let out = self
            .tmux(&["display-message", "-p", "-t", "t", format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until the screen satisfies `pred` (bounded by [`READY_TIMEOUT`]);
    /// returns that screen, or panics with the last one.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "terminal never showed {what}; screen:\n{s}"
            );
            // Polling a screen has no readiness signal to wait on; 20 ms keeps it cheap.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Types `keys` (tmux key names: "Enter", "C-c", or literal text with `literal`).
    pub fn send_keys(&self, keys: &str, literal: bool) {
        let mut args = vec!["send-keys", "-t", "t"];
        if literal {
            args.push("-l");
        }
        args.push(keys);
        assert!(self.tmux(&args).status().unwrap().success());
    }

    /// Resizes the terminal, as a person dragging the window would.
    pub fn resize(&self, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        assert!(
            self.tmux(&["resize-window", "-t", "t", "-x", &w, "-y", &h])
                .status()
                .unwrap()
                .success()
        );
    }

    /// The program's exit status once it has ended (`None` while it runs).
    pub fn exit_status(&self) -> Option<i32> {
        let out = self
            .tmux(&[
                "display-message",
                "-p",
                "-t",
                "t",
                "#{pane_dead} #{pane_dead_status}",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace();
        match parts.next() {
            Some("1") => parts.next().and_then(|s| s.parse().ok()),
            _ => None,
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
    }
}
