//! What can go wrong: a start refused ([`EmulatorError`]) and an invocation failed
//! ([`InvokeError`]), each with the name and status AWS gives it.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

/// Why [`Functions::start`] refused its specs.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A spec is not something Lambda would accept, or its binary is missing.
    #[error("function {name:?}: {reason}")]
    InvalidSpec {
        /// The function.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two specs share a name.
    #[error("function {0:?} is defined twice")]
    Duplicate(String),
    /// The [`Limits`] cannot be met by any invocation.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
}

/// Why an invocation failed. [`InvokeError::error_type`] gives the name AWS uses.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// No function of that name.
    #[error("ResourceNotFoundException: no function named {0:?}")]
    UnknownFunction(String),
    /// The payload is over [`Limits::max_request_bytes`]; nothing ran.
    #[error("RequestTooLargeException: the payload is {size} bytes, over the {limit}-byte limit")]
    RequestTooLarge {
        /// Payload size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Every instance the function may have is busy, or the account's concurrency is
    /// used up (Lambda answers 429).
    #[error("TooManyRequestsException ({}): {function} is at its limit of {limit} concurrent invocations", reason.aws_name())]
    Throttled {
        /// The function.
        function: String,
        /// The limit it met (the function's, or the account's).
        limit: usize,
        /// Which limit.
        reason: ThrottleReason,
    },
    /// The function reported an error (`/error`, or a panic caught by its runtime).
    #[error("function error {error_type}: {error_message}")]
    Function {
        /// `errorType` of the error document, else the runtime's error-type header.
        error_type: String,
        /// `errorMessage` of the error document, if it had one.
        error_message: String,
        /// The error document as the runtime sent it.
        payload: Bytes,
    },
    /// The buffered response is over [`Limits::max_buffered_response_bytes`].
    #[error("Function.ResponseSizeTooLarge: the response is over the {limit}-byte limit")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The function ran past its timeout; its instance was killed.
    #[error("Sandbox.Timedout: the task timed out after {0:?}")]
    Timeout(Duration),
    /// A new instance did not ask for its first event within the Init limit.
    #[error("Runtime.InitTimeout: the runtime did not ask for an event within {0:?}")]
    InitTimeout(Duration),
    /// The runtime reported an initialisation error (`/init/error`).
    #[error("init error {error_type}: {error_message}")]
    Init {
        /// The error type.
        error_type: String,
        /// Its message, if the document had one.
        error_message: String,
        /// The error document.
        payload: Bytes,
    },
    /// The process exited (or crashed) before answering.
    #[error("Runtime.ExitError: the runtime exited before answering ({status})")]
    Crashed {
        /// How it ended, e.g. `exit status: 3` or `signal: 9 (SIGKILL)`.
        status: String,
    },
    /// The runtime broke the streaming contract (e.g. no prelude delimiter).
    #[error("Runtime.InvalidResponse: {0}")]
    InvalidResponse(String),
    /// The binary could not be started.
    #[error("cannot start {binary}: {reason}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS's reason.
        reason: String,
    },
    /// [`Functions::shutdown`] has begun.
    #[error("the emulator is shutting down")]
    ShutDown,
}

/// Which concurrency limit refused an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// The function's own (reserved) concurrency.
    Function,
    /// The account's concurrency, shared by all functions.
    Account,
}

impl ThrottleReason {
    /// The `Reason` Lambda gives in its `TooManyRequestsException`.
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::Function => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Self::Account => "ConcurrentInvocationLimitExceeded",
        }
    }
}

impl InvokeError {
    /// The error name AWS reports for this failure: the Invoke API's exception name
    /// for failures before the function runs, the function error type otherwise.
    pub fn error_type(&self) -> &str {
        match self {
            Self::UnknownFunction(_) => "ResourceNotFoundException",
            Self::RequestTooLarge { .. } => "RequestTooLargeException",
            Self::Throttled { .. } => "TooManyRequestsException",
            Self::Function { error_type, .. } | Self::Init { error_type, .. } => error_type,
            Self::ResponseTooLarge { .. } => "Function.ResponseSizeTooLarge",
            Self::Timeout(_) => "Sandbox.Timedout",
            Self::InitTimeout(_) => "Runtime.InitTimeout",
            Self::Crashed { .. } => "Runtime.ExitError",
            Self::InvalidResponse(_) => "Runtime.InvalidResponse",
            Self::Spawn { .. } | Self::ShutDown => "ServiceException",
        }
    }

    /// The status the Lambda Invoke API answers with. Function-side failures are 200
    /// with `X-Amz-Function-Error` on AWS; callers that map to HTTP (a Function URL
    /// gives 502 for them) decide that themselves from [`Self::is_function_error`].
    pub fn invoke_status(&self) -> u16 {
        match self {
            Self::UnknownFunction(_) => 404,
            Self::RequestTooLarge { .. } => 413,
            Self::Throttled { .. } => 429,
            Self::Spawn { .. } | Self::ShutDown => 500,
            _ => 200,
        }
    }

    /// True when the function ran and failed (as opposed to never running).
    pub fn is_function_error(&self) -> bool {
        self.invoke_status() == 200
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_follow_aws_names() {
        let throttled = InvokeError::Throttled {
            function: "f".into(),
            limit: 1,
            reason: ThrottleReason::Account,
        };
        assert_eq!(throttled.error_type(), "TooManyRequestsException");
        assert!(
            throttled
                .to_string()
                .contains("ConcurrentInvocationLimitExceeded"),
            "{throttled}"
        );
        assert_eq!(throttled.invoke_status(), 429);
        assert!(!throttled.is_function_error());
        let timeout = InvokeError::Timeout(Duration::from_secs(1));
        assert_eq!(timeout.error_type(), "Sandbox.Timedout");
        assert!(timeout.is_function_error());
        let big = InvokeError::RequestTooLarge { size: 2, limit: 1 };
        assert_eq!(big.invoke_status(), 413);
    }
}
