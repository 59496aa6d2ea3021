//! Per-tunnel access policy: storing it without its secrets in clear, showing it
//! without them at all, and the check every public request passes before it is
//! forwarded. The check is a pure function of the policy and the request, so both
//! ingresses (the local stack's and tunnel-proxy on AWS) decide the same way.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_core::policy::{
    Policy, PolicyError, PolicySummary, SHARE_TOKEN_HEADER, SHARE_TOKEN_PARAM, split_basic_auth,
};
use client_core::protocol::Headers;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::model::{SaltedHash, StoredBasicAuth, StoredPolicy};

mod merge;

pub use merge::merge;

/// Largest body read whole to verify a webhook signature (413 above). Only tunnels
/// with webhook verification buffer bodies; this keeps that buffer bounded, and sits
/// under the AWS proxy's own 4.5 MB request limit so both backends agree.
pub const MAX_VERIFIED_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Random bytes of salt per stored secret.
pub const SALT_BYTES: usize = 16;

/// The realm a browser shows in its basic-auth prompt.
pub const BASIC_REALM: &str = "tunnel";

type HmacSha256 = Hmac<Sha256>;

impl SaltedHash {
    /// Hashes `secret` with a fresh salt.
    ///
    /// HMAC-SHA256 rather than a slow password hash: the check runs on every public
    /// request of a protected tunnel, and a slow hash there would make each request
    /// cost tens of milliseconds of CPU (and on AWS, of billed Lambda time). Stored
    /// records are as sensitive as the store itself.
    pub fn new(secret: &str) -> Self {
        let salt = crate::auth::random_id(SALT_BYTES);
        let hash = hex::encode(keyed(&salt, secret));
        Self { salt, hash }
    }

    /// True when `secret` is the one hashed, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        let Ok(want) = hex::decode(&self.hash) else {
            return false;
        };
        keyed(&self.salt, secret).ct_eq(&want).into()
    }
}

fn keyed(salt: &str, secret: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(salt.as_bytes()).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Validates `policy` and turns it into what the store keeps; an empty policy is
/// `None` (no checks, no cost on the request path).
pub fn to_stored(policy: &Policy) -> Result<Option<StoredPolicy>, PolicyError> {
    policy.validate()?;
    if policy.is_empty() {
        return Ok(None);
    }
    let basic_auth = match &policy.basic_auth {
        Some(pair) => {
            let (user, pass) = split_basic_auth(pair)?;
            Some(StoredBasicAuth {
                user: user.to_owned(),
                password: SaltedHash::new(pass),
            })
        }
        None => None,
    };
    Ok(Some(StoredPolicy {
        basic_auth,
        share_token: policy.share_token.as_deref().map(SaltedHash::new),
        allow_ips: policy.cidrs()?.iter().map(ToString::to_string).collect(),
        webhook: policy.webhook.clone(),
        inbox: policy.inbox.clone(),
    }))
}

/// The policy a resumed tunnel gets: `requested`'s settings replace `stored`'s of the
/// same kind, and the settings `requested` leaves out are kept. So `tunnel start
/// --domain NAME` with no policy flags keeps the protection set earlier, and
/// `--allow-ip` alone changes the allow-list and keeps basic auth. (A `PATCH`, which
/// can also remove a check, goes through [`merge`].)
pub fn overlay(
    stored: Option<StoredPolicy>,
    requested: Option<StoredPolicy>,
) -> Option<StoredPolicy> {
    let Some(requested) = requested else {
        return stored;
    };
    let Some(stored) = stored else {
        return Some(requested);
    };
    Some(StoredPolicy {
        basic_auth: requested.basic_auth.or(stored.basic_auth),
        share_token: requested.share_token.or(stored.share_token),
        allow_ips: if requested.allow_ips.is_empty() {
            stored.allow_ips
        } else {
            requested.allow_ips
        },
        webhook: requested.webhook.or(stored.webhook),
        inbox: requested.inbox.or(stored.inbox),
    })
}

/// What the API shows of a stored policy: no secret, no hash.
pub fn summary(p: &StoredPolicy) -> PolicySummary {
    PolicySummary {
        basic_auth_user: p.basic_auth.as_ref().map(|b| b.user.clone()),
        share_token: p.share_token.is_some(),
        allow_ips: p.allow_ips.clone(),
        webhook: p
            .webhook
            .as_ref()
            .map(client_core::policy::Webhook::summary),
        inbox: p.inbox.clone(),
    }
}

impl StoredPolicy {
    /// True when the check needs the whole body (webhook verification): only then
    /// does an ingress buffer it.
    pub fn needs_body(&self) -> bool {
        self.webhook.is_some()
    }
}

/// The parts of a public request the check reads.
#[derive(Debug, Clone, Copy)]
pub struct PublicRequest<'a> {
    /// Path and query, as received.
    pub path: &'a str,
    /// Headers as received.
    pub headers: &'a Headers,
    /// The caller's address, when known.
    pub remote_ip: Option<IpAddr>,
    /// The whole body when [`StoredPolicy::needs_body`]; otherwise ignored.
    pub body: &'a [u8],
    /// When the request is checked, Unix seconds: a signed webhook timestamp is
    /// compared with it. The ingress reads the clock; the check never does.
    pub now: u64,
}

