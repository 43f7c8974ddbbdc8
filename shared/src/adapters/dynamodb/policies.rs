//! Stored Cedar policies and the policy set's version (`ports::PolicyStore`).

use super::*;

impl DynamoTable {
    fn policy_version_bump(&self) -> Result<TransactWriteItem, AppError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::POLICY_PK.into()))
            .key("sk", AttributeValue::S(keys::POLICY_VERSION_SK.into()))
            .update_expression("ADD version :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(AppError::unexpected)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A policy write and the version bump as one transaction; `Ok(false)` when
    /// the write's condition failed.
    async fn policy_transaction(&self, write: TransactWriteItem) -> Result<bool, AppError> {
        let call = Call::dynamodb("TransactWriteItems");
        let result = self
            .client
            .transact_write_items()
            .transact_items(write)
            .transact_items(self.policy_version_bump()?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match call.split(err)? {
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(false)
                }
                TransactWriteItemsError::TransactionCanceledException(_) => {
                    Err(call.unavailable("TransactionConflict"))
                }
                other => Err(call.failed(&other)),
            },
        }
    }
}

#[async_trait]
impl PolicyStore for DynamoTable {
    async fn snapshot(&self, users: &[UserId]) -> Result<PolicySnapshot, AppError> {
        let key = |pk: String, sk: &str| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk)),
                ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            ])
        };
        let mut pairs = std::collections::BTreeSet::from([(
            keys::POLICY_PK.to_owned(),
            keys::POLICY_VERSION_SK,
        )]);
        for user in users {
            pairs.insert((keys::user_pk(user), keys::PROFILE_SK));
            pairs.insert((keys::user_pk(user), keys::SESSION_SK));
            // Whether a role that needs a second factor has one.
            pairs.insert((keys::user_pk(user), keys::MFA_SK));
        }
        let wanted: Vec<_> = pairs.into_iter().map(|(pk, sk)| key(pk, sk)).collect();
        let mut snapshot = PolicySnapshot {
            version: 0,
            users: users
                .iter()
                .map(|u| (u.clone(), UserSnapshot::default()))
                .collect(),
        };
        let mut mfa = HashMap::new();
        // BatchGetItem takes 100 keys at a time; keys it leaves unprocessed
        // (throttling) are asked for again, a few times, before giving up.
        for chunk in wanted.chunks(100) {
            let mut pending = chunk.to_vec();
            for attempt in 0..5u32 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(AppError::unexpected)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| Call::dynamodb("BatchGetItem").any(e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let pk = item
                        .get("pk")
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str);
                    if pk == Some(keys::POLICY_PK) {
                        snapshot.version = number(item, "version");
                        continue;
                    }
                    if let Some(summary) = super::profiles::mfa_summary(item) {
                        let owner = pk
                            .and_then(|pk| pk.strip_prefix("USER#"))
                            .and_then(|id| UserId::parse(id).ok());
                        if let Some(owner) = owner {
                            mfa.insert(owner, summary);
                        }
                        continue;
                    }
                    match serde_dynamo::from_item::<_, UserItem>(item.clone())
                        .map_err(AppError::unexpected)?
                    {
                        UserItem::Profile(p) => {
                            let profile = p.into_profile()?;
                            if let Some(user) = snapshot.users.get_mut(&profile.user_id) {
                                user.profile = Some(profile);
                            }
                        }
                        UserItem::Session(s) => {
                            let owner =
                                s.pk.strip_prefix("USER#")
                                    .and_then(|id| UserId::parse(id).ok());
                            if let Some(user) = owner.and_then(|o| snapshot.users.get_mut(&o)) {
                                user.cutoff = s.cutoff();
                            }
                        }
                        UserItem::Role(_) | UserItem::Other => {}
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(Call::dynamodb("BatchGetItem").unavailable("UnprocessedKeys"));
            }
        }
        // Every profile read here shows its second factor (off without an item).
        for (id, user) in &mut snapshot.users {
            if let Some(profile) = &mut user.profile {
                profile.mfa = Some(mfa.get(id).copied().unwrap_or_default());
            }
        }
        Ok(snapshot)
    }

    async fn policies(&self) -> Result<(u64, Vec<PolicyDocument>), AppError> {
        let mut version = 0;
        let mut policies = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::POLICY_PK.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Call::dynamodb("Query").any(e))?;
            for item in out.items() {
                if item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(keys::POLICY_VERSION_SK)
                {
                    version = number(item, "version");
                    continue;
                }
                let stored: PolicyItem =
                    serde_dynamo::from_item(item.clone()).map_err(AppError::unexpected)?;
                policies.push(PolicyDocument {
                    id: stored.sk,
                    description: stored.description,
                    policy: stored.policy,
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((version, policies));
            }
        }
    }

    async fn notification_sender(
        &self,
        id: &str,
    ) -> Result<Option<crate::domain::permissions::Sender>, AppError> {
        use crate::ports::notify::NotificationStore;
        Ok(self
            .notification(id)
            .await?
            .and_then(|(record, _)| record.sender))
    }

    async fn put_policy(&self, policy: &PolicyDocument) -> Result<bool, AppError> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(PolicyItem {
            pk: keys::POLICY_PK.into(),
            sk: policy.id.clone(),
            entity: "policy".into(),
            description: policy.description.clone(),
            policy: policy.policy.clone(),
            updated_at: timestamp(Utc::now()),
        })
        .map_err(AppError::unexpected)?;
        // Create if absent, else replace if present: the answer says which, and
        // a delete racing in between just makes the next round a create.
        for _ in 0..5 {
            for (condition, created) in [
                ("attribute_not_exists(pk)", true),
                ("attribute_exists(pk)", false),
            ] {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item.clone()))
                    .condition_expression(condition)
                    .build()
                    .map_err(AppError::unexpected)?;
                if self
                    .policy_transaction(TransactWriteItem::builder().put(put).build())
                    .await?
                {
                    return Ok(created);
                }
            }
        }
        Err(Call::dynamodb("TransactWriteItems").unavailable("TransactionConflict"))
    }

    async fn delete_policy(&self, id: &str) -> Result<bool, AppError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::POLICY_PK.into()))
            .key("sk", AttributeValue::S(id.to_owned()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(AppError::unexpected)?;
        self.policy_transaction(TransactWriteItem::builder().delete(delete).build())
            .await
    }
}
