//! The local stack links no AWS SDK: the AWS emulation lives in `tunnel-emulator`, so
//! `tunnel-server` builds, starts and weighs what the local stack needs and no more.
//! Read from `cargo tree` (normal dependencies of every target, transitively).

use std::process::Command;

/// Crates that only the AWS path needs.
const AWS_ONLY: [&str; 5] = [
    "aws-sdk-",
    "aws-smithy-",
    "aws_lambda_events",
    "lambda_runtime",
    "tunnel-aws",
];

/// The names of the crates `package` links, one per line as `cargo tree` prints them.
fn linked(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(["-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn aws_only(crates: &[String]) -> Vec<&String> {
    let mut found: Vec<_> = crates
        .iter()
        .filter(|c| AWS_ONLY.iter().any(|a| c.starts_with(a)))
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn tunnel_server_links_no_aws_sdk() {
    let server = linked("tunnel-server");
    assert!(
        server.iter().any(|c| c == "tunnel-backend"),
        "the tree was not read: {server:?}"
    );
    assert_eq!(
        aws_only(&server),
        Vec::<&String>::new(),
        "tunnel-server links AWS crates; the AWS emulation belongs in tunnel-emulator"
    );
}

#[test]
fn the_check_sees_the_sdk_where_it_is_linked() {
    // The emulator runs the AWS path, so the same reading must find the SDK there.
    let emulator = linked("tunnel-emulator");
    let found = aws_only(&emulator);
    assert!(
        found.iter().any(|c| c.as_str() == "aws-sdk-dynamodb"),
        "{found:?}"
    );
}
