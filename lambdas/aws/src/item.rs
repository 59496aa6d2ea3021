//! Records to and from DynamoDB items, written out field by field.
//!
//! Attribute names are the records' serde field names (a unit test holds the two
//! together). Numbers are `N`; an `Option` that is `None` is left out of the item, not
//! stored as `NULL`, so conditions like `attribute_not_exists(connection_id)` mean
//! what they say and records round-trip exactly.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use client_core::inbox::HeldRequest;
use tunnel_backend::model::{
    ClientRecord, ConnectionRecord, DomainRecord, StoredPolicy, TunnelRecord,
};
use tunnel_backend::store::StoreError;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Attribute names.
pub mod attr {
    /// Client id; key of `clients`, hash key of `client_id-index`.
    pub const CLIENT_ID: &str = "client_id";
    /// Hash of the client's API key secret.
    pub const KEY_HASH: &str = "key_hash";
    /// Creation time, seconds since the epoch; range key of `client_id-index`.
    pub const CREATED_AT: &str = "created_at";
    /// Tunnel id; key of `tunnels`.
    pub const TUNNEL_ID: &str = "tunnel_id";
    /// Subdomain; key of `domains`.
    pub const DOMAIN: &str = "domain";
    /// WebSocket connection id; key of `connections`.
    pub const CONNECTION_ID: &str = "connection_id";
    /// Connection time, seconds since the epoch.
    pub const CONNECTED_AT: &str = "connected_at";
    /// Whether a connection's client takes bodies by URL (absent: no).
    pub const BODY_URLS: &str = "body_urls";
    /// TTL of `connections`, `requests`, `inbox` and `rate_limits`, seconds since the epoch. Not part
    /// of any record (but the same value as a held request's `expires_at`).
    pub const EXPIRES_AT: &str = "expires_at";
    /// Whether a tunnel's inspector masks credential headers.
    pub const REDACT_SECRETS: &str = "redact_secrets";
    /// A tunnel's access policy, JSON (absent: none, as on records from before).
    pub const POLICY: &str = "policy";
    /// Request id; range key of `requests` (whose hash key is `tunnel_id`).
    pub const REQUEST_ID: &str = "request_id";
    /// A captured exchange's list line, JSON (on items whose exchange is in the log
    /// bucket).
    pub const SUMMARY: &str = "summary";
    /// A whole captured exchange, deflated JSON, binary (when it fits the item).
    pub const EXCHANGE: &str = "exchange";
    /// The log bucket's object key holding the whole exchange (when it does not fit).
    pub const OBJECT: &str = "object";
    /// A held request's arrival number; range key of `inbox` (0: the tunnel's
    /// counters).
    pub const SEQ: &str = "seq";
    /// The inbox counter of the last `seq` given out (on the `seq = 0` item).
    pub const NEXT: &str = "next";
    /// The inbox counter of items counted as held (on the `seq = 0` item).
    pub const HELD: &str = "held";
    /// When a full inbox is worth counting again: the soonest expiry among the
    /// requests the last count found (on the `seq = 0` item).
    pub const RECOUNT_AFTER: &str = "recount_after";
    /// When a held request arrived, Unix milliseconds.
    pub const RECEIVED_MS: &str = "received_ms";
    /// A held request's method.
    pub const METHOD: &str = "method";
    /// A held request's path and query.
    pub const PATH: &str = "path";
    /// A held request's header lines, JSON.
    pub const HEADERS: &str = "headers";
    /// A held request's body, binary.
    pub const BODY: &str = "body";
    /// Key of `rate_limits`: the bucket's name (`authfail:<address>`).
    pub const LIMIT_KEY: &str = "limit_key";
    /// Thousandths of a token left in a bucket, rounded down.
    pub const MILLITOKENS: &str = "millitokens";
    /// When a bucket was last taken from, Unix milliseconds.
    pub const AT_MS: &str = "at_ms";
    /// A bucket's write count, which guards its next write.
    pub const VERSION: &str = "version";
}

/// Conversion of a record into an item.
pub trait ToItem {
    /// The item holding every field (absent options left out).
    fn to_item(&self) -> Item;
}

/// Conversion of an item back into a record.
pub trait FromItem: Sized {
    /// Reads the record, ignoring attributes it does not know (such as `expires_at`).
    fn from_item(item: Item) -> Result<Self, StoreError>;
}

pub(crate) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn item<const K: usize>(pairs: [(&str, AttributeValue); K]) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn corrupt(record: &str, name: &str, what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt {record} item: {name} {what}"))
}

/// Takes attributes out of an item for one record type, naming it in errors.
struct Reader {
    record: &'static str,
    item: Item,
}

