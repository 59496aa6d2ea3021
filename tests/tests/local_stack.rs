//! The main job end to end on the local stack: the real `tunnel-server` and `tunnel`
//! binaries, an origin, and public HTTP requests, all on loopback.

#![allow(clippy::unwrap_used)]

use e2e::{Origin, Server, User, closed_port, public_client, random_bytes};
use serde_json::Value;

fn echoed_headers(resp: &reqwest::Response) -> Vec<(String, String)> {
    let raw = resp.headers()["x-echo-headers"].to_str().unwrap();
    serde_json::from_str(raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_round_trip_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    user.register().await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "myapp"])
        .await;
    assert_eq!(
        tunnel.url,
        format!("http://myapp.localhost:{}", server.port)
    );
    let http = public_client(&server, &["myapp"]);
    let base = &tunnel.url.clone();

    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let target = "/a/b%20c/d.json?x=1&y=%C3%A9&empty=&x=2";
        let resp = http
            .request(method.parse().unwrap(), format!("{base}{target}"))
            .header("x-multi", "first")
            .header("x-multi", "second")
            .header("x-custom", "v a l")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        assert_eq!(resp.headers()["x-echo-method"], method);
        assert_eq!(resp.headers()["x-echo-target"], target);
        let outs: Vec<_> = resp.headers().get_all("x-multi-out").iter().collect();
        assert_eq!(outs, ["one", "two"], "repeated response headers kept");
        let seen = echoed_headers(&resp);
        let multi: Vec<_> = seen
            .iter()
            .filter(|(n, _)| n == "x-multi")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            multi,
            ["first", "second"],
            "repeated request headers kept in order"
        );
        assert!(seen.contains(&("x-custom".into(), "v a l".into())));
        let host = &seen.iter().find(|(n, _)| n == "host").unwrap().1;
        assert_eq!(
            host,
            &format!("localhost:{}", origin.port),
            "Host rewritten for the origin"
        );
        assert!(
            seen.iter().any(|(n, v)| n == "x-forwarded-host"
                && v == &format!("myapp.localhost:{}", server.port))
        );
        assert!(
            resp.bytes().await.unwrap().is_empty(),
            "empty body stays empty"
        );
    }

    let head = http.head(format!("{base}/h")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-echo-method"], "HEAD");

    for size in [0, 1, 16 * 1024, 16 * 1024 + 1, 300_000, 5 * 1024 * 1024] {
        let body = random_bytes(size);
        let resp = http
            .post(format!("{base}/upload"))
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let got = resp.bytes().await.unwrap();
        assert_eq!(got.len(), body.len(), "size {size}");
        assert!(
            got.as_ref() == body.as_slice(),
            "body of {size} bytes differs"
        );
    }

    // Concurrent requests on one tunnel are multiplexed, not serialised or mixed up.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let http = http.clone();
        let url = format!("{base}/c{i}");
        tasks.push(tokio::spawn(async move {
            let body = random_bytes(50_000 + i * 997);
            let got = http
                .post(url)
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(got.as_ref() == body.as_slice());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    assert_eq!(tunnel.interrupt().await, Some(0), "Ctrl-C exits cleanly");
    let after = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(after.status(), 404, "a stopped tunnel is gone");
    assert!(after.text().await.unwrap().contains("myapp"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_domains_and_taken_or_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let alice = User::new(&dir.path().join("alice"), &server);
    std::fs::create_dir_all(dir.path().join("alice")).unwrap();
    let bob = User::new(&dir.path().join("bob"), &server);
    std::fs::create_dir_all(dir.path().join("bob")).unwrap();
    alice.register().await;
    bob.register().await;
    let origin = Origin::start().await;
    let port = origin.port.to_string();

    let random = alice.start(&[&port]).await;
    let name = random.domain();
    client_core::domain::validate_subdomain(&name).unwrap();
    let http = public_client(&server, &[&name]);
    let resp = http.get(format!("{}/r", random.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let taken = bob.run(&["start", &port, "--domain", &name]).await;
    assert_ne!(taken.code, Some(0));
    assert!(taken.stderr.contains("taken"), "{taken:?}");
    assert_eq!(
        taken.stderr.trim().lines().count(),
        1,
        "one-line error: {taken:?}"
    );

    for bad in ["ab", "Bad_Name", "-edge", "www"] {
        let out = bob.run(&["start", &port, "--domain", bad]).await;
        assert_ne!(out.code, Some(0), "{bad}");
        assert!(out.stderr.contains(bad), "names the domain: {out:?}");
    }
    random.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_stop_status_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);

    let no_key = user.run(&["list"]).await;
    assert_ne!(no_key.code, Some(0));
    assert!(
        no_key.stderr.contains("tunnel register") || no_key.stderr.contains("auth login"),
        "{no_key:?}"
    );

    let raw = reqwest::Client::new();
    let r = raw
        .get(format!("{}/v1/tunnels", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tunnel register")
    );
    let bad = raw
        .get(format!("{}/v1/tunnels", server.url))
        .bearer_auth("tk_0011_2233")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    let key = user.register().await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "listed"])
        .await;

    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    let tunnels = list["tunnels"].as_array().unwrap();
    assert_eq!(tunnels.len(), 1);
    assert_eq!(tunnels[0]["domain"], "listed");
    assert_eq!(tunnels[0]["status"], "online");
    let id = tunnels[0]["tunnel_id"].as_str().unwrap().to_owned();

    let status: Value = serde_json::from_str(&user.ok(&["status", "--json"]).await).unwrap();
    assert_eq!(status["server_reachable"], true);
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["tunnels"][0]["tunnel_id"], id.as_str());

    // Another client's key cannot see or stop this tunnel.
    let other: Value = raw
        .post(format!("{}/v1/clients", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = other["api_key"].as_str().unwrap();
    for method in ["GET", "DELETE"] {
        let r = raw
            .request(
                method.parse().unwrap(),
                format!("{}/v1/tunnels/{id}", server.url),
            )
            .bearer_auth(other_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} by another client");
    }
    let mine = raw
        .get(format!("{}/v1/tunnels/{id}", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);

    // `tunnel stop` from elsewhere ends the running `tunnel start`.
    user.ok(&["stop", &id]).await;
    let mut child = tunnel.child;
    let code = tokio::time::timeout(e2e::READY_TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!code.success(), "a stopped tunnel's CLI exits and says so");
    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    assert!(list["tunnels"].as_array().unwrap().is_empty());

    user.ok(&["auth", "logout"]).await;
    assert_ne!(user.run(&["list"]).await.code, Some(0));
    let mut login = user.command(&["auth", "login", "--api-key", &key]);
    assert!(login.status().await.unwrap().success());
    user.ok(&["list"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tunnel_and_refused_origin_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data")).await;
    let user = User::new(dir.path(), &server);
    user.register().await;
    let http = public_client(&server, &["nosuch", "deadport"]);
    let r = http
        .get(format!("http://nosuch.localhost:{}/", server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("nosuch"));

    let port = closed_port().await;
    let tunnel = user
        .start(&[&port.to_string(), "--domain", "deadport"])
        .await;
    let r = http.get(format!("{}/x", tunnel.url)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(page.contains("refused"), "{page}");
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_remembers_clients_and_tunnels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let mut user = User::new(dir.path(), &server);
    user.register().await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "durable"])
        .await;
    let list_before: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    drop(tunnel);
    server.kill().await;

    let server = Server::start(&data).await;
    user.api_url = server.url.clone();
    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    assert_eq!(
        list["tunnels"][0]["tunnel_id"],
        list_before["tunnels"][0]["tunnel_id"]
    );
    assert_eq!(list["tunnels"][0]["domain"], "durable");
    assert_eq!(
        list["tunnels"][0]["status"], "offline",
        "no client survives a restart"
    );

    // The same user resumes the same domain after the restart.
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "durable"])
        .await;
    let http = public_client(&server, &["durable"]);
    let r = http
        .get(format!("{}/again", tunnel.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_waits_for_the_server_and_reconnects_keeping_its_domain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let listen = format!("127.0.0.1:{}", server.port);
    let user = User::new(dir.path(), &server);
    user.register().await;
    server.kill().await;

    // Server down at start: one line saying so, then retries until it is back.
    let origin = Origin::start().await;
    let mut cli = user
        .command(&["start", &origin.port.to_string(), "--domain", "phoenix"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(cli.stderr.take().unwrap()));
    let said = e2e::wait_line(&mut stderr, "an unreachable-server line", |l| {
        l.contains("cannot reach") && l.contains("retrying")
    })
    .await;
    assert!(
        said.contains(&server.url) || said.contains(&listen),
        "{said}"
    );
    let server = Server::start_on(&listen, &data, &[]).await;
    let mut stdout =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(cli.stdout.take().unwrap()));
    let url = e2e::wait_line(&mut stdout, "public URL", |l| l.starts_with("http://")).await;
    assert_eq!(url, format!("http://phoenix.localhost:{}", server.port));
    let http = public_client(&server, &["phoenix"]);
    assert_eq!(
        http.get(format!("{url}/1")).send().await.unwrap().status(),
        200
    );

    // Server killed under a live tunnel: the CLI reconnects to the restarted server
    // and serves the same domain again.
    let mut server = server;
    server.kill().await;
    let server = Server::start_on(&listen, &data, &[]).await;
    e2e::wait_line(&mut stderr, "a reconnected line", |l| {
        l.starts_with("reconnected")
    })
    .await;
    let r = http.get(format!("{url}/2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-echo-target"], "/2");
    drop(server);
}
