//! What is logged of each forwarded request: a log event always, and with `--log` one
//! line on stdout as it ends.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use client_core::protocol::ErrorCode;
use client_core::session::RequestHead;

/// What `--log` prints about one request.
pub(super) struct RequestLog {
    started: std::time::Instant,
    method: String,
    path: String,
    pub(super) status: Option<u16>,
    /// The `X-Request-Id` the server gave the request: the same id is in the server's
    /// log and the inspector, so one request can be followed across all three.
    request_id: Option<String>,
}

impl RequestLog {
    pub(super) fn new(head: &RequestHead) -> Self {
        Self {
            started: std::time::Instant::now(),
            method: head.method.clone(),
            path: head.path.clone(),
            status: None,
            request_id: head
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
                .map(|(_, v)| v.clone()),
        }
    }

    /// The request as a log event (JSON when stderr is not a terminal), with the
    /// request id as a field, so log tools can join it with the server's lines. The
    /// query string is left out: it may carry an application's tokens, and log files
    /// travel further than a terminal.
    pub(super) fn trace(&self, outcome: &str) {
        let path = self.path.split('?').next().unwrap_or_default();
        tracing::info!(
            request_id = self.request_id.as_deref().unwrap_or_default(),
            method = %self.method,
            path,
            outcome,
            status = self.status,
            duration_ms = self.started.elapsed().as_secs_f64() * 1e3,
            "request forwarded"
        );
    }

    pub(super) fn print(&self, outcome: &str) {
        let mut line = format!(
            "{} {} {} {} {}ms",
            utc_time_of_day(SystemTime::now()),
            self.method,
            self.path,
            outcome,
            self.started.elapsed().as_millis()
        );
        if let Some(id) = &self.request_id {
            line.push_str("  ");
            line.push_str(id);
        }
        // stdout may be a closed pipe (`tunnel start | head -1`); losing a log line
        // then is right, failing the tunnel is not.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

pub(super) fn error_outcome(code: ErrorCode) -> String {
    let name = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"));
    format!("error {name}")
}

/// `HH:MM:SS` in UTC; the log is read next to the terminal's clock, a date is noise.
fn utc_time_of_day(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn log_helpers() {
        assert_eq!(
            utc_time_of_day(UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3661)),
            "01:01:01"
        );
        assert_eq!(
            error_outcome(ErrorCode::OriginRefused),
            "error origin_refused"
        );
    }
}
