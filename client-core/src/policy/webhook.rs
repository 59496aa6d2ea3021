//! Webhook signature settings: which sender's scheme a tunnel verifies, with what
//! secret, and how far a signed timestamp may be from the server's clock.
//!
//! The schemes themselves (which headers, what is signed) are checked on the server,
//! in the shared handlers; what is here is what an owner sets and its rules, so the
//! CLI, the console and the REST API refuse the same settings with the same words.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

use super::{PolicyError, validate_header_name};

/// Header holding a generic webhook's signature unless the policy names another
/// (GitHub's).
pub const DEFAULT_WEBHOOK_HEADER: &str = "X-Hub-Signature-256";

/// What precedes the hex HMAC in a generic signature header unless the policy says
/// otherwise.
pub const DEFAULT_WEBHOOK_PREFIX: &str = "sha256=";

/// Longest webhook secret (GitHub's, Stripe's and Standard Webhooks' are far shorter).
pub const MAX_WEBHOOK_SECRET_BYTES: usize = 256;

/// Longest signature prefix.
pub const MAX_WEBHOOK_PREFIX_BYTES: usize = 32;

/// How far a signed timestamp may be from the server's clock, either way, unless the
/// owner sets another bound: five minutes, what Stripe's, Slack's and Standard
/// Webhooks' own libraries allow. A captured request replayed later than this is
/// refused.
pub const DEFAULT_WEBHOOK_TOLERANCE_SECS: u64 = 5 * 60;

/// The widest tolerance an owner may set: an hour. Wider, a captured webhook could be
/// replayed for so long that the timestamp would protect little.
pub const MAX_WEBHOOK_TOLERANCE_SECS: u64 = 60 * 60;

/// What a Standard Webhooks (and Svix) secret starts with; the base64 key follows.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// Base64 as the Standard Webhooks libraries read a secret: the standard alphabet,
/// padded or not.
const STANDARD_KEY: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Whose signature scheme a tunnel verifies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookProvider {
    /// HMAC-SHA256 of the body, hex, after a prefix, in a header the owner names
    /// (GitHub's `X-Hub-Signature-256: sha256=<hex>` unless told otherwise).
    #[default]
    Hmac,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    Github,
    /// Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, the HMAC of
    /// `<t>.<body>`.
    Stripe,
    /// Slack: `X-Slack-Signature: v0=<hex>`, the HMAC of `v0:<timestamp>:<body>`, with
    /// the timestamp in `X-Slack-Request-Timestamp`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.
    Shopify,
    /// Standard Webhooks (and Svix, which sends the same as `svix-*`):
    /// `webhook-signature: v1,<base64> ...` over `<webhook-id>.<webhook-timestamp>.<body>`,
    /// keyed with the base64 after `whsec_`.
    Standard,
}

impl WebhookProvider {
    /// Every scheme, the generic one first.
    pub const ALL: [Self; 6] = [
        Self::Hmac,
        Self::Github,
        Self::Stripe,
        Self::Slack,
        Self::Shopify,
        Self::Standard,
    ];

    /// The name in flags and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hmac => "hmac",
            Self::Github => "github",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Standard => "standard",
        }
    }

    /// The name for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Hmac => "generic HMAC",
            Self::Github => "GitHub",
            Self::Stripe => "Stripe",
            Self::Slack => "Slack",
            Self::Shopify => "Shopify",
            Self::Standard => "Standard Webhooks",
        }
    }

    /// True when the scheme signs a timestamp, so a replay can be refused.
    pub fn has_timestamp(self) -> bool {
        matches!(self, Self::Stripe | Self::Slack | Self::Standard)
    }

    /// True for the generic scheme (serde's test for leaving it out).
    pub fn is_hmac(&self) -> bool {
        *self == Self::Hmac
    }

    /// The header a named scheme's signature travels in, and what precedes each
    /// signature in it; `None` for the generic scheme, whose owner chooses.
    pub fn fixed_signature(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Hmac => None,
            Self::Github => Some((DEFAULT_WEBHOOK_HEADER, DEFAULT_WEBHOOK_PREFIX)),
            Self::Stripe => Some(("Stripe-Signature", "v1=")),
            Self::Slack => Some(("X-Slack-Signature", "v0=")),
            Self::Shopify => Some(("X-Shopify-Hmac-Sha256", "")),
            Self::Standard => Some(("webhook-signature", "v1,")),
        }
    }

    /// The names accepted, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for WebhookProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WebhookProvider {
    type Err = PolicyError;

    /// A scheme by name, in any case (`GitHub` is `github`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| PolicyError::WebhookProvider(s.to_owned()))
    }
}