/// An admitted request: what to take out of it before the origin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admit {
    /// Header names (lower case) that carried credentials for the tunnel itself.
    pub strip_headers: Vec<&'static str>,
    /// The path without the share-token parameter, when the policy has a share token.
    pub path: Option<String>,
}

impl Admit {
    /// `headers` without the ones the policy consumed.
    pub fn headers(&self, headers: Headers) -> Headers {
        headers
            .into_iter()
            .filter(|(n, _)| !self.strip_headers.iter().any(|s| n.eq_ignore_ascii_case(s)))
            .collect()
    }
}

/// A refused request: the answer the public client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403 or 413.
    pub status: u16,
    /// A short reason, the body of the answer (and what the inspector shows).
    pub reason: String,
    /// `WWW-Authenticate` value, for a basic-auth refusal.
    pub www_authenticate: Option<String>,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            www_authenticate: None,
        }
    }

    /// The answer's headers.
    pub fn headers(&self) -> Headers {
        let mut h = vec![(
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )];
        if let Some(v) = &self.www_authenticate {
            h.push(("www-authenticate".to_owned(), v.clone()));
        }
        h
    }

    /// The answer's body.
    pub fn body(&self) -> Vec<u8> {
        format!("{}\n", self.reason).into_bytes()
    }
}

fn header<'h>(headers: &'h Headers, name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Checks `req` against `policy`: every setting must pass. The allow-list goes first
/// (it needs no secret), then the credentials in the head, then the body's size and
/// signature ([`check_credentials`], then [`check_body`]).
pub fn check(policy: &StoredPolicy, req: &PublicRequest<'_>) -> Result<Admit, Refusal> {
    let admit = check_credentials(policy, req)?;
    check_body(policy, req.headers, req.body, req.now)?;
    Ok(admit)
}

