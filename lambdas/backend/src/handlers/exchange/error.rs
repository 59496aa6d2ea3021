//! How an exchange can end early, and what each way means to the public client
//! ([`Refusal`]) and to the request log ([`Outcome`]).

use client_core::inspect::Outcome;
use client_core::protocol::ErrorFrame;

use crate::handlers::admission::Refusal;

/// Why an exchange ended before its answer did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The client did not start answering within the response timeout, or (where
    /// the deployment bounds it) went silent mid-body for as long.
    #[error("the tunnel client did not answer within {secs} s")]
    Timeout {
        /// The wait, seconds.
        secs: u64,
    },
    /// The client reported that its origin failed.
    #[error("{}", .0.message)]
    Origin(ErrorFrame),
    /// The client's answer broke the protocol.
    #[error("the tunnel client broke the protocol: {0}")]
    Broken(Violation),
    /// The client's connection closed before the answer did.
    #[error("the tunnel client disconnected")]
    Disconnected,
    /// A frame for the client could not be sent: its connection is gone.
    #[error("the tunnel client is gone")]
    TunnelGone,
    /// The request body passed the deployment's limit.
    #[error("the request body passed the server's limit of {max} bytes")]
    UploadTooLarge {
        /// The limit, bytes.
        max: u64,
    },
    /// The public client broke off its upload.
    #[error("the public client broke off its upload")]
    UploadBrokeOff,
    /// The public client went away.
    #[error("the public client went away")]
    PublicGone,
    /// An upgraded stream carried no bytes either way for the idle timeout.
    #[error("the upgraded stream was idle for {secs} s")]
    UpgradeIdle {
        /// The idle timeout, seconds.
        secs: u64,
    },
}

/// A way the client's answer breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A BODY frame before the RESPONSE head (where chunks are not reordered).
    #[error("a body before its response head")]
    BodyBeforeHead,
    /// A second RESPONSE head.
    #[error("a second response head")]
    SecondHead,
    /// A status outside 100..=999.
    #[error("the invalid status {0}")]
    InvalidStatus(u16),
    /// 101 where no upgrade was asked for, or a 101 that ends its own body.
    #[error("switching protocols where no WebSocket was asked for")]
    UnaskedSwitch,
    /// A chunk other than the next one, where chunks are not reordered.
    #[error("expected chunk {expected}, got {got}")]
    OutOfOrder {
        /// The number expected.
        expected: u32,
        /// The number received.
        got: u32,
    },
    /// A chunk number seen before.
    #[error("chunk {0} arrived twice")]
    Duplicate(u32),
    /// A chunk after the final one.
    #[error("a chunk after the final one")]
    AfterFin,
    /// A RESPONSE saying its body is stored where no place for it was given (the
    /// local stack never gives one), or one with a body of its own.
    #[error("a stored body where none was offered")]
    UnofferedStore,
    /// More chunks held ahead of a missing one than the reorder window.
    #[error("more than {0} chunks arrived ahead of a missing one")]
    WindowExceeded(usize),
    /// A chunk larger than the server advertised.
    #[error("a chunk of {len} bytes, over the {max} advertised")]
    Oversized {
        /// Its size.
        len: usize,
        /// The advertised maximum.
        max: usize,
    },
}

impl ExchangeError {
    /// The page the public client gets when this ends the exchange before the
    /// answer's head went out; `domain` is the tunnel's subdomain.
    pub fn refusal(&self, domain: &str) -> Refusal {
        let domain = domain.to_owned();
        match self {
            Self::Timeout { secs } => Refusal::Timeout {
                domain,
                secs: *secs,
            },
            Self::Origin(e) => Refusal::Origin {
                code: e.code,
                message: e.message.clone(),
            },
            Self::Broken(v) => Refusal::BrokenAnswer { why: v.to_string() },
            Self::Disconnected | Self::PublicGone | Self::UpgradeIdle { .. } => {
                Refusal::Disconnected { domain }
            }
            Self::TunnelGone => Refusal::Offline { domain },
            Self::UploadTooLarge { max } => Refusal::TooLarge { max: *max },
            Self::UploadBrokeOff => Refusal::BodyUnreadable,
        }
    }

    /// How the request log records the exchange this ends.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Timeout { .. } => Outcome::Timeout,
            Self::Origin(e) => Refusal::Origin {
                code: e.code,
                message: String::new(),
            }
            .outcome(),
            Self::Broken(_) => Outcome::OriginFailed,
            Self::Disconnected | Self::TunnelGone => Outcome::TunnelOffline,
            Self::UploadTooLarge { .. } => Outcome::TooLarge,
            Self::UploadBrokeOff | Self::PublicGone | Self::UpgradeIdle { .. } => {
                Outcome::ClientDisconnected
            }
        }
    }

    /// Whether the client must hear CANCEL: it may still be working on the exchange.
    /// Not after it reported the failure itself, nor when its connection is gone.
    pub(super) fn cancels(&self) -> bool {
        !matches!(
            self,
            Self::Origin(_) | Self::Disconnected | Self::TunnelGone
        )
    }
}
