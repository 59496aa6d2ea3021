//! The edit-and-replay form: what it starts with, and the [`ReplayEdits`] it sends.
//! Pure, tested natively; the checks themselves are client-core's.

use client_core::inspect::{Exchange, REDACTED, ReplayEdits};

/// The form's fields, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditForm {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// One `Name: value` a line.
    pub headers: String,
    /// The body as text; `None` when it is not text (then it is sent as captured).
    pub body: Option<String>,
}

impl EditForm {
    /// The form for `x`, holding its request as captured.
    pub fn of(x: &Exchange) -> Self {
        let headers = x
            .request
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\n");
        Self {
            method: x.method.clone(),
            path: x.path.clone(),
            headers,
            body: String::from_utf8(x.request.body.bytes.clone()).ok(),
        }
    }

    /// The edits that turn `x`'s request into this form's, checked by
    /// [`ReplayEdits::apply`] so a mistake is shown before anything is sent.
    ///
    /// Header lines are the whole new set: a captured name missing from them is
    /// removed, every line is set. A line still holding the redaction mark is left
    /// alone (the mark is dropped at replay, as it is not the real value).
    pub fn to_edits(&self, x: &Exchange) -> Result<ReplayEdits, String> {
        let mut set_headers = Vec::new();
        for (i, line) in self.headers.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                format!("header line {} has no ':' (write it as Name: value)", i + 1)
            })?;
            let (name, value) = (name.trim(), value.trim());
            if value != REDACTED {
                set_headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let kept = |name: &str| {
            self.headers.lines().any(|l| {
                l.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            })
        };
        let mut remove_headers: Vec<String> = Vec::new();
        for (name, _) in &x.request.headers {
            if !kept(name) && !remove_headers.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                remove_headers.push(name.clone());
            }
        }
        let method = self.method.trim();
        let path = self.path.trim();
        let body = match &self.body {
            Some(text) if text.as_bytes() != x.request.body.bytes.as_slice() => {
                Some(text.clone().into_bytes())
            }
            _ => None,
        };
        let edits = ReplayEdits {
            method: (method != x.method).then(|| method.to_owned()),
            path: (path != x.path).then(|| path.to_owned()),
            set_headers,
            remove_headers,
            body,
        };
        edits.apply(x).map_err(|e| e.to_string())?;
        Ok(edits)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use client_core::inspect::{CapturedBody, Message, Outcome, Timings};

    fn exchange() -> Exchange {
        Exchange {
            request_id: "r1".into(),
            tunnel_id: "t1".into(),
            replay_of: None,
            inbox_of: None,
            method: "POST".into(),
            path: "/hook".into(),
            remote_addr: "127.0.0.1:1".into(),
            request: Message {
                headers: vec![
                    ("Host".into(), "a.localhost".into()),
                    ("Authorization".into(), REDACTED.into()),
                    ("X-Trace".into(), "1".into()),
                ],
                body: CapturedBody::full(b"hi".to_vec()),
            },
            response: None,
            outcome: Outcome::Completed,
            timings: Timings::default(),
        }
    }

    #[test]
    fn unchanged_form_replays_as_captured() {
        let x = exchange();
        let form = EditForm::of(&x);
        assert_eq!(form.body.as_deref(), Some("hi"));
        let edits = form.to_edits(&x).unwrap();
        assert_eq!(edits.method, None);
        assert_eq!(edits.path, None);
        assert_eq!(edits.body, None);
        assert!(edits.remove_headers.is_empty());
        let sent = edits.apply(&x).unwrap();
        assert_eq!(sent.method, "POST");
        assert!(!sent.headers.iter().any(|(n, _)| n == "Authorization"));
    }

    #[test]
    fn edits_set_remove_and_replace() {
        let x = exchange();
        let mut form = EditForm::of(&x);
        form.method = "PUT".into();
        form.path = "/other?x=1".into();
        form.headers = "Host: a.localhost\nAuthorization: Bearer real\nX-New: yes".into();
        form.body = Some("changed".into());
        let edits = form.to_edits(&x).unwrap();
        assert_eq!(edits.method.as_deref(), Some("PUT"));
        assert_eq!(edits.path.as_deref(), Some("/other?x=1"));
        assert_eq!(edits.remove_headers, vec!["X-Trace".to_owned()]);
        assert_eq!(edits.body.as_deref(), Some(&b"changed"[..]));
        let sent = edits.apply(&x).unwrap();
        assert!(sent.headers.contains(&("X-New".into(), "yes".into())));
        assert!(
            sent.headers
                .contains(&("Authorization".into(), "Bearer real".into()))
        );
        assert!(!sent.headers.iter().any(|(n, _)| n == "X-Trace"));
    }

    #[test]
    fn mistakes_are_named() {
        let x = exchange();
        let mut form = EditForm::of(&x);
        form.headers = "no colon here".into();
        assert!(form.to_edits(&x).unwrap_err().contains("line 1"));
        let mut form = EditForm::of(&x);
        form.path = "relative".into();
        assert!(
            form.to_edits(&x)
                .unwrap_err()
                .contains("path must start with /")
        );
        let mut form = EditForm::of(&x);
        form.method = "GE T".into();
        assert!(form.to_edits(&x).unwrap_err().contains("method"));
    }
}
