//! Per-user session cut-offs and SMS passes (`ports::SessionStore`, `ports::SmsPasses`).

use super::*;
use crate::domain::session::{SIGN_IN_TOUCH_MS, SessionCutoff, SignInRecord};

/// How long the known devices outlive the last sign-in: a year and more, so a
/// sign-in after months away is still compared with them.
const KNOWN_DEVICES_KEPT_SECONDS: i64 = 400 * 24 * 60 * 60;

impl DynamoTable {
    /// The user's cut-off item: its `ended_version` (0 without one) and what
    /// it refuses.
    async fn session_item(&self, user_id: &UserId) -> Result<(u64, SessionCutoff), AppError> {
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
        match out.item() {
            None => Ok((0, SessionCutoff::default())),
            Some(item) => Ok((
                number(item, "ended_version"),
                serde_dynamo::from_item::<_, SessionItem>(item.clone())
                    .map_err(AppError::unexpected)?
                    .cutoff(),
            )),
        }
    }
}

#[async_trait]
impl SessionStore for DynamoTable {
    async fn cutoff(&self, user_id: &UserId) -> Result<SessionCutoff, AppError> {
        Ok(self.session_item(user_id).await?.1)
    }

    async fn revoke_sessions(&self, user_id: &UserId, cutoff: i64) -> Result<(), AppError> {
        // Only `revoked_before` moves; `ended` stays (pruned by age), and its
        // version moves too, so an end of a sign-in that read before this
        // write reads again instead of writing an `ended` it read before.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::SESSION_SK.into()))
            .update_expression(
                "SET entity = :entity, revoked_before = :cutoff ADD ended_version :one",
            )
            // Never move the cut-off back (two revocations racing).
            .condition_expression(
                "attribute_not_exists(revoked_before) OR revoked_before < :cutoff",
            )
            .expression_attribute_values(":entity", AttributeValue::S("session".into()))
            .expression_attribute_values(":cutoff", AttributeValue::N(cutoff.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        // A failed condition means a later cut-off is stored already: the goal.
        conditional("UpdateItem", result).map(|_| ())
    }

    async fn end_sign_in(&self, user_id: &UserId, sign_in: &str, now: i64) -> Result<(), AppError> {
        // Read, prune and write back on the version read: a racing end makes
        // the condition fail and is read again, so no ended sign-in is dropped.
        for _ in 0..5 {
            let (version, current) = self.session_item(user_id).await?;
            let ended = AttributeValue::M(
                current
                    .ending(sign_in, now)
                    .into_iter()
                    .map(|(id, at)| (id, AttributeValue::N(at.to_string())))
                    .collect(),
            );
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(keys::user_pk(user_id)))
                .key("sk", AttributeValue::S(keys::SESSION_SK.into()))
                .update_expression("SET entity = :entity, ended = :ended, ended_version = :next")
                .expression_attribute_values(":entity", AttributeValue::S("session".into()))
                .expression_attribute_values(":ended", ended)
                .expression_attribute_values(":next", AttributeValue::N((version + 1).to_string()));
            let update = if version == 0 {
                update.condition_expression("attribute_not_exists(ended_version)")
            } else {
                update
                    .condition_expression("ended_version = :read")
                    .expression_attribute_values(":read", AttributeValue::N(version.to_string()))
            };
            let result = update.send().await;
            if conditional("UpdateItem", result)? {
                return Ok(());
            }
        }
        Err(AppError::Conflict(
            "the sessions kept changing meanwhile; try again",
        ))
    }

    async fn record_sign_in(
        &self,
        user_id: &UserId,
        sign_in: &SignInRecord,
    ) -> Result<(), AppError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(keys::sign_in_pk(user_id)))
            .item("sk", AttributeValue::S(sign_in.id.clone()))
            .item("entity", AttributeValue::S("sign_in".into()))
            .item(
                "created_at",
                AttributeValue::N(sign_in.created_at.to_string()),
            )
            .item(
                "last_used_at",
                AttributeValue::N(sign_in.last_used_at.to_string()),
            )
            .item("mfa", AttributeValue::Bool(sign_in.mfa))
            // Also the TTL: the record goes with its refresh token.
            .item(
                "expires_at",
                AttributeValue::N(sign_in.expires_at.to_string()),
            );
        for (name, value) in [
            ("ip", &sign_in.ip),
            ("user_agent", &sign_in.user_agent),
            ("refresh", &sign_in.sealed_refresh_token),
        ] {
            if let Some(value) = value {
                put = put.item(name, AttributeValue::S(value.clone()));
            }
        }
        put.send()
            .await
            .map_err(|e| Call::dynamodb("PutItem").any(e))?;
        Ok(())
    }

    async fn sign_ins(&self, user_id: &UserId, now: i64) -> Result<Vec<SignInRecord>, AppError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::sign_in_pk(user_id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Call::dynamodb("Query").any(e))?;
            records.extend(out.items().iter().filter_map(sign_in_of));
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(crate::domain::session::live_newest_first(records, now))
    }

    async fn touch_sign_in(
        &self,
        user_id: &UserId,
        sign_in: &str,
        now: i64,
    ) -> Result<(), AppError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::sign_in_pk(user_id)))
            .key("sk", AttributeValue::S(sign_in.to_owned()))
            .update_expression("SET last_used_at = :now")
            .condition_expression("attribute_exists(pk) AND last_used_at <= :stale")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(
                ":stale",
                AttributeValue::N((now - SIGN_IN_TOUCH_MS).to_string()),
            )
            .send()
            .await;
        // Touched within the minute, or not filed: nothing to do.
        conditional("UpdateItem", result).map(|_| ())
    }

    async fn forget_sign_in(&self, user_id: &UserId, sign_in: &str) -> Result<(), AppError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::sign_in_pk(user_id)))
            .key("sk", AttributeValue::S(sign_in.to_owned()))
            .send()
            .await
            .map_err(|e| Call::dynamodb("DeleteItem").any(e))?;
        Ok(())
    }

    async fn forget_sign_ins(&self, user_id: &UserId) -> Result<(), AppError> {
        for sign_in in self.sign_ins(user_id, 0).await? {
            self.forget_sign_in(user_id, &sign_in.id).await?;
        }
        Ok(())
    }

    async fn known_devices(
        &self,
        user_id: &UserId,
    ) -> Result<Option<BTreeMap<String, i64>>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::sign_in_pk(user_id)))
            .key("sk", AttributeValue::S(keys::KNOWN_DEVICES_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        Ok(out.item().map(|item| {
            item.get("seen")
                .and_then(|v| v.as_m().ok())
                .into_iter()
                .flatten()
                .filter_map(|(key, at)| Some((key.clone(), at.as_n().ok()?.parse().ok()?)))
                .collect()
        }))
    }

    async fn remember_devices(
        &self,
        user_id: &UserId,
        devices: &BTreeMap<String, i64>,
    ) -> Result<(), AppError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(keys::sign_in_pk(user_id)))
            .item("sk", AttributeValue::S(keys::KNOWN_DEVICES_SK.into()))
            .item("entity", AttributeValue::S("known_devices".into()))
            // Gone some time after the last sign-in, also of a deleted account.
            .item(
                "expires_at",
                AttributeValue::N(
                    (chrono::Utc::now().timestamp() + KNOWN_DEVICES_KEPT_SECONDS).to_string(),
                ),
            )
            .item(
                "seen",
                AttributeValue::M(
                    devices
                        .iter()
                        .map(|(key, at)| (key.clone(), AttributeValue::N(at.to_string())))
                        .collect(),
                ),
            )
            .send()
            .await
            .map_err(|e| Call::dynamodb("PutItem").any(e))?;
        Ok(())
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

/// A sign-in as filed; an item missing its times is no sign-in.
fn sign_in_of(item: &HashMap<String, AttributeValue>) -> Option<SignInRecord> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let time = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    Some(SignInRecord {
        id: text("sk")?,
        created_at: time("created_at")?,
        last_used_at: time("last_used_at")?,
        ip: text("ip"),
        user_agent: text("user_agent"),
        mfa: item
            .get("mfa")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        sealed_refresh_token: text("refresh"),
        expires_at: time("expires_at")?,
    })
}
