//! Request bodies as they arrive, and their parsing into the domain values the
//! services take. The JSON field names live here and nowhere deeper: an error
//! names the field the caller sent.

use crate::domain::mfa::{RecoveryCode, TotpCode};
use crate::domain::{
    AppError, ConfirmationCode, DisplayName, Email, Locale, NewPassword, Password, PasswordPolicy,
    PhoneNumber, RefreshToken, Role,
};
use crate::ports::SignUpDetails;
use crate::services::{Credentials, PasswordChange, PasswordReset, Registration, SecondFactor};
use serde::Deserialize;

/// Renames the field of a validation error (`password` → `new_password`).
fn as_field(field: &'static str) -> impl FnOnce(AppError) -> AppError {
    move |err| match err {
        AppError::Validation { reason, .. } => AppError::validation(field, reason),
        other => other,
    }
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

impl RegisterBody {
    pub fn parse(self, policy: &PasswordPolicy) -> Result<Registration, AppError> {
        Ok(Registration {
            email: Email::parse(&self.email)?,
            password: NewPassword::parse(&self.password, policy)?,
            details: SignUpDetails {
                display_name: self
                    .display_name
                    .as_deref()
                    .map(DisplayName::parse)
                    .transpose()?,
                locale: self.locale.as_deref().map(Locale::parse).transpose()?,
            },
        })
    }
}

/// `POST /auth/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    pub email: String,
    pub code: String,
    /// The password given at sign-up: the confirmation is for that registration.
    pub password: String,
}

impl ConfirmBody {
    pub fn parse(self) -> Result<(Email, ConfirmationCode, Password), AppError> {
        Ok((
            Email::parse(&self.email)?,
            ConfirmationCode::parse(&self.code)?,
            Password::offered(&self.password)?,
        ))
    }
}

/// `POST /auth/resend-confirmation` and `POST /auth/password/forgot`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    pub email: String,
}

impl EmailBody {
    pub fn parse(self) -> Result<Email, AppError> {
        Email::parse(&self.email)
    }
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

impl LoginBody {
    /// A malformed email fails like a wrong password: login never says which
    /// part of the credentials was wrong.
    pub fn parse(self) -> Result<Credentials, AppError> {
        Ok(Credentials {
            email: Email::parse(&self.email).map_err(|_| AppError::InvalidCredentials)?,
            password: Password::offered(&self.password)?,
        })
    }
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

impl RefreshBody {
    pub fn parse(self) -> Result<RefreshToken, AppError> {
        RefreshToken::parse(&self.refresh_token)
    }
}

/// `POST /auth/password/change`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    pub current_password: String,
    pub new_password: String,
    /// With an authenticator app on: its code, or a recovery code.
    #[serde(default)]
    pub mfa_code: Option<String>,
}

impl ChangePasswordBody {
    pub fn parse(self, policy: &PasswordPolicy) -> Result<PasswordChange, AppError> {
        Ok(PasswordChange {
            current: Password::offered(&self.current_password)
                .map_err(|_| AppError::validation("current_password", "is required"))?,
            new: NewPassword::parse(&self.new_password, policy)
                .map_err(as_field("new_password"))?,
        })
    }
}

/// `POST /users/me/mfa/totp`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpStartBody {
    pub current_password: String,
}

impl TotpStartBody {
    pub fn parse(self) -> Result<Password, AppError> {
        Password::offered(&self.current_password)
            .map_err(|_| AppError::validation("current_password", "is required"))
    }
}

/// `POST /users/me/mfa/totp/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpVerifyBody {
    pub code: String,
}

impl TotpVerifyBody {
    pub fn parse(self) -> Result<TotpCode, AppError> {
        TotpCode::parse("code", &self.code)
    }
}

/// `DELETE /users/me/mfa/totp`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpDisableBody {
    pub current_password: String,
    pub mfa_code: String,
}

impl TotpDisableBody {
    /// The password and the second factor (checked by the step-up).
    pub fn parse(self) -> Result<(Password, String), AppError> {
        let password = Password::offered(&self.current_password)
            .map_err(|_| AppError::validation("current_password", "is required"))?;
        Ok((password, self.mfa_code))
    }
}

/// `POST /users/me/mfa/recovery-codes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodesBody {
    pub mfa_code: String,
}

/// `POST /auth/login/mfa`: the login's session and one of the two factors.
/// None of the three second-factor bodies prints its secrets in `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaBody {
    pub session: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

macro_rules! redacted_debug {
    ($($body:ident),*) => {$(
        impl std::fmt::Debug for $body {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($body), "(<redacted>)"))
            }
        }
    )*};
}
redacted_debug!(
    TotpStartBody,
    TotpVerifyBody,
    LoginMfaBody,
    TotpDisableBody,
    RecoveryCodesBody,
    ChangePasswordBody,
    NewEmailBody,
    DeleteAccountBody
);

/// Cognito's sessions are a few hundred characters; anything far longer is
/// not one.
const MAX_SESSION_LENGTH: usize = 4096;

impl LoginMfaBody {
    pub fn parse(self) -> Result<(String, SecondFactor), AppError> {
        if self.session.is_empty() || self.session.chars().count() > MAX_SESSION_LENGTH {
            return Err(AppError::validation(
                "session",
                "must be the session the login answered",
            ));
        }
        let factor = match (self.code, self.recovery_code) {
            (Some(code), None) => SecondFactor::Totp(TotpCode::parse("code", &code)?),
            (None, Some(code)) => SecondFactor::Recovery(RecoveryCode::parse(&code)?),
            _ => {
                return Err(AppError::validation(
                    "code",
                    "give either code (from the authenticator app) or recovery_code, not both",
                ));
            }
        };
        Ok((self.session, factor))
    }
}

