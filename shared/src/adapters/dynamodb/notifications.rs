//! Notification records, pages and idempotency keys (`ports::notify::NotificationStore`).

use super::*;

fn page_sk(page: u32) -> String {
    format!("PAGE#{page:08}")
}

fn idempotency_pk(scope: &str, key: &str) -> String {
    format!("IDEMPOTENCY#{scope}#{key}")
}

#[async_trait]
impl crate::ports::notify::NotificationStore for DynamoTable {
    async fn create_notification(
        &self,
        record: &crate::ports::notify::NotificationRecord,
    ) -> Result<(), AppError> {
        let expires = (record.created_at.timestamp() + NOTIFICATION_RETENTION_SECS).to_string();
        // SET, not a put: counts a delivery may already have added stay.
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::notification_pk(&record.id)))
            .key("sk", AttributeValue::S(keys::NOTIFICATION_META_SK.into()))
            .expression_attribute_values(":entity", AttributeValue::S("notification".into()))
            .expression_attribute_values(":template", AttributeValue::S(record.template.clone()))
            .expression_attribute_values(
                ":channel",
                AttributeValue::S(record.channel.as_str().into()),
            )
            .expression_attribute_values(":total", AttributeValue::N(record.total.to_string()))
            .expression_attribute_values(":at", AttributeValue::S(timestamp(record.created_at)))
            .expression_attribute_values(":expires", AttributeValue::N(expires));
        // Every name through a placeholder: several are DynamoDB reserved words.
        for name in [
            "entity",
            "template",
            "channel",
            "total",
            "created_at",
            "expires_at",
            "sender",
        ] {
            update = update.expression_attribute_names(format!("#{name}"), name);
        }
        let mut set = "#entity = :entity, #template = :template, #channel = :channel, #total = :total, #created_at = :at, #expires_at = :expires".to_owned();
        if let Some(sender) = &record.sender {
            update = update.expression_attribute_values(
                ":sender",
                AttributeValue::S(serde_json::to_string(sender).map_err(AppError::unexpected)?),
            );
            set.push_str(", #sender = :sender");
        }
        update
            .update_expression(format!("SET {set}"))
            .send()
            .await
            .map_err(|e| Call::dynamodb("UpdateItem").any(e))?;
        Ok(())
    }

    async fn notification(
        &self,
        id: &str,
    ) -> Result<
        Option<(
            crate::ports::notify::NotificationRecord,
            crate::ports::notify::DeliveryCounts,
        )>,
        AppError,
    > {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::notification_pk(id)))
            .key("sk", AttributeValue::S(keys::NOTIFICATION_META_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        // Counts alone (a notice Gatehouse sent itself): no record to show.
        let (Some(template), Some(channel), Some(created_at)) =
            (text("template"), text("channel"), text("created_at"))
        else {
            return Ok(None);
        };
        let record = crate::ports::notify::NotificationRecord {
            id: id.to_owned(),
            sender: text("sender")
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(AppError::unexpected)?,
            template,
            channel: serde_json::from_value(serde_json::Value::String(channel))
                .map_err(AppError::unexpected)?,
            total: number(&item, "total"),
            created_at: parse_timestamp(&created_at)?,
        };
        let counts = crate::ports::notify::DeliveryCounts {
            sent: number(&item, "sent"),
            suppressed: number(&item, "suppressed"),
            failed: number(&item, "failed"),
        };
        Ok(Some((record, counts)))
    }

    async fn role_members(
        &self,
        role: &Role,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<UserId>, Option<String>), AppError> {
        let start = after.map(|user| {
            HashMap::from([
                (
                    "gsi1pk".to_owned(),
                    AttributeValue::S(keys::role_gsi1pk(role)),
                ),
                ("gsi1sk".to_owned(), AttributeValue::S(user.to_owned())),
                ("pk".to_owned(), AttributeValue::S(user.to_owned())),
                ("sk".to_owned(), AttributeValue::S(keys::role_sk(role))),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :role")
            .expression_attribute_values(":role", AttributeValue::S(keys::role_gsi1pk(role)))
            .set_exclusive_start_key(start)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| Call::dynamodb("Query").any(e))?;
        let members: Vec<UserId> = out
            .items()
            .iter()
            .filter_map(|item| item.get("gsi1sk").and_then(|v| v.as_s().ok()))
            .filter_map(|pk| pk.strip_prefix("USER#"))
            .filter_map(|id| UserId::parse(id).ok())
            .collect();
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get("gsi1sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok((members, next))
    }

    async fn count_role_members(&self, role: &Role) -> Result<u64, AppError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :role")
                .expression_attribute_values(":role", AttributeValue::S(keys::role_gsi1pk(role)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Call::dynamodb("Query").any(e))?;
            total += out.count() as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    async fn claim_page(
        &self,
        notification_id: &str,
        page: u32,
        lease_secs: i64,
    ) -> Result<crate::ports::notify::Claim, AppError> {
        self.claim_item(
            keys::notification_pk(notification_id),
            page_sk(page),
            "expansion_page",
            lease_secs,
        )
        .await
    }

    async fn page_done(&self, notification_id: &str, page: u32) -> Result<(), AppError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(keys::notification_pk(notification_id)),
            )
            .key("sk", AttributeValue::S(page_sk(page)))
            .update_expression("SET #status = :done")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("UpdateItem").any(e))?;
        Ok(())
    }

    async fn use_key(
        &self,
        scope: &str,
        key: &str,
        digest: &str,
    ) -> Result<crate::ports::notify::KeyUse, AppError> {
        use crate::ports::notify::KeyUse;
        let pk = idempotency_pk(scope, key);
        let now = Utc::now().timestamp();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S("IDEMPOTENCY".into()))
            .item("entity", AttributeValue::S("idempotency_key".into()))
            .item("digest", AttributeValue::S(digest.into()))
            .item("expires_at", AttributeValue::N((now + 86_400).to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional("PutItem", put)? {
            return Ok(KeyUse::Fresh);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S("IDEMPOTENCY".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        let Some(item) = out.item else {
            return Ok(KeyUse::InProgress);
        };
        if item
            .get("digest")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            != Some(digest)
        {
            return Ok(KeyUse::Mismatch);
        }
        match item.get("answer").and_then(|v| v.as_s().ok()) {
            Some(answer) => Ok(KeyUse::Answered(
                serde_json::from_str(answer).map_err(AppError::unexpected)?,
            )),
            None => Ok(KeyUse::InProgress),
        }
    }

    async fn key_answered(
        &self,
        scope: &str,
        key: &str,
        answer: &serde_json::Value,
    ) -> Result<(), AppError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(idempotency_pk(scope, key)))
            .key("sk", AttributeValue::S("IDEMPOTENCY".into()))
            .update_expression("SET answer = :answer")
            .expression_attribute_values(":answer", AttributeValue::S(answer.to_string()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("UpdateItem").any(e))?;
        Ok(())
    }

    async fn take_audience(
        &self,
        scope: &str,
        day: &str,
        audience: u64,
        limit: u64,
    ) -> Result<bool, AppError> {
        let Some(room) = limit.checked_sub(audience) else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("SENDLIMIT#{scope}")))
            .key("sk", AttributeValue::S(day.to_owned()))
            .update_expression(
                "ADD targeted :n SET expires_at = if_not_exists(expires_at, :expires)",
            )
            .condition_expression("attribute_not_exists(targeted) OR targeted <= :room")
            .expression_attribute_values(":n", AttributeValue::N(audience.to_string()))
            .expression_attribute_values(":room", AttributeValue::N(room.to_string()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((chrono::Utc::now().timestamp() + 3 * 24 * 60 * 60).to_string()),
            )
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn release_key(&self, scope: &str, key: &str) -> Result<(), AppError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(idempotency_pk(scope, key)))
            .key("sk", AttributeValue::S("IDEMPOTENCY".into()))
            .condition_expression("attribute_not_exists(answer)")
            .send()
            .await
            .map_or_else(
                |e| conditional("DeleteItem", Err::<(), _>(e)).map(drop),
                |_| Ok(()),
            )
    }
}
