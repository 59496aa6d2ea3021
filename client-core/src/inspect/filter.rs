//! List filters: which exchanges a list shows, parsed from a query string.

use serde::{Deserialize, Serialize};

use super::http::is_token;
use super::model::{Exchange, ExchangeSummary};
use super::query;

/// Which exchanges a list shows. Every criterion set must match; none set matches all.
///
/// As a query string: `method=GET&status=4xx&path_prefix=/api`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only this method (compared case-insensitively; kept upper-case).
    #[serde(default)]
    pub method: Option<String>,
    /// Only responses of this status class, 1 to 5 (`4` is 4xx). Exchanges without a
    /// response never match a status class.
    #[serde(default)]
    pub status_class: Option<u8>,
    /// Only paths starting with this (case-sensitive, on the path as received, query
    /// string included).
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// Query parameters [`Filter::from_query`] passes over: they belong to the list's
/// paging, which shares the query string.
pub const PAGE_PARAMS: &[&str] = &["cursor", "limit"];

/// A query string that is not a valid [`Filter`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A parameter the filter does not know.
    #[error("unknown filter parameter \"{0}\": use method, status or path_prefix")]
    UnknownParam(String),
    /// A parameter given twice.
    #[error("filter parameter \"{0}\" is given more than once")]
    Repeated(String),
    /// A `%` escape that is malformed or decodes to invalid UTF-8.
    #[error("filter parameter \"{0}\" is not properly percent-encoded")]
    BadEncoding(String),
    /// `method` is not an HTTP method token.
    #[error("method must be an HTTP method such as GET or POST (got \"{0}\")")]
    BadMethod(String),
    /// `status` is not a status class.
    #[error("status must be one of 1xx, 2xx, 3xx, 4xx or 5xx (got \"{0}\")")]
    BadStatus(String),
    /// `path_prefix` does not start with `/`.
    #[error("path_prefix must start with / (got \"{0}\")")]
    BadPathPrefix(String),
}

impl Filter {
    /// True when `exchange` passes every criterion set.
    pub fn matches(&self, exchange: &Exchange) -> bool {
        self.matches_summary(&ExchangeSummary::from(exchange))
    }

    /// [`Self::matches`] on a list line, which holds every field a filter reads.
    pub fn matches_summary(&self, summary: &ExchangeSummary) -> bool {
        if let Some(method) = &self.method
            && !method.eq_ignore_ascii_case(&summary.method)
        {
            return false;
        }
        if let Some(class) = self.status_class
            && summary.status.is_none_or(|s| s / 100 != u16::from(class))
        {
            return false;
        }
        if let Some(prefix) = &self.path_prefix
            && !summary.path.starts_with(prefix.as_str())
        {
            return false;
        }
        true
    }

    /// True when no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.status_class.is_none() && self.path_prefix.is_none()
    }

    /// Parses `method=GET&status=4xx&path_prefix=/api` (a leading `?` is allowed).
    ///
    /// Values are form-decoded (`+` and `%XX`). An empty value (`method=`) sets nothing,
    /// as an HTML form sends for an empty field. `status` takes `1xx` to `5xx` (`X` may
    /// be upper-case). The paging parameters of [`PAGE_PARAMS`] are passed over; any
    /// other parameter is an error, so a typo does not silently list everything.
    pub fn from_query(query: &str) -> Result<Filter, FilterError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut filter = Filter::default();
        let mut seen: Vec<String> = Vec::new();
        for (raw_key, raw_value) in query::split(query) {
            let key = query::decode(raw_key)
                .ok_or_else(|| FilterError::BadEncoding(raw_key.to_owned()))?;
            if PAGE_PARAMS.contains(&key.as_str()) {
                continue;
            }
            if !matches!(key.as_str(), "method" | "status" | "path_prefix") {
                return Err(FilterError::UnknownParam(key));
            }
            if seen.contains(&key) {
                return Err(FilterError::Repeated(key));
            }
            let value =
                query::decode(raw_value).ok_or_else(|| FilterError::BadEncoding(key.clone()))?;
            seen.push(key.clone());
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "method" => {
                    if !is_token(&value) {
                        return Err(FilterError::BadMethod(value));
                    }
                    filter.method = Some(value.to_ascii_uppercase());
                }
                "status" => filter.status_class = Some(parse_status_class(&value)?),
                _ => {
                    if !value.starts_with('/') {
                        return Err(FilterError::BadPathPrefix(value));
                    }
                    filter.path_prefix = Some(value);
                }
            }
        }
        Ok(filter)
    }

    /// The query string [`Self::from_query`] reads back into this filter (no leading
    /// `?`; empty for an empty filter).
    pub fn to_query(&self) -> String {
        let mut pairs = Vec::new();
        if let Some(method) = &self.method {
            pairs.push(format!("method={}", query::encode(method)));
        }
        if let Some(class) = self.status_class {
            pairs.push(format!("status={class}xx"));
        }
        if let Some(prefix) = &self.path_prefix {
            pairs.push(format!("path_prefix={}", query::encode(prefix)));
        }
        pairs.join("&")
    }
}

