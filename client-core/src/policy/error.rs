//! Why a policy cannot be used ([`PolicyError`]), each reason tied to the field it
//! is about so the CLI and the console can show it beside the flag or input.

use super::{
    MAX_ALLOW_IPS, MAX_BASIC_AUTH_BYTES, MAX_HEADER_NAME_BYTES, MAX_INBOX_REPLY_BYTES,
    MAX_INBOX_REQUESTS, MAX_INBOX_TTL_SECS, MAX_SHARE_TOKEN_BYTES, MAX_WEBHOOK_PREFIX_BYTES,
    MAX_WEBHOOK_SECRET_BYTES, MAX_WEBHOOK_TOLERANCE_SECS, MIN_SHARE_TOKEN_BYTES,
    STANDARD_SECRET_PREFIX, WebhookProvider,
};

/// Why a policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Basic auth is not `user:password` with both parts present.
    #[error(
        "basic auth must be USER:PASSWORD with a non-empty user (no ':') and a non-empty password"
    )]
    BasicAuthFormat,
    /// Basic auth is too long.
    #[error("basic auth is longer than {MAX_BASIC_AUTH_BYTES} bytes")]
    BasicAuthTooLong,
    /// A share token's length is out of bounds.
    #[error(
        "the share token must be {MIN_SHARE_TOKEN_BYTES} to {MAX_SHARE_TOKEN_BYTES} characters long"
    )]
    ShareTokenLength,
    /// A share token holds characters a URL would have to escape.
    #[error("the share token may hold only letters, digits and - . _ ~ (it travels in URLs)")]
    ShareTokenCharacters,
    /// An allow-list entry is not a CIDR.
    #[error("{0:?} is not an IP address or CIDR (like 10.0.0.0/8 or 2001:db8::/32)")]
    Cidr(String),
    /// The allow-list is too long.
    #[error("at most {MAX_ALLOW_IPS} allow-list entries")]
    TooManyCidrs,
    /// The webhook secret is empty or too long.
    #[error("the webhook secret must be 1 to {MAX_WEBHOOK_SECRET_BYTES} bytes long")]
    WebhookSecretLength,
    /// No webhook scheme has this name.
    #[error("{0:?} is not a webhook provider: use one of {names}", names = WebhookProvider::names())]
    WebhookProvider(String),
    /// A Standard Webhooks secret that is not base64.
    #[error(
        "a Standard Webhooks secret is {STANDARD_SECRET_PREFIX} followed by base64, as the sender shows it (like whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw)"
    )]
    WebhookStandardSecret,
    /// A header or prefix set for a scheme that fixes its own.
    #[error(
        "{} webhooks have a fixed signature header: set a header or prefix only for the generic hmac form",
        .0.label()
    )]
    WebhookFixedHeader(WebhookProvider),
    /// A tolerance set for a scheme without a timestamp.
    #[error(
        "{} signatures carry no timestamp: a tolerance applies only to stripe, slack and standard",
        .0.label()
    )]
    WebhookNoTimestamp(WebhookProvider),
    /// The tolerance is out of range.
    #[error("the webhook timestamp tolerance must be 1 to {MAX_WEBHOOK_TOLERANCE_SECS} seconds")]
    WebhookTolerance,
    /// The signature header name is not an HTTP header name.
    #[error(
        "{0:?} is not an HTTP header name (1 to {MAX_HEADER_NAME_BYTES} letters, digits and !#$%&'*+-.^_`|~)"
    )]
    HeaderName(String),
    /// The signature prefix is too long or not printable.
    #[error("the signature prefix must be at most {MAX_WEBHOOK_PREFIX_BYTES} printable characters")]
    WebhookPrefix,
    /// A webhook check set without a secret, where none is in force for that sender.
    #[error("the webhook check needs its secret: one is kept only when the sender stays the same")]
    WebhookSecretMissing,
    /// The inbox's answer status is not a final HTTP status.
    #[error("the inbox's answer status must be 200 to 599, not {0}")]
    InboxStatus(u16),
    /// The inbox's answer body is too long.
    #[error("the inbox's answer body must be at most {MAX_INBOX_REPLY_BYTES} bytes")]
    InboxReplyTooLong,
    /// The inbox's bound is out of range.
    #[error("the inbox may hold 1 to {MAX_INBOX_REQUESTS} requests")]
    InboxMaxRequests,
    /// The inbox's time to live is out of range.
    #[error("held requests may wait 1 to {MAX_INBOX_TTL_SECS} seconds")]
    InboxTtl,
}

/// The names of a policy's fields, as in JSON, flags' words aside.
pub const POLICY_FIELDS: [&str; 5] = ["basic_auth", "share_token", "allow_ips", "webhook", "inbox"];

impl PolicyError {
    /// The policy field at fault, as named in JSON (one of [`POLICY_FIELDS`]): the REST
    /// error carries it, and the CLI and the console show the message beside the flag
    /// or input it belongs to.
    pub fn field(&self) -> &'static str {
        use PolicyError as E;
        match self {
            E::BasicAuthFormat | E::BasicAuthTooLong => "basic_auth",
            E::ShareTokenLength | E::ShareTokenCharacters => "share_token",
            E::Cidr(_) | E::TooManyCidrs => "allow_ips",
            E::WebhookSecretLength
            | E::WebhookProvider(_)
            | E::WebhookStandardSecret
            | E::WebhookFixedHeader(_)
            | E::WebhookNoTimestamp(_)
            | E::WebhookTolerance
            | E::HeaderName(_)
            | E::WebhookPrefix
            | E::WebhookSecretMissing => "webhook",
            E::InboxStatus(_) | E::InboxReplyTooLong | E::InboxMaxRequests | E::InboxTtl => "inbox",
        }
    }
}
