//! API keys and session tokens.
//!
//! An API key is `tk_<client_id>_<secret>`: the client id finds the record in one read,
//! and only a SHA-256 of the secret is stored. A fast hash is enough here because the
//! secret is 256 random bits, not a password. Session tokens are HS256 JWTs that
//! authorize a WebSocket `$connect` for a few minutes without sending the API key there.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix that makes keys recognisable (and greppable by secret scanners).
pub const API_KEY_PREFIX: &str = "tk_";

/// Random bytes in a key's secret part.
pub const API_KEY_SECRET_BYTES: usize = 32;

/// Random bytes in a client id.
pub const CLIENT_ID_BYTES: usize = 10;

/// Smallest accepted token-signing secret.
pub const MIN_TOKEN_SECRET_BYTES: usize = 32;

/// A new random identifier: `bytes` random bytes, hex.
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A freshly made key: give `api_key` to the user, store `key_hash`.
#[derive(Debug)]
pub struct NewKey {
    /// The whole key, shown once.
    pub api_key: String,
    /// What the store keeps.
    pub key_hash: String,
}

/// Makes a key for `client_id`.
pub fn new_api_key(client_id: &str) -> NewKey {
    let secret = random_id(API_KEY_SECRET_BYTES);
    NewKey {
        api_key: format!("{API_KEY_PREFIX}{client_id}_{secret}"),
        key_hash: hash_secret(&secret),
    }
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits a key into its client id and secret, or `None` if it is not shaped like one.
pub fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    let (client_id, secret) = rest.split_once('_')?;
    let hexish = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(client_id) && hexish(secret)).then_some((client_id, secret))
}

/// True when `secret` hashes to `key_hash`, compared in constant time.
pub fn secret_matches(secret: &str, key_hash: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(key_hash.as_bytes())
        .into()
}

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The client.
    pub sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// End of the session this token belongs to: tokens minted with a token never
    /// outlive it, so a leaked one cannot be renewed forever. Absent on tokens made
    /// before this field existed (they end at `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// The start of the hash of the API key the session came from: a REST call with
    /// the token checks it against the stored hash, so replacing the key ends the
    /// sessions of the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kh: Option<String>,
}

/// Hex digits of the key hash a token carries (64 bits: enough to tell keys apart,
/// nothing toward the 256-bit secret).
pub const KEY_HASH_PREFIX: usize = 16;

/// The part of `key_hash` a token carries.
pub fn key_hash_prefix(key_hash: &str) -> String {
    key_hash.chars().take(KEY_HASH_PREFIX).collect()
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header and claims.
    #[error("token is malformed")]
    Malformed,
    /// The signature does not match: forged or tampered with.
    #[error("token signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired; request a new one with POST /v1/tokens")]
    Expired,
}

const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs and checks session tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer over `secret`; `None` if it is shorter than [`MIN_TOKEN_SECRET_BYTES`].
    pub fn new(secret: Vec<u8>) -> Option<Self> {
        (secret.len() >= MIN_TOKEN_SECRET_BYTES).then_some(Self { secret })
    }

    fn mac(&self, signing_input: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(signing_input.as_bytes());
        mac
    }

    /// A token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(JWT_HEADER);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{header}.{body}");
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&input).finalize().into_bytes());
        format!("{input}.{sig}")
    }

    /// The claims of `token` if it is ours and unexpired at `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(&format!("{header}.{body}"))
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        if header != JWT_HEADER.as_bytes() {
            return Err(TokenError::Malformed);
        }
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&body).map_err(|_| TokenError::Malformed)?;
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_match_only_their_hash() {
        let k = new_api_key("abc123");
        let (client, secret) = parse_api_key(&k.api_key).unwrap();
        assert_eq!(client, "abc123");
        assert_eq!(secret.len(), API_KEY_SECRET_BYTES * 2);
        assert!(secret_matches(secret, &k.key_hash));
        let flipped = format!(
            "{}{}",
            if secret.starts_with('0') { '1' } else { '0' },
            &secret[1..]
        );
        assert!(!secret_matches(&flipped, &k.key_hash));
        assert!(!secret_matches("00", &k.key_hash));
        for bad in [
            "",
            "tk_",
            "tk_abc",
            "tk__00",
            "tk_abc_",
            "xx_abc_00",
            "tk_ab!_00",
        ] {
            assert_eq!(parse_api_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_verify_expire_and_refuse_tampering() {
        let signer = TokenSigner::new(vec![7; MIN_TOKEN_SECRET_BYTES]).unwrap();
        assert!(TokenSigner::new(vec![7; MIN_TOKEN_SECRET_BYTES - 1]).is_none());
        let claims = Claims {
            sub: "c1".into(),
            iat: 100,
            exp: 200,
            until: None,
            kh: None,
        };
        let token = signer.sign(&claims);
        assert_eq!(signer.verify(&token, 199), Ok(claims));
        assert_eq!(signer.verify(&token, 200), Err(TokenError::Expired));

        let other = TokenSigner::new(vec![8; MIN_TOKEN_SECRET_BYTES]).unwrap();
        assert_eq!(other.verify(&token, 150), Err(TokenError::BadSignature));

        let forged_body = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","iat":100,"exp":999}"#);
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_body;
        assert_eq!(
            signer.verify(&parts.join("."), 150),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer.verify("a.b", 150), Err(TokenError::Malformed));
        assert_eq!(signer.verify("a.b.c.d", 150), Err(TokenError::Malformed));
    }
}