/// `POST /users/me/email`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEmailBody {
    pub new_email: String,
    pub current_password: String,
    /// With an authenticator app on: its code, or a recovery code.
    #[serde(default)]
    pub mfa_code: Option<String>,
}

impl NewEmailBody {
    pub fn parse(self) -> Result<(Email, Password), AppError> {
        Ok((
            Email::parse(&self.new_email).map_err(as_field("new_email"))?,
            Password::offered(&self.current_password)
                .map_err(|_| AppError::validation("current_password", "is required"))?,
        ))
    }
}

/// `PUT /users/{user_id}/roles`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    pub roles: Vec<String>,
}

impl RolesBody {
    pub fn parse(self) -> Result<Vec<Role>, AppError> {
        self.roles
            .iter()
            .map(|r| Role::parse(r).map_err(as_field("roles")))
            .collect()
    }
}

/// An entity a check names: `{"type": "User", "id": "..."}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// A check's resource: its type and id, and for a service's own types the
/// attributes its policies need.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /permissions/check`, and each item of a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// Defaults to the caller.
    #[serde(default)]
    pub principal: Option<EntityBody>,
    pub action: String,
    pub resource: ResourceBody,
    #[serde(default)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}

impl CheckBody {
    pub fn parse(self) -> Result<crate::domain::permissions::Check, AppError> {
        use crate::domain::permissions::{Check, CheckResource, NamedPrincipal};
        Ok(Check {
            principal: self
                .principal
                .map(|p| NamedPrincipal::parse(&p.kind, &p.id))
                .transpose()?,
            action: self.action,
            resource: CheckResource::parse(
                &self.resource.kind,
                self.resource.id,
                self.resource.attributes,
            )?,
            context: self.context.unwrap_or_default(),
        })
    }
}

/// `POST /permissions/batch-check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchCheckBody {
    pub checks: Vec<CheckBody>,
}

impl BatchCheckBody {
    /// Each check parsed; an error names the item by its position.
    pub fn parse(self) -> Result<Vec<crate::domain::permissions::Check>, AppError> {
        if self.checks.len() > crate::services::Permissions::MAX_BATCH {
            return Err(AppError::validation(
                "checks",
                "may hold at most 100 checks",
            ));
        }
        self.checks
            .into_iter()
            .enumerate()
            .map(|(i, check)| check.parse().map_err(|e| crate::services::batch_item(i, e)))
            .collect()
    }
}

/// `PUT /policies/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    pub policy: String,
    #[serde(default)]
    pub description: String,
}

/// `POST /notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendNotificationBody {
    pub recipients: RecipientsBody,
    pub channel: crate::domain::notifications::Channel,
    pub template: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Checked and counted, nothing recorded or sent.
    #[serde(default)]
    pub dry_run: bool,
}

/// `[user_id, ...]` or `{"role": name}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RecipientsBody {
    Users(Vec<String>),
    Role { role: String },
}

impl SendNotificationBody {
    pub fn parse(self) -> Result<crate::services::SendRequest, AppError> {
        use crate::services::Recipients;
        let recipients = match self.recipients {
            // How many is the service's rule (it counts distinct users).
            RecipientsBody::Users(ids) => Recipients::Users(
                ids.iter()
                    .map(|id| crate::domain::UserId::parse(id).map_err(as_field("recipients")))
                    .collect::<Result<_, _>>()?,
            ),
            RecipientsBody::Role { role } => {
                Recipients::Role(Role::parse(&role).map_err(as_field("recipients.role"))?)
            }
        };
        Ok(crate::services::SendRequest {
            recipients,
            channel: self.channel,
            template: self.template,
            data: self.data,
            idempotency_key: self.idempotency_key,
            dry_run: self.dry_run,
        })
    }
}

/// `POST /users/me/phone`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    pub phone_number: String,
}

impl PhoneBody {
    pub fn parse(self) -> Result<PhoneNumber, AppError> {
        PhoneNumber::parse(&self.phone_number)
    }
}

/// `POST /users/me/email/verify` and `/users/me/phone/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

impl CodeBody {
    pub fn parse(self) -> Result<ConfirmationCode, AppError> {
        ConfirmationCode::parse(&self.code).map_err(as_field("code"))
    }
}

/// `DELETE /users/me`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountBody {
    pub current_password: String,
    /// With an authenticator app on: its code, or a recovery code.
    #[serde(default)]
    pub mfa_code: Option<String>,
}

impl DeleteAccountBody {
    pub fn parse(self) -> Result<Password, AppError> {
        Password::offered(&self.current_password)
            .map_err(|_| AppError::validation("current_password", "is required"))
    }
}

/// `POST /auth/password/reset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordBody {
    pub email: String,
    pub code: String,
    pub new_password: String,
}

impl ResetPasswordBody {
    pub fn parse(self, policy: &PasswordPolicy) -> Result<PasswordReset, AppError> {
        Ok(PasswordReset {
            email: Email::parse(&self.email)?,
            code: ConfirmationCode::parse(&self.code)?,
            new: NewPassword::parse(&self.new_password, policy)
                .map_err(as_field("new_password"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::test_policy;

    #[test]
    fn a_weak_new_password_is_reported_on_the_field_the_caller_sent() {
        let err = ResetPasswordBody {
            email: "a@example.com".into(),
            code: "123456".into(),
            new_password: "short".into(),
        }
        .parse(&test_policy())
        .unwrap_err();
        assert!(matches!(
            err,
            AppError::Validation {
                field: "new_password",
                ..
            }
        ));
    }

    #[test]
    fn a_malformed_login_email_is_just_wrong_credentials() {
        let err = LoginBody {
            email: "not-an-email".into(),
            password: "x".into(),
        }
        .parse()
        .unwrap_err();
        assert!(matches!(err, AppError::InvalidCredentials));
    }
}
