//! HTTPS without a certificate in hand: `--acme-email` orders certificates from an
//! ACME CA (Let's Encrypt by default, `--acme-directory` for another) when a name is
//! first asked for in a TLS handshake, and renews them when they near their end.
//!
//! Only the base domain and the hosts of tunnels that exist get a certificate, and
//! each host at most one order per [`policy::ORDER_INTERVAL`]: a stranger sending
//! made-up names in SNI cannot make the server order certificates, nor spend the
//! CA's rate limits. Challenges are HTTP-01, answered on the plain-HTTP port
//! ([`crate::redirect`]), which must be reachable on port 80 from the CA.
//!
//! - [`policy`]: the rules (which names, how often, when to renew), without I/O.
//! - [`store`]: the account and the certificates in the data dir.

pub mod policy;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use policy::{Freshness, OrderLimiter, freshness, plain_host};
use store::{Issued, Store};

/// Let's Encrypt's production directory, the default of `--acme-directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Longest a first handshake for a name waits for its certificate. The order goes on
/// in the background past it, so the client's next try finds the certificate.
pub const ISSUE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the CA is polled for the challenges' outcome and for the certificate.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(45);

/// Most HTTP-01 challenges awaiting the CA at once (one order at a time has one).
pub const MAX_PENDING_CHALLENGES: usize = 64;

/// Whether a host may get a certificate (the base domain, or an existing tunnel's).
pub type HostCheck =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// What `--acme-*` say.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// Contact address given to the CA (expiry notices and the like).
    pub email: String,
    /// The CA's directory URL.
    pub directory: String,
    /// PEM root to trust for the CA's own HTTPS, for a test CA such as Pebble.
    pub ca_root: Option<PathBuf>,
    /// Where the account and certificates are kept (`<data dir>/acme`).
    pub dir: PathBuf,
}

