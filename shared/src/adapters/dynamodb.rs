//! The profile store over one DynamoDB table. The table's design, item by item, is
//! in `docs/data-model.md`; the key formats live here and nowhere else.

use super::sdk_error::service_error;
use crate::domain::{
    AppError, Email, NewProfile, Profile, ProfileCreation, Role, UserId, UserStatus,
};
use crate::ports::ProfileStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub mod keys {
    //! Key formats of the single table.
    use crate::domain::{Email, Role, UserId};

    pub const PROFILE_SK: &str = "PROFILE";

    pub fn user_pk(user: &UserId) -> String {
        format!("USER#{user}")
    }
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

/// Every item in a user's partition says what it is.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
enum UserItem {
    Profile(ProfileItem),
    Role(RoleItem),
    #[serde(other)]
    Other,
}

pub struct DynamoProfileStore {
    client: Client,
    table: String,
}

impl DynamoProfileStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
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
impl ProfileStore for DynamoProfileStore {
    async fn create_profile(&self, new: &NewProfile) -> Result<ProfileCreation, AppError> {
        let pk = keys::user_pk(&new.user_id);
        let now = timestamp(new.created_at);
        let profile = UserItem::Profile(ProfileItem {
            pk: pk.clone(),
            sk: keys::PROFILE_SK.into(),
            gsi1pk: keys::email_gsi1pk(&new.email),
            gsi1sk: keys::PROFILE_SK.into(),
            user_id: new.user_id.clone(),
            email: new.email.clone(),
            display_name: new.display_name.as_ref().map(|n| n.as_str().to_owned()),
            preferences: BTreeMap::new(),
            status: UserStatus::Active,
            created_at: now.clone(),
            updated_at: now.clone(),
            version: 1,
        });
        let role = UserItem::Role(RoleItem {
            pk,
            sk: keys::role_sk(&new.default_role),
            gsi1pk: keys::role_gsi1pk(&new.default_role),
            gsi1sk: keys::user_pk(&new.user_id),
            user_id: new.user_id.clone(),
            role: new.default_role.clone(),
            granted_at: now,
        });
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_if_absent(&profile)?)
            .transact_items(self.put_if_absent(&role)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ProfileCreation::Created),
            Err(err) => match service_error(err)? {
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(ProfileCreation::AlreadyExisted)
                }
                other => Err(AppError::unexpected(other)),
            },
        }
    }

    async fn get_profile(&self, user_id: &UserId) -> Result<Option<Profile>, AppError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(other) => AppError::unexpected(other),
            })?;
        let mut profile = None;
        let mut roles = Vec::new();
        for item in out.items() {
            match serde_dynamo::from_item::<_, UserItem>(item.clone())
                .map_err(AppError::unexpected)?
            {
                UserItem::Profile(p) => profile = Some(p),
                UserItem::Role(r) => roles.push(r.role),
                UserItem::Other => {}
            }
        }
        let Some(p) = profile else { return Ok(None) };
        roles.sort();
        Ok(Some(Profile {
            user_id: p.user_id,
            email: p.email,
            display_name: p.display_name,
            preferences: p.preferences,
            roles,
            status: p.status,
            created_at: parse_timestamp(&p.created_at)?,
            updated_at: parse_timestamp(&p.updated_at)?,
        }))
    }
}
