//! The access policy through the REST router: set on create, changed field by field by
//! PATCH, replaced by resuming one's own offline tunnel, validated (the error naming its
//! field), owner-only, and never shown with a secret.

#![allow(clippy::unwrap_used)]

mod common;

use common::{call, register};
use serde_json::json;

#[tokio::test]
async fn policy_is_set_replaced_validated_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let b = common::backend(dir.path());
    let key = register(&b).await;
    let other = register(&b).await;
    let secrets = ["pw-secret-1", "token-secret-1", "hook-secret-1"];
    let (status, t) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "guarded", "policy": {
            "basic_auth": "alice:pw-secret-1",
            "share_token": "token-secret-1",
            "allow_ips": ["10.9.8.7/8"],
            "webhook": {"secret": "hook-secret-1", "header": "X-Sig"}
        }})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(
        t["policy"],
        json!({
            "basic_auth_user": "alice",
            "share_token": true,
            "allow_ips": ["10.0.0.0/8"],
            "webhook": {"provider": "hmac", "header": "X-Sig", "prefix": "sha256="}
        })
    );
    let id = t["tunnel_id"].as_str().unwrap().to_owned();
    for path in ["/v1/tunnels".to_owned(), format!("/v1/tunnels/{id}")] {
        let (status, body) = call(&b, "GET", &path, &key, None).await;
        assert_eq!(status, 200);
        let text = body.to_string();
        for s in secrets {
            assert!(!text.contains(s), "{path}: {text}");
        }
        assert!(!text.contains("salt") && !text.contains("hash"), "{text}");
    }

    // Invalid policies are 400 invalid_policy naming the field, on create and on PATCH;
    // a refused PATCH changes nothing.
    let (_, before) = call(&b, "GET", &format!("/v1/tunnels/{id}"), &key, None).await;
    for (bad, field) in [
        (json!({"basic_auth": "nopassword"}), "basic_auth"),
        (json!({"share_token": "short"}), "share_token"),
        (json!({"allow_ips": ["10.0.0.0/33"]}), "allow_ips"),
        (json!({"webhook": {"secret": ""}}), "webhook"),
        (
            json!({"webhook": {"secret": "s", "header": "Bad Header"}}),
            "webhook",
        ),
        (
            json!({"webhook": {"secret": "s", "provider": "stripe", "header": "X-Sig"}}),
            "webhook",
        ),
        (
            json!({"webhook": {"secret": "s", "provider": "github", "tolerance_secs": 60}}),
            "webhook",
        ),
        (
            json!({"webhook": {"secret": "s", "provider": "slack", "tolerance_secs": 0}}),
            "webhook",
        ),
        (
            json!({"webhook": {"secret": "s", "provider": "slack", "tolerance_secs": 3601}}),
            "webhook",
        ),
        (
            json!({"webhook": {"secret": "whsec_not base64", "provider": "standard"}}),
            "webhook",
        ),
        (json!({"inbox": {"status": 99}}), "inbox"),
    ] {
        let (status, body) = call(
            &b,
            "POST",
            "/v1/tunnels",
            &key,
            Some(json!({"policy": bad})),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_policy", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        let (status, body) = call(
            &b,
            "PATCH",
            &format!("/v1/tunnels/{id}"),
            &key,
            Some(json!({"policy": bad})),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "invalid_policy", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    // An unknown provider is not a policy setting's value but a malformed body.
    let (status, body) = call(
        &b,
        "PATCH",
        &format!("/v1/tunnels/{id}"),
        &key,
        Some(json!({"policy": {"webhook": {"secret": "s", "provider": "svix"}}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, after) = call(&b, "GET", &format!("/v1/tunnels/{id}"), &key, None).await;
    assert_eq!(
        after["policy"], before["policy"],
        "refused PATCHes changed nothing"
    );

    // Each refusal names what to fix, in the API's words.
    for (bad, says) in [
        (
            json!({"provider": "stripe", "secret": "s", "prefix": "v1="}),
            "set a header or prefix only for the generic hmac form",
        ),
        (
            json!({"provider": "shopify", "secret": "s", "tolerance_secs": 60}),
            "a tolerance applies only to stripe, slack and standard",
        ),
        (
            json!({"provider": "standard", "secret": "whsec_!"}),
            "whsec_ followed by base64",
        ),
    ] {
        let (status, body) = call(
            &b,
            "POST",
            "/v1/tunnels",
            &key,
            Some(json!({"policy": {"webhook": bad}})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }

    // A named scheme is shown with its header and tolerance, not its secret; the
    // other checks stay as they were.
    let (status, t) = call(
        &b,
        "PATCH",
        &format!("/v1/tunnels/{id}"),
        &key,
        Some(json!({"policy": {"webhook": {
            "provider": "standard",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "tolerance_secs": 90
        }}})),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        t["policy"],
        json!({
            "basic_auth_user": "alice",
            "share_token": true,
            "allow_ips": ["10.0.0.0/8"],
            "webhook": {"provider": "standard", "header": "webhook-signature", "prefix": "v1,", "tolerance_secs": 90}
        })
    );
    assert!(!t.to_string().contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));

    // PATCH merges; another client cannot.
    let (status, _) = call(
        &b,
        "PATCH",
        &format!("/v1/tunnels/{id}"),
        &other,
        Some(json!({"policy": null})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, t) = call(
        &b,
        "PATCH",
        &format!("/v1/tunnels/{id}"),
        &key,
        Some(json!({"policy": {"allow_ips": ["::1"], "share_token": null, "webhook": {"provider": "standard", "tolerance_secs": 60}}})),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        t["policy"],
        json!({
            "basic_auth_user": "alice",
            "share_token": false,
            "allow_ips": ["::1/128"],
            "webhook": {"provider": "standard", "header": "webhook-signature", "prefix": "v1,", "tolerance_secs": 60}
        })
    );
    let (_, t) = call(&b, "GET", &format!("/v1/tunnels/{id}"), &key, None).await;
    assert_eq!(t["policy"]["allow_ips"], json!(["::1/128"]));
    // No body, or `{}`, changes nothing; `"policy": null` removes every check.
    for body in [None, Some(json!({})), Some(json!({"policy": {}}))] {
        let (status, same) = call(
            &b,
            "PATCH",
            &format!("/v1/tunnels/{id}"),
            &key,
            body.clone(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(same["policy"], t["policy"], "{body:?}");
    }
    let (status, t) = call(
        &b,
        "PATCH",
        &format!("/v1/tunnels/{id}"),
        &key,
        Some(json!({"policy": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(t.get("policy").is_none(), "{t}");

    // Resuming one's own offline tunnel merges: the settings asked for now replace
    // theirs, the others stay (a restart never drops a check unasked).
    let (status, t) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "guarded", "policy": {"share_token": "token-secret-2"}})),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["tunnel_id"], id.as_str());
    // The `"policy": null` above removed the allow-list; the restart adds its token.
    assert_eq!(t["policy"], json!({"share_token": true}));
    let (status, t) = call(
        &b,
        "POST",
        "/v1/tunnels",
        &key,
        Some(json!({"domain": "guarded", "policy": {"allow_ips": ["10.0.0.0/8"]}})),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        t["policy"],
        json!({"share_token": true, "allow_ips": ["10.0.0.0/8"]}),
        "a setting given replaces its kind only"
    );
    for body in [
        json!({"domain": "guarded"}),
        json!({"domain": "guarded", "policy": {}}),
    ] {
        let (status, t) = call(&b, "POST", "/v1/tunnels", &key, Some(body)).await;
        assert_eq!(status, 200);
        assert_eq!(
            t["policy"],
            json!({"share_token": true, "allow_ips": ["10.0.0.0/8"]}),
            "no policy asked for keeps the stored one"
        );
        assert!(t["expires_at"].as_u64().is_some(), "inactive: {t}");
    }

    // Only an explicit `"policy": null` removes the policy.
    let (status, t) = call(
        &b,
        "PATCH",
        &format!("/v1/tunnels/{id}"),
        &key,
        Some(json!({"policy": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(t.get("policy").is_none(), "{t}");
}
