//! `DynamoStore::from_env` on the real process environment. The 2024 edition makes
//! `std::env::set_var` unsafe (and the workspace forbids unsafe), so the check runs in
//! a child process of this test binary, started with the environment it needs.

use std::process::Command;

use tunnel_aws::{ConfigError, DynamoStore, env};

/// Set only in the child, so the check is a no-op in an ordinary run.
const CHILD_MARKER: &str = "TUNNEL_AWS_FROM_ENV_CHILD";

const ALL: [&str; 12] = [
    env::CLIENTS_TABLE,
    env::TUNNELS_TABLE,
    env::DOMAINS_TABLE,
    env::CONNECTIONS_TABLE,
    env::REQUESTS_TABLE,
    env::INBOX_TABLE,
    env::RATE_LIMITS_TABLE,
    env::DYNAMODB_ENDPOINT,
    env::AWS_REGION,
    env::AWS_ACCESS_KEY_ID,
    env::AWS_SECRET_ACCESS_KEY,
    env::AWS_SESSION_TOKEN,
];

#[test]
fn child_checks_from_env() {
    let Ok(missing) = std::env::var(CHILD_MARKER) else {
        return;
    };
    match DynamoStore::from_env() {
        Err(ConfigError::Missing(var)) => {
            assert_eq!(var, missing);
            let msg = ConfigError::Missing(var).to_string();
            assert!(msg.contains(&missing), "{msg}");
        }
        other => panic!("expected {missing} to be reported missing, got {other:?}"),
    }
}

#[test]
fn from_env_names_the_missing_variable() {
    let exe = std::env::current_exe().unwrap();
    for missing in [
        env::TUNNELS_TABLE,
        env::AWS_REGION,
        env::AWS_SECRET_ACCESS_KEY,
    ] {
        let mut cmd = Command::new(&exe);
        cmd.args(["child_checks_from_env", "--exact", "--test-threads=1"]);
        for var in ALL {
            cmd.env_remove(var);
        }
        // Everything before `missing` in reading order is set, so it is the first gap.
        for var in ALL.iter().take_while(|v| **v != missing) {
            if *var != env::DYNAMODB_ENDPOINT {
                cmd.env(var, "x");
            }
        }
        let out = cmd.env(CHILD_MARKER, missing).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child for {missing} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