/// Webhook signature settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The shared secret the sender signs with: for `standard`, `whsec_` and base64,
    /// as the sender shows it; for every other scheme, the text as given.
    pub secret: String,
    /// Whose scheme; the generic HMAC when absent (policies from before schemes).
    #[serde(default, skip_serializing_if = "WebhookProvider::is_hmac")]
    pub provider: WebhookProvider,
    /// Generic scheme only: the header holding the signature;
    /// [`DEFAULT_WEBHOOK_HEADER`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Generic scheme only: what precedes the hex digest; [`DEFAULT_WEBHOOK_PREFIX`]
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Timestamped schemes only (stripe, slack, standard): how many seconds a signed
    /// timestamp may be from the server's clock; [`DEFAULT_WEBHOOK_TOLERANCE_SECS`]
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
}

impl Webhook {
    /// The generic scheme with its defaults (as `--verify-webhook SECRET`).
    pub fn hmac(secret: impl Into<String>) -> Self {
        Self::of(WebhookProvider::Hmac, secret)
    }

    /// A scheme with its defaults.
    pub fn of(provider: WebhookProvider, secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            provider,
            header: None,
            prefix: None,
            tolerance_secs: None,
        }
    }

    /// The signature header's name.
    pub fn header(&self) -> &str {
        match self.provider.fixed_signature() {
            Some((header, _)) => header,
            None => self.header.as_deref().unwrap_or(DEFAULT_WEBHOOK_HEADER),
        }
    }

    /// The signature's prefix.
    pub fn prefix(&self) -> &str {
        match self.provider.fixed_signature() {
            Some((_, prefix)) => prefix,
            None => self.prefix.as_deref().unwrap_or(DEFAULT_WEBHOOK_PREFIX),
        }
    }

    /// Seconds a signed timestamp may be off; `None` for schemes without one.
    pub fn tolerance(&self) -> Option<u64> {
        self.provider.has_timestamp().then(|| {
            self.tolerance_secs
                .unwrap_or(DEFAULT_WEBHOOK_TOLERANCE_SECS)
        })
    }

    /// The Standard Webhooks key: the bytes the base64 after `whsec_` stands for
    /// (the prefix is optional, as in the scheme's own libraries). `None` when the
    /// secret is not base64 or decodes to nothing.
    pub fn standard_key(&self) -> Option<Vec<u8>> {
        let b64 = self
            .secret
            .strip_prefix(STANDARD_SECRET_PREFIX)
            .unwrap_or(&self.secret);
        STANDARD_KEY.decode(b64).ok().filter(|k| !k.is_empty())
    }

    /// Checks the settings: the secret's length (and form, for `standard`), that the
    /// header and prefix are set only where the owner chooses them, and that a
    /// tolerance is set only where there is a timestamp, within its bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.secret.is_empty() || self.secret.len() > MAX_WEBHOOK_SECRET_BYTES {
            return Err(PolicyError::WebhookSecretLength);
        }
        if self.provider == WebhookProvider::Standard && self.standard_key().is_none() {
            return Err(PolicyError::WebhookStandardSecret);
        }
        if self.provider.fixed_signature().is_some()
            && (self.header.is_some() || self.prefix.is_some())
        {
            return Err(PolicyError::WebhookFixedHeader(self.provider));
        }
        validate_header_name(self.header())?;
        let p = self.prefix();
        if p.len() > MAX_WEBHOOK_PREFIX_BYTES || !p.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PolicyError::WebhookPrefix);
        }
        if let Some(t) = self.tolerance_secs {
            if !self.provider.has_timestamp() {
                return Err(PolicyError::WebhookNoTimestamp(self.provider));
            }
            if !(1..=MAX_WEBHOOK_TOLERANCE_SECS).contains(&t) {
                return Err(PolicyError::WebhookTolerance);
            }
        }
        Ok(())
    }

    /// What the API shows of these settings (no secret).
    pub fn summary(&self) -> WebhookSummary {
        WebhookSummary {
            provider: self.provider,
            header: self.header().to_owned(),
            prefix: self.prefix().to_owned(),
            tolerance_secs: self.tolerance(),
        }
    }
}

