//! What S3 refuses of a presigned URL, checked where the emulator's S3 pass-through
//! ([`crate::s3_proxy`]) stands in for S3: the query-string form of AWS Signature
//! Version 4 ("Authenticating Requests: Using Query Parameters",
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>).
//!
//! The signature is recomputed from the request as it arrives, with the emulator's
//! credentials ([`ACCESS_KEY_ID`], [`SECRET_ACCESS_KEY`], the ones its functions sign
//! with): method, path and every query parameter are covered, so another method, a
//! changed key or a changed expiry no longer matches (403 `SignatureDoesNotMatch`);
//! a URL used after `X-Amz-Date` + `X-Amz-Expires` is 403 `AccessDenied`, "Request has
//! expired"; an `X-Amz-Expires` over 7 days or a credential of another key is refused
//! as S3 refuses it. The payload is `UNSIGNED-PAYLOAD`, as for every presigned S3 URL.
//! Requests signed in headers (the functions' own SDK calls) are not checked here:
//! moto takes them as they are.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};

/// The access key id the emulator gives its functions.
pub const ACCESS_KEY_ID: &str = "emulator";

/// Its secret; presigned URLs are checked against it.
pub const SECRET_ACCESS_KEY: &str = "emulator";

/// A key pair presigned URLs are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The access key id.
    pub key_id: &'a str,
    /// Its secret.
    pub secret: &'a str,
}

/// The emulator's ([`ACCESS_KEY_ID`], [`SECRET_ACCESS_KEY`]).
pub const EMULATOR: Credentials<'static> = Credentials {
    key_id: ACCESS_KEY_ID,
    secret: SECRET_ACCESS_KEY,
};

/// The longest `X-Amz-Expires` S3 takes: 7 days (the page above).
pub const MAX_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why S3 would refuse a presigned request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Used after its expiry.
    #[error("AccessDenied: Request has expired")]
    Expired,
    /// Not signed by a key this S3 knows.
    #[error("InvalidAccessKeyId: {0}")]
    UnknownKey(String),
    /// The signature does not cover the request as sent.
    #[error("SignatureDoesNotMatch")]
    SignatureDoesNotMatch,
    /// A parameter missing or malformed.
    #[error("AuthorizationQueryParametersError: {0}")]
    Malformed(String),
}

impl Refusal {
    /// S3's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired => "AccessDenied",
            Self::UnknownKey(_) => "InvalidAccessKeyId",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::Malformed(_) => "AuthorizationQueryParametersError",
        }
    }

    /// S3's status for it.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// S3's message.
    pub fn message(&self) -> String {
        match self {
            Self::Expired => "Request has expired".into(),
            Self::UnknownKey(_) => {
                "The AWS Access Key Id you provided does not exist in our records.".into()
            }
            Self::SignatureDoesNotMatch => "The request signature we calculated does not match \
                 the signature you provided. Check your key and signing method."
                .into(),
            Self::Malformed(why) => why.clone(),
        }
    }

    /// The XML error body S3 answers with.
    pub fn body(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code(),
            self.message()
        )
    }
}

/// Whether `query` is a presigned request's (it carries `X-Amz-Signature`).
pub fn is_presigned(query: Option<&str>) -> bool {
    query.is_some_and(|q| params(q).iter().any(|(n, _)| n == "X-Amz-Signature"))
}

/// Checks a presigned request at `now` against `keys`: `Ok` when S3 would take it.
pub fn check(
    keys: Credentials<'_>,
    (method, path, query): (&Method, &str, &str),
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<(), Refusal> {
    let params = params(query);
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Refusal::Malformed(format!("{name} is missing")))
    };
    if get("X-Amz-Algorithm")? != ALGORITHM {
        return Err(Refusal::Malformed(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let credential = get("X-Amz-Credential")?;
    let amz_date = get("X-Amz-Date")?;
    let expires: u64 = get("X-Amz-Expires")?
        .parse()
        .map_err(|_| Refusal::Malformed("X-Amz-Expires should be a number".into()))?;
    if Duration::from_secs(expires) > MAX_EXPIRES {
        return Err(Refusal::Malformed(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
        ));
    }
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let signature = get("X-Amz-Signature")?;
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| Refusal::Malformed("X-Amz-Date must be in the ISO8601 format".into()))?;
    if now > signed_at + Duration::from_secs(expires) {
        return Err(Refusal::Expired);
    }
    let mut scope = credential.splitn(2, '/');
    let key_id = scope.next().unwrap_or_default();
    let scope = scope.next().unwrap_or_default();
    if key_id != keys.key_id {
        return Err(Refusal::UnknownKey(key_id.to_owned()));
    }
    let parts: Vec<&str> = scope.split('/').collect();
    let [day, region, service, "aws4_request"] = parts[..] else {
        return Err(Refusal::Malformed(format!(
            "the credential scope {scope:?} is malformed"
        )));
    };
    if !amz_date.starts_with(day) {
        return Err(Refusal::Malformed(
            "the credential's date is not X-Amz-Date's".into(),
        ));
    }
    let canonical = canonical_request(method, path, &params, headers, signed_headers);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{}", keys.secret).as_bytes(), day.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    if hex(&hmac(&key, string_to_sign.as_bytes())) != signature {
        return Err(Refusal::SignatureDoesNotMatch);
    }
    Ok(())
}

