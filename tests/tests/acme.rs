//! HTTPS by ACME, offline: Pebble (Let's Encrypt's test CA) issues the certificates,
//! validating HTTP-01 for real on the server's plain-HTTP port, with
//! pebble-challtestsrv answering its DNS (every name is 127.0.0.1). A tunnel's first
//! HTTPS request gets a certificate that verifies to Pebble's root; a name that is no
//! tunnel gets no order; a restart serves the stored certificate with Pebble gone;
//! plain HTTP redirects to HTTPS.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{Origin, READY_TIMEOUT, Server, User, closed_port};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::process::{Child, Command};

const EMAIL: &str = "ops@example.com";

/// Spawns a test tool, with a hint when it is not installed.
fn spawn(program: &str, args: &[&str], envs: &[(&str, &str)], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install Pebble with `scripts/setup.sh acme`")
        })
}

/// Waits until something accepts TCP connections on `port`.
async fn accepting(port: u16, what: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The leaf certificate the server presents for `sni`, verified against `roots`
/// (the handshake fails otherwise).
async fn leaf(port: u16, sni: &str, roots: &rustls::RootCertStore) -> std::io::Result<Vec<u8>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await?;
    Ok(tls.get_ref().1.peer_certificates().unwrap()[0].to_vec())
}

struct Pebble {
    _dns: Child,
    pebble: Child,
    /// Pebble's own HTTPS root, for `--acme-ca-root`.
    tls_root: std::path::PathBuf,
    directory: String,
    /// The root its issued certificates chain to.
    issued_root: String,
}

