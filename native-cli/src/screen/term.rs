//! The terminal while the screen is up: raw mode and the alternate screen, a thread
//! that draws and reads keys, and stderr turned into the screen's messages.
//!
//! Raw mode turns Ctrl-C into a key, so the drawing thread answers it (and `q`) by
//! giving the terminal back first and then sending the process the SIGINT the shell
//! would have: `tunnel start` stops exactly as on a plain terminal, and its goodbye
//! lines (and a second Ctrl-C) meet an ordinary terminal. The terminal is also given
//! back when [`Live`] is dropped (the tunnel stopped, or failed: its error is printed
//! after) and on a panic, before the panic's message.
//!
//! Whatever `tunnel start` writes to stderr meanwhile (retries, warnings) would be
//! drawn over the screen, so fd 2 points at a pipe whose lines become the screen's
//! messages, and at the terminal again once the screen is left.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};

use super::Screen;
use super::view;

/// How often the screen is redrawn (durations of requests in flight tick on).
pub const TICK: Duration = Duration::from_millis(100);

/// The screen, up. Dropping it gives the terminal back.
pub struct Live {
    restore: Arc<Restore>,
    stop: Arc<AtomicBool>,
    drawer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

/// Gives the terminal back, once, whoever asks first.
struct Restore {
    done: AtomicBool,
    /// The real stderr, kept while fd 2 is the pipe.
    stderr: OwnedFd,
}

impl Restore {
    fn run(&self) {
        if self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut out = std::io::stdout();
        let _ = terminal::disable_raw_mode();
        let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
        // Closing the pipe's last writer also ends the thread reading it.
        let _ = rustix::stdio::dup2_stderr(&self.stderr);
    }
}

impl Live {
    /// Takes over the terminal to show `screen`.
    ///
    /// # Errors
    ///
    /// The terminal cannot be set up (it is then left as it was).
    pub fn enter(screen: &Screen) -> std::io::Result<Self> {
        let saved = rustix::io::dup(std::io::stderr())?;
        let (reader, writer) = std::io::pipe()?;
        terminal::enable_raw_mode()?;
        if let Err(e) = execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        ) {
            let _ = terminal::disable_raw_mode();
            return Err(e);
        }
        let restore = Arc::new(Restore {
            done: AtomicBool::new(false),
            stderr: saved,
        });
        if let Err(e) = rustix::stdio::dup2_stderr(&writer) {
            restore.run();
            return Err(e.into());
        }
        drop(writer);

        // Stays installed after the screen is left: restoring twice does nothing, so
        // it is then the previous hook alone.
        let previous = std::panic::take_hook();
        let hook_restore = restore.clone();
        std::panic::set_hook(Box::new(move |info| {
            hook_restore.run();
            previous(info);
        }));

        let notices = screen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                notices.update(|m, now| m.handle_notice(now, &line));
            }
        });

        let stop = Arc::new(AtomicBool::new(false));
        let drawer = {
            let (screen, stop, restore) = (screen.clone(), stop.clone(), restore.clone());
            std::thread::spawn(move || draw_until_stopped(&screen, &stop, &restore))
        };
        Ok(Self {
            restore,
            stop,
            drawer: Some(drawer),
        })
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
        self.restore.run();
    }
}

fn draw_until_stopped(screen: &Screen, stop: &AtomicBool, restore: &Restore) {
    let Ok(mut terminal) = Terminal::new(CrosstermBackend::new(std::io::stdout())) else {
        return;
    };
    while !stop.load(Ordering::SeqCst) {
        // Drawn from a copy: the lock is held for a clone, not for terminal writes.
        let (model, stats, now) = screen.update(|m, now| (m.clone(), m.poll_stats(now), now));
        if terminal
            .draw(|frame| view::render(frame, &model, &stats, now))
            .is_err()
        {
            return;
        }
        match event::poll(TICK) {
            Ok(true) => match event::read() {
                Ok(Event::Key(key)) if is_quit(&key) => {
                    restore.run();
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::Int,
                    );
                    return;
                }
                // A resize needs nothing but the next draw, which measures anew.
                Ok(_) => {}
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
    }
}

/// Ctrl-C (a key in raw mode) or `q`.
fn is_quit(key: &KeyEvent) -> bool {
    key.kind == KeyEventKind::Press
        && match key.code {
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            KeyCode::Char('q' | 'Q') => key.modifiers.difference(KeyModifiers::SHIFT).is_empty(),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_and_q_quit_nothing_else_does() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(is_quit(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit(&key(KeyCode::Char('Q'), KeyModifiers::SHIFT)));
        assert!(!is_quit(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit(&key(KeyCode::Char('q'), KeyModifiers::CONTROL)));
        assert!(!is_quit(&key(KeyCode::Enter, KeyModifiers::NONE)));
    }
}
