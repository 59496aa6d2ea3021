//! Rules for tunnel subdomains, shared by every client and the server so a name is
//! judged the same everywhere.

/// Shortest subdomain accepted.
pub const MIN_SUBDOMAIN_LEN: usize = 3;

/// Longest subdomain accepted: one DNS label.
pub const MAX_SUBDOMAIN_LEN: usize = 63;

/// Names that serve the service itself and can never be tunnels.
pub const RESERVED_SUBDOMAINS: &[&str] = &[
    "api",
    "app",
    "ws",
    "www",
    "console",
    "admin",
    "status",
    "docs",
    "mail",
    "static",
    "assets",
    "auth",
    "login",
    "dashboard",
    "metrics",
    "health",
    "localhost",
];

/// A subdomain that breaks the rules; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Fewer than [`MIN_SUBDOMAIN_LEN`] characters.
    #[error("domain {0:?} is too short: use {MIN_SUBDOMAIN_LEN} to {MAX_SUBDOMAIN_LEN} characters")]
    TooShort(String),
    /// More than [`MAX_SUBDOMAIN_LEN`] characters.
    #[error("domain {0:?} is too long: use {MIN_SUBDOMAIN_LEN} to {MAX_SUBDOMAIN_LEN} characters")]
    TooLong(String),
    /// A character other than a-z, 0-9 or '-'.
    #[error(
        "domain {name:?} has {ch:?} at position {index}: use only lowercase letters a-z, digits 0-9 and '-'"
    )]
    InvalidChar {
        /// The name.
        name: String,
        /// The offending character.
        ch: char,
        /// Its position, from 0.
        index: usize,
    },
    /// Starts or ends with '-'.
    #[error("domain {0:?} starts or ends with '-': put hyphens only between letters or digits")]
    EdgeHyphen(String),
    /// One of [`RESERVED_SUBDOMAINS`].
    #[error("domain {0:?} is reserved for the service itself: choose another name")]
    Reserved(String),
}

/// Checks `name` against the subdomain rules.
pub fn validate_subdomain(name: &str) -> Result<(), DomainError> {
    let len = name.chars().count();
    if let Some((index, ch)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(DomainError::InvalidChar {
            name: name.to_owned(),
            ch,
            index,
        });
    }
    if len < MIN_SUBDOMAIN_LEN {
        return Err(DomainError::TooShort(name.to_owned()));
    }
    if len > MAX_SUBDOMAIN_LEN {
        return Err(DomainError::TooLong(name.to_owned()));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(DomainError::EdgeHyphen(name.to_owned()));
    }
    if RESERVED_SUBDOMAINS.contains(&name) {
        return Err(DomainError::Reserved(name.to_owned()));
    }
    Ok(())
}

const ADJECTIVES: [&str; 16] = [
    "amber", "brave", "calm", "dapper", "eager", "fuzzy", "gentle", "happy", "icy", "jolly",
    "keen", "lucky", "mellow", "nimble", "quiet", "swift",
];
const NOUNS: [&str; 16] = [
    "badger", "comet", "dune", "falcon", "gecko", "harbor", "island", "lantern", "meadow", "otter",
    "pine", "river", "summit", "tiger", "valley", "willow",
];

/// A readable random subdomain such as `brave-otter-3f9a1c` from 32 random bits; the
/// caller supplies the randomness and retries on a collision.
pub fn random_subdomain(random: u64) -> String {
    let adjective = ADJECTIVES[(random & 0xf) as usize];
    let noun = NOUNS[((random >> 4) & 0xf) as usize];
    format!("{adjective}-{noun}-{:06x}", (random >> 8) & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_are_inclusive() {
        assert!(validate_subdomain("abc").is_ok());
        assert_eq!(
            validate_subdomain("ab"),
            Err(DomainError::TooShort("ab".into()))
        );
        let max = "a".repeat(MAX_SUBDOMAIN_LEN);
        assert!(validate_subdomain(&max).is_ok());
        let over = "a".repeat(MAX_SUBDOMAIN_LEN + 1);
        assert!(matches!(
            validate_subdomain(&over),
            Err(DomainError::TooLong(_))
        ));
    }

    #[test]
    fn refuses_bad_characters_hyphens_and_reserved() {
        assert!(matches!(
            validate_subdomain("MyApp"),
            Err(DomainError::InvalidChar {
                ch: 'M',
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            validate_subdomain("my.app"),
            Err(DomainError::InvalidChar { ch: '.', .. })
        ));
        assert!(matches!(
            validate_subdomain("my_app"),
            Err(DomainError::InvalidChar { ch: '_', .. })
        ));
        assert!(matches!(
            validate_subdomain("-app"),
            Err(DomainError::EdgeHyphen(_))
        ));
        assert!(matches!(
            validate_subdomain("app-"),
            Err(DomainError::EdgeHyphen(_))
        ));
        assert!(validate_subdomain("my-app-2").is_ok());
        for r in RESERVED_SUBDOMAINS {
            if r.len() >= MIN_SUBDOMAIN_LEN {
                assert_eq!(
                    validate_subdomain(r),
                    Err(DomainError::Reserved((*r).into()))
                );
            }
        }
    }

    #[test]
    fn messages_tell_the_rule() {
        let e = validate_subdomain("a_b").unwrap_err().to_string();
        assert!(e.contains("lowercase letters"), "{e}");
    }

    #[test]
    fn random_names_are_valid_and_vary() {
        let names: std::collections::HashSet<_> = (0..1000u64)
            .map(|i| random_subdomain(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        assert!(names.len() > 990);
        for n in &names {
            validate_subdomain(n).unwrap();
        }
    }
}
