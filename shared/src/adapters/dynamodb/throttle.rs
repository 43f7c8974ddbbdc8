//! Throttle windows (`ports::ThrottleStore`), stored with compare-and-set.

use super::*;

#[async_trait]
impl ThrottleStore for DynamoTable {
    async fn load(&self, key: &ThrottleKey) -> Result<Option<Versioned<Window>>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::throttle_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let item: WindowItem = serde_dynamo::from_item(item).map_err(AppError::unexpected)?;
        Ok(Some(Versioned {
            value: Window {
                count: item.count,
                expires_at: item.expires_at,
                not_before: item.not_before,
            },
            version: item.version,
        }))
    }

    async fn save(
        &self,
        key: &ThrottleKey,
        window: &Window,
        expected: Option<u64>,
    ) -> Result<bool, AppError> {
        let item = serde_dynamo::to_item(WindowItem {
            pk: keys::throttle_pk(&key.subject),
            sk: key.counter.clone(),
            entity: "throttle_window".into(),
            count: window.count,
            expires_at: window.expires_at,
            not_before: window.not_before,
            version: expected.map_or(1, |v| v + 1),
        })
        .map_err(AppError::unexpected)?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        };
        conditional("PutItem", put.send().await)
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), AppError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::throttle_key(key)))
            .send()
            .await
            .map_err(|e| Call::dynamodb("DeleteItem").any(e))?;
        Ok(())
    }

    async fn clear_all(&self, subject: &str, prefix: &str) -> Result<(), AppError> {
        // A subject has a handful of windows (one per source IP that failed in
        // the last 15 minutes), so one page is the usual case.
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(keys::throttle_pk(subject)))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Call::dynamodb("Query").any(e))?;
            for item in out.items() {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(item.clone()))
                    .send()
                    .await
                    .map_err(|e| Call::dynamodb("DeleteItem").any(e))?;
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }
}
