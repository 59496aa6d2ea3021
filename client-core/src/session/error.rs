//! Why a driver's command does not fit the session's state.

use crate::protocol::limits::MAX_UPGRADED_STREAMS;
use crate::protocol::{CodecError, HeadError, StreamId};

#[cfg(doc)]
use super::ClientSession;

/// A command that does not fit the session's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such stream is open (finished, cancelled or never seen).
    #[error("stream {0} is not open")]
    UnknownStream(StreamId),
    /// The response was already started, or finished.
    #[error("stream {0}: response already {1}")]
    WrongState(StreamId, &'static str),
    /// A 101 answer to a request that did not ask to upgrade, or from a session
    /// that did not offer upgrades in CONNECT.
    #[error("stream {0}: 101 Switching Protocols answers only an upgrade request")]
    NotAnUpgrade(StreamId),
    /// The session already carries [`MAX_UPGRADED_STREAMS`] upgraded streams.
    #[error("stream {0}: more than {MAX_UPGRADED_STREAMS} upgraded streams at once")]
    TooManyUpgrades(StreamId),
    /// [`ClientSession::respond_stored`] for a request that came with no
    /// `answer_url`, or a 101.
    #[error("stream {0}: no place to store this answer's body")]
    NotStorable(StreamId),
    /// The response head breaks a limit.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// An encoded frame would not fit in a message.
    #[error(transparent)]
    Codec(#[from] CodecErrorText),
}

/// A codec error kept as text so that [`CommandError`] stays `Clone` and `Eq`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecErrorText(String);

impl From<CodecError> for CommandError {
    fn from(e: CodecError) -> Self {
        CommandError::Codec(CodecErrorText(e.to_string()))
    }
}
