//! TLS for a self-hosted server: `--tls-cert` and `--tls-key` (PEM), or certificates
//! from ACME (`--acme-email`, see [`crate::acme`]), make every connection HTTPS, the
//! REST API, the WebSocket endpoint (wss) and public traffic alike. A wildcard
//! certificate for `*.<base domain>` plus the base domain covers them all.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};

use crate::acme::Acme;

/// How the server's TLS certificates are found.
#[derive(Clone)]
pub enum Tls {
    /// One certificate for every name (`--tls-cert`).
    Fixed(TlsAcceptor),
    /// Each name's own, from ACME, chosen by the client's SNI.
    Acme(Arc<Acme>),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(_) => f.write_str("Tls::Fixed"),
            Self::Acme(acme) => f.debug_tuple("Tls::Acme").field(acme).finish(),
        }
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The client was too slow to send its hello (or the whole handshake).
    #[error("TLS handshake timed out")]
    TimedOut,
    /// The client named no host (SNI): ACME certificates are per name.
    #[error("the client sent no server name (SNI)")]
    NoServerName,
    /// No certificate can be had for the name asked.
    #[error(transparent)]
    NoCertificate(#[from] crate::acme::NoCertificate),
    /// The handshake itself failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Tls {
    /// Completes the server side of a handshake on `stream`. The client's part must
    /// arrive within `timeout`; a first ACME certificate may take longer to obtain
    /// (up to `acme::ISSUE_TIMEOUT`).
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, AcceptError> {
        match self {
            Self::Fixed(acceptor) => tokio::time::timeout(timeout, acceptor.accept(stream))
                .await
                .map_err(|_| AcceptError::TimedOut)?
                .map_err(AcceptError::Io),
            Self::Acme(acme) => {
                let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
                let start = tokio::time::timeout(timeout, hello)
                    .await
                    .map_err(|_| AcceptError::TimedOut)??;
                let host = start
                    .client_hello()
                    .server_name()
                    .map(str::to_owned)
                    .ok_or(AcceptError::NoServerName)?;
                let config = acme.config_for(&host).await?;
                tokio::time::timeout(timeout, start.into_stream(config))
                    .await
                    .map_err(|_| AcceptError::TimedOut)?
                    .map_err(AcceptError::Io)
            }
        }
    }
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or holds no PEM certificate.
    #[error("cannot read a PEM certificate chain from {path}: {reason}")]
    Cert {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The key file is unreadable or holds no PEM private key.
    #[error("cannot read a PEM private key from {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The two do not make a server configuration (e.g. the key does not match).
    #[error("the certificate and key do not go together: {0}")]
    Config(String),
}

/// An acceptor for `cert` (PEM chain, leaf first) and `key` (PEM, PKCS#8, PKCS#1 or
/// SEC1).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert.display().to_string(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(TlsAcceptor::from(server_config(chain, key)?))
}

/// A server configuration presenting `chain` (leaf first) with `key`. HTTP/1.1 only,
/// as the server speaks nothing else.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
