//! Certificates and the ACME account on disk, under `<data dir>/acme/`, so a restart
//! serves the certificates it has instead of ordering them again.
//!
//! - `account.json`: the account's key and URL at the directory it was made with.
//! - `certs/<host>.pem`: the chain (leaf first) then its private key.
//!
//! Files are written whole beside their final name and renamed into place, mode 0600.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::AcmeError;

/// A certificate ready to serve.
#[derive(Debug)]
pub struct Issued {
    /// The server configuration presenting it.
    pub config: Arc<rustls::ServerConfig>,
    /// End of the leaf's validity.
    pub not_after: SystemTime,
    /// The leaf, DER (tests compare it across restarts).
    pub leaf: CertificateDer<'static>,
}

/// The folder of one server's ACME state.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The state under `dir` (created when first written).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Path of the account file.
    pub fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    /// Path of `host`'s certificate file (`host` is a plain DNS name, see
    /// `policy::plain_host`).
    pub fn cert_path(&self, host: &str) -> PathBuf {
        self.dir.join("certs").join(format!("{host}.pem"))
    }

    /// The stored certificate of `host`, if any.
    pub fn load_cert(&self, host: &str) -> Result<Option<Issued>, AcmeError> {
        let path = self.cert_path(host);
        match std::fs::read(&path) {
            Ok(pem) => parse(&pem)
                .map(Some)
                .map_err(|reason| AcmeError::Stored { path, reason }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AcmeError::Io { path, source }),
        }
    }

    /// Stores `host`'s certificate (chain then key, PEM) and returns it ready to serve.
    pub fn save_cert(
        &self,
        host: &str,
        chain_pem: &str,
        key_pem: &str,
    ) -> Result<Issued, AcmeError> {
        let pem = format!("{}\n{}", chain_pem.trim_end(), key_pem);
        let path = self.cert_path(host);
        let issued = parse(pem.as_bytes()).map_err(|reason| AcmeError::Stored {
            path: path.clone(),
            reason,
        })?;
        write_private(&path, pem.as_bytes())?;
        Ok(issued)
    }
}

/// Writes `bytes` to `path` readable by its owner only, replacing it atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
    let io = |source| AcmeError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A PEM file of chain and key, as [`Issued`]; the reason in words when it is not one.
pub fn parse(pem: &[u8]) -> Result<Issued, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let leaf = chain.first().cloned().ok_or("no CERTIFICATE block")?;
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| e.to_string())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).map_err(|e| e.to_string())?;
    let secs = u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0);
    let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let config = crate::tls::server_config(chain, key).map_err(|e| e.to_string())?;
    Ok(Issued {
        config,
        not_after,
        leaf,
    })
}
