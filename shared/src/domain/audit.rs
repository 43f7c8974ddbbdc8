//! The audit trail: who did what to which account, when, and from where.

use super::{Origin, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What happened to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SignedUp,
    Confirmed,
    LoginSucceeded,
    LoginFailed,
    LoginLocked,
    /// Five wrong codes for one purpose: further tries wait (noted once per window).
    CodesLocked,
    LoggedOut,
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    PhoneChanged,
    RolesChanged,
    Disabled,
    Enabled,
    Deleted,
    /// An administrator stored or replaced a policy (on their own trail).
    PolicyStored,
    /// An administrator deleted a policy (on their own trail).
    PolicyDeleted,
    /// An authenticator app (TOTP) became the account's second factor.
    TotpEnabled,
    /// A recovery code answered a sign-in's second factor, or a step-up.
    RecoveryCodeUsed,
    /// The authenticator app was turned off (with its current code or a
    /// recovery code).
    TotpDisabled,
    /// A new set of recovery codes replaced the old ones.
    RecoveryCodesReplaced,
    /// An administrator turned the user's second factor off (the helpdesk
    /// path for a lost phone and lost codes); `actor` names them.
    MfaReset,
    /// A wrong or used second-factor code (sign-in, step-up or enrolment),
    /// with where it came from: each one counted against the account.
    MfaCodeRefused,
    /// One session ended (`DELETE .../sessions/{id}`); `actor` names an
    /// administrator who ended it.
    SessionEnded,
    /// Every session but the caller's ended (`DELETE /users/me/sessions`).
    OtherSessionsEnded,
    /// A sign-in from a device not seen recently: the owner was emailed.
    NewSignInNoticed,
}

/// One entry of a user's trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub user_id: UserId,
    pub action: AuditAction,
    /// Who did it, when not the user themself (an administrator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The policy a policy event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    pub at: DateTime<Utc>,
    /// Unique per event: two in the same instant are both kept.
    pub id: String,
}

impl AuditEvent {
    /// An event now, by the user themself, from `origin` (if known).
    pub fn new(user_id: UserId, action: AuditAction, origin: Option<&Origin>) -> Self {
        Self {
            user_id,
            action,
            actor: None,
            source_ip: origin.map(|o| o.source_ip.clone()),
            user_agent: origin.and_then(|o| o.user_agent.clone()),
            policy_id: None,
            at: Utc::now(),
            id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Done by `actor` rather than the user.
    pub fn by(mut self, actor: &UserId) -> Self {
        self.actor = Some(actor.clone());
        self
    }
}

/// Where a page of a trail ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPosition {
    pub at: DateTime<Utc>,
    pub id: String,
}