/// The checks that need no body (`req.body` is not read): an ingress that streams
/// bodies runs these before it buffers one for [`check_body`], so a caller who is
/// refused anyway cannot make it hold a large body.
pub fn check_credentials(policy: &StoredPolicy, req: &PublicRequest<'_>) -> Result<Admit, Refusal> {
    let mut admit = Admit::default();
    if !policy.allow_ips.is_empty() {
        let allowed = req.remote_ip.is_some_and(|ip| {
            policy.allow_ips.iter().any(|c| {
                c.parse::<client_core::policy::Cidr>()
                    .is_ok_and(|c| c.contains(ip))
            })
        });
        if !allowed {
            return Err(Refusal::new(
                403,
                "forbidden: your address is not on this tunnel's allow-list",
            ));
        }
    }
    if let Some(basic) = &policy.basic_auth {
        if !header(req.headers, "authorization").any(|v| basic_matches(basic, v)) {
            return Err(Refusal {
                www_authenticate: Some(format!("Basic realm=\"{BASIC_REALM}\", charset=\"UTF-8\"")),
                ..Refusal::new(401, "unauthorized: this tunnel requires basic auth")
            });
        }
        admit.strip_headers.push("authorization");
    }
    if let Some(token) = &policy.share_token {
        let (path, from_query) = take_query_param(req.path, SHARE_TOKEN_PARAM);
        let ok = header(req.headers, SHARE_TOKEN_HEADER)
            .chain(from_query)
            .any(|t| token.matches(t));
        if !ok {
            return Err(Refusal::new(
                401,
                "unauthorized: this tunnel requires a share token (X-Tunnel-Token header or tunnel_token query parameter)",
            ));
        }
        admit.strip_headers.push(SHARE_TOKEN_HEADER);
        admit.path = Some(path);
    }
    Ok(admit)
}

/// The checks on the whole body: its size, then the webhook signature in the
/// policy's scheme, at `now` (Unix seconds). A refusal says what failed: a missing
/// or malformed header, a bad signature, or a stale timestamp.
pub fn check_body(
    policy: &StoredPolicy,
    headers: &Headers,
    body: &[u8],
    now: u64,
) -> Result<(), Refusal> {
    let Some(w) = &policy.webhook else {
        return Ok(());
    };
    if body.len() > MAX_VERIFIED_BODY_BYTES {
        return Err(Refusal::new(
            413,
            format!(
                "payload too large: this tunnel verifies webhook signatures over bodies of at most {MAX_VERIFIED_BODY_BYTES} bytes"
            ),
        ));
    }
    super::webhook::verify(w, headers, body, now)
        .map_err(|failure| Refusal::new(401, format!("unauthorized: {failure}")))
}

fn basic_matches(basic: &StoredBasicAuth, value: &str) -> bool {
    let Some((scheme, b64)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(b64.trim()) else {
        return false;
    };
    let Ok(pair) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, pass)) = pair.split_once(':') else {
        return false;
    };
    // Both halves are always compared, so the time taken does not say which was wrong.
    let user_ok = user.as_bytes().ct_eq(basic.user.as_bytes());
    let pass_ok = basic.password.matches(pass);
    bool::from(user_ok) & pass_ok
}

/// `path` without every `name=` query parameter, and the values it had.
pub fn take_query_param<'p>(path: &'p str, name: &str) -> (String, Vec<&'p str>) {
    let Some((base, query)) = path.split_once('?') else {
        return (path.to_owned(), Vec::new());
    };
    let mut values = Vec::new();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if k == name {
                values.push(v);
                false
            } else {
                true
            }
        })
        .collect();
    let out = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (out, values)
}

