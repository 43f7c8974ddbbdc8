//! The delivery ledger (`ports::notify::DeliveryLedger`): one claim per message.

use super::*;

#[async_trait]
impl crate::ports::notify::DeliveryLedger for DynamoTable {
    async fn claim(
        &self,
        notification_id: &str,
        recipient: &UserId,
        lease_secs: i64,
    ) -> Result<crate::ports::notify::Claim, AppError> {
        self.claim_item(
            keys::notification_pk(notification_id),
            keys::delivery_sk(recipient),
            "delivery",
            lease_secs,
        )
        .await
    }

    async fn release(&self, notification_id: &str, recipient: &UserId) -> Result<(), AppError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(keys::notification_pk(notification_id)),
            )
            .key("sk", AttributeValue::S(keys::delivery_sk(recipient)))
            .condition_expression("#status = :claimed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", AttributeValue::S("claimed".into()))
            .send()
            .await;
        conditional("DeleteItem", result).map(drop)
    }

    async fn finish(
        &self,
        notification_id: &str,
        recipient: &UserId,
        outcome: &crate::ports::notify::Outcome,
    ) -> Result<(), AppError> {
        let now = Utc::now();
        let expires = (now.timestamp() + NOTIFICATION_RETENTION_SECS).to_string();
        let status = outcome.status.as_str();
        let pk = keys::notification_pk(notification_id);
        let mut record = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(keys::delivery_sk(recipient)))
            .condition_expression("attribute_not_exists(pk) OR #status = :claimed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", AttributeValue::S("claimed".into()))
            .expression_attribute_values(":status", AttributeValue::S(status.into()))
            .expression_attribute_values(":at", AttributeValue::S(timestamp(now)))
            .expression_attribute_values(":expires", AttributeValue::N(expires.clone()))
            .expression_attribute_values(":entity", AttributeValue::S("delivery".into()));
        let mut set = vec![
            "#status = :status",
            "finished_at = :at",
            "expires_at = :expires",
            "entity = :entity",
        ];
        if let Some(reason) = &outcome.reason {
            record =
                record.expression_attribute_values(":reason", AttributeValue::S(reason.clone()));
            set.push("reason = :reason");
        }
        if let Some(id) = &outcome.provider_id {
            record = record.expression_attribute_values(":provider", AttributeValue::S(id.clone()));
            set.push("provider_id = :provider");
        }
        let record = record
            .update_expression(format!("SET {}", set.join(", ")))
            .build()
            .map_err(AppError::unexpected)?;
        let count = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(keys::NOTIFICATION_META_SK.into()))
            .update_expression(
                "ADD #counter :one SET expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_names("#counter", status)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", AttributeValue::N(expires))
            .build()
            .map_err(AppError::unexpected)?;
        let call = Call::dynamodb("TransactWriteItems");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(record).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match call.split(err)? {
                // Recorded before: a second record changes nothing.
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .first()
                        .and_then(|r| r.code())
                        == Some("ConditionalCheckFailed") =>
                {
                    Ok(())
                }
                TransactWriteItemsError::TransactionCanceledException(_) => {
                    Err(call.unavailable("TransactionConflict"))
                }
                other => Err(call.failed(&other)),
            },
        }
    }

    async fn undeliverable(&self, address: &Email) -> Result<bool, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::undeliverable_pk(address)))
            .key("sk", AttributeValue::S(keys::UNDELIVERABLE_SK.into()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        Ok(out.item.is_some())
    }

    async fn mark_undeliverable(&self, address: &Email, reason: &str) -> Result<(), AppError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(keys::undeliverable_pk(address)))
            .item("sk", AttributeValue::S(keys::UNDELIVERABLE_SK.into()))
            .item("entity", AttributeValue::S("undeliverable_address".into()))
            .item("reason", AttributeValue::S(reason.to_owned()))
            .item("reported_at", AttributeValue::S(timestamp(Utc::now())))
            .send()
            .await
            .map_err(|e| Call::dynamodb("PutItem").any(e))?;
        Ok(())
    }
}
