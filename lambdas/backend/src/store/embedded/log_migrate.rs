//! The request log of a data dir written before the compact encoding: moved into the
//! new table once, when the store opens it, and the old tables removed.
//!
//! Before, the log was three tables: `request_log` (`tunnel_id/request_id` to the
//! summary as JSON), `exchanges` (request id to the whole exchange as JSON, bodies in
//! base64) and `request_log_counts`. A data dir holds at most `keep` exchanges per
//! tunnel, so moving them is one bounded transaction, and a user who upgrades keeps
//! the log they had. A row that cannot be read is dropped and counted.

use client_core::inspect::Exchange;
use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use super::{backend, log_codec, logfile};
use crate::store::StoreError;

const OLD_LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("request_log");
const OLD_EXCHANGES: TableDefinition<&str, &[u8]> = TableDefinition::new("exchanges");
const OLD_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("request_log_counts");

/// What moving an old log did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Moved {
    /// Exchanges now in the new table.
    pub(super) exchanges: usize,
    /// Rows that could not be read, dropped.
    pub(super) unreadable: usize,
}

/// Moves an old-format log into [`logfile::LOG`] and removes its tables; `None` when
/// the file has none.
pub(super) fn migrate(tx: &WriteTransaction) -> Result<Option<Moved>, StoreError> {
    let old = tx
        .list_tables()
        .map_err(backend)?
        .any(|t| t.name() == OLD_LOG.name());
    if !old {
        return Ok(None);
    }
    let mut moved = Moved::default();
    {
        let log = tx.open_table(OLD_LOG).map_err(backend)?;
        let all = tx.open_table(OLD_EXCHANGES).map_err(backend)?;
        let mut new = tx.open_table(logfile::LOG).map_err(backend)?;
        for row in log.iter().map_err(backend)? {
            let (key, _) = row.map_err(backend)?;
            let Some((_, id)) = key.value().split_once('/') else {
                moved.unreadable += 1;
                continue;
            };
            let x = all
                .get(id)
                .map_err(backend)?
                .and_then(|v| serde_json::from_slice::<Exchange>(v.value()).ok());
            match x {
                Some(x) => {
                    new.insert(key.value(), log_codec::encode(&x)?.as_slice())
                        .map_err(backend)?;
                    moved.exchanges += 1;
                }
                None => moved.unreadable += 1,
            }
        }
    }
    tx.delete_table(OLD_LOG).map_err(backend)?;
    tx.delete_table(OLD_EXCHANGES).map_err(backend)?;
    tx.delete_table(OLD_COUNTS).map_err(backend)?;
    Ok(Some(moved))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use client_core::inspect::{ExchangeSummary, Filter};
    use redb::{Database, ReadableTableMetadata};

    use super::*;
    use crate::store::contract::exchange;
    use crate::store::embedded::{DB_FILE, EmbeddedStore};
    use crate::store::{LogQuery, Store};

    /// A data dir as the store before the compact log wrote it.
    fn old_data_dir(xs: &[Exchange]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join(DB_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut log = tx.open_table(OLD_LOG).unwrap();
            let mut all = tx.open_table(OLD_EXCHANGES).unwrap();
            let mut counts = tx.open_table(OLD_COUNTS).unwrap();
            for x in xs {
                let key = format!("{}/{}", x.tunnel_id, x.request_id);
                let summary = serde_json::to_vec(&ExchangeSummary::from(x)).unwrap();
                log.insert(key.as_str(), summary.as_slice()).unwrap();
                let whole = serde_json::to_vec(x).unwrap();
                all.insert(x.request_id.as_str(), whole.as_slice()).unwrap();
                counts.insert(x.tunnel_id.as_str(), 1).unwrap();
            }
            // A line whose exchange is missing: dropped, not fatal.
            log.insert("t/0000000000099", b"{}".as_slice()).unwrap();
        }
        tx.commit().unwrap();
        dir
    }

    #[tokio::test]
    async fn an_old_data_dir_keeps_its_log_in_the_new_format() {
        let xs = [
            exchange("t", 1, "GET", "/a", 200),
            exchange("t", 2, "POST", "/b", 404),
            exchange("u", 3, "GET", "/c", 200),
        ];
        let dir = old_data_dir(&xs);
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            let page = store
                .list_exchanges(LogQuery {
                    tunnel_id: "t",
                    before: None,
                    filter: &Filter::default(),
                    limit: 10,
                })
                .await
                .unwrap();
            let paths: Vec<_> = page.exchanges.iter().map(|s| s.path.as_str()).collect();
            assert_eq!(paths, ["/b", "/a"]);
            assert_eq!(
                store.get_exchange("u", &xs[2].request_id).await.unwrap(),
                Some(xs[2].clone())
            );
        }
        // Moved once: the old tables are gone, and a second open finds the same log.
        let db = Database::create(dir.path().join(DB_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        assert_eq!(migrate(&tx).unwrap(), None);
        let n = tx.open_table(logfile::LOG).unwrap().len().unwrap();
        assert_eq!(n, 3);
    }
}
