//! register-client, key checks, and session tokens.

use client_core::api::{ClientInfo, Registration, SessionToken};

use super::{ApiFailure, Caller};
use crate::auth::{self, CLIENT_ID_BYTES, Claims};
use crate::model::ClientRecord;
use crate::store::StoreError;
use crate::{Backend, auth_limit};

/// Creates a client and its API key. The key is in the answer and nowhere else.
pub async fn register_client(b: &Backend, now: u64) -> Result<Registration, ApiFailure> {
    // 80 random bits: a collision is practically impossible, and harmless (retried).
    for _ in 0..3 {
        let client_id = auth::random_id(CLIENT_ID_BYTES);
        let key = auth::new_api_key(&client_id);
        let record = ClientRecord {
            client_id: client_id.clone(),
            key_hash: key.key_hash,
            created_at: now,
        };
        match b.store.put_client(&record).await {
            Ok(()) => {
                tracing::info!(client_id, "client registered");
                return Ok(Registration {
                    client_id,
                    api_key: key.api_key,
                });
            }
            Err(StoreError::Exists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiFailure::from(StoreError::Backend(
        "client id collided three times".into(),
    )))
}

/// The caller named by an `Authorization: Bearer <credential>` header value, where the
/// credential is an API key or a session token from `POST /v1/tokens` (what the web
/// console keeps instead of the key). A token stops working when its client is gone.
/// `source` is the caller's address: wrong credentials count against it
/// ([`crate::auth_limit`]), and once it has made too many the answer is 429.
pub async fn authenticate(
    b: &Backend,
    source: Option<&str>,
    authorization: Option<&str>,
    now: u64,
) -> Result<Caller, ApiFailure> {
    let header = authorization.ok_or_else(|| ApiFailure::unauthorized("no API key"))?;
    let credential = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiFailure::unauthorized("the Authorization header is not 'Bearer <api key>'")
        })?;
    if let Some((client_id, secret)) = auth::parse_api_key(credential) {
        // Checking a key costs a store read: an address over its failure budget waits
        // before that. A session token is checked by its signature alone, so a valid
        // one passes whatever others at the same address (a NAT, a CDN edge) guessed;
        // only a failed one counts, and may answer 429.
        auth_limit::admit(b, source, now_ms(now))?;
        return match b.store.get_client(client_id).await? {
            Some(r) if auth::secret_matches(secret, &r.key_hash) => {
                auth_limit::admit_right_key(b, source, now_ms(now)).await?;
                Ok(Caller {
                    key_hash_prefix: Some(auth::key_hash_prefix(&r.key_hash)),
                    client_id: r.client_id,
                    session_until: None,
                })
            }
            _ => Err(wrong(b, source, "unknown or revoked API key", now).await),
        };
    }
    check_token(b, source, credential, now).await
}

/// The caller named by a session token alone (the live feed takes one in its query
/// string, as a browser's `EventSource` cannot send headers); `source` as for
/// [`authenticate`].
pub async fn authenticate_token(
    b: &Backend,
    source: Option<&str>,
    token: &str,
    now: u64,
) -> Result<Caller, ApiFailure> {
    check_token(b, source, token, now).await
}

fn now_ms(now: u64) -> u64 {
    now.saturating_mul(1000)
}

/// A wrong credential from `source`: the 401 for `why`, or the 429 once too many.
async fn wrong(b: &Backend, source: Option<&str>, why: &str, now: u64) -> ApiFailure {
    auth_limit::failed(b, source, ApiFailure::unauthorized(why), now_ms(now)).await
}

async fn check_token(
    b: &Backend,
    source: Option<&str>,
    token: &str,
    now: u64,
) -> Result<Caller, ApiFailure> {
    let claims = match b.signer.verify(token, now) {
        Ok(claims) => claims,
        Err(auth::TokenError::Malformed) => {
            return Err(wrong(b, source, "malformed API key", now).await);
        }
        Err(auth::TokenError::BadSignature) => {
            return Err(wrong(b, source, "invalid session token", now).await);
        }
        // Ours, only late: not a guess.
        Err(auth::TokenError::Expired) => {
            return Err(ApiFailure::unauthorized(
                "session token expired; log in again",
            ));
        }
    };
    match b.store.get_client(&claims.sub).await? {
        Some(r)
            if claims
                .kh
                .as_ref()
                .is_some_and(|kh| !r.key_hash.starts_with(kh.as_str())) =>
        {
            Err(ApiFailure::unauthorized(
                "the API key this session was opened with has been replaced; log in with the new key",
            ))
        }
        Some(r) => Ok(Caller {
            key_hash_prefix: Some(auth::key_hash_prefix(&r.key_hash)),
            client_id: r.client_id,
            session_until: Some(claims.until.unwrap_or(claims.exp)),
        }),
        None => Err(ApiFailure::unauthorized("unknown or revoked API key")),
    }
}

/// `POST /v1/clients/me/key`: a new API key for the caller; the old key, and the
/// sessions opened with it, stop working at once. Shown once, like at registration.
pub async fn rotate_key(b: &Backend, caller: &Caller) -> Result<Registration, ApiFailure> {
    let key = auth::new_api_key(&caller.client_id);
    match b
        .store
        .set_client_key(&caller.client_id, &key.key_hash)
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            return Err(ApiFailure::unauthorized("unknown or revoked API key"));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(client_id = %caller.client_id, "API key replaced");
    Ok(Registration {
        client_id: caller.client_id.clone(),
        api_key: key.api_key,
    })
}

/// The caller's own record.
pub async fn client_info(b: &Backend, caller: &Caller) -> Result<ClientInfo, ApiFailure> {
    let r = b
        .store
        .get_client(&caller.client_id)
        .await?
        .ok_or_else(|| ApiFailure::unauthorized("unknown or revoked API key"))?;
    Ok(ClientInfo {
        client_id: r.client_id,
        created_at: r.created_at,
    })
}

/// Longest session from one use of the API key: renewing tokens with tokens stops
/// here, and the person shows the key again.
pub const SESSION_MAX_SECS: u64 = 12 * 3600;

/// Path of the local stack's WebSocket endpoint.
pub const WS_PATH: &str = "/v1/connect";

/// A short-lived token that authorizes one WebSocket connection of the caller.
pub fn issue_token(b: &Backend, caller: &Caller, host: Option<&str>, now: u64) -> SessionToken {
    // A session starts when a key is shown and lasts SESSION_MAX_SECS; tokens minted
    // with a token (the console renewing its own) stay within it.
    let until = caller.session_until.unwrap_or(now + SESSION_MAX_SECS);
    let exp = (now + b.config.token_ttl_secs).min(until);
    let token = b.signer.sign(&Claims {
        sub: caller.client_id.clone(),
        iat: now,
        exp,
        until: Some(until),
        kh: caller.key_hash_prefix.clone(),
    });
    SessionToken {
        token,
        expires_at: exp,
        ws_url: b.config.ws_url.clone().unwrap_or_else(|| {
            let ws = if b.config.public.scheme == "https" {
                "wss"
            } else {
                "ws"
            };
            format!("{ws}://{}{WS_PATH}", host.unwrap_or("127.0.0.1"))
        }),
    }
}
