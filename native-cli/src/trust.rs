//! Which servers the CLI trusts over HTTPS and wss: the web's public roots always
//! (certificates are verified by default), plus the CAs of a PEM file given with
//! `--ca-file` / `TUNNEL_CA_FILE` / `ca_file` in the config, for a self-hosted server
//! with a private CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why the CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Unreadable, or no PEM certificate in it.
    #[error("cannot use {path} as a CA file: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Extra trusted CAs; empty trusts the public roots only.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pem: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// The public roots plus the certificates in `ca_file`, if given.
    pub fn load(ca_file: Option<&Path>) -> Result<Self, TrustError> {
        let Some(path) = ca_file else {
            return Ok(Self::default());
        };
        let bad = |reason: String| TrustError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no CERTIFICATE block in it".into()));
        }
        Ok(Self { pem, certs })
    }

    /// `builder` trusting these CAs too.
    pub fn http(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
        if self.certs.is_empty() {
            return Ok(builder);
        }
        let mut builder = builder;
        for cert in reqwest::Certificate::from_pem_bundle(&self.pem).map_err(|e| e.to_string())? {
            builder = builder.add_root_certificate(cert);
        }
        Ok(builder)
    }

    /// The wss connector trusting these CAs too; `None` for the default one.
    pub fn websocket(&self) -> Option<tokio_tungstenite::Connector> {
        if self.certs.is_empty() {
            return None;
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let (_, _ignored) = roots.add_parsable_certificates(self.certs.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
    }
}

/// A hint to add to a connection error that looks like an untrusted certificate.
pub fn hint(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("certificate") || r.contains("unknownissuer") || r.contains("invalid peer") {
        " (is the server's certificate from a private CA? pass --ca-file PEM or set TUNNEL_CA_FILE)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = Trust::load(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("nope.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Trust::load(Some(&empty)).unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");
        assert!(Trust::load(None).unwrap().websocket().is_none());
    }
}
