//! A function's definition ([`FunctionSpec`]) and the rules Lambda holds it to, so a
//! spec that starts here would deploy there.

use std::path::PathBuf;
use std::time::Duration;

use super::EmulatorError;
use crate::limits;

/// The account id in every ARN the emulator makes: AWS's documentation example
/// account, which moto uses too.
pub const ACCOUNT_ID: &str = "123456789012";

/// The region a function runs in when its spec's environment sets no `AWS_REGION`.
pub const DEFAULT_REGION: &str = "us-east-1";

/// One Lambda function: which binary to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`, the ARN, the log prefix).
    pub name: String,
    /// The bootstrap executable.
    pub binary: PathBuf,
    /// Environment variables set on the function (they override the emulator's own
    /// `AWS_*` defaults, like `AWS_REGION`). Nothing else of the emulator's environment
    /// is passed on: a Lambda sandbox starts from a clean one.
    pub env: Vec<(String, String)>,
    /// The function timeout, from 1 s to 15 min.
    pub timeout: Duration,
    /// Memory setting (only reported to the function; not enforced).
    pub memory_mb: u32,
    /// Reserved concurrency: the most instances that may run at once. (Within the
    /// account's [`Limits::account_concurrency`], which all functions share.)
    pub max_concurrency: usize,
}

impl FunctionSpec {
    /// A spec with Lambda's defaults: 3 s timeout, 128 MB, and a concurrency of 10.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            env: Vec::new(),
            timeout: Duration::from_secs(3),
            memory_mb: limits::MIN_MEMORY_MB,
            max_concurrency: 10,
        }
    }

    /// The region the function runs in: its `AWS_REGION`, or [`DEFAULT_REGION`].
    pub fn region(&self) -> &str {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == "AWS_REGION")
            .map_or(DEFAULT_REGION, |(_, v)| v.as_str())
    }

    /// The function's unqualified ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}",
            self.region(),
            self.name
        )
    }

    pub(super) fn validate(&self) -> Result<(), EmulatorError> {
        let invalid = |reason: String| EmulatorError::InvalidSpec {
            name: self.name.clone(),
            reason,
        };
        // Lambda's function-name pattern, so a name that works here works there.
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(
                "a function name is 1-64 characters of letters, digits, '-' and '_'".into(),
            ));
        }
        if !self.binary.is_file() {
            return Err(invalid(format!("{} is not a file", self.binary.display())));
        }
        if !(limits::MIN_FUNCTION_TIMEOUT..=limits::MAX_FUNCTION_TIMEOUT).contains(&self.timeout) {
            return Err(invalid(format!(
                "timeout {:?} is outside Lambda's 1 s to 900 s",
                self.timeout
            )));
        }
        if !(limits::MIN_MEMORY_MB..=limits::MAX_MEMORY_MB).contains(&self.memory_mb) {
            return Err(invalid(format!(
                "memory {} MB is outside Lambda's 128 to 10240 MB",
                self.memory_mb
            )));
        }
        if self.max_concurrency == 0 {
            return Err(invalid("max_concurrency must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_arn_come_from_the_spec() {
        let mut spec = FunctionSpec::new("f", "/bin/true");
        assert_eq!(
            spec.arn(),
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
        spec.env.push(("AWS_REGION".into(), "eu-west-3".into()));
        assert_eq!(spec.region(), "eu-west-3");
    }

    #[test]
    fn specs_outside_lambdas_ranges_are_refused() {
        let bin = std::env::current_exe().unwrap();
        let ok = FunctionSpec::new("f", &bin);
        ok.validate().unwrap();
        let cases: Vec<(FunctionSpec, &str)> = vec![
            (
                FunctionSpec {
                    name: "a b".into(),
                    ..ok.clone()
                },
                "name",
            ),
            (
                FunctionSpec {
                    name: "x".repeat(65),
                    ..ok.clone()
                },
                "name",
            ),
            (
                FunctionSpec {
                    binary: "/nonexistent".into(),
                    ..ok.clone()
                },
                "not a file",
            ),
            (
                FunctionSpec {
                    timeout: Duration::from_millis(999),
                    ..ok.clone()
                },
                "timeout",
            ),
            (
                FunctionSpec {
                    timeout: Duration::from_secs(901),
                    ..ok.clone()
                },
                "timeout",
            ),
            (
                FunctionSpec {
                    memory_mb: 127,
                    ..ok.clone()
                },
                "memory",
            ),
            (
                FunctionSpec {
                    memory_mb: 10_241,
                    ..ok.clone()
                },
                "memory",
            ),
            (
                FunctionSpec {
                    max_concurrency: 0,
                    ..ok.clone()
                },
                "max_concurrency",
            ),
        ];
        for (spec, what) in cases {
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
        FunctionSpec {
            timeout: Duration::from_secs(900),
            memory_mb: 10_240,
            ..ok
        }
        .validate()
        .unwrap();
    }
}