/// Starts challtestsrv (DNS) and Pebble, validating HTTP-01 on `http_port`.
async fn pebble(dir: &Path, http_port: u16) -> Pebble {
    // Pebble's own HTTPS certificate, for 127.0.0.1.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let tls_root = dir.join("pebble-tls-root.pem");
    std::fs::write(&tls_root, ca.pem()).unwrap();
    std::fs::write(dir.join("pebble-cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("pebble-key.pem"), key.serialize_pem()).unwrap();

    let (dns_port, dns_mgmt) = (closed_port().await, closed_port().await);
    let dns = spawn(
        "pebble-challtestsrv",
        &[
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-dns01",
            &format!("127.0.0.1:{dns_port}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            &format!("127.0.0.1:{dns_mgmt}"),
        ],
        &[],
        &dir.join("challtestsrv.log"),
    );
    accepting(dns_mgmt, "pebble-challtestsrv").await;

    let (port, mgmt, tls_port) = (
        closed_port().await,
        closed_port().await,
        closed_port().await,
    );
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{port}"),
        "managementListenAddress": format!("127.0.0.1:{mgmt}"),
        "certificate": dir.join("pebble-cert.pem"),
        "privateKey": dir.join("pebble-key.pem"),
        "httpPort": http_port,
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    let config_path = dir.join("pebble.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let pebble = spawn(
        "pebble",
        &[
            "-config",
            config_path.to_str().unwrap(),
            "-dnsserver",
            &format!("127.0.0.1:{dns_port}"),
            "-strict",
        ],
        // No artificial waits before validating; no nonces refused at random (a test
        // of this server, not of the client's nonce retries).
        &[("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_WFE_NONCEREJECT", "0")],
        &dir.join("pebble.log"),
    );
    accepting(port, "pebble").await;
    accepting(mgmt, "pebble's management interface").await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let issued_root = http
        .get(format!("https://127.0.0.1:{mgmt}/roots/0"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    Pebble {
        _dns: dns,
        pebble,
        tls_root,
        directory: format!("https://127.0.0.1:{port}/dir"),
        issued_root,
    }
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Lines of the server's log (JSON) about ACME orders for `host`.
fn orders_for(log: &str, host: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("ACME order placed") && l.contains(&format!("\"host\":\"{host}\"")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_on_demand_from_pebble() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = closed_port().await;
    let mut ca = pebble(dir.path(), http_port).await;
    let issued_root = dir.path().join("issued-root.pem");
    std::fs::write(&issued_root, &ca.issued_root).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.issued_root.as_bytes()).unwrap())
        .unwrap();

    let data = dir.path().join("data");
    let http_listen = format!("127.0.0.1:{http_port}");
    let args = [
        "--domain",
        "localhost",
        "--acme-email",
        EMAIL,
        "--acme-directory",
        &ca.directory,
        "--acme-ca-root",
        ca.tls_root.to_str().unwrap(),
        "--http-listen",
        &http_listen,
    ];
    let log1 = dir.path().join("server1.log");
    let mut server = Server::start_logging(&data, &args, &log1).await;
    assert!(server.url.starts_with("https://"), "{}", server.url);

    // A name that is no tunnel: no certificate, and no order placed for it.
    let refused = leaf(server.port, "nobody.localhost", &roots).await;
    assert!(refused.is_err(), "a certificate for a name no tunnel holds");
    let log = log_of(&log1);
    assert_eq!(orders_for(&log, "nobody.localhost"), 0, "{log}");
    assert!(
        log.contains("no certificate: not the base domain nor a tunnel's host"),
        "{log}"
    );
    assert!(!data.join("acme/certs/nobody.localhost.pem").exists());

    // The CLI over HTTPS: the base domain's certificate is ordered on its first
    // handshake, and verifies against Pebble's root (--ca-file).
    let mut user = User::new(dir.path(), &server);
    user.api_url = format!("https://localhost:{}", server.port);
    let ca_file = issued_root.to_str().unwrap();
    user.ok(&["--ca-file", ca_file, "register"]).await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[
            "--ca-file",
            ca_file,
            &origin.port.to_string(),
            "--domain",
            "shop",
            "--quiet",
        ])
        .await;
    assert_eq!(
        tunnel.url,
        format!("https://shop.localhost:{}", server.port)
    );

    // The tunnel's first HTTPS request: a certificate from Pebble, verified.
    let public = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.issued_root.as_bytes()).unwrap())
        .resolve(
            "shop.localhost",
            SocketAddr::from(([127, 0, 0, 1], server.port)),
        )
        .build()
        .unwrap();
    let r = public
        .post(format!("{}/first", tunnel.url))
        .body("over acme")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "over acme");
    let first = leaf(server.port, "shop.localhost", &roots).await.unwrap();
    let log = log_of(&log1);
    assert_eq!(orders_for(&log, "shop.localhost"), 1, "{log}");
    assert_eq!(orders_for(&log, "localhost"), 1, "{log}");
    assert_eq!(orders_for(&log, "nobody.localhost"), 0, "{log}");
    assert!(data.join("acme/certs/shop.localhost.pem").exists());

    // Plain HTTP: redirected to HTTPS, method and path kept.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            "shop.localhost",
            SocketAddr::from(([127, 0, 0, 1], http_port)),
        )
        .build()
        .unwrap();
    let moved = plain
        .post(format!("http://shop.localhost:{http_port}/a?b=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 308);
    assert_eq!(
        moved.headers()["location"],
        format!("https://shop.localhost:{}/a?b=1", server.port).as_str()
    );
    let foreign = plain
        .get(format!("http://127.0.0.1:{http_port}/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    tunnel.interrupt().await;

    // A restart with the CA gone serves the stored certificate: no new order.
    ca.pebble.kill().await.unwrap();
    server.kill().await;
    let log2 = dir.path().join("server2.log");
    let listen = format!("127.0.0.1:{}", server.port);
    let restarted = Server::start_logging_on(&listen, &data, &args, &log2).await;
    let again = leaf(restarted.port, "shop.localhost", &roots)
        .await
        .unwrap();
    assert_eq!(
        again, first,
        "the restarted server presents another certificate"
    );
    let log = log_of(&log2);
    assert_eq!(log.matches("ACME order placed").count(), 0, "{log}");
}
