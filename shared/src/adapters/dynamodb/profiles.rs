//! Profiles and role assignments (`ports::ProfileStore`): one partition per user.

use super::*;

#[async_trait]
impl ProfileStore for DynamoTable {
    async fn create_profile(&self, new: &NewProfile) -> Result<ProfileCreation, AppError> {
        let pk = keys::user_pk(&new.user_id);
        let now = timestamp(new.created_at);
        let profile = UserItem::Profile(ProfileItem {
            pk: pk.clone(),
            sk: keys::PROFILE_SK.into(),
            gsi1pk: keys::email_gsi1pk(&new.email),
            gsi1sk: keys::PROFILE_SK.into(),
            gsi2pk: keys::PROFILES_GSI2PK.into(),
            gsi2sk: keys::profile_gsi2sk(&new.email, &new.user_id),
            user_id: new.user_id.clone(),
            email: new.email.clone(),
            display_name: new.display_name.as_ref().map(|n| n.as_str().to_owned()),
            preferences: BTreeMap::new(),
            status: UserStatus::Active,
            created_at: now.clone(),
            updated_at: now.clone(),
            version: 1,
            pending_email: None,
            phone_number: None,
            phone_verified: false,
            roles: new.roles.clone(),
        });
        let mut write = self
            .client
            .transact_write_items()
            .transact_items(self.put_if_absent(&profile)?);
        for role in &new.roles {
            let item = UserItem::Role(RoleItem {
                pk: pk.clone(),
                sk: keys::role_sk(role),
                gsi1pk: keys::role_gsi1pk(role),
                gsi1sk: keys::user_pk(&new.user_id),
                user_id: new.user_id.clone(),
                role: role.clone(),
                granted_at: now.clone(),
            });
            write = write.transact_items(self.put_if_absent(&item)?);
        }
        if new.admin_grant {
            // Taken once per address; the same user may take it again (a
            // retried trigger).
            let grant = Put::builder()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(keys::admin_grant_pk(&new.email)))
                .item("sk", AttributeValue::S(keys::GRANT_SK.into()))
                .item("user_id", AttributeValue::S(new.user_id.to_string()))
                .item("granted_at", AttributeValue::S(now.clone()))
                .condition_expression("attribute_not_exists(pk) OR user_id = :me")
                .expression_attribute_values(":me", AttributeValue::S(new.user_id.to_string()))
                .build()
                .map_err(AppError::unexpected)?;
            write = write.transact_items(TransactWriteItem::builder().put(grant).build());
        }
        let result = write.send().await;
        let call = Call::dynamodb("TransactWriteItems");
        match result {
            Ok(_) => Ok(ProfileCreation::Created),
            Err(err) => match call.split(err)? {
                // The profile is the first item: it exists (a retried trigger).
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .first()
                        .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(ProfileCreation::AlreadyExisted)
                }
                // The grant is the last item: another account took it.
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if new.admin_grant
                        && cancelled
                            .cancellation_reasons()
                            .last()
                            .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(ProfileCreation::GrantSpent)
                }
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(ProfileCreation::AlreadyExisted)
                }
                // Another transaction on the same items: worth another try.
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict")) =>
                {
                    Err(call.unavailable("TransactionConflict"))
                }
                other => Err(call.failed(&other)),
            },
        }
    }

    async fn set_status(&self, user_id: &UserId, status: UserStatus) -> Result<bool, AppError> {
        let status = serde_dynamo::to_attribute_value(status).map_err(AppError::unexpected)?;
        let result = self
            .profile_update(user_id)
            .update_expression("SET #status = :status, updated_at = :now, version = version + :one")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", status)
            .expression_attribute_values(":now", AttributeValue::S(timestamp(Utc::now())))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn list_users(
        &self,
        query: &UserQuery,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<(Vec<UserSummary>, Option<ListPosition>), AppError> {
        let mut found = Vec::new();
        let mut start = after.map(|p| {
            HashMap::from([
                (
                    "pk".to_owned(),
                    AttributeValue::S(keys::user_pk(&p.user_id)),
                ),
                ("sk".to_owned(), AttributeValue::S(keys::PROFILE_SK.into())),
                (
                    "gsi2pk".to_owned(),
                    AttributeValue::S(keys::PROFILES_GSI2PK.into()),
                ),
                (
                    "gsi2sk".to_owned(),
                    AttributeValue::S(keys::profile_gsi2sk(&p.email, &p.user_id)),
                ),
            ])
        });
        // A status filter can leave pages short: read on until the page is full
        // or the index ends.
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::PROFILES_INDEX)
                .expression_attribute_values(":pk", AttributeValue::S(keys::PROFILES_GSI2PK.into()))
                .limit((limit - found.len()).max(1) as i32)
                .set_exclusive_start_key(start.take());
            request = match &query.email_prefix {
                Some(prefix) => request
                    .key_condition_expression("gsi2pk = :pk AND begins_with(gsi2sk, :prefix)")
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone())),
                None => request.key_condition_expression("gsi2pk = :pk"),
            };
            if let Some(status) = query.status {
                request = request
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(
                        ":status",
                        serde_dynamo::to_attribute_value(status).map_err(AppError::unexpected)?,
                    );
            }
            let out = request
                .send()
                .await
                .map_err(|e| Call::dynamodb("Query").any(e))?;
            for item in out.items() {
                let p: ProfileItem =
                    serde_dynamo::from_item(item.clone()).map_err(AppError::unexpected)?;
                found.push(UserSummary {
                    user_id: p.user_id,
                    email: p.email,
                    display_name: p.display_name,
                    status: p.status,
                    created_at: parse_timestamp(&p.created_at)?,
                });
            }
            start = out.last_evaluated_key;
            if found.len() >= limit || start.is_none() {
                break;
            }
        }
        found.truncate(limit);
        let more = found.len() == limit && (start.is_some() || !found.is_empty());
        let next = more.then(|| {
            found.last().map(|u| ListPosition {
                email: u.email.clone(),
                user_id: u.user_id.clone(),
            })
        });
        Ok((found, next.flatten()))
    }

    async fn replace_roles(
        &self,
        user_id: &UserId,
        expected: u64,
        current: &[Role],
        roles: &[Role],
    ) -> Result<bool, AppError> {
        let pk = keys::user_pk(user_id);
        let now = timestamp(Utc::now());
        // The version check on the profile makes the whole set change one step:
        // two racing changes never leave a mixture of both.
        let bump = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(keys::PROFILE_SK.into()))
            .condition_expression("version = :expected")
            .update_expression("SET version = version + :one, updated_at = :now, #roles = :roles")
            .expression_attribute_names("#roles", "roles")
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::S(now.clone()))
            .expression_attribute_values(
                ":roles",
                serde_dynamo::to_attribute_value(roles).map_err(AppError::unexpected)?,
            )
            .build()
            .map_err(AppError::unexpected)?;
        let mut write = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(bump).build());
        for gone in current.iter().filter(|r| !roles.contains(r)) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .key("sk", AttributeValue::S(keys::role_sk(gone)))
                .build()
                .map_err(AppError::unexpected)?;
            write = write.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        for added in roles.iter().filter(|r| !current.contains(r)) {
            let item = serde_dynamo::to_item(UserItem::Role(RoleItem {
                pk: pk.clone(),
                sk: keys::role_sk(added),
                gsi1pk: keys::role_gsi1pk(added),
                gsi1sk: pk.clone(),
                user_id: user_id.clone(),
                role: added.clone(),
                granted_at: now.clone(),
            }))
            .map_err(AppError::unexpected)?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(AppError::unexpected)?;
            write = write.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let call = Call::dynamodb("TransactWriteItems");
        match write.send().await {
            Ok(_) => Ok(true),
            Err(err) => match call.split(err)? {
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Ok(false)
                }
                other => Err(call.failed(&other)),
            },
        }
    }

    async fn set_phone(
        &self,
        user_id: &UserId,
        phone: &str,
        verified: bool,
    ) -> Result<bool, AppError> {
        let result = self.profile_update(user_id)
            .update_expression(
                "SET phone_number = :phone, phone_verified = :verified, updated_at = :now, version = version + :one",
            )
            .expression_attribute_values(":phone", AttributeValue::S(phone.to_owned()))
            .expression_attribute_values(":verified", AttributeValue::Bool(verified))
            .expression_attribute_values(":now", AttributeValue::S(timestamp(Utc::now())))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn set_pending_email(&self, user_id: &UserId, email: &Email) -> Result<bool, AppError> {
        let result = self
            .profile_update(user_id)
            .update_expression("SET pending_email = :email")
            .expression_attribute_values(":email", AttributeValue::S(email.as_str().to_owned()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn set_email(&self, user_id: &UserId, email: &Email) -> Result<bool, AppError> {
        let result = self.profile_update(user_id)
            .update_expression(
                "SET email = :email, gsi1pk = :gsi1pk, gsi2sk = :gsi2sk, updated_at = :now, version = version + :one REMOVE pending_email",
            )
            .expression_attribute_values(":email", AttributeValue::S(email.as_str().to_owned()))
            .expression_attribute_values(":gsi1pk", AttributeValue::S(keys::email_gsi1pk(email)))
            .expression_attribute_values(
                ":gsi2sk",
                AttributeValue::S(keys::profile_gsi2sk(email, user_id)),
            )
            .expression_attribute_values(":now", AttributeValue::S(timestamp(Utc::now())))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    async fn user_id_by_email(&self, email: &Email) -> Result<Option<UserId>, AppError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::email_gsi1pk(email)))
            .send()
            .await
            .map_err(|e| Call::dynamodb("Query").any(e))?;
        Ok(out
            .items()
            .iter()
            .find_map(|item| item.get("user_id").and_then(|v| v.as_s().ok()))
            .and_then(|id| UserId::parse(id).ok()))
    }

    async fn delete_user_data(&self, user_id: &UserId) -> Result<(), AppError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user_id)))
            .projection_expression("pk, sk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("Query").any(e))?;
        // A user's partition is small and bounded (profile, roles, cut-off).
        for key in out.items() {
            if key
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(keys::SESSION_SK)
            {
                continue;
            }
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .send()
                .await
                .map_err(|e| Call::dynamodb("DeleteItem").any(e))?;
        }
        Ok(())
    }

    async fn update_profile(
        &self,
        user_id: &UserId,
        expected: u64,
        display_name: Option<&str>,
        preferences: &BTreeMap<String, serde_json::Value>,
    ) -> Result<bool, AppError> {
        let preferences =
            serde_dynamo::to_attribute_value(preferences).map_err(AppError::unexpected)?;
        let update = self
            .profile_update(user_id)
            .condition_expression("attribute_exists(pk) AND version = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .expression_attribute_values(":preferences", preferences)
            .expression_attribute_values(":now", AttributeValue::S(timestamp(Utc::now())))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let update = match display_name {
            Some(name) => update
                .update_expression(
                    "SET display_name = :name, preferences = :preferences, updated_at = :now, version = version + :one",
                )
                .expression_attribute_values(":name", AttributeValue::S(name.to_owned())),
            None => update.update_expression(
                "SET preferences = :preferences, updated_at = :now, version = version + :one REMOVE display_name",
            ),
        };
        conditional("UpdateItem", update.send().await)
    }

    async fn get_user(&self, user_id: &UserId) -> Result<UserSnapshot, AppError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("Query").any(e))?;
        let mut profile = None;
        let mut cutoff = crate::domain::session::SessionCutoff::default();
        // The second factor's item is in the same partition: no extra read.
        let mut mfa = crate::domain::mfa::MfaSummary::default();
        for item in out.items() {
            if let Some(summary) = mfa_summary(item) {
                mfa = summary;
                continue;
            }
            match serde_dynamo::from_item::<_, UserItem>(item.clone())
                .map_err(AppError::unexpected)?
            {
                UserItem::Profile(p) => profile = Some(p),
                UserItem::Role(_) => {}
                UserItem::Session(s) => cutoff = s.cutoff(),
                UserItem::Other => {}
            }
        }
        let profile = profile
            .map(ProfileItem::into_profile)
            .transpose()?
            .map(|p| Profile {
                mfa: Some(mfa),
                ..p
            });
        Ok(UserSnapshot { profile, cutoff })
    }
}

/// The second factor an item of a user's partition shows, when it is the
/// `MFA` item.
pub(super) fn mfa_summary(
    item: &HashMap<String, AttributeValue>,
) -> Option<crate::domain::mfa::MfaSummary> {
    let sk = item.get("sk").and_then(|v| v.as_s().ok());
    (sk.map(String::as_str) == Some(keys::MFA_SK)).then(|| crate::domain::mfa::MfaSummary {
        totp: item.contains_key("secret"),
        recovery_codes_left: item
            .get("recovery")
            .and_then(|v| v.as_ss().ok())
            .map_or(0, Vec::len),
    })
}
