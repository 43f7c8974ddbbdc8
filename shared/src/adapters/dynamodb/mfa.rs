//! A user's second factor and the sign-ins waiting for it (`ports::MfaStore`).

use super::*;
use crate::ports::{ChallengeRecord, MfaRecord, MfaStore};

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

#[async_trait]
impl MfaStore for DynamoTable {
    async fn mfa(&self, user_id: &UserId) -> Result<MfaRecord, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        let Some(item) = out.item() else {
            return Ok(MfaRecord::default());
        };
        let mut recovery_digests: Vec<String> = item
            .get("recovery")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        recovery_digests.sort();
        Ok(MfaRecord {
            pending_secret: text(item, "pending_secret"),
            secret: text(item, "secret"),
            recovery_digests,
            last_step: number(item, "last_step"),
        })
    }

    async fn take_step(&self, user_id: &UserId, step: i64) -> Result<bool, AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .update_expression("SET last_step = :s")
            .condition_expression(
                "attribute_exists(secret) AND (attribute_not_exists(last_step) OR last_step < :s)",
            )
            .expression_attribute_values(":s", AttributeValue::N(step.to_string()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        secret: &str,
        digests: &[String],
    ) -> Result<bool, AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .update_expression("SET recovery = :r")
            .condition_expression("secret = :s")
            .expression_attribute_values(":r", AttributeValue::Ss(digests.to_vec()))
            .expression_attribute_values(":s", AttributeValue::S(secret.to_owned()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn clear_mfa(&self, user_id: &UserId) -> Result<(), AppError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("DeleteItem").any(e))?;
        Ok(())
    }

    async fn start_enrolment(&self, user_id: &UserId, sealed: &str) -> Result<(), AppError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .update_expression("SET pending_secret = :s, entity = :e")
            .expression_attribute_values(":s", AttributeValue::S(sealed.to_owned()))
            .expression_attribute_values(":e", AttributeValue::S("mfa".into()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("UpdateItem").any(e))?;
        Ok(())
    }

    async fn finish_enrolment(
        &self,
        user_id: &UserId,
        pending: &str,
        recovery_digests: &[String],
        step: i64,
    ) -> Result<bool, AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .update_expression(
                "SET secret = :s, recovery = :r, last_step = :step REMOVE pending_secret",
            )
            .expression_attribute_values(":step", AttributeValue::N(step.to_string()))
            // Only the enrolment this request verified (not one started since).
            .condition_expression("pending_secret = :s")
            .expression_attribute_values(":s", AttributeValue::S(pending.to_owned()))
            .expression_attribute_values(":r", AttributeValue::Ss(recovery_digests.to_vec()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn spend_recovery_code(&self, user_id: &UserId, digest: &str) -> Result<bool, AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .update_expression("DELETE recovery :d")
            .condition_expression("contains(recovery, :code)")
            .expression_attribute_values(":d", AttributeValue::Ss(vec![digest.to_owned()]))
            .expression_attribute_values(":code", AttributeValue::S(digest.to_owned()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn restore_recovery_code(
        &self,
        user_id: &UserId,
        digest: &str,
        secret: &str,
    ) -> Result<(), AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::MFA_SK.into()))
            .update_expression("ADD recovery :d")
            // Only to the secret it was issued with (not one enrolled since).
            .condition_expression("secret = :s")
            .expression_attribute_values(":d", AttributeValue::Ss(vec![digest.to_owned()]))
            .expression_attribute_values(":s", AttributeValue::S(secret.to_owned()))
            .send()
            .await;
        conditional("UpdateItem", result).map(drop)
    }

    async fn open_challenge(&self, key: &str, record: &ChallengeRecord) -> Result<(), AppError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(keys::challenge_pk(key)))
            .item("sk", AttributeValue::S(keys::CHALLENGE_SK.into()))
            .item("entity", AttributeValue::S("mfa_challenge".into()))
            .item("user_id", AttributeValue::S(record.user_id.to_string()))
            .item("email", AttributeValue::S(record.email.clone()))
            .item("wrong", AttributeValue::N(record.wrong_codes.to_string()))
            // Also the TTL: DynamoDB removes it some time after.
            .item(
                "expires_at",
                AttributeValue::N(record.expires_at.to_string()),
            )
            .send()
            .await
            .map_err(|e| Call::dynamodb("PutItem").any(e))?;
        Ok(())
    }

    async fn challenge(&self, key: &str, now: i64) -> Result<Option<ChallengeRecord>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::challenge_pk(key)))
            .key("sk", AttributeValue::S(keys::CHALLENGE_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let expires_at = number(item, "expires_at").unwrap_or_default();
        // TTL deletion lags: an expired challenge may still be there.
        if expires_at <= now {
            return Ok(None);
        }
        let user_id = text(item, "user_id")
            .and_then(|id| UserId::parse(&id).ok())
            .ok_or_else(|| AppError::unexpected("a challenge without its user"))?;
        Ok(Some(ChallengeRecord {
            user_id,
            email: text(item, "email").unwrap_or_default(),
            wrong_codes: number(item, "wrong").unwrap_or_default() as u32,
            expires_at,
        }))
    }

    async fn take_try(&self, key: &str, max: u32) -> Result<bool, AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::challenge_pk(key)))
            .key("sk", AttributeValue::S(keys::CHALLENGE_SK.into()))
            .update_expression("ADD wrong :one")
            .condition_expression("attribute_exists(pk) AND wrong < :max")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn give_back_try(&self, key: &str) -> Result<(), AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::challenge_pk(key)))
            .key("sk", AttributeValue::S(keys::CHALLENGE_SK.into()))
            .update_expression("ADD wrong :minus_one")
            .condition_expression("attribute_exists(pk) AND wrong > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        conditional("UpdateItem", result).map(drop)
    }

    async fn close_challenge(&self, key: &str) -> Result<(), AppError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::challenge_pk(key)))
            .key("sk", AttributeValue::S(keys::CHALLENGE_SK.into()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("DeleteItem").any(e))?;
        Ok(())
    }
}
