//! The audit trail (`ports::AuditLog`): one partition per user, newest first.

use super::*;

#[async_trait]
impl AuditLog for DynamoTable {
    async fn record(&self, event: &AuditEvent, retention_days: u32) -> Result<(), AppError> {
        let at = timestamp(event.at);
        let item = serde_dynamo::to_item(AuditItem {
            pk: keys::audit_pk(&event.user_id),
            sk: keys::audit_sk(&at, &event.id),
            entity: "audit_event".into(),
            event: event.clone(),
            expires_at: event.at.timestamp() + i64::from(retention_days) * 86_400,
        })
        .map_err(AppError::unexpected)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Call::dynamodb("PutItem").any(e))?;
        Ok(())
    }

    async fn events(
        &self,
        user_id: &UserId,
        before: Option<&AuditPosition>,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<AuditPosition>), AppError> {
        let pk = keys::audit_pk(user_id);
        let start = before.map(|p| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk.clone())),
                (
                    "sk".to_owned(),
                    AttributeValue::S(keys::audit_sk(&timestamp(p.at), &p.id)),
                ),
            ])
        });
        let now = Utc::now().timestamp();
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Call::dynamodb("Query").any(e))?;
        let mut events = Vec::new();
        for item in out.items() {
            let item: AuditItem =
                serde_dynamo::from_item(item.clone()).map_err(AppError::unexpected)?;
            // Past its retention: DynamoDB deletes it late, so reads skip it.
            if item.expires_at > now {
                events.push(item.event);
            }
        }
        let next = out.last_evaluated_key.and_then(|_| {
            events.last().map(|e| AuditPosition {
                at: e.at,
                id: e.id.clone(),
            })
        });
        Ok((events, next))
    }
}
