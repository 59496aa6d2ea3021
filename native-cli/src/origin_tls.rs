//! TLS to an `https://` origin: the certificate verified against the system's roots
//! and the web's public ones (webpki-roots), plus the PEM file of `--origin-ca` (a
//! dev server's own self-signed certificate, or the CA that signed it); or, with
//! `--origin-insecure`, not verified at all, for a self-signed dev server one does not
//! want to export a certificate from. The handshake's signatures are checked either
//! way; only who vouches for the certificate changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How the certificate of an `https://` origin is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OriginTls {
    /// Verified against the system's and the public roots.
    #[default]
    Verified,
    /// Verified, trusting the certificates of this PEM file too.
    TrustFile(PathBuf),
    /// Not verified (`--origin-insecure`).
    Insecure,
}

/// Why the origin's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OriginTlsError {
    /// The `--origin-ca` file is unreadable or holds no certificate.
    #[error("cannot use {path} as --origin-ca: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS to the local service: {0}")]
    Config(#[from] rustls::Error),
}

impl OriginTls {
    /// The rustls client configuration for these settings.
    pub fn client_config(&self) -> Result<ClientConfig, OriginTlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = match self {
            Self::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            Self::Verified => builder
                .with_root_certificates(roots(&[]))
                .with_no_client_auth(),
            Self::TrustFile(path) => builder
                .with_root_certificates(roots(&read_pem(path)?))
                .with_no_client_auth(),
        };
        Ok(config)
    }
}

/// The system's roots, the public ones, and `extra`.
fn roots(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A system store that cannot be read leaves the public roots: the origin may
    // still be verified by those, or by --origin-ca.
    let system = rustls_native_certs::load_native_certs();
    let (_, _unusable) = roots.add_parsable_certificates(system.certs);
    let (_, _unusable) = roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, OriginTlsError> {
    let bad = |reason: String| OriginTlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "no CERTIFICATE block in it (give the dev server's certificate, or its CA's, as PEM)"
                .into(),
        ));
    }
    Ok(certs)
}

/// Accepts any certificate, but still checks that the server holds its key (the
/// handshake signature), so the connection is at least to one party throughout.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A hint for an origin connection error that looks like a certificate refusal.
pub fn hint(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("certificate") || r.contains("unknownissuer") {
        "; for a self-signed dev server pass --origin-ca FILE (its certificate or CA, PEM) or --origin-insecure"
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
        let missing = OriginTls::TrustFile(dir.path().join("nope.pem"));
        let e = missing.client_config().unwrap_err().to_string();
        assert!(e.contains("nope.pem") && e.contains("--origin-ca"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = OriginTls::TrustFile(empty)
            .client_config()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");
        assert!(OriginTls::Verified.client_config().is_ok());
        assert!(OriginTls::Insecure.client_config().is_ok());
    }

    #[test]
    fn certificate_errors_get_the_flags_as_a_hint() {
        assert!(hint("invalid peer certificate: UnknownIssuer").contains("--origin-insecure"));
        assert_eq!(hint("connection refused"), "");
    }
}
