//! The offline inbox's settings ([`Inbox`]): while no client serves a tunnel, its
//! admitted requests are held and answered for it. Every setting has a default and
//! a range, named here.

use serde::{Deserialize, Serialize};

use super::PolicyError;

/// What an offline inbox answers unless the owner sets another status: accepted, to be
/// processed later (what a webhook sender wants to hear).
pub const DEFAULT_INBOX_STATUS: u16 = 202;

/// Requests an inbox holds unless the owner sets another bound.
pub const DEFAULT_INBOX_MAX_REQUESTS: u32 = 100;

/// Most requests any inbox may be set to hold.
pub const MAX_INBOX_REQUESTS: u32 = 1000;

/// Largest request body an inbox takes. DynamoDB items stop at 400 KB, and the held
/// request (head and body) is one item; webhooks are far smaller.
pub const MAX_INBOX_BODY_BYTES: usize = 256 * 1024;

/// How long a held request waits for its client unless the owner sets another time.
pub const DEFAULT_INBOX_TTL_SECS: u64 = 24 * 60 * 60;

/// Longest time a held request may wait (a week).
pub const MAX_INBOX_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// Longest answer body an owner may set for held requests.
pub const MAX_INBOX_REPLY_BYTES: usize = 4096;

/// Offline inbox settings; every field has a default, so `{}` turns it on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    /// Status the public gets for a held request; [`DEFAULT_INBOX_STATUS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body of that answer (sent as `text/plain`); a short JSON note when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Most requests held at once; [`DEFAULT_INBOX_MAX_REQUESTS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Seconds a held request waits before it is dropped; [`DEFAULT_INBOX_TTL_SECS`]
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

impl Inbox {
    /// The status held requests are answered with.
    pub fn status(&self) -> u16 {
        self.status.unwrap_or(DEFAULT_INBOX_STATUS)
    }

    /// The most requests held at once.
    pub fn max_requests(&self) -> u32 {
        self.max_requests.unwrap_or(DEFAULT_INBOX_MAX_REQUESTS)
    }

    /// Seconds a held request waits.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs.unwrap_or(DEFAULT_INBOX_TTL_SECS)
    }

    /// The answer's media type and body.
    pub fn reply(&self) -> (&'static str, String) {
        match &self.body {
            Some(b) => ("text/plain; charset=utf-8", b.clone()),
            None => (
                "application/json",
                "{\"held\":true,\"detail\":\"The tunnel's client is offline; the request is held and will be delivered when it reconnects.\"}\n"
                    .to_owned(),
            ),
        }
    }

    pub(super) fn validate(&self) -> Result<(), PolicyError> {
        if !(200..=599).contains(&self.status()) {
            return Err(PolicyError::InboxStatus(self.status()));
        }
        if self
            .body
            .as_ref()
            .is_some_and(|b| b.len() > MAX_INBOX_REPLY_BYTES)
        {
            return Err(PolicyError::InboxReplyTooLong);
        }
        if !(1..=MAX_INBOX_REQUESTS).contains(&self.max_requests()) {
            return Err(PolicyError::InboxMaxRequests);
        }
        if !(1..=MAX_INBOX_TTL_SECS).contains(&self.ttl_secs()) {
            return Err(PolicyError::InboxTtl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn inbox_settings_are_checked_at_their_edges() {
        let ok = |i: Inbox| {
            Policy {
                inbox: Some(i),
                ..Policy::default()
            }
            .validate()
        };
        assert_eq!(ok(Inbox::default()), Ok(()));
        for s in [200, 599] {
            let i = Inbox {
                status: Some(s),
                ..Inbox::default()
            };
            assert_eq!(ok(i), Ok(()));
        }
        for s in [199, 600, 101] {
            let i = Inbox {
                status: Some(s),
                ..Inbox::default()
            };
            assert_eq!(ok(i), Err(PolicyError::InboxStatus(s)));
        }
        let body = |n: usize| Inbox {
            body: Some("b".repeat(n)),
            ..Inbox::default()
        };
        assert_eq!(ok(body(MAX_INBOX_REPLY_BYTES)), Ok(()));
        assert_eq!(
            ok(body(MAX_INBOX_REPLY_BYTES + 1)),
            Err(PolicyError::InboxReplyTooLong)
        );
        let max = |n: u32| Inbox {
            max_requests: Some(n),
            ..Inbox::default()
        };
        assert_eq!(ok(max(1)), Ok(()));
        assert_eq!(ok(max(MAX_INBOX_REQUESTS)), Ok(()));
        assert_eq!(ok(max(0)), Err(PolicyError::InboxMaxRequests));
        assert_eq!(
            ok(max(MAX_INBOX_REQUESTS + 1)),
            Err(PolicyError::InboxMaxRequests)
        );
        let ttl = |n: u64| Inbox {
            ttl_secs: Some(n),
            ..Inbox::default()
        };
        assert_eq!(ok(ttl(1)), Ok(()));
        assert_eq!(ok(ttl(MAX_INBOX_TTL_SECS)), Ok(()));
        assert_eq!(ok(ttl(0)), Err(PolicyError::InboxTtl));
        assert_eq!(ok(ttl(MAX_INBOX_TTL_SECS + 1)), Err(PolicyError::InboxTtl));
        let defaults = Inbox::default();
        assert_eq!(defaults.status(), DEFAULT_INBOX_STATUS);
        assert_eq!(defaults.max_requests(), DEFAULT_INBOX_MAX_REQUESTS);
        assert_eq!(defaults.ttl_secs(), DEFAULT_INBOX_TTL_SECS);
        assert_eq!(defaults.reply().0, "application/json");
        let (_, note) = defaults.reply();
        assert!(serde_json::from_str::<serde_json::Value>(&note).is_ok());
    }
}
