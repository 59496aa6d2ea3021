//! The one way this store pages through a DynamoDB Query: `LastEvaluatedKey` carried
//! to the next request as `ExclusiveStartKey` until DynamoDB gives none. A Query
//! returns at most 1 MB a page, so every query that must see a whole partition (or
//! stops part-way, as taking from the inbox does) goes through [`Pages`].

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use tunnel_backend::store::StoreError;

use super::backend;
use crate::item::Item;

/// A query read page by page, so a caller may stop at any page.
pub(super) struct Pages {
    query: QueryFluentBuilder,
    start: Option<Item>,
    done: bool,
}

impl Pages {
    /// The pages of `query`, from its first.
    pub(super) fn of(query: QueryFluentBuilder) -> Self {
        Self {
            query,
            start: None,
            done: false,
        }
    }

    /// The next page: its items (none for a `Select::Count` query) and the count
    /// DynamoDB reported for it; `None` after the last.
    pub(super) async fn next(&mut self) -> Result<Option<(Vec<Item>, u64)>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let out = self
            .query
            .clone()
            .set_exclusive_start_key(self.start.take())
            .send()
            .await
            .map_err(|e| backend("Query", e))?;
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => self.start = Some(k),
            _ => self.done = true,
        }
        let count = u64::try_from(out.count).unwrap_or(0);
        Ok(Some((out.items.unwrap_or_default(), count)))
    }
}

/// Every page of `query`, read one after another: the items and the count DynamoDB
/// reported. For the queries that need all of a partition; a listing that stops at a
/// page's end pages itself.
pub(super) async fn query_all(query: QueryFluentBuilder) -> Result<(Vec<Item>, u64), StoreError> {
    let (mut items, mut count) = (Vec::new(), 0u64);
    let mut pages = Pages::of(query);
    while let Some((page, n)) = pages.next().await? {
        count += n;
        items.extend(page);
    }
    Ok((items, count))
}
