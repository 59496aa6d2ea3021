//! Connections: the record of each client's WebSocket connection (expiring with API
//! Gateway's age cap), and a tunnel's binding to the one connection serving it.

use aws_sdk_dynamodb::types::ReturnValue;
use tunnel_backend::model::{ConnectionRecord, TunnelRecord};
use tunnel_backend::store::{Store, StoreError};

use super::{DynamoStore, backend};
use crate::item::{FromItem, ToItem, attr, n, peek_n, s};

/// API Gateway closes every WebSocket connection after 2 hours.
pub const CONNECTION_MAX_AGE_SECS: u64 = 2 * 60 * 60;

/// Slack added to a connection's expiry, so that clock skew between the function that
/// stamped `connected_at` and API Gateway can never hide a connection that is still
/// open. A record outliving its socket by this much is harmless: posting to it gives
/// 410 Gone, which the senders already handle.
pub const CONNECTION_EXPIRY_MARGIN_SECS: u64 = 10 * 60;

impl DynamoStore {
    pub(super) async fn connection_attach(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .update_expression("SET connection_id = :c REMOVE #e")
            .condition_expression(
                "attribute_exists(tunnel_id) AND \
                 (attribute_not_exists(connection_id) OR connection_id = :c) AND \
                 (attribute_not_exists(#e) OR #e > :now)",
            )
            .expression_attribute_names("#e", attr::EXPIRES_AT)
            .expression_attribute_values(":c", s(connection_id))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes.map(TunnelRecord::from_item).transpose()?;
                // The claim is cleared only if it had an expiry. Should this second
                // write fail, CONNECT fails and the client's next connection (which
                // takes the tunnel over) clears it.
                match old {
                    Some(t) if t.expires_at.is_some() => self.set_claim_expiry(&t, None).await,
                    _ => Ok(()),
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // The condition cannot say which part failed. A tunnel that exists
                // (unexpired) now existed at the check (ids are never reused), so
                // another connection held it then, even if it has let go since.
                match self.get_tunnel(tunnel_id, now).await? {
                    Some(_) => Err(StoreError::TunnelInUse(tunnel_id.to_owned())),
                    None => Err(StoreError::NotFound("tunnel")),
                }
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    pub(super) async fn connection_detach(
        &self,
        tunnel_id: &str,
        connection_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        // The condition also fails on a missing item, so a deleted tunnel is never
        // recreated as a stub by this update.
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.tunnels)
            .key(attr::TUNNEL_ID, s(tunnel_id))
            .update_expression("REMOVE connection_id SET #e = :e")
            .condition_expression("connection_id = :c")
            .expression_attribute_names("#e", attr::EXPIRES_AT)
            .expression_attribute_values(":c", s(connection_id))
            .expression_attribute_values(":e", n(expires_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            // Known gap: should the claim's write fail, the claim keeps no expiry
            // while its tunnel has one, so the name stays taken after the tunnel
            // expires, until its owner resumes or stops it.
            Ok(out) => match out.attributes.map(TunnelRecord::from_item).transpose()? {
                Some(t) => self.set_claim_expiry(&t, Some(expires_at)).await,
                None => Ok(()),
            },
            // Another connection serves it, or the tunnel is gone: nothing to undo.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    pub(super) async fn connection_put(
        &self,
        connection: &ConnectionRecord,
    ) -> Result<(), StoreError> {
        let mut item = connection.to_item();
        let expires_at = connection
            .connected_at
            .saturating_add(CONNECTION_MAX_AGE_SECS + CONNECTION_EXPIRY_MARGIN_SECS);
        item.insert(attr::EXPIRES_AT.to_owned(), n(expires_at));
        self.client
            .put_item()
            .table_name(&self.tables.connections)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    pub(super) async fn connection_get(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let Some(item) = self
            .get(&self.tables.connections, attr::CONNECTION_ID, connection_id)
            .await?
        else {
            return Ok(None);
        };
        // TTL deletion runs lazily (up to days late), so an expired item may still be
        // there: it describes a socket API Gateway has already closed.
        if peek_n(&item, attr::EXPIRES_AT).is_some_and(|t| t <= (self.clock)()) {
            return Ok(None);
        }
        ConnectionRecord::from_item(item).map(Some)
    }

    pub(super) async fn connection_delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.connections)
            .key(attr::CONNECTION_ID, s(connection_id))
            .send()
            .await
            .map_err(|e| backend("DeleteItem", e))?;
        Ok(())
    }
}