impl Reader {
    fn opt_s(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        match self.item.remove(name) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v)),
            Some(_) => Err(corrupt(self.record, name, "is not a string")),
        }
    }

    fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, StoreError> {
        match self.item.remove(name) {
            None => Ok(None),
            Some(AttributeValue::Bool(v)) => Ok(Some(v)),
            Some(_) => Err(corrupt(self.record, name, "is not a boolean")),
        }
    }

    fn opt_n(&mut self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.item.remove(name) {
            None => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| corrupt(self.record, name, "is not a u64")),
            Some(_) => Err(corrupt(self.record, name, "is not a number")),
        }
    }

    fn s(&mut self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)?
            .ok_or_else(|| corrupt(self.record, name, "is missing"))
    }

    fn b(&mut self, name: &str) -> Result<Vec<u8>, StoreError> {
        match self.item.remove(name) {
            Some(AttributeValue::B(v)) => Ok(v.into_inner()),
            Some(_) => Err(corrupt(self.record, name, "is not binary")),
            None => Err(corrupt(self.record, name, "is missing")),
        }
    }

    fn n(&mut self, name: &str) -> Result<u64, StoreError> {
        match self.item.remove(name) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| corrupt(self.record, name, "is not a u64")),
            Some(_) => Err(corrupt(self.record, name, "is not a number")),
            None => Err(corrupt(self.record, name, "is missing")),
        }
    }
}

fn reader(record: &'static str, item: Item) -> Reader {
    Reader { record, item }
}

/// Reads a numeric attribute without consuming the item (for `expires_at`).
pub(crate) fn peek_n(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

impl ToItem for ClientRecord {
    fn to_item(&self) -> Item {
        item([
            (attr::CLIENT_ID, s(&self.client_id)),
            (attr::KEY_HASH, s(&self.key_hash)),
            (attr::CREATED_AT, n(self.created_at)),
        ])
    }
}

impl FromItem for ClientRecord {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        let mut r = reader("client", item);
        Ok(Self {
            client_id: r.s(attr::CLIENT_ID)?,
            key_hash: r.s(attr::KEY_HASH)?,
            created_at: r.n(attr::CREATED_AT)?,
        })
    }
}

impl ToItem for TunnelRecord {
    fn to_item(&self) -> Item {
        let mut out = item([
            (attr::TUNNEL_ID, s(&self.tunnel_id)),
            (attr::CLIENT_ID, s(&self.client_id)),
            (attr::DOMAIN, s(&self.domain)),
            (attr::CREATED_AT, n(self.created_at)),
            (
                attr::REDACT_SECRETS,
                AttributeValue::Bool(self.redact_secrets),
            ),
        ]);
        if let Some(c) = &self.connection_id {
            out.insert(attr::CONNECTION_ID.to_owned(), s(c));
        }
        if let Some(p) = &self.policy {
            out.insert(attr::POLICY.to_owned(), policy_value(p));
        }
        if let Some(t) = self.expires_at {
            out.insert(attr::EXPIRES_AT.to_owned(), n(t));
        }
        out
    }
}

/// A policy as an attribute: one JSON string, since it is always read and written
/// whole with its tunnel and never queried by its parts.
pub(crate) fn policy_value(p: &StoredPolicy) -> AttributeValue {
    // Serializing plain structs of strings cannot fail.
    s(&serde_json::to_string(p).unwrap_or_default())
}

impl FromItem for TunnelRecord {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        let mut r = reader("tunnel", item);
        Ok(Self {
            tunnel_id: r.s(attr::TUNNEL_ID)?,
            client_id: r.s(attr::CLIENT_ID)?,
            domain: r.s(attr::DOMAIN)?,
            created_at: r.n(attr::CREATED_AT)?,
            connection_id: r.opt_s(attr::CONNECTION_ID)?,
            redact_secrets: r.opt_bool(attr::REDACT_SECRETS)?.unwrap_or(true),
            policy: match r.opt_s(attr::POLICY)? {
                Some(json) => Some(
                    serde_json::from_str(&json)
                        .map_err(|_| corrupt("tunnel", attr::POLICY, "is not a policy"))?,
                ),
                None => None,
            },
            expires_at: r.opt_n(attr::EXPIRES_AT)?,
        })
    }
}

impl ToItem for DomainRecord {
    fn to_item(&self) -> Item {
        let mut out = item([
            (attr::DOMAIN, s(&self.domain)),
            (attr::TUNNEL_ID, s(&self.tunnel_id)),
            (attr::CLIENT_ID, s(&self.client_id)),
        ]);
        if let Some(t) = self.expires_at {
            out.insert(attr::EXPIRES_AT.to_owned(), n(t));
        }
        out
    }
}

impl FromItem for DomainRecord {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        let mut r = reader("domain", item);
        Ok(Self {
            domain: r.s(attr::DOMAIN)?,
            tunnel_id: r.s(attr::TUNNEL_ID)?,
            client_id: r.s(attr::CLIENT_ID)?,
            expires_at: r.opt_n(attr::EXPIRES_AT)?,
        })
    }
}

impl ToItem for ConnectionRecord {
    fn to_item(&self) -> Item {
        let mut out = item([
            (attr::CONNECTION_ID, s(&self.connection_id)),
            (attr::CLIENT_ID, s(&self.client_id)),
            (attr::CONNECTED_AT, n(self.connected_at)),
        ]);
        if let Some(t) = &self.tunnel_id {
            out.insert(attr::TUNNEL_ID.to_owned(), s(t));
        }
        if self.body_urls {
            out.insert(attr::BODY_URLS.to_owned(), AttributeValue::Bool(true));
        }
        out
    }
}