fn parse_status_class(value: &str) -> Result<u8, FilterError> {
    let bytes = value.as_bytes();
    match bytes {
        [d @ b'1'..=b'5', x1, x2]
            if x1.eq_ignore_ascii_case(&b'x') && x2.eq_ignore_ascii_case(&b'x') =>
        {
            Ok(d - b'0')
        }
        _ => Err(FilterError::BadStatus(value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::fixtures::*;
    use super::*;

    #[test]
    fn filter_parses_query_strings() {
        assert_eq!(Filter::from_query("").unwrap(), Filter::default());
        assert_eq!(Filter::from_query("?").unwrap(), Filter::default());
        let f = Filter::from_query("?method=get&status=4xx&path_prefix=%2Fapi%20v1").unwrap();
        assert_eq!(f.method.as_deref(), Some("GET"));
        assert_eq!(f.status_class, Some(4));
        assert_eq!(f.path_prefix.as_deref(), Some("/api v1"));
        assert_eq!(Filter::from_query(&f.to_query()).unwrap(), f);
        assert_eq!(Filter::default().to_query(), "");

        // Edges of the status classes, either case of X.
        assert_eq!(
            Filter::from_query("status=1xx").unwrap().status_class,
            Some(1)
        );
        assert_eq!(
            Filter::from_query("status=5XX").unwrap().status_class,
            Some(5)
        );
        for bad in ["0xx", "6xx", "404", "4x", "4xxx", "xx", "4", "four"] {
            let err = Filter::from_query(&format!("status={bad}")).unwrap_err();
            assert_eq!(err, FilterError::BadStatus(bad.into()));
            assert_eq!(
                err.to_string(),
                format!("status must be one of 1xx, 2xx, 3xx, 4xx or 5xx (got \"{bad}\")")
            );
        }

        // Empty values set nothing; paging parameters are passed over.
        let f = Filter::from_query("method=&status=&cursor=abc&limit=50&&path_prefix=/x").unwrap();
        assert_eq!(
            f,
            Filter {
                path_prefix: Some("/x".into()),
                ..Filter::default()
            }
        );

        // Errors name the problem.
        assert_eq!(
            Filter::from_query("stauts=4xx").unwrap_err().to_string(),
            "unknown filter parameter \"stauts\": use method, status or path_prefix"
        );
        assert_eq!(
            Filter::from_query("method=GET&method=POST").unwrap_err(),
            FilterError::Repeated("method".into())
        );
        assert_eq!(
            Filter::from_query("method=GE%20T").unwrap_err(),
            FilterError::BadMethod("GE T".into())
        );
        assert_eq!(
            Filter::from_query("path_prefix=api")
                .unwrap_err()
                .to_string(),
            "path_prefix must start with / (got \"api\")"
        );
        assert_eq!(
            Filter::from_query("path_prefix=%zz").unwrap_err(),
            FilterError::BadEncoding("path_prefix".into())
        );
    }

    #[test]
    fn filter_matches_every_criterion() {
        let ok = exchange("GET", "/api/items?x=1", Some(200));
        let missing = exchange("POST", "/apix", Some(404));
        let refused = exchange("GET", "/api", None);
        let f = |q: &str| Filter::from_query(q).unwrap();

        assert!(f("").matches(&ok) && f("").matches(&refused));
        assert!(f("method=get").matches(&ok));
        assert!(!f("method=POST").matches(&ok));
        assert!(f("status=2xx").matches(&ok));
        assert!(!f("status=2xx").matches(&missing));
        assert!(f("status=4xx").matches(&missing));
        // No response: no status class matches.
        for class in 1..=5 {
            assert!(!f(&format!("status={class}xx")).matches(&refused));
        }
        // Prefix is a plain string prefix on the path as received.
        assert!(f("path_prefix=/api").matches(&ok));
        assert!(f("path_prefix=/api").matches(&missing));
        assert!(f("path_prefix=/api/").matches(&ok));
        assert!(!f("path_prefix=/api/").matches(&missing));
        assert!(f("path_prefix=/api/items%3Fx%3D1").matches(&ok));
        assert!(!f("path_prefix=/API").matches(&ok));
        // All together.
        assert!(f("method=GET&status=2xx&path_prefix=/api").matches(&ok));
        assert!(!f("method=GET&status=4xx&path_prefix=/api").matches(&ok));
    }
}
