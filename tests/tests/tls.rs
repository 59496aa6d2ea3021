//! A self-hosted server with `--tls-cert/--tls-key` and a private CA: the CLI refuses
//! it by default (certificates are verified) with a hint, trusts it with `--ca-file`,
//! and the whole path (REST, wss, public HTTPS) works end to end.

#![allow(clippy::unwrap_used)]

use e2e::{Origin, Server, User};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA, and a certificate it signs for `localhost`, `secure.localhost` and 127.0.0.1.
/// (A real deployment uses `*.<base domain>`; webpki accepts no wildcard whose rest is
/// a single label, such as `*.localhost`.)
fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "secure.localhost".to_owned()])
            .unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert!(server.url.starts_with("https://"), "{}", server.url);

    // Verified by default: a private CA is refused, with a hint.
    let user = User::new(dir.path(), &server);
    let refused = user.run(&["register"]).await;
    assert_ne!(refused.code, Some(0));
    assert!(refused.stderr.contains("--ca-file"), "{refused:?}");

    // Trusted with --ca-file: register, start over wss, public traffic over HTTPS.
    let ca_arg = ca.to_str().unwrap();
    user.ok(&["--ca-file", ca_arg, "register"]).await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[
            "--ca-file",
            ca_arg,
            &origin.port.to_string(),
            "--domain",
            "secure",
            "--quiet",
        ])
        .await;
    assert_eq!(
        tunnel.url,
        format!("https://secure.localhost:{}", server.port)
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .resolve(
            "secure.localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        )
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/over-tls", tunnel.url))
        .body("sealed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echoed: Vec<(String, String)> =
        serde_json::from_str(r.headers()["x-echo-headers"].to_str().unwrap()).unwrap();
    assert!(
        echoed.contains(&("x-forwarded-proto".to_owned(), "https".to_owned())),
        "{echoed:?}"
    );
    assert_eq!(r.text().await.unwrap(), "sealed");

    // Plain HTTP to a TLS port gets no answer it could mistake for one.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", server.port))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    tunnel.interrupt().await;
}