/// Why a certificate failed to be obtained or stored.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA refused or could not be reached.
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    /// The CA offered no challenge this server can answer.
    #[error("the CA offered no HTTP-01 challenge for {0}")]
    NoHttp01(String),
    /// An authorization or the order ended other than valid.
    #[error("the CA did not validate {host}: {status}")]
    NotValidated {
        /// The name.
        host: String,
        /// What the CA said.
        status: String,
    },
    /// Too many challenges are awaiting the CA already.
    #[error("too many ACME challenges pending")]
    TooManyChallenges,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored file does not hold what it should.
    #[error("{path} is not a usable certificate and key ({reason}); delete it to order a new one")]
    Stored {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The account file does not parse.
    #[error("{path} is not an ACME account file ({reason}); delete it to make a new account")]
    Account {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Why a handshake gets no certificate.
#[derive(Debug, thiserror::Error)]
pub enum NoCertificate {
    /// The name is not the base domain nor an existing tunnel's host.
    #[error("no certificate for {0}: it is neither the base domain nor a tunnel's host")]
    NotServed(String),
    /// An order for the name was placed recently and did not give one.
    #[error("no certificate for {host} yet: the next order may be placed in {} s", .retry_in.as_secs())]
    RateLimited {
        /// The name.
        host: String,
        /// Until the next order may be placed.
        retry_in: Duration,
    },
    /// The order is still under way past [`ISSUE_TIMEOUT`].
    #[error("no certificate for {0} yet: its order is still under way")]
    Pending(String),
    /// The order failed.
    #[error("no certificate for {host}: {source}")]
    Failed {
        /// The name.
        host: String,
        /// Why.
        #[source]
        source: Arc<AcmeError>,
    },
}

/// HTTP-01 answers awaiting the CA: token to key authorization.
#[derive(Debug, Default)]
pub struct Challenges(Mutex<HashMap<String, String>>);

impl Challenges {
    /// The key authorization to answer for `token`, while its challenge is pending.
    pub fn answer(&self, token: &str) -> Option<String> {
        self.lock().get(token).cloned()
    }

    /// Adds an answer by hand (the redirect port's tests).
    #[cfg(test)]
    pub fn insert_for_test(&self, token: &str, answer: &str) {
        self.lock().insert(token.to_owned(), answer.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding this lock leaves the map whole (inserts and removes).
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes its tokens from [`Challenges`] when the order is over, however it ends.
struct PendingTokens<'a> {
    challenges: &'a Challenges,
    tokens: Vec<String>,
}

impl PendingTokens<'_> {
    fn add(&mut self, token: String, answer: String) -> Result<(), AcmeError> {
        let mut map = self.challenges.lock();
        if map.len() >= MAX_PENDING_CHALLENGES {
            return Err(AcmeError::TooManyChallenges);
        }
        map.insert(token.clone(), answer);
        self.tokens.push(token);
        Ok(())
    }
}

impl Drop for PendingTokens<'_> {
    fn drop(&mut self) {
        let mut map = self.challenges.lock();
        for t in &self.tokens {
            map.remove(t);
        }
    }
}

/// Certificates on demand.
pub struct Acme {
    config: AcmeConfig,
    store: Store,
    allowed: HostCheck,
    /// Pending HTTP-01 answers, read by the plain-HTTP port.
    pub challenges: Arc<Challenges>,
    /// Certificates in memory, by host.
    cache: Mutex<HashMap<String, Arc<Issued>>>,
    /// One order at a time; holds when each host's last one was placed.
    orders: tokio::sync::Mutex<OrderLimiter>,
    account: tokio::sync::OnceCell<Account>,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The account file: the credentials, and the directory they belong to (another
/// `--acme-directory` makes a new account).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

impl Acme {
    /// Certificates from the CA of `config`, for the hosts `allowed` accepts.
    pub fn new(config: AcmeConfig, allowed: HostCheck) -> Arc<Self> {
        Arc::new(Self {
            store: Store::new(config.dir.clone()),
            config,
            allowed,
            challenges: Arc::default(),
            cache: Mutex::default(),
            orders: tokio::sync::Mutex::default(),
            account: tokio::sync::OnceCell::new(),
        })
    }

    /// The TLS configuration to answer a handshake for `host` with: its stored
    /// certificate, or one ordered now when the host may have one.
    pub async fn config_for(
        self: &Arc<Self>,
        host: &str,
    ) -> Result<Arc<rustls::ServerConfig>, NoCertificate> {
        let Some(host) = plain_host(host) else {
            return Err(NoCertificate::NotServed(host.to_owned()));
        };
        if let Some(issued) = self.known(&host) {
            match freshness(issued.not_after, SystemTime::now()) {
                Freshness::Fresh => return Ok(issued.config.clone()),
                Freshness::RenewDue => {
                    // Served meanwhile; the renewal runs on its own (rate limited).
                    let me = self.clone();
                    let h = host.clone();
                    tokio::spawn(async move {
                        let _ = me.order_if_allowed(&h).await;
                    });
                    return Ok(issued.config.clone());
                }
                Freshness::Expired => {}
            }
        }
        // The order runs in a task of its own: a client that gives up, or this
        // handshake's time running out, does not abort it half way.
        let me = self.clone();
        let h = host.clone();
        let order = tokio::spawn(async move { me.order_if_allowed(&h).await });
        match tokio::time::timeout(ISSUE_TIMEOUT, order).await {
            Ok(Ok(result)) => result.map(|issued| issued.config.clone()),
            Ok(Err(join)) => Err(NoCertificate::Failed {
                host,
                source: Arc::new(AcmeError::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other(join.to_string()),
                }),
            }),
            Err(_) => Err(NoCertificate::Pending(host)),
        }
    }

    /// The certificate for `host` in memory or on disk, not yet checked for expiry.
    fn known(&self, host: &str) -> Option<Arc<Issued>> {
        if let Some(issued) = self.cache_lock().get(host) {
            return Some(issued.clone());
        }
        match self.store.load_cert(host) {
            Ok(Some(issued)) => {
                let issued = Arc::new(issued);
                self.cache_lock().insert(host.to_owned(), issued.clone());
                Some(issued)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "stored certificate unusable");
                None
            }
        }
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Issued>>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Orders a certificate for `host` if it may have one and no order for it was
    /// placed lately; one order at a time.
    async fn order_if_allowed(&self, host: &str) -> Result<Arc<Issued>, NoCertificate> {
        if !(self.allowed)(host.to_owned()).await {
            tracing::info!(
                host,
                "no certificate: not the base domain nor a tunnel's host"
            );
            return Err(NoCertificate::NotServed(host.to_owned()));
        }
        let mut limiter = self.orders.lock().await;
        // Another handshake's order may have just got it.
        if let Some(issued) = self.cache_lock().get(host)
            && freshness(issued.not_after, SystemTime::now()) == Freshness::Fresh
        {
            return Ok(issued.clone());
        }
        if let Err(retry_in) = limiter.try_start(host, Instant::now()) {
            return Err(NoCertificate::RateLimited {
                host: host.to_owned(),
                retry_in,
            });
        }
        tracing::info!(host, directory = %self.config.directory, "ACME order placed");
        match self.order(host).await {
            Ok(issued) => {
                let issued = Arc::new(issued);
                self.cache_lock().insert(host.to_owned(), issued.clone());
                tracing::info!(host, "ACME certificate obtained");
                Ok(issued)
            }
            Err(e) => {
                tracing::warn!(host, error = %e, "ACME order failed");
                Err(NoCertificate::Failed {
                    host: host.to_owned(),
                    source: Arc::new(e),
                })
            }
        }
    }

    /// One order for `host`, through to the stored certificate.
    async fn order(&self, host: &str) -> Result<Issued, AcmeError> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(host.to_owned())];
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let mut pending = PendingTokens {
            challenges: &self.challenges,
            tokens: Vec::new(),
        };
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::NotValidated {
                        host: host.to_owned(),
                        status: format!("authorization {other:?}"),
                    });
                }
            }
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| AcmeError::NoHttp01(host.to_owned()))?;
            pending.add(
                challenge.token.clone(),
                challenge.key_authorization().as_str().to_owned(),
            )?;
            challenge.set_ready().await?;
        }
        let poll = RetryPolicy::new().timeout(POLL_TIMEOUT);
        let status = order.poll_ready(&poll).await?;
        drop(pending);
        if status != OrderStatus::Ready {
            return Err(AcmeError::NotValidated {
                host: host.to_owned(),
                status: format!("order {status:?}"),
            });
        }
        let key_pem = order.finalize().await?;
        let chain_pem = order.poll_certificate(&poll).await?;
        self.store.save_cert(host, &chain_pem, &key_pem)
    }

    /// The account, read from the data dir or made at the CA on first use.
    async fn account(&self) -> Result<Account, AcmeError> {
        self.account
            .get_or_try_init(|| async {
                let path = self.store.account_path();
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let stored: StoredAccount =
                            serde_json::from_slice(&bytes).map_err(|e| AcmeError::Account {
                                path: path.clone(),
                                reason: e.to_string(),
                            })?;
                        if stored.directory == self.config.directory {
                            return Ok(self
                                .builder()?
                                .from_credentials(stored.credentials)
                                .await?);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(AcmeError::Io { path, source }),
                }
                let contact = format!("mailto:{}", self.config.email);
                let (account, credentials) = self
                    .builder()?
                    .create(
                        &NewAccount {
                            contact: &[&contact],
                            // Passing --acme-email is agreeing (README, self-hosting).
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.config.directory.clone(),
                        None,
                    )
                    .await?;
                tracing::info!(directory = %self.config.directory, "ACME account created");
                let stored = StoredAccount {
                    directory: self.config.directory.clone(),
                    credentials,
                };
                let json = serde_json::to_vec_pretty(&stored).map_err(|e| AcmeError::Account {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                store::write_private(&path, &json)?;
                Ok::<Account, AcmeError>(account)
            })
            .await
            .cloned()
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        Ok(match &self.config.ca_root {
            Some(root) => Account::builder_with_root(root)?,
            None => Account::builder()?,
        })
    }
}

/// The [`HostCheck`] of the local stack: [`certifiable`] over `state`.
pub fn tunnel_hosts(state: Arc<crate::State>) -> HostCheck {
    Arc::new(
        move |host: String| -> Pin<Box<dyn Future<Output = bool> + Send>> {
            let state = state.clone();
            Box::pin(async move { certifiable(&state, &host).await })
        },
    )
}

/// Whether `host` may get a certificate: the base domain, or `<name>.<base>` where
/// tunnel `name` exists (connected or not). The rule of [`HostCheck`] for the local
/// stack.
pub async fn certifiable(state: &crate::State, host: &str) -> bool {
    let public = &state.backend.config.public;
    if host.eq_ignore_ascii_case(&public.base_domain) {
        return true;
    }
    let Some(name) = public.subdomain_of(host) else {
        return false;
    };
    match tunnel_backend::handlers::proxy::resolve(
        &state.backend,
        &name,
        client_core::clock::now_secs(),
    )
    .await
    {
        Ok(_) | Err(tunnel_backend::handlers::proxy::ProxyError::Offline(_)) => true,
        Err(_) => false,
    }
}