/// The value of `--verify-webhook`: `PROVIDER:SECRET`, or a bare `SECRET` for the
/// generic scheme. Text before the first `:` that names no scheme is part of a
/// generic secret, so secrets with colons keep working; one that starts with a
/// scheme's name and a colon is written `hmac:SECRET`.
pub fn parse_webhook_flag(value: &str) -> (WebhookProvider, &str) {
    match value.split_once(':') {
        Some((name, secret)) => match name.parse() {
            Ok(provider) => (provider, secret),
            Err(_) => (WebhookProvider::Hmac, value),
        },
        None => (WebhookProvider::Hmac, value),
    }
}

/// Inside [`super::PolicySummary`]: whose scheme, and where its signature is read
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSummary {
    /// Whose scheme (`hmac` for the generic one, and for summaries from before).
    #[serde(default)]
    pub provider: WebhookProvider,
    /// Signature header.
    pub header: String,
    /// Signature prefix.
    pub prefix: String,
    /// Seconds a signed timestamp may be off, for schemes that sign one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
}

impl WebhookSummary {
    /// The check in a few words: `Stripe webhook signature (timestamp within 300 s)`.
    pub fn describe(&self) -> String {
        match (self.provider, self.tolerance_secs) {
            (WebhookProvider::Hmac, _) => format!("webhook signature in {}", self.header),
            (p, Some(t)) => format!("{} webhook signature (timestamp within {t} s)", p.label()),
            (p, None) => format!("{} webhook signature", p.label()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_names_a_scheme_or_is_a_generic_secret() {
        let cases: &[(&str, WebhookProvider, &str)] = &[
            ("s3cret", WebhookProvider::Hmac, "s3cret"),
            ("github:s3cret", WebhookProvider::Github, "s3cret"),
            ("GitHub:s3cret", WebhookProvider::Github, "s3cret"),
            ("stripe:whsec_abc", WebhookProvider::Stripe, "whsec_abc"),
            ("slack:a:b", WebhookProvider::Slack, "a:b"),
            ("shopify:x", WebhookProvider::Shopify, "x"),
            (
                "standard:whsec_QUJD",
                WebhookProvider::Standard,
                "whsec_QUJD",
            ),
            ("hmac:github:x", WebhookProvider::Hmac, "github:x"),
            // Not a scheme's name: the whole value is a generic secret.
            ("user:pass", WebhookProvider::Hmac, "user:pass"),
            ("svix:x", WebhookProvider::Hmac, "svix:x"),
            (":x", WebhookProvider::Hmac, ":x"),
            ("stripe:", WebhookProvider::Stripe, ""),
        ];
        for (flag, provider, secret) in cases {
            assert_eq!(parse_webhook_flag(flag), (*provider, *secret), "{flag}");
        }
        assert_eq!(
            "nope".parse::<WebhookProvider>(),
            Err(PolicyError::WebhookProvider("nope".into()))
        );
        assert_eq!(
            WebhookProvider::names(),
            "hmac, github, stripe, slack, shopify, standard"
        );
    }

    #[test]
    fn json_names_and_defaults() {
        for p in WebhookProvider::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<WebhookProvider>(&json).unwrap(), p);
            assert_eq!(p.name().parse::<WebhookProvider>(), Ok(p));
        }
        // A policy from before schemes reads as the generic one, and the generic one
        // is stored as before.
        let w: Webhook = serde_json::from_str(r#"{"secret":"s","header":"X-Sig"}"#).unwrap();
        assert_eq!(w.provider, WebhookProvider::Hmac);
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"secret":"s","header":"X-Sig"}"#
        );
        let w: Webhook = serde_json::from_str(r#"{"secret":"s","provider":"slack"}"#).unwrap();
        assert_eq!(w.header(), "X-Slack-Signature");
        assert_eq!(w.tolerance(), Some(DEFAULT_WEBHOOK_TOLERANCE_SECS));
        assert!(serde_json::from_str::<Webhook>(r#"{"secret":"s","provider":"svix"}"#).is_err());
        assert_eq!(Webhook::of(WebhookProvider::Shopify, "s").tolerance(), None);
    }

    #[test]
    fn standard_secrets_are_base64_with_or_without_whsec() {
        let key = |s: &str| Webhook::of(WebhookProvider::Standard, s).standard_key();
        assert_eq!(key("whsec_QUJD").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(key("QUJD").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(key("whsec_QUI=").as_deref(), Some(&b"AB"[..]));
        assert_eq!(key("whsec_QUI").as_deref(), Some(&b"AB"[..]), "unpadded");
        for bad in ["whsec_", "whsec_not base64!", "whsec_QUJD-_"] {
            assert_eq!(key(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_at_their_edges() {
        let ok = |w: Webhook| w.validate();
        assert_eq!(ok(Webhook::hmac("s")), Ok(()));
        for p in WebhookProvider::ALL {
            let secret = if p == WebhookProvider::Standard {
                "whsec_QUJD"
            } else {
                "s"
            };
            assert_eq!(ok(Webhook::of(p, secret)), Ok(()), "{p}");
            assert_eq!(
                ok(Webhook::of(p, "")),
                Err(PolicyError::WebhookSecretLength),
                "{p}"
            );
        }
        assert_eq!(
            ok(Webhook::of(WebhookProvider::Standard, "not-base64!")),
            Err(PolicyError::WebhookStandardSecret)
        );
        // Header and prefix belong to the generic scheme.
        for p in WebhookProvider::ALL.into_iter().skip(1) {
            let w = Webhook {
                header: Some("X-Sig".into()),
                ..Webhook::of(p, "whsec_QUJD")
            };
            assert_eq!(ok(w), Err(PolicyError::WebhookFixedHeader(p)));
            let w = Webhook {
                prefix: Some(String::new()),
                ..Webhook::of(p, "whsec_QUJD")
            };
            assert_eq!(ok(w), Err(PolicyError::WebhookFixedHeader(p)));
        }
        // The tolerance, only where there is a timestamp, from 1 s to the bound.
        let tol = |p, t| Webhook {
            tolerance_secs: Some(t),
            ..Webhook::of(p, "whsec_QUJD")
        };
        for p in [
            WebhookProvider::Stripe,
            WebhookProvider::Slack,
            WebhookProvider::Standard,
        ] {
            assert_eq!(ok(tol(p, 1)), Ok(()));
            assert_eq!(ok(tol(p, MAX_WEBHOOK_TOLERANCE_SECS)), Ok(()));
            assert_eq!(ok(tol(p, 0)), Err(PolicyError::WebhookTolerance));
            assert_eq!(
                ok(tol(p, MAX_WEBHOOK_TOLERANCE_SECS + 1)),
                Err(PolicyError::WebhookTolerance)
            );
            assert_eq!(tol(p, 7).tolerance(), Some(7));
        }
        for p in [
            WebhookProvider::Hmac,
            WebhookProvider::Github,
            WebhookProvider::Shopify,
        ] {
            assert_eq!(ok(tol(p, 60)), Err(PolicyError::WebhookNoTimestamp(p)));
        }
    }

    #[test]
    fn summaries_name_the_scheme() {
        let s = Webhook::of(WebhookProvider::Stripe, "whsec_x").summary();
        assert_eq!(
            (s.header.as_str(), s.prefix.as_str(), s.tolerance_secs),
            ("Stripe-Signature", "v1=", Some(300))
        );
        assert_eq!(
            s.describe(),
            "Stripe webhook signature (timestamp within 300 s)"
        );
        assert_eq!(
            Webhook::of(WebhookProvider::Shopify, "x")
                .summary()
                .describe(),
            "Shopify webhook signature"
        );
        let generic = Webhook {
            header: Some("X-Sig".into()),
            ..Webhook::hmac("x")
        };
        assert_eq!(generic.summary().describe(), "webhook signature in X-Sig");
        // A summary from before schemes reads as the generic one.
        let old: WebhookSummary =
            serde_json::from_str(r#"{"header":"X-Sig","prefix":"sha256="}"#).unwrap();
        assert_eq!(old.provider, WebhookProvider::Hmac);
    }
}