/// The canonical request of the query-string form: the path as sent (S3 does not
/// normalize it), the parameters but the signature sorted and encoded, the signed
/// headers' values, and `UNSIGNED-PAYLOAD`.
fn canonical_request(
    method: &Method,
    path: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
    signed_headers: &str,
) -> String {
    let mut query: Vec<(String, String)> = params
        .iter()
        .filter(|(n, _)| n != "X-Amz-Signature")
        .map(|(n, v)| (encode(n), encode(v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        let _ = writeln!(canonical_headers, "{name}:{}", values.join(","));
    }
    format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\nUNSIGNED-PAYLOAD",
        query.join("&")
    )
}

/// The query's parameters, percent-decoded.
fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_at = |j: usize| {
            bytes
                .get(j)
                .and_then(|b| char::from(*b).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match (bytes[i], hex_at(i + 1), hex_at(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi * 16 + lo);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SigV4's URI encoding: unreserved characters as they are, every other byte as
/// `%XX` in upper case.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_read_as_unix_time() {
        let at = |s| parse_amz_date(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(at("19700101T000000Z"), Some(0));
        assert_eq!(at("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(at("20000301T120000Z"), Some(951_912_000));
        assert_eq!(at("2013052T000000Z"), None);
        assert_eq!(at("20131324T000000Z"), None);
    }

    /// The example of the S3 page in the module doc: a GET of `test.txt` signed
    /// 2013-05-24 for a day, signature `aeeed9bb...`.
    #[test]
    fn awss_own_example_passes_and_each_change_fails() {
        let keys = Credentials {
            key_id: "AKIAIOSFODNN7EXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        };
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
            &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
            &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
            &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        let signed = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let at = |t| check(keys, (&Method::GET, "/test.txt", query), &headers, t);
        assert_eq!(at(signed + Duration::from_secs(60)), Ok(()));
        assert_eq!(
            at(signed + Duration::from_secs(86_400)),
            Ok(()),
            "the last second"
        );
        assert_eq!(
            at(signed + Duration::from_secs(86_401)),
            Err(Refusal::Expired)
        );
        let now = signed + Duration::from_secs(60);
        let other = |method: &Method, path: &str, query: &str| {
            check(keys, (method, path, query), &headers, now)
        };
        assert_eq!(
            other(&Method::PUT, "/test.txt", query),
            Err(Refusal::SignatureDoesNotMatch),
            "another method"
        );
        assert_eq!(
            other(&Method::GET, "/other.txt", query),
            Err(Refusal::SignatureDoesNotMatch),
            "another key"
        );
        let longer = query.replace("X-Amz-Expires=86400", "X-Amz-Expires=86401");
        assert_eq!(
            other(&Method::GET, "/test.txt", &longer),
            Err(Refusal::SignatureDoesNotMatch),
            "a longer expiry"
        );
        let added = format!("{query}&versionId=1");
        assert_eq!(
            other(&Method::GET, "/test.txt", &added),
            Err(Refusal::SignatureDoesNotMatch),
            "a parameter added"
        );
        let week = query.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801");
        assert!(matches!(
            other(&Method::GET, "/test.txt", &week),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(
            check(EMULATOR, (&Method::GET, "/test.txt", query), &headers, now),
            Err(Refusal::UnknownKey("AKIAIOSFODNN7EXAMPLE".into()))
        );
        let mut moved = HeaderMap::new();
        moved.insert("host", "elsewhere.example".parse().unwrap());
        assert_eq!(
            check(keys, (&Method::GET, "/test.txt", query), &moved, now),
            Err(Refusal::SignatureDoesNotMatch),
            "another host"
        );
    }

    #[test]
    fn encoding_is_sigv4s() {
        assert_eq!(encode("a/b c~"), "a%2Fb%20c~");
        assert_eq!(decode("a%2Fb%20c"), "a/b c");
        assert!(is_presigned(Some("x-id=GetObject&X-Amz-Signature=ab")));
        assert!(!is_presigned(Some("x-id=GetObject")));
        assert!(!is_presigned(None));
    }
}
