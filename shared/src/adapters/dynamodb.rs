//! The store ports over one DynamoDB table. The table's design, item by item, is
//! in `docs/data-model.md`; the key formats live here and nowhere else.

use super::aws::{AwsClients, Call};
use crate::domain::audit::{AuditEvent, AuditPosition};
use crate::domain::permissions::PolicyDocument;
use crate::domain::{
    AppError, Email, ListPosition, NewProfile, Profile, ProfileCreation, Role, UserId, UserQuery,
    UserStatus, UserSummary, Window,
};
use crate::ports::{
    AuditLog, PolicySnapshot, PolicyStore, ProfileStore, SessionStore, ThrottleKey, ThrottleStore,
    UserSnapshot, Versioned,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub mod keys {
    //! Key formats of the single table.
    use crate::domain::{Email, Role, UserId};

    pub const PROFILE_SK: &str = "PROFILE";
    pub const CONFIG_PK: &str = "CONFIG";
    pub const CURSOR_KEY_SK: &str = "CURSOR_KEY";
    /// Stored Cedar policies, one item each (`sk` = the policy id), beside the
    /// policy set's version (ids cannot start with `#`, so it sorts first).
    pub const POLICY_PK: &str = "POLICY";
    pub const POLICY_VERSION_SK: &str = "#VERSION";
    pub const PROFILES_GSI2PK: &str = "PROFILE";
    pub const PROFILES_INDEX: &str = "gsi2";

    /// Sorted by email, then id (one email has one account, but the id keeps
    /// the key unique whatever happens).
    pub fn profile_gsi2sk(email: &Email, user: &UserId) -> String {
        format!("{email}#{user}")
    }
    pub const SESSION_SK: &str = "SESSION";
    /// The user's open pass for one SMS code (`ports::SmsPasses`).
    pub const SMS_PASS_SK: &str = "SMS_PASS";

    pub fn throttle_pk(subject: &str) -> String {
        format!("THROTTLE#{subject}")
    }

    pub fn audit_pk(user: &UserId) -> String {
        format!("AUDIT#{user}")
    }

    /// Newest first by sorting descending; the id keeps simultaneous events apart.
    pub fn audit_sk(at: &str, id: &str) -> String {
        format!("{at}#{id}")
    }

    /// A notification: its summary (`META`) and one item per recipient.
    pub fn notification_pk(id: &str) -> String {
        format!("NOTIFICATION#{id}")
    }
    pub const NOTIFICATION_META_SK: &str = "META";
    pub fn delivery_sk(user: &UserId) -> String {
        format!("DELIVERY#{user}")
    }
    /// An address SES reported as bouncing or complaining.
    pub fn undeliverable_pk(email: &Email) -> String {
        format!("UNDELIVERABLE#{email}")
    }
    pub const UNDELIVERABLE_SK: &str = "EMAIL";

    pub fn user_pk(user: &UserId) -> String {
        format!("USER#{user}")
    }
    /// The record that an address's admin grant (`AdminEmails`) was taken.
    pub fn admin_grant_pk(email: &Email) -> String {
        format!("GRANT#admin#{email}")
    }
    pub const GRANT_SK: &str = "GRANT";
    pub fn role_sk(role: &Role) -> String {
        format!("ROLE#{role}")
    }
    pub fn email_gsi1pk(email: &Email) -> String {
        format!("EMAIL#{email}")
    }
    pub fn role_gsi1pk(role: &Role) -> String {
        format!("ROLE#{role}")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ProfileItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    /// Every profile under one key, sorted by email: the admin's list.
    #[serde(default)]
    gsi2pk: String,
    #[serde(default)]
    gsi2sk: String,
    user_id: UserId,
    email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(default)]
    preferences: BTreeMap<String, serde_json::Value>,
    status: UserStatus,
    created_at: String,
    updated_at: String,
    /// Optimistic-locking counter for later updates.
    version: u64,
    /// An email change waiting for its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    #[serde(default)]
    phone_verified: bool,
    /// The role assignments, written in the same transaction as the role items
    /// (which exist for the role index): a decision reads them with the profile
    /// in one `BatchGetItem`.
    #[serde(default)]
    roles: Vec<Role>,
}

impl ProfileItem {
    fn into_profile(self) -> Result<Profile, AppError> {
        let mut roles = self.roles;
        roles.sort();
        Ok(Profile {
            user_id: self.user_id,
            email: self.email,
            display_name: self.display_name,
            preferences: self.preferences,
            roles,
            status: self.status,
            created_at: parse_timestamp(&self.created_at)?,
            updated_at: parse_timestamp(&self.updated_at)?,
            version: self.version,
            pending_email: self.pending_email,
            phone_number: self.phone_number,
            phone_verified: self.phone_verified,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PolicyItem {
    pk: String,
    sk: String,
    entity: String,
    description: String,
    policy: String,
    updated_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct RoleItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    user_id: UserId,
    role: Role,
    granted_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionItem {
    pk: String,
    sk: String,
    /// Access tokens issued before this (epoch seconds) are refused.
    revoked_before: i64,
}

/// Every item in a user's partition says what it is.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
// Items live briefly, one read at a time: boxing the profile would buy nothing.
#[allow(clippy::large_enum_variant)]
enum UserItem {
    Profile(ProfileItem),
    Role(RoleItem),
    Session(SessionItem),
    #[serde(other)]
    Other,
}

#[derive(Debug, Serialize, Deserialize)]
struct AuditItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    event: AuditEvent,
    /// TTL: the trail's retention.
    expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct WindowItem {
    pk: String,
    sk: String,
    entity: String,
    count: u32,
    expires_at: i64,
    #[serde(default)]
    not_before: i64,
    /// Compare-and-set counter: every save names the version it read.
    #[serde(default)]
    version: u64,
}

/// The application table: profiles, roles, session cut-offs, login throttles.
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(clients: &AwsClients, table: String) -> Self {
        Self {
            client: clients.dynamodb(),
            table,
        }
    }

    fn put_if_absent(&self, item: &UserItem) -> Result<TransactWriteItem, AppError> {
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(item).map_err(AppError::unexpected)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(AppError::unexpected)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(AppError::unexpected)
}

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
        let mut sessions_revoked_before = None;
        for item in out.items() {
            match serde_dynamo::from_item::<_, UserItem>(item.clone())
                .map_err(AppError::unexpected)?
            {
                UserItem::Profile(p) => profile = Some(p),
                UserItem::Role(_) => {}
                UserItem::Session(s) => sessions_revoked_before = Some(s.revoked_before),
                UserItem::Other => {}
            }
        }
        Ok(UserSnapshot {
            profile: profile.map(ProfileItem::into_profile).transpose()?,
            sessions_revoked_before,
        })
    }
}

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

/// Parses the number attribute `name` of `item`, 0 when absent.
fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
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
        }
        let wanted: Vec<_> = pairs.into_iter().map(|(pk, sk)| key(pk, sk)).collect();
        let mut snapshot = PolicySnapshot {
            version: 0,
            users: users
                .iter()
                .map(|u| (u.clone(), UserSnapshot::default()))
                .collect(),
        };
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
                                user.sessions_revoked_before = Some(s.revoked_before);
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

/// The outcome of a conditional write: `Ok(false)` when its condition failed
/// (nothing was written), any other failure with its typed cause.
fn conditional<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<bool, AppError>
where
    E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let Err(err) = result else {
        return Ok(true);
    };
    let call = Call::dynamodb(operation);
    let err = call.split(err)?;
    if err.code() == Some("ConditionalCheckFailedException") {
        return Ok(false);
    }
    Err(call.failed(&err))
}

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

impl DynamoTable {
    /// An update of the user's profile item, made only if it exists (an
    /// update may narrow the condition further).
    fn profile_update(&self, user_id: &UserId) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::user_pk(user_id)))
            .key("sk", AttributeValue::S(keys::PROFILE_SK.into()))
            .condition_expression("attribute_exists(pk)")
    }

    fn throttle_key(key: &ThrottleKey) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(keys::throttle_pk(&key.subject)),
            ),
            ("sk".to_owned(), AttributeValue::S(key.counter.clone())),
        ])
    }
}

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
        super::client_secret::keyed_digest(self.key().await?, "signed token v1", payload)
    }

    async fn verify(&self, payload: &str, signature: &str) -> Result<bool, AppError> {
        let expected = self.sign(payload).await?;
        Ok(super::client_secret::same_bytes(&expected, signature))
    }
}