impl FromItem for ConnectionRecord {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        let mut r = reader("connection", item);
        Ok(Self {
            connection_id: r.s(attr::CONNECTION_ID)?,
            client_id: r.s(attr::CLIENT_ID)?,
            tunnel_id: r.opt_s(attr::TUNNEL_ID)?,
            connected_at: r.n(attr::CONNECTED_AT)?,
            body_urls: r.opt_bool(attr::BODY_URLS)?.unwrap_or(false),
        })
    }
}

/// A held request as one inbox item. The body is binary, not base64 inside JSON: the
/// largest body the inbox takes (256 KiB) then fits DynamoDB's 400 KB item limit
/// with room for the rest. Headers are JSON: always read whole, never queried.
impl ToItem for HeldRequest {
    fn to_item(&self) -> Item {
        item([
            (attr::TUNNEL_ID, s(&self.tunnel_id)),
            (attr::SEQ, n(self.seq)),
            (attr::REQUEST_ID, s(&self.request_id)),
            (attr::RECEIVED_MS, n(self.received_ms)),
            (attr::EXPIRES_AT, n(self.expires_at)),
            (attr::METHOD, s(&self.method)),
            (attr::PATH, s(&self.path)),
            // Serializing a list of string pairs cannot fail.
            (
                attr::HEADERS,
                s(&serde_json::to_string(&self.headers).unwrap_or_default()),
            ),
            (attr::BODY, AttributeValue::B(Blob::new(self.body.clone()))),
        ])
    }
}

impl FromItem for HeldRequest {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        let mut r = reader("held request", item);
        Ok(Self {
            request_id: r.s(attr::REQUEST_ID)?,
            tunnel_id: r.s(attr::TUNNEL_ID)?,
            seq: r.n(attr::SEQ)?,
            received_ms: r.n(attr::RECEIVED_MS)?,
            expires_at: r.n(attr::EXPIRES_AT)?,
            method: r.s(attr::METHOD)?,
            path: r.s(attr::PATH)?,
            headers: serde_json::from_str(&r.s(attr::HEADERS)?)
                .map_err(|_| corrupt("held request", attr::HEADERS, "is not a header list"))?,
            body: r.b(attr::BODY)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fmt::Debug;

    use serde::Serialize;

    use super::*;

    /// The item has exactly the serde fields, and reads back as the same record.
    fn check<T: ToItem + FromItem + Serialize + PartialEq + Debug>(record: T) {
        let item = record.to_item();
        let json = serde_json::to_value(&record).unwrap();
        let serde_names: BTreeSet<_> = json.as_object().unwrap().keys().cloned().collect();
        let item_names: BTreeSet<_> = item.keys().cloned().collect();
        assert_eq!(item_names, serde_names, "attribute names are serde names");
        assert_eq!(T::from_item(item).unwrap(), record);
    }

    #[test]
    fn records_round_trip_with_serde_names() {
        check(ClientRecord {
            client_id: "c".into(),
            key_hash: "h".into(),
            created_at: u64::MAX,
        });
        let policy = tunnel_backend::handlers::policy::to_stored(&client_core::policy::Policy {
            basic_auth: Some("u:p".into()),
            allow_ips: vec!["::1".into()],
            ..Default::default()
        })
        .unwrap();
        for (connection_id, redact_secrets, policy, expires_at) in [
            (None, true, None, Some(9)),
            (Some("k".to_owned()), false, policy, None),
        ] {
            check(TunnelRecord {
                tunnel_id: "t".into(),
                client_id: "c".into(),
                domain: "d".into(),
                created_at: 0,
                connection_id,
                redact_secrets,
                policy,
                expires_at,
            });
        }
        for expires_at in [None, Some(9)] {
            check(DomainRecord {
                domain: "d".into(),
                tunnel_id: "t".into(),
                client_id: "c".into(),
                expires_at,
            });
        }
        for tunnel_id in [None, Some("t".to_owned())] {
            check(ConnectionRecord {
                connection_id: "k".into(),
                client_id: "c".into(),
                body_urls: tunnel_id.is_some(),
                tunnel_id,
                connected_at: 5,
            });
        }
        check(HeldRequest {
            request_id: "r".into(),
            tunnel_id: "t".into(),
            seq: 7,
            received_ms: 1,
            expires_at: 2,
            method: "POST".into(),
            path: "/p?q".into(),
            headers: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            body: vec![0, 255, 10],
        });
    }

    #[test]
    fn unknown_attributes_are_ignored_and_bad_ones_named() {
        let mut i = item([
            (attr::CONNECTION_ID, s("k")),
            (attr::CLIENT_ID, s("c")),
            (attr::CONNECTED_AT, n(5)),
            (attr::EXPIRES_AT, n(9)),
        ]);
        assert_eq!(peek_n(&i, attr::EXPIRES_AT), Some(9));
        assert!(ConnectionRecord::from_item(i.clone()).is_ok());
        i.insert(attr::CONNECTED_AT.into(), s("5"));
        let err = ConnectionRecord::from_item(i).unwrap_err().to_string();
        assert!(err.contains("connected_at"), "{err}");
    }
}
