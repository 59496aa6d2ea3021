//! `tunnel start`'s target and its flags: which local service, and how its
//! certificate is checked. The forms themselves are client-core's
//! ([`client_core::target`]); this is where the CLI's flags meet them.

use std::path::PathBuf;

use client_core::target::{OriginScheme, OriginTarget, TARGET_FORMS, TargetError};

use crate::origin_tls::OriginTls;

/// A `tunnel start` whose target flags do not fit together; a usage error.
#[derive(Debug, thiserror::Error)]
pub enum TargetUsage {
    /// No target given.
    #[error(
        "tunnel start needs the local service to forward to, e.g. `tunnel start 3000`. Write one of: {}",
        TARGET_FORMS
    )]
    Missing,
    /// The target is not in an accepted form.
    #[error(transparent)]
    Invalid(#[from] TargetError),
    /// `--host` beside a target that names its own host.
    #[error(
        "--host {host} and the target {target:?} both name a host: write the target as {host}:PORT and drop --host"
    )]
    HostTwice {
        /// The `--host` value.
        host: String,
        /// The target as given.
        target: String,
    },
    /// `--origin-ca` / `--origin-insecure` for a plain HTTP target.
    #[error("{flag} is for https:// targets; {target} is plain HTTP")]
    TlsFlagWithoutTls {
        /// The flag.
        flag: &'static str,
        /// The target.
        target: String,
    },
}

/// The origin `tunnel start` was given: `target` in any accepted form, and the
/// deprecated `--host` (kept working beside a bare port, with a warning on stderr).
pub fn resolve_target(
    target: Option<&str>,
    host: Option<&str>,
) -> Result<OriginTarget, TargetUsage> {
    let raw = target.ok_or(TargetUsage::Missing)?.trim();
    let Some(host) = host else {
        return Ok(OriginTarget::parse(raw)?);
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetUsage::HostTwice {
            host: host.to_owned(),
            target: raw.to_owned(),
        });
    }
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let joined = format!("{host}:{raw}");
    let parsed = OriginTarget::parse(&joined)?;
    eprintln!(
        "warning: --host is deprecated; write the target as HOST:PORT: `tunnel start {joined}`"
    );
    Ok(parsed)
}

/// How an origin's certificate is checked, from `--origin-ca` and `--origin-insecure`
/// (which clap keeps apart); both are refused for a plain HTTP target, where they
/// would silently do nothing.
pub fn origin_tls(
    target: &OriginTarget,
    ca: Option<PathBuf>,
    insecure: bool,
) -> Result<OriginTls, TargetUsage> {
    let plain = target.scheme == OriginScheme::Http;
    let refuse = |flag| TargetUsage::TlsFlagWithoutTls {
        flag,
        target: target.url(),
    };
    match (ca, insecure) {
        (Some(_), _) if plain => Err(refuse("--origin-ca")),
        (None, true) if plain => Err(refuse("--origin-insecure")),
        (Some(file), _) => Ok(OriginTls::TrustFile(file)),
        (None, true) => Ok(OriginTls::Insecure),
        (None, false) => Ok(OriginTls::Verified),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_required_and_its_forms_are_shown() {
        let e = resolve_target(None, None).unwrap_err();
        assert!(matches!(e, TargetUsage::Missing));
        assert!(e.to_string().contains(TARGET_FORMS), "{e}");
        let e = resolve_target(Some("localhost:x"), None).unwrap_err();
        assert!(e.to_string().contains(TARGET_FORMS), "{e}");
        assert_eq!(
            resolve_target(Some("https://localhost:8443"), None).unwrap(),
            OriginTarget::parse("https://localhost:8443").unwrap()
        );
    }

    #[test]
    fn the_deprecated_host_flag_still_works_beside_a_port() {
        let t = resolve_target(Some("8000"), Some("192.168.1.5")).unwrap();
        assert_eq!(t.url(), "http://192.168.1.5:8000");
        let t = resolve_target(Some("8000"), Some("::1")).unwrap();
        assert_eq!(t.url(), "http://[::1]:8000");
        let e = resolve_target(Some("localhost:3000"), Some("127.0.0.1")).unwrap_err();
        assert!(matches!(e, TargetUsage::HostTwice { .. }), "{e}");
        assert!(e.to_string().contains("drop --host"), "{e}");
    }

    #[test]
    fn tls_flags_belong_to_https_targets() {
        let http = OriginTarget::parse("3000").unwrap();
        let https = OriginTarget {
            scheme: OriginScheme::Https,
            ..http.clone()
        };
        let ca = std::path::PathBuf::from("ca.pem");
        assert!(origin_tls(&http, Some(ca.clone()), false).is_err());
        assert!(origin_tls(&http, None, true).is_err());
        assert_eq!(origin_tls(&http, None, false).unwrap(), OriginTls::Verified);
        assert_eq!(
            origin_tls(&https, Some(ca.clone()), false).unwrap(),
            OriginTls::TrustFile(ca)
        );
        assert_eq!(origin_tls(&https, None, true).unwrap(), OriginTls::Insecure);
        assert_eq!(
            origin_tls(&https, None, false).unwrap(),
            OriginTls::Verified
        );
    }
}
