//! Reading each field group of the form into its part of the change: kept, removed
//! or set, with a sentence for a person when what was typed cannot be sent.

use client_core::policy::{
    Cidr, DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX, Inbox, Patch, WebhookPatch,
    WebhookProvider,
};

use super::PolicyForm;
use super::preview::webhook_summary;

impl PolicyForm {
    pub(super) fn basic_auth(&self) -> Result<Patch<String>, String> {
        if self.remove_basic_auth {
            return Ok(Patch::Remove);
        }
        if self.user.contains(':') {
            // Joined as USER:PASSWORD, a ':' in the user would move into the password.
            return Err("the basic auth user may not contain ':'".to_owned());
        }
        let in_force = self.current.basic_auth_user.as_deref();
        if !self.password.is_empty() {
            if self.user.is_empty() {
                return Err("enter the user the password is for".to_owned());
            }
            return Ok(Patch::Set(format!("{}:{}", self.user, self.password)));
        }
        match in_force {
            Some(u) if u == self.user => Ok(Patch::Keep),
            Some(_) if self.user.is_empty() => Err(
                "to turn basic auth off, use Remove basic auth; to keep it, put the user back"
                    .to_owned(),
            ),
            Some(_) => Err("enter the password again to change the user".to_owned()),
            None if self.user.is_empty() => Ok(Patch::Keep),
            None => Err(format!("enter a password for {}", self.user)),
        }
    }

    pub(super) fn share_token(&self) -> Patch<String> {
        if self.remove_share_token {
            Patch::Remove
        } else if self.share_token.is_empty() {
            Patch::Keep
        } else {
            Patch::Set(self.share_token.clone())
        }
    }

    pub(super) fn allow_list(&self) -> Result<Patch<Vec<String>>, String> {
        let typed: Vec<String> = self
            .allow_ips
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let normal: Vec<String> = typed
            .iter()
            .map(|c| c.parse::<Cidr>().map(|c| c.to_string()))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(if normal == self.current.allow_ips {
            Patch::Keep
        } else if typed.is_empty() {
            Patch::Remove
        } else {
            Patch::Set(typed)
        })
    }

    pub(super) fn webhook(&self) -> Result<Patch<WebhookPatch>, String> {
        if self.remove_webhook {
            return Ok(Patch::Remove);
        }
        let provider = self.webhook_provider;
        let generic = provider == WebhookProvider::Hmac;
        let header = self.webhook_header.trim();
        let prefix = self.webhook_prefix.trim();
        let settings = WebhookPatch {
            secret: (!self.webhook_secret.is_empty()).then(|| self.webhook_secret.clone()),
            provider,
            header: (generic && !header.is_empty() && header != DEFAULT_WEBHOOK_HEADER)
                .then(|| header.to_owned()),
            prefix: (generic && prefix != DEFAULT_WEBHOOK_PREFIX).then(|| prefix.to_owned()),
            tolerance_secs: if provider.has_timestamp() {
                parse_number(
                    &self.webhook_tolerance,
                    "the webhook timestamp tolerance",
                    u64::MAX,
                )?
            } else {
                None
            },
        };
        match &self.current.webhook {
            Some(now) => {
                if settings.secret.is_none() && webhook_summary(&settings) == *now {
                    Ok(Patch::Keep)
                } else if settings.secret.is_none() && provider != now.provider {
                    Err(format!(
                        "enter the {} secret: the one in force is for {}",
                        provider.label(),
                        now.provider.label()
                    ))
                } else {
                    Ok(Patch::Set(settings))
                }
            }
            None => {
                // A named scheme, or a header other than the default, is a webhook
                // asked for: without a secret it is an error to show, not a setting
                // to drop.
                let asked = settings.secret.is_some()
                    || !generic
                    || !(header.is_empty() || header.eq_ignore_ascii_case(DEFAULT_WEBHOOK_HEADER));
                match (asked, &settings.secret) {
                    (false, _) => Ok(Patch::Keep),
                    (true, None) => {
                        Err("enter the webhook secret the sender signs with".to_owned())
                    }
                    (true, Some(_)) => Ok(Patch::Set(settings)),
                }
            }
        }
    }

    pub(super) fn inbox(&self) -> Result<Patch<Inbox>, String> {
        if !self.inbox {
            return Ok(if self.current.inbox.is_some() {
                Patch::Remove
            } else {
                Patch::Keep
            });
        }
        let inbox = Inbox {
            status: parse_status(&self.inbox_status)?,
            body: (!self.inbox_body.is_empty()).then(|| self.inbox_body.clone()),
            max_requests: parse_number(
                &self.inbox_max_requests,
                "the inbox's request limit",
                u32::MAX,
            )?,
            ttl_secs: parse_number(
                &self.inbox_ttl_secs,
                "the time a held request waits",
                u64::MAX,
            )?,
        };
        Ok(if self.current.inbox.as_ref() == Some(&inbox) {
            Patch::Keep
        } else {
            Patch::Set(inbox)
        })
    }
}

/// An optional whole number. One too large for its type saturates, so
/// [`client_core::policy::Policy::validate`] still names the allowed range.
fn parse_number<T: TryFrom<u64> + Copy>(
    text: &str,
    what: &str,
    max: T,
) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} must be a whole number"));
    }
    let n = text.parse::<u64>().unwrap_or(u64::MAX);
    Ok(Some(T::try_from(n).unwrap_or(max)))
}

fn parse_status(text: &str) -> Result<Option<u16>, String> {
    let bad = || format!("the inbox's answer status must be 200 to 599, not {text:?}");
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map(Some).map_err(|_| bad())
}
