use super::{DisplayName, Email, Role, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

/// A user's application profile, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub user_id: UserId,
    pub email: Email,
    pub display_name: Option<String>,
    pub preferences: BTreeMap<String, serde_json::Value>,
    pub roles: Vec<Role>,
    pub status: UserStatus,
    /// For SMS; notifications use it only once `phone_verified`.
    pub phone_number: Option<String>,
    pub phone_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the API shows it as the `ETag`.
    #[serde(skip)]
    pub version: u64,
    /// A new address asked for and not yet confirmed by its code.
    #[serde(skip)]
    pub pending_email: Option<Email>,
    /// The second factor, where the read saw the user's whole partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa: Option<super::mfa::MfaSummary>,
}

/// One user in the admin's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    pub user_id: UserId,
    pub email: Email,
    pub display_name: Option<String>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
}

/// Which users a list asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub status: Option<UserStatus>,
    /// Lower-cased, as emails are stored.
    pub email_prefix: Option<String>,
}

/// Where a page of the list ended: the last user it showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPosition {
    pub email: Email,
    pub user_id: UserId,
}

/// A user Cognito has confirmed, as the post-confirmation trigger or `GetUser`
/// describes them, parsed at that edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedUser {
    pub user_id: UserId,
    pub email: Email,
    /// A name Cognito accepted but Gatehouse would not is dropped at the edge, not
    /// fatal: refusing it would leave a confirmed user without a profile.
    pub display_name: Option<DisplayName>,
}

impl ConfirmedUser {
    /// From Cognito's attribute values (`sub`, `email`, `name`).
    pub fn from_attributes(
        sub: Option<&str>,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<Self, super::AppError> {
        let missing =
            |what| super::AppError::unexpected(format!("the user has no {what} attribute"));
        Ok(Self {
            user_id: UserId::parse(sub.ok_or_else(|| missing("sub"))?)?,
            email: Email::parse(email.ok_or_else(|| missing("email"))?)?,
            display_name: name.and_then(|raw| DisplayName::parse(raw).ok()),
        })
    }
}

/// What a confirmed sign-up creates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProfile {
    pub user_id: UserId,
    pub email: Email,
    pub display_name: Option<DisplayName>,
    /// The role assignments it starts with (never empty: the default role, and
    /// `admin` for an address the deployment names).
    pub roles: Vec<Role>,
    /// The profile takes the deployment's admin grant for its address
    /// (`AdminEmails`): once per address, ever, so a re-created account does
    /// not become admin again and a demotion sticks.
    pub admin_grant: bool,
    pub created_at: DateTime<Utc>,
}

/// Whether creating a profile wrote anything: a second delivery writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileCreation {
    Created,
    AlreadyExisted,
    /// Nothing was written: the address's admin grant went to another
    /// account before (create it again without the grant).
    GrantSpent,
}
