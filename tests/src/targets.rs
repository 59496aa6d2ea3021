//! `tunnel start TARGET` in ngrok's forms, `https://` origins with their certificate
//! checks, and `--host-header`, end to end: the real CLI in front of small local
//! services on loopback (IPv4 and IPv6, plain and TLS).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::forwarded::seen;
use crate::scenarios::Stack;
use crate::{Origin, public_client};

/// A local service that answers every request with `<scheme> <Host it got>`.
#[derive(Debug)]
pub struct LocalService {
    /// Its port.
    pub port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalService {
    /// Plain HTTP on `ip`, a free port.
    pub async fn plain(ip: IpAddr) -> Self {
        Self::start(ip, None).await
    }

    /// HTTPS on 127.0.0.1 with `cert_pem` / `key_pem`.
    pub async fn tls(cert_pem: &str, key_pem: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::start(IpAddr::V4(Ipv4Addr::LOCALHOST), Some(acceptor)).await
    }

    async fn start(ip: IpAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (hits, tls) = (counted.clone(), tls.clone());
                tokio::spawn(async move {
                    let scheme = if tls.is_some() { "https" } else { "http" };
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let host = req
                            .headers()
                            .get(http::header::HOST)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        async move {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                                "{scheme} {host}"
                            )))))
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        // A handshake the client gives up on (an untrusted
                        // certificate) just ends this connection.
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Self { port, hits, task }
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Every loopback form of a target starts a tunnel that answers. (`192.168.1.5:8000`
/// is checked by the parser's unit tests only: nothing here may leave loopback.)
pub async fn every_target_form_answers(stack: &Stack) {
    let user = stack.user("u");
    user.register().await;
    let v4 = LocalService::plain(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    let v6 = LocalService::plain(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
    let forms = [
        (v4.port.to_string(), "localhost"),
        (format!("localhost:{}", v4.port), "localhost"),
        (format!("127.0.0.1:{}", v4.port), "127.0.0.1"),
        (format!("[::1]:{}", v6.port), "[::1]"),
        (format!("http://localhost:{}", v4.port), "localhost"),
        (format!("http://127.0.0.1:{}/", v4.port), "127.0.0.1"),
        (format!("http://[::1]:{}", v6.port), "[::1]"),
    ];
    for (i, (form, host)) in forms.iter().enumerate() {
        let domain = format!("form{i}");
        let tunnel = user.start(&[form, "--domain", &domain]).await;
        let http = public_client(&stack.server, &[&domain]);
        let r = http.get(format!("{}/", tunnel.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{form}");
        let port = if host == &"[::1]" { v6.port } else { v4.port };
        assert_eq!(
            r.text().await.unwrap(),
            format!("http {host}:{port}"),
            "{form}: the service got Host rewritten to its own address"
        );
        tunnel.interrupt().await;
    }
    assert_eq!(v4.hits() + v6.hits(), forms.len());
    assert_eq!(v6.hits(), 2, "the IPv6 forms reached the IPv6 service");
}

/// `tunnel start` with no target, or a wrong one, is a usage error that shows the
/// accepted forms; nothing is created.
pub async fn a_missing_or_wrong_target_shows_the_forms(stack: &Stack) {
    let user = stack.user("u");
    user.register().await;
    for args in [
        vec!["start"],
        vec!["start", "--domain", "nope"],
        vec!["start", "localhost:abc"],
        vec!["start", "300o"],
        vec!["start", "ftp://localhost:21"],
        vec!["start", "::1:3000"],
    ] {
        let out = user.run(&args).await;
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(client_core::target::TARGET_FORMS),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = user.run(&["start", "3000", "--origin-insecure"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("https://"), "{}", out.stderr);
    let list = user.ok(&["list", "--json"]).await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["tunnels"], serde_json::json!([]), "no tunnel was made");
}

/// A self-signed `https://` dev server: trusted with `--origin-ca` (its own
/// certificate), or with `--origin-insecure`; without either the public gets a 502
/// that says why, and so does the CLI's stderr.
pub async fn https_origins(stack: &Stack) {
    let user = stack.user("u");
    user.register().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let service = LocalService::tls(&cert_pem, &key_pem).await;
    let ca = stack.dir.path().join("dev-cert.pem");
    std::fs::write(&ca, &cert_pem).unwrap();
    let target = format!("https://localhost:{}", service.port);

    for (domain, flags) in [
        ("tlsca", vec!["--origin-ca", ca.to_str().unwrap()]),
        ("tlsinsecure", vec!["--origin-insecure"]),
    ] {
        let mut args = vec![target.as_str(), "--domain", domain];
        args.extend(flags);
        let tunnel = user.start(&args).await;
        let http = public_client(&stack.server, &[domain]);
        let r = http.get(format!("{}/x", tunnel.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{args:?}");
        assert_eq!(
            r.text().await.unwrap(),
            format!("https localhost:{}", service.port),
            "{args:?}"
        );
        tunnel.interrupt().await;
    }
    let answered = service.hits();
    assert_eq!(answered, 2);

    let tunnel = user.start(&[&target, "--domain", "tlsplain"]).await;
    let http = public_client(&stack.server, &["tlsplain"]);
    let r = http.get(format!("{}/x", tunnel.url)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("certificate") && page.contains("--origin-ca"),
        "the public page says why: {page}"
    );
    assert_eq!(service.hits(), answered, "no request reached the service");
    let (_, stderr) = tunnel.interrupt_with_stderr().await;
    assert!(
        stderr.contains("error: cannot connect to https://localhost:")
            && stderr.contains("--origin-insecure"),
        "the CLI says why: {stderr}"
    );
}

/// `--host-header`: `rewrite` (the default) sends the local address, `preserve` the
/// public host, a NAME itself; the public host is in `X-Forwarded-Host` every time.
pub async fn host_header_modes(stack: &Stack) {
    let user = stack.user("u");
    user.register().await;
    let origin = Origin::start().await;
    let local = format!("localhost:{}", origin.port);
    let port = origin.port.to_string();
    for (domain, flags, want) in [
        ("hhdefault", vec![], local.clone()),
        ("hhrewrite", vec!["--host-header", "rewrite"], local.clone()),
        (
            "hhpreserve",
            vec!["--host-header", "preserve"],
            stack.server.host_of("hhpreserve"),
        ),
        (
            "hhfixed",
            vec!["--host-header", "myapp.test:8443"],
            "myapp.test:8443".to_owned(),
        ),
    ] {
        let mut args = vec![port.as_str(), "--domain", domain];
        args.extend(flags);
        let tunnel = user.start(&args).await;
        let http = public_client(&stack.server, &[domain]);
        let r = http.get(format!("{}/h", tunnel.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{args:?}");
        let raw = r.headers()["x-echo-headers"].to_str().unwrap().to_owned();
        let echoed: Vec<(String, String)> = serde_json::from_str(&raw).unwrap();
        assert_eq!(seen(&echoed, "host"), [want.as_str()], "{args:?}");
        assert_eq!(
            seen(&echoed, "x-forwarded-host"),
            [stack.server.host_of(domain).as_str()],
            "{args:?}"
        );
        tunnel.interrupt().await;
    }
    let out = user.run(&["start", &port, "--host-header", "a b"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("preserve"), "{}", out.stderr);
}