/// HMAC-SHA256 signature header value for `body`, as a sender would make it (tests,
/// and a user checking their setup).
pub fn sign_webhook(secret: &str, prefix: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("{prefix}{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use client_core::policy::Webhook;

    use super::*;

    fn stored(p: Policy) -> StoredPolicy {
        to_stored(&p).unwrap().unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    #[test]
    fn a_resumed_policy_keeps_what_the_restart_does_not_name() {
        let earlier = stored(Policy {
            basic_auth: Some("u:p".into()),
            allow_ips: vec!["10.0.0.0/8".into()],
            inbox: Some(client_core::policy::Inbox::default()),
            ..Default::default()
        });
        assert_eq!(overlay(Some(earlier.clone()), None), Some(earlier.clone()));
        assert_eq!(overlay(None, None), None);
        let asked = stored(Policy {
            allow_ips: vec!["::1".into()],
            share_token: Some("token-123".into()),
            ..Default::default()
        });
        assert_eq!(overlay(None, Some(asked.clone())), Some(asked.clone()));
        let merged = overlay(Some(earlier.clone()), Some(asked.clone())).unwrap();
        assert_eq!(merged.basic_auth, earlier.basic_auth, "kept");
        assert_eq!(merged.inbox, earlier.inbox, "kept");
        assert_eq!(merged.allow_ips, ["::1/128"], "replaced");
        assert_eq!(merged.share_token, asked.share_token, "added");
        let new_password = stored(Policy {
            basic_auth: Some("v:q".into()),
            ..Default::default()
        });
        let merged = overlay(Some(earlier), Some(new_password.clone())).unwrap();
        assert_eq!(merged.basic_auth, new_password.basic_auth, "replaced");
        assert_eq!(merged.allow_ips, ["10.0.0.0/8"]);
    }

    struct Case {
        name: &'static str,
        path: &'static str,
        headers: Vec<(&'static str, String)>,
        ip: &'static str,
        body: Vec<u8>,
        want: Result<(Vec<&'static str>, Option<&'static str>), u16>,
    }

    fn run(policy: &StoredPolicy, cases: Vec<Case>) {
        for c in cases {
            let headers: Headers = c
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            let got = check(
                policy,
                &PublicRequest {
                    path: c.path,
                    headers: &headers,
                    remote_ip: c.ip.parse().ok(),
                    body: &c.body,
                    now: 0,
                },
            );
            match (&got, &c.want) {
                (Ok(a), Ok((strip, path))) => {
                    assert_eq!(&a.strip_headers, strip, "{}", c.name);
                    assert_eq!(a.path.as_deref(), *path, "{}", c.name);
                }
                (Err(r), Err(status)) => assert_eq!(r.status, *status, "{}", c.name),
                _ => panic!("{}: got {got:?}, want {:?}", c.name, c.want),
            }
        }
    }

    fn case(
        name: &'static str,
        path: &'static str,
        headers: Vec<(&'static str, String)>,
        ip: &'static str,
        want: Result<(Vec<&'static str>, Option<&'static str>), u16>,
    ) -> Case {
        Case {
            name,
            path,
            headers,
            ip,
            body: Vec::new(),
            want,
        }
    }

    #[test]
    fn basic_auth() {
        let p = stored(Policy {
            basic_auth: Some("alice:s3cret:x".into()),
            ..Policy::default()
        });
        let ok = Ok((vec!["authorization"], None));
        run(
            &p,
            vec![
                case("none", "/", vec![], "1.1.1.1", Err(401)),
                case(
                    "right",
                    "/",
                    vec![("Authorization", basic("alice:s3cret:x"))],
                    "1.1.1.1",
                    ok.clone(),
                ),
                case(
                    "scheme in any case",
                    "/",
                    vec![(
                        "authorization",
                        format!("bAsIc {}", STANDARD.encode("alice:s3cret:x")),
                    )],
                    "1.1.1.1",
                    ok,
                ),
                case(
                    "wrong password",
                    "/",
                    vec![("Authorization", basic("alice:s3cret"))],
                    "1.1.1.1",
                    Err(401),
                ),
                case(
                    "wrong user",
                    "/",
                    vec![("Authorization", basic("bob:s3cret:x"))],
                    "1.1.1.1",
                    Err(401),
                ),
                case(
                    "bearer",
                    "/",
                    vec![("Authorization", "Bearer alice".into())],
                    "1.1.1.1",
                    Err(401),
                ),
                case(
                    "not base64",
                    "/",
                    vec![("Authorization", "Basic !!!".into())],
                    "1.1.1.1",
                    Err(401),
                ),
            ],
        );
        let refusal = check(
            &p,
            &PublicRequest {
                path: "/",
                headers: &vec![],
                remote_ip: None,
                body: b"",
                now: 0,
            },
        )
        .unwrap_err();
        assert_eq!(
            refusal.www_authenticate.as_deref(),
            Some("Basic realm=\"tunnel\", charset=\"UTF-8\"")
        );
    }

    #[test]
    fn share_token() {
        let p = stored(Policy {
            share_token: Some("tok-12345".into()),
            ..Policy::default()
        });
        let strip = vec![SHARE_TOKEN_HEADER];
        run(
            &p,
            vec![
                case("none", "/a?x=1", vec![], "1.1.1.1", Err(401)),
                case(
                    "header",
                    "/a?x=1",
                    vec![("X-Tunnel-Token", "tok-12345".into())],
                    "1.1.1.1",
                    Ok((strip.clone(), Some("/a?x=1"))),
                ),
                case(
                    "query, first",
                    "/a?tunnel_token=tok-12345&x=1",
                    vec![],
                    "1.1.1.1",
                    Ok((strip.clone(), Some("/a?x=1"))),
                ),
                case(
                    "query, alone",
                    "/a?tunnel_token=tok-12345",
                    vec![],
                    "1.1.1.1",
                    Ok((strip.clone(), Some("/a"))),
                ),
                case(
                    "wrong header, right query",
                    "/?tunnel_token=tok-12345",
                    vec![("x-tunnel-token", "nope".into())],
                    "1.1.1.1",
                    Ok((strip, Some("/"))),
                ),
                case(
                    "wrong",
                    "/?tunnel_token=tok-1234",
                    vec![],
                    "1.1.1.1",
                    Err(401),
                ),
                case(
                    "lookalike param",
                    "/?my_tunnel_token=tok-12345",
                    vec![],
                    "1.1.1.1",
                    Err(401),
                ),
            ],
        );
    }

    #[test]
    fn allow_list() {
        let p = stored(Policy {
            allow_ips: vec![
                "10.0.0.0/8".into(),
                "2001:db8::/32".into(),
                "127.0.0.1".into(),
            ],
            ..Policy::default()
        });
        let ok = || Ok((vec![], None));
        run(
            &p,
            vec![
                case("inside v4", "/", vec![], "10.255.0.1", ok()),
                case("edge below", "/", vec![], "9.255.255.255", Err(403)),
                case("edge above", "/", vec![], "11.0.0.0", Err(403)),
                case("v4-mapped", "/", vec![], "::ffff:10.0.0.1", ok()),
                case("inside v6", "/", vec![], "2001:db8::5", ok()),
                case("outside v6", "/", vec![], "2001:db9::5", Err(403)),
                case("single address", "/", vec![], "127.0.0.1", ok()),
                case("unknown address", "/", vec![], "", Err(403)),
            ],
        );
    }

    #[test]
    fn webhook_signature() {
        let p = stored(Policy {
            webhook: Some(Webhook::hmac("shh")),
            ..Policy::default()
        });
        let body = br#"{"zen":"hi"}"#.to_vec();
        let good = sign_webhook("shh", "sha256=", &body);
        let mk = |name, headers: Vec<(&'static str, String)>, body: Vec<u8>, want| Case {
            name,
            path: "/hook",
            headers,
            ip: "1.1.1.1",
            body,
            want,
        };
        run(
            &p,
            vec![
                mk(
                    "good",
                    vec![("X-Hub-Signature-256", good.clone())],
                    body.clone(),
                    Ok((vec![], None)),
                ),
                mk(
                    "upper-case hex",
                    vec![(
                        "x-hub-signature-256",
                        format!("sha256={}", good[7..].to_uppercase()),
                    )],
                    body.clone(),
                    Ok((vec![], None)),
                ),
                mk("missing", vec![], body.clone(), Err(401)),
                mk(
                    "body changed",
                    vec![("X-Hub-Signature-256", good.clone())],
                    b"{}".to_vec(),
                    Err(401),
                ),
                mk(
                    "no prefix",
                    vec![("X-Hub-Signature-256", good[7..].to_owned())],
                    body.clone(),
                    Err(401),
                ),
                mk(
                    "wrong secret",
                    vec![(
                        "X-Hub-Signature-256",
                        sign_webhook("other", "sha256=", &body),
                    )],
                    body.clone(),
                    Err(401),
                ),
                mk(
                    "not hex",
                    vec![("X-Hub-Signature-256", "sha256=zz".into())],
                    body.clone(),
                    Err(401),
                ),
            ],
        );
        // The size limit, at its edge: the largest body is verified, one more byte is 413.
        let big = vec![b'a'; MAX_VERIFIED_BODY_BYTES];
        let sig = sign_webhook("shh", "sha256=", &big);
        run(
            &p,
            vec![
                mk(
                    "largest",
                    vec![("X-Hub-Signature-256", sig.clone())],
                    big.clone(),
                    Ok((vec![], None)),
                ),
                mk(
                    "one byte over",
                    vec![("X-Hub-Signature-256", sig)],
                    [big, vec![b'a']].concat(),
                    Err(413),
                ),
            ],
        );
        let custom = stored(Policy {
            webhook: Some(Webhook {
                header: Some("X-Sig".into()),
                prefix: Some(String::new()),
                ..Webhook::hmac("shh")
            }),
            ..Policy::default()
        });
        let plain = sign_webhook("shh", "", &body);
        run(
            &custom,
            vec![
                mk(
                    "custom header, no prefix",
                    vec![("x-sig", plain)],
                    body.clone(),
                    Ok((vec![], None)),
                ),
                mk(
                    "default header ignored",
                    vec![("X-Hub-Signature-256", good)],
                    body,
                    Err(401),
                ),
            ],
        );
    }

    #[test]
    fn settings_combine_and_all_must_pass() {
        let p = stored(Policy {
            basic_auth: Some("u:p".into()),
            share_token: Some("tok-12345".into()),
            allow_ips: vec!["127.0.0.0/8".into()],
            webhook: None,
            inbox: None,
        });
        let both = || {
            vec![
                ("Authorization", basic("u:p")),
                ("X-Tunnel-Token", "tok-12345".to_owned()),
            ]
        };
        run(
            &p,
            vec![
                case(
                    "all",
                    "/",
                    both(),
                    "127.0.0.1",
                    Ok((vec!["authorization", SHARE_TOKEN_HEADER], Some("/"))),
                ),
                case("wrong address first", "/", both(), "10.0.0.1", Err(403)),
                case(
                    "no token",
                    "/",
                    vec![("Authorization", basic("u:p"))],
                    "127.0.0.1",
                    Err(401),
                ),
                case(
                    "no basic",
                    "/",
                    vec![("X-Tunnel-Token", "tok-12345".into())],
                    "127.0.0.1",
                    Err(401),
                ),
            ],
        );
        let admit = check(
            &p,
            &PublicRequest {
                path: "/",
                headers: &both().into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
                remote_ip: "127.0.0.1".parse().ok(),
                body: b"",
                now: 0,
            },
        )
        .unwrap();
        let left = admit.headers(vec![
            ("authorization".into(), "x".into()),
            ("X-Tunnel-Token".into(), "x".into()),
            ("accept".into(), "*/*".into()),
        ]);
        assert_eq!(left, vec![("accept".to_owned(), "*/*".to_owned())]);
    }

    #[test]
    fn the_head_is_checked_without_the_body() {
        let p = stored(Policy {
            allow_ips: vec!["10.0.0.0/8".into()],
            basic_auth: Some("u:p".into()),
            webhook: Some(Webhook::hmac("shh")),
            ..Policy::default()
        });
        let headers = vec![("authorization".to_owned(), basic("u:p"))];
        let req = |ip: &str| PublicRequest {
            path: "/",
            headers: &headers,
            remote_ip: ip.parse().ok(),
            body: b"",
            now: 0,
        };
        assert_eq!(
            check_credentials(&p, &req("1.2.3.4")).unwrap_err().status,
            403
        );
        assert!(check_credentials(&p, &req("10.0.0.1")).is_ok());
        // ... and the body's checks apply only after, on the whole body.
        assert_eq!(check_body(&p, &headers, b"x", 0).unwrap_err().status, 401);
        let signed = vec![(
            "x-hub-signature-256".to_owned(),
            sign_webhook("shh", "sha256=", b"x"),
        )];
        assert!(check_body(&p, &signed, b"x", 0).is_ok());
        assert!(check_body(&StoredPolicy::default(), &vec![], b"anything", 0).is_ok());
    }

    #[test]
    fn webhook_refusals_say_what_failed() {
        use client_core::policy::WebhookProvider;
        let w = Webhook::of(WebhookProvider::Stripe, "whsec_test");
        let p = stored(Policy {
            webhook: Some(w.clone()),
            ..Policy::default()
        });
        let body = br#"{"id":"evt_1"}"#;
        let signed = super::super::webhook::sign(&w, body, 1_000, "");
        let reason = |headers: &Headers, body: &[u8], now| {
            let r = check_body(&p, headers, body, now).unwrap_err();
            assert_eq!(r.status, 401);
            r.reason
        };
        assert!(check_body(&p, &signed, body, 1_000).is_ok());
        assert!(
            reason(&vec![], body, 1_000)
                .starts_with("unauthorized: missing Stripe-Signature header")
        );
        assert!(reason(&signed, b"{}", 1_000).starts_with("unauthorized: bad webhook signature"));
        assert!(
            reason(&signed, body, 1_000 + 301).starts_with("unauthorized: stale webhook timestamp")
        );
        let garbled = vec![("Stripe-Signature".to_owned(), "v1=00".to_owned())];
        assert!(
            reason(&garbled, body, 1_000).starts_with("unauthorized: malformed Stripe-Signature")
        );
    }

    #[test]
    fn stored_form_hides_secrets_and_summary_shows_none() {
        let p = Policy {
            basic_auth: Some("alice:pw-secret".into()),
            share_token: Some("token-secret".into()),
            allow_ips: vec!["10.1.2.3/8".into()],
            webhook: Some(Webhook::hmac("hook-secret")),
            inbox: None,
        };
        let s = stored(p);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("pw-secret") && !json.contains("token-secret"));
        assert_eq!(s.allow_ips, ["10.0.0.0/8"]);
        let shown = serde_json::to_string(&summary(&s)).unwrap();
        for secret in ["pw-secret", "token-secret", "hook-secret", "salt", "hash"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("alice") && shown.contains("X-Hub-Signature-256"));
        // Two hashes of one secret differ (salted) and both match.
        let (a, b) = (SaltedHash::new("x"), SaltedHash::new("x"));
        assert_ne!(a, b);
        assert!(a.matches("x") && b.matches("x") && !a.matches("y"));
        assert_eq!(to_stored(&Policy::default()), Ok(None));
        assert!(
            to_stored(&Policy {
                allow_ips: vec!["nope".into()],
                ..Policy::default()
            })
            .is_err()
        );
    }

    #[test]
    fn query_params_are_removed_exactly() {
        let cases = [
            ("/", "/", vec![]),
            ("/a?b=1", "/a?b=1", vec![]),
            ("/a?tunnel_token=t", "/a", vec!["t"]),
            ("/a?x=1&tunnel_token=t&y=2", "/a?x=1&y=2", vec!["t"]),
            ("/a?tunnel_token=t&tunnel_token=u", "/a", vec!["t", "u"]),
            ("/a?tunnel_token", "/a", vec![""]),
        ];
        for (path, want, values) in cases {
            assert_eq!(
                take_query_param(path, SHARE_TOKEN_PARAM),
                (want.to_owned(), values),
                "{path}"
            );
        }
    }
}
