//! Per-user session cut-offs and SMS passes (`ports::SessionStore`, `ports::SmsPasses`).

use super::*;

#[async_trait]
impl SessionStore for DynamoTable {
    async fn sessions_revoked_before(&self, user_id: &UserId) -> Result<Option<i64>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::SESSION_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        Ok(out
            .item()
            .and_then(|item| item.get("revoked_before"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()))
    }

    async fn revoke_sessions(&self, user_id: &UserId, cutoff: i64) -> Result<(), AppError> {
        let item = serde_dynamo::to_item(UserItem::Session(SessionItem {
            pk: keys::user_pk(user_id),
            sk: keys::SESSION_SK.into(),
            revoked_before: cutoff,
        }))
        .map_err(AppError::unexpected)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Never move the cut-off back (two revocations racing).
            .condition_expression("attribute_not_exists(pk) OR revoked_before < :cutoff")
            .expression_attribute_values(":cutoff", AttributeValue::N(cutoff.to_string()))
            .send()
            .await;
        // A failed condition means a later cut-off is stored already: the goal.
        conditional("PutItem", result).map(|_| ())
    }
}

#[async_trait]
impl crate::ports::SmsPasses for DynamoTable {
    async fn grant(&self, user_id: &UserId, phone: &str, expires_at: i64) -> Result<(), AppError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(keys::user_pk(user_id)))
            .item("sk", AttributeValue::S(keys::SMS_PASS_SK.into()))
            .item("entity", AttributeValue::S("sms_pass".into()))
            .item("phone", AttributeValue::S(phone.to_owned()))
            // Also the TTL: DynamoDB removes it some time after.
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("PutItem").any(e))?;
        Ok(())
    }

    async fn spend(&self, user_id: &UserId, phone: &str, now: i64) -> Result<bool, AppError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::SMS_PASS_SK.into()))
            // TTL deletion lags: an expired pass is still there, and spends nothing.
            .condition_expression("phone = :phone AND expires_at > :now")
            .expression_attribute_values(":phone", AttributeValue::S(phone.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        conditional("DeleteItem", result)
    }
}