/// How long delivery records and notification summaries are kept.
const NOTIFICATION_RETENTION_SECS: i64 = 90 * 86_400;

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
        use crate::ports::notify::DeliveryStatus;
        let now = Utc::now();
        let expires = (now.timestamp() + NOTIFICATION_RETENTION_SECS).to_string();
        let status = match outcome.status {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Suppressed => "suppressed",
            DeliveryStatus::Failed => "failed",
        };
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

impl DynamoTable {
    /// Claims an item for `lease_secs`: created if absent; else done, busy or
    /// abandoned by its `status` and `claimed_at`.
    async fn claim_item(
        &self,
        pk: String,
        sk: String,
        entity: &str,
        lease_secs: i64,
    ) -> Result<crate::ports::notify::Claim, AppError> {
        use crate::ports::notify::Claim;
        let now = Utc::now().timestamp();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S(sk.clone()))
            .item("entity", AttributeValue::S(entity.into()))
            .item("status", AttributeValue::S("claimed".into()))
            .item("claimed_at", AttributeValue::N(now.to_string()))
            .item(
                "expires_at",
                AttributeValue::N((now + NOTIFICATION_RETENTION_SECS).to_string()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional("PutItem", put)? {
            return Ok(Claim::Granted);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        let Some(item) = out.item else {
            // Released in between: the next try claims it.
            return Ok(Claim::Busy);
        };
        let status = item
            .get("status")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str);
        Ok(match status {
            Some("claimed") if number(&item, "claimed_at") as i64 + lease_secs > now => Claim::Busy,
            Some("claimed") => Claim::Abandoned,
            _ => Claim::Done,
        })
    }
}

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
