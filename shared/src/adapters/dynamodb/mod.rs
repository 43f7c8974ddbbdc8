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

mod audit;
mod ledger;
mod mfa;
mod notifications;
mod policies;
mod profiles;
mod sessions;
mod signer;
mod throttle;

pub use signer::TableSigner;

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

    /// One user's sign-ins (`sk` = the sign-in's `origin_jti`): a partition of
    /// their own, so the user's partition read with every request stays small.
    pub fn sign_in_pk(user: &UserId) -> String {
        format!("SIGNIN#{user}")
    }
    /// Beside them, the devices they came from (no sign-in id starts with `#`).
    pub const KNOWN_DEVICES_SK: &str = "#DEVICES";
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
    /// A user's second factor, in their partition (deleted with the account).
    pub const MFA_SK: &str = "MFA";
    /// A sign-in waiting for its second factor, by the digest of its session.
    pub fn challenge_pk(key: &str) -> String {
        format!("MFACHALLENGE#{key}")
    }
    pub const CHALLENGE_SK: &str = "CHALLENGE";

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
            mfa: None,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_before: Option<i64>,
    /// Sign-ins ended one at a time: `origin_jti` to when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    ended: BTreeMap<String, i64>,
}

impl SessionItem {
    fn cutoff(self) -> crate::domain::session::SessionCutoff {
        crate::domain::session::SessionCutoff {
            revoked_before: self.revoked_before,
            ended: self.ended,
        }
    }
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

/// Parses the number attribute `name` of `item`, 0 when absent.
fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
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

/// How long delivery records and notification summaries are kept.
const NOTIFICATION_RETENTION_SECS: i64 = 90 * 86_400;

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
