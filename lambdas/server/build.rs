//! With the `console` feature, finds the web console's build to embed (see
//! `console::Console::embedded`) and fails early, saying how to make it, when it is
//! missing. Without the feature this does nothing.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=TUNNEL_CONSOLE_DIR");
    if std::env::var_os("CARGO_FEATURE_CONSOLE").is_none() {
        return;
    }
    let dir = match std::env::var_os("TUNNEL_CONSOLE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("../../target/console-dist"),
    };
    if !dir.join("index.html").is_file() {
        panic!(
            "the `console` feature embeds the web console built into {0}, which has no index.html: \
             build it first with `scripts/console-build.sh {0}` (or point TUNNEL_CONSOLE_DIR at a build)",
            dir.display()
        );
    }
    let dir = dir.canonicalize().unwrap_or(dir);
    // A directory here makes cargo rerun this (and rebuild) when any file in it changes.
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rustc-env=TUNNEL_CONSOLE_EMBED={}", dir.display());
}
