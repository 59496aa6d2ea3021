//! `application/x-www-form-urlencoded` query strings: split, decode, encode.

/// Splits `a=1&b=2` into raw (still encoded) pairs; empty pieces are skipped and a
/// piece without `=` has an empty value.
pub(crate) fn split(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
}

/// Decodes `+` and `%XX`. `None` when a `%` is not followed by two hex digits or the
/// result is not UTF-8.
pub(crate) fn decode(s: &str) -> Option<String> {
    String::from_utf8(decode_bytes(s)?).ok()
}

/// Like [`decode`], but keeps malformed escapes as they are and replaces bad UTF-8,
/// for display of a query string as received.
pub(crate) fn decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&hi), Some(&lo)) => hex_pair(hi, lo),
                    _ => None,
                };
                match decoded {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_bytes(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(hex_pair(*bytes.get(i + 1)?, *bytes.get(i + 2)?)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(hi)? * 16 + digit(lo)?) as u8)
}

/// Encodes a value for a query string: unreserved characters and `/` stay, the rest is
/// `%XX` (space too, never `+`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes() {
        assert_eq!(decode("a+b%2Fc%C3%A9").as_deref(), Some("a b/cé"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%FF"), None);
        assert_eq!(decode_lossy("100%+sure%2"), "100% sure%2");
        assert_eq!(decode_lossy("%41%ff"), "A\u{fffd}");
        assert_eq!(encode("/api v1&x=é"), "/api%20v1%26x%3D%C3%A9");
        assert_eq!(decode(&encode("a+b &=?é")).as_deref(), Some("a+b &=?é"));
        let pairs: Vec<_> = split("a=1&&b&c=x=y").collect();
        assert_eq!(pairs, [("a", "1"), ("b", ""), ("c", "x=y")]);
    }
}
