//! Users and accounts: administration (`admin`), one's own account (`account`,
//! `email_change`, `phone`), the user list and audit trail, and role
//! assignments. The helpers here are the rules those share: cursors, the
//! password check behind the login throttle, and the code-try count.

use crate::domain::audit::{AuditAction, AuditEvent, AuditPosition};
use crate::domain::permissions::{ADMIN_ROLE, actions, collections};
use crate::domain::{
    AppError, Caller, Email, ListPosition, Origin, Password, PhoneNumber, Role, SmsCountries,
    UserId, UserQuery, UserStatus, UserSummary,
};
use crate::ports::{
    AccountAdmin, AuditLog, Authenticator, ProfileStore, SmsPasses, TokenSigner, UserDirectory,
};
use crate::services::retry::with_retries;
use crate::services::{Audit, CodePurpose, Permissions, SessionGuard, Target, Throttle};
use std::sync::Arc;

mod account;
mod admin;
mod audit_trail;
mod email_change;
pub use email_change::EmailChangeVerification;
mod list;
mod mfa_reset;
mod phone;
mod roles;

pub use account::{AccountGuards, AccountService};
pub use admin::UserAdminService;
pub use audit_trail::{AuditTrailService, EventPage};
pub use list::{UserListService, UserPage};
pub use mfa_reset::MfaResetService;
pub use phone::{PhoneParts, PhoneService};
pub use roles::{RoleService, RoleSet};

const BAD_CURSOR: &str = "is not a cursor this list handed out";

/// Hands out `payload` as an opaque cursor: base64url, then its signature.
async fn seal(signer: &dyn TokenSigner, payload: &str) -> Result<String, AppError> {
    use base64::Engine;
    let signature = signer.sign(payload).await?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    Ok(format!("{encoded}.{signature}"))
}

/// The payload of a cursor [`seal`] handed out; a tampered one is a 400.
async fn open(signer: &dyn TokenSigner, cursor: &str) -> Result<String, AppError> {
    use base64::Engine;
    let bad = || AppError::validation("cursor", BAD_CURSOR);
    let (encoded, signature) = cursor.split_once('.').ok_or_else(bad)?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    if signer.verify(&payload, signature).await? {
        Ok(payload)
    } else {
        Err(bad())
    }
}

/// Checks the caller's password behind the login throttle, so an endpoint that
/// asks for it is no way around the guessing limits.
pub(crate) async fn check_password(
    throttle: &Throttle,
    authenticator: &dyn Authenticator,
    email: &Email,
    password: &Password,
    origin: &Origin,
) -> Result<(), AppError> {
    let count = throttle.login_attempt(email, origin).await?;
    match authenticator.login(email, password).await {
        Ok(_) => throttle.login_succeeded(count).await,
        Err(AppError::InvalidCredentials) => Err(AppError::InvalidCredentials),
        Err(other) => {
            throttle.login_untested(count).await?;
            Err(other)
        }
    }
}

/// Tests a code the caller was sent behind the count of codes tried for its
/// account and purpose: five wrong ones in 15 minutes and the next waits (429),
/// noted once in the caller's trail.
async fn tried_code(
    throttle: &Throttle,
    audit: &Audit,
    caller: &Caller,
    purpose: CodePurpose,
    origin: &Origin,
    attempt: impl std::future::Future<Output = Result<(), AppError>>,
) -> Result<(), AppError> {
    let tried = match throttle.code_try(caller.user_id.as_str(), purpose).await {
        Ok(tried) => tried,
        Err((refused, first)) => {
            if first {
                audit
                    .user(&caller.user_id, AuditAction::CodesLocked, Some(origin))
                    .await;
            }
            return Err(refused);
        }
    };
    let tested = attempt.await;
    let wrong = matches!(tested, Err(AppError::InvalidCode | AppError::ExpiredCode));
    throttle.code_settled(tried, wrong).await?;
    tested
}

/// The caller's own profile, when the guard admits them (their token is
/// current; a role that needs a second factor has one).
async fn current_profile(
    store: &dyn ProfileStore,
    guard: &SessionGuard,
    caller: &Caller,
) -> Result<Option<crate::domain::Profile>, AppError> {
    let me = store.get_user(&caller.user_id).await?;
    guard.check(caller, &me)?;
    Ok(me.profile)
}
