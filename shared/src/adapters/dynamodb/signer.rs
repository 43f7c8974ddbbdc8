//! The key that signs the API's opaque cursors, kept in the table.

use super::*;

/// Signs the API's opaque cursors with a random key kept in the table (made on
/// first use). The functions that page lists need no access to the app
/// client's secret for it; a table backup would reveal only how to forge a
/// cursor, which positions a list the caller may read anyway.
pub struct TableSigner {
    table: Arc<DynamoTable>,
    key: tokio::sync::OnceCell<Vec<u8>>,
}

impl TableSigner {
    pub fn new(table: Arc<DynamoTable>) -> Self {
        Self {
            table,
            key: tokio::sync::OnceCell::new(),
        }
    }

    async fn read_key(&self) -> Result<Option<Vec<u8>>, AppError> {
        use base64::Engine;
        let out = self
            .table
            .client
            .get_item()
            .table_name(&self.table.table)
            .key("pk", AttributeValue::S(keys::CONFIG_PK.into()))
            .key("sk", AttributeValue::S(keys::CURSOR_KEY_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        Ok(out
            .item
            .and_then(|item| item.get("key").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|raw| base64::engine::general_purpose::STANDARD.decode(raw).ok()))
    }

    async fn key(&self) -> Result<&[u8], AppError> {
        self.key
            .get_or_try_init(|| async {
                if let Some(key) = self.read_key().await? {
                    return Ok(key);
                }
                use base64::Engine;
                // 244 random bits from two v4 UUIDs (the OS's generator).
                let fresh: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                    .iter()
                    .flat_map(|u| u.as_bytes().to_vec())
                    .collect();
                let put = self
                    .table
                    .client
                    .put_item()
                    .table_name(&self.table.table)
                    .item("pk", AttributeValue::S(keys::CONFIG_PK.into()))
                    .item("sk", AttributeValue::S(keys::CURSOR_KEY_SK.into()))
                    .item(
                        "key",
                        AttributeValue::S(base64::engine::general_purpose::STANDARD.encode(&fresh)),
                    )
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await;
                // Another instance may have made it first: then that one is the key.
                if conditional("PutItem", put)? {
                    Ok(fresh)
                } else {
                    self.read_key()
                        .await?
                        .ok_or_else(|| AppError::unexpected("the cursor key vanished"))
                }
            })
            .await
            .map(Vec::as_slice)
    }
}

#[async_trait]
impl crate::ports::TokenSigner for TableSigner {
    async fn sign(&self, payload: &str) -> Result<String, AppError> {
        crate::adapters::client_secret::keyed_digest(self.key().await?, "signed token v1", payload)
    }

    async fn verify(&self, payload: &str, signature: &str) -> Result<bool, AppError> {
        let expected = self.sign(payload).await?;
        Ok(crate::adapters::client_secret::same_bytes(
            &expected, signature,
        ))
    }
}
