//! Changing a password (signed in) and resetting a forgotten one (by emailed code).
//! Both end every session.

use super::Accepted;
use super::sessions::SessionGuard;
use crate::domain::audit::AuditAction;
use crate::domain::{
    AppError, Caller, ConfirmationCode, Email, NewPassword, Origin, Password, PasswordPolicy,
};
use crate::ports::{AccountAdmin, PasswordIdentity, ProfileStore};
use crate::services::retry::with_retries;
use crate::services::{Audit, CodePurpose, Throttle};
use std::sync::Arc;

/// A password change, parsed at the edge.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub current: Password,
    pub new: NewPassword,
}

/// A password reset, parsed at the edge.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub email: Email,
    pub code: ConfirmationCode,
    pub new: NewPassword,
}

/// Change (signed in) and reset (by emailed code): Cognito's public and admin
/// APIs and the session cut-off. Both end every session.
#[derive(Clone)]
pub struct PasswordService {
    identity: Arc<dyn PasswordIdentity>,
    admin: Arc<dyn AccountAdmin>,
    guard: SessionGuard,
    policy: PasswordPolicy,
    audit: Audit,
    /// Tells the owner by email after a change or reset.
    notices: crate::services::Notices,
}

impl PasswordService {
    pub fn new(
        identity: Arc<dyn PasswordIdentity>,
        admin: Arc<dyn AccountAdmin>,
        guard: SessionGuard,
        policy: PasswordPolicy,
        audit: Audit,
        notices: crate::services::Notices,
    ) -> Self {
        Self {
            identity,
            admin,
            guard,
            policy,
            audit,
            notices,
        }
    }

    async fn notify_changed(&self, user: &crate::domain::UserId) {
        self.notices
            .send(
                crate::services::Notices::moment_id("password-changed", user),
                user,
                "password-changed",
                serde_json::Map::new(),
                None,
            )
            .await;
    }

    /// The pool's policy, for parsing a [`PasswordChange`] or [`PasswordReset`]
    /// at the edge.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn change_password(
        &self,
        caller: &Caller,
        change: PasswordChange,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.guard.ensure_current(caller).await?;
        self.identity
            .change_password(&caller.access_token, &change.current, change.new.password())
            .await?;
        // The old password is spent now: the caller could not retry, so we do.
        with_retries(|| self.admin.sign_out_user(&caller.username)).await?;
        with_retries(|| self.guard.end_all(&caller.user_id)).await?;
        self.audit
            .user(&caller.user_id, AuditAction::PasswordChanged, Some(origin))
            .await;
        self.notify_changed(&caller.user_id).await;
        tracing::info!("password changed; sessions ended");
        Ok(())
    }
}

/// Reset: what a change uses, and the throttle, since a reset proves the owner
/// and lifts the email's login locks.
#[derive(Clone)]
pub struct PasswordResetService {
    passwords: PasswordService,
    throttle: Throttle,
    /// Who an address belongs to, for the trail of a code lock.
    accounts: Arc<dyn ProfileStore>,
}

impl PasswordResetService {
    pub fn new(
        passwords: PasswordService,
        throttle: Throttle,
        accounts: Arc<dyn ProfileStore>,
    ) -> Self {
        Self {
            passwords,
            throttle,
            accounts,
        }
    }

    pub fn password_policy(&self) -> &PasswordPolicy {
        self.passwords.password_policy()
    }

    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        reset: PasswordReset,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let svc = &self.passwords;
        let tried = match self
            .throttle
            .code_try(reset.email.as_str(), CodePurpose::PasswordReset)
            .await
        {
            Ok(tried) => tried,
            Err((refused, first)) => {
                if first {
                    svc.audit
                        .by_email(
                            &*self.accounts,
                            &reset.email,
                            AuditAction::CodesLocked,
                            origin,
                        )
                        .await;
                }
                return Err(refused);
            }
        };
        let reset_done = svc
            .identity
            .reset_password(&reset.email, &reset.code, reset.new.password())
            .await;
        let wrong = matches!(
            reset_done,
            Err(AppError::InvalidCode | AppError::ExpiredCode)
        );
        self.throttle.code_settled(tried, wrong).await?;
        reset_done?;
        // The code is spent now: the caller could not retry, so we do.
        let user_id = with_retries(|| svc.admin.sign_out_everywhere(&reset.email)).await?;
        with_retries(|| svc.guard.end_all(&user_id)).await?;
        with_retries(|| self.throttle.lift_login_locks(&reset.email)).await?;
        svc.audit
            .user(&user_id, AuditAction::PasswordReset, Some(origin))
            .await;
        svc.notify_changed(&user_id).await;
        tracing::info!(%user_id, "password reset; sessions ended, login locks lifted");
        Ok(())
    }
}

/// Forgot: Cognito's public API, behind the limits on what sends email.
#[derive(Clone)]
pub struct ForgotPasswordService {
    identity: Arc<dyn PasswordIdentity>,
    throttle: Throttle,
}

impl ForgotPasswordService {
    pub fn new(identity: Arc<dyn PasswordIdentity>, throttle: Throttle) -> Self {
        Self { identity, throttle }
    }

    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(
        &self,
        email: &Email,
        origin: &Origin,
    ) -> Result<Accepted, AppError> {
        self.throttle.send_attempt(email, origin).await?;
        self.identity.forgot_password(email).await?;
        Ok(Accepted {
            message: "If an account exists for this email, a reset code has been sent.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        InMemoryAuth, TEST_PASSWORD, caller_for, credentials, from_ip, test_policy,
    };

    fn new_password(raw: &str) -> NewPassword {
        NewPassword::parse(raw, &test_policy()).unwrap()
    }

    #[tokio::test]
    async fn changing_the_password_needs_the_current_one_and_ends_sessions() {
        let fakes = InMemoryAuth::default();
        let caller = caller_for(&fakes.signed_in("fa@example.com").await);
        let svc = fakes.passwords();
        let wrong = svc
            .change_password(
                &caller,
                PasswordChange {
                    current: Password::offered("Nope-nope-1").unwrap(),
                    new: new_password("NewPassword456"),
                },
                &from_ip(1),
            )
            .await
            .unwrap_err();
        assert!(matches!(wrong, AppError::InvalidCredentials));
        svc.change_password(
            &caller,
            PasswordChange {
                current: Password::offered(TEST_PASSWORD).unwrap(),
                new: new_password("NewPassword456"),
            },
            &from_ip(1),
        )
        .await
        .unwrap();
        assert!(fakes.guard().ensure_current(&caller).await.is_err());
        assert!(
            fakes
                .login()
                .login(credentials("fa@example.com", TEST_PASSWORD), &from_ip(1))
                .await
                .is_err()
        );
        fakes
            .login()
            .login(credentials("fa@example.com", "NewPassword456"), &from_ip(1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_owner_is_told_of_a_change_and_not_of_a_refused_one() {
        let fakes = InMemoryAuth::default();
        let caller = caller_for(&fakes.signed_in("told@example.com").await);
        let svc = fakes.passwords();
        let notices = || fakes.notice_queue.queued.lock().unwrap().len();
        let change = |current: &str| PasswordChange {
            current: Password::offered(current).unwrap(),
            new: new_password("NewPassword456"),
        };
        let refused = svc
            .change_password(&caller, change("Nope-nope-1"), &from_ip(1))
            .await;
        assert!(refused.is_err());
        assert_eq!(notices(), 0);
        svc.change_password(&caller, change(TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        assert_eq!(notices(), 1, "the password-changed notice is queued");
    }

    #[tokio::test]
    async fn a_reset_lifts_the_login_lock() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("lo@example.com").await;
        let email = Email::parse("lo@example.com").unwrap();
        for _ in 0..5 {
            let _ = fakes
                .login()
                .login(credentials("lo@example.com", "Wrong-pass-1"), &from_ip(1))
                .await;
        }
        let locked = fakes
            .login()
            .login(credentials("lo@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap_err();
        assert!(
            matches!(locked, AppError::TooManyRequests { .. }),
            "{locked:?}"
        );
        fakes
            .forgot_password()
            .forgot_password(&email, &from_ip(1))
            .await
            .unwrap();
        let code = fakes.identity.reset_code_for("lo@example.com").unwrap();
        fakes
            .password_reset()
            .reset_password(
                PasswordReset {
                    email,
                    code: ConfirmationCode::parse(&code).unwrap(),
                    new: new_password("NewPassword456"),
                },
                &from_ip(1),
            )
            .await
            .unwrap();
        fakes
            .login()
            .login(credentials("lo@example.com", "NewPassword456"), &from_ip(1))
            .await
            .expect("the lock is lifted by the reset");
    }

    #[tokio::test]
    async fn codes_to_one_address_are_limited() {
        let fakes = InMemoryAuth::default();
        let email = Email::parse("flood@example.com").unwrap();
        for n in 0..5 {
            fakes
                .forgot_password()
                .forgot_password(&email, &from_ip(n))
                .await
                .unwrap();
        }
        let err = fakes
            .forgot_password()
            .forgot_password(&email, &from_ip(99))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::TooManyRequests { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn forgot_password_answers_the_same_for_unknown_emails() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("gu@example.com").await;
        let svc = fakes.forgot_password();
        let known = svc
            .forgot_password(&Email::parse("gu@example.com").unwrap(), &from_ip(1))
            .await
            .unwrap();
        let unknown = svc
            .forgot_password(&Email::parse("who@example.com").unwrap(), &from_ip(1))
            .await
            .unwrap();
        assert_eq!(known, unknown);
        assert!(fakes.identity.reset_code_for("gu@example.com").is_some());
        assert!(fakes.identity.reset_code_for("who@example.com").is_none());
    }

    #[tokio::test]
    async fn a_reset_with_the_mailed_code_replaces_the_password_and_ends_sessions() {
        let fakes = InMemoryAuth::default();
        let tokens = fakes.signed_in("ha@example.com").await;
        let email = Email::parse("ha@example.com").unwrap();
        fakes
            .forgot_password()
            .forgot_password(&email, &from_ip(1))
            .await
            .unwrap();
        let reset = |code: &str| PasswordReset {
            email: email.clone(),
            code: ConfirmationCode::parse(code).unwrap(),
            new: new_password("NewPassword456"),
        };
        let bad = fakes
            .password_reset()
            .reset_password(reset("000000"), &from_ip(1))
            .await
            .unwrap_err();
        assert!(matches!(bad, AppError::InvalidCode));
        let code = fakes.identity.reset_code_for("ha@example.com").unwrap();
        fakes
            .password_reset()
            .reset_password(reset(&code), &from_ip(1))
            .await
            .unwrap();
        assert!(
            fakes
                .guard()
                .ensure_current(&caller_for(&tokens))
                .await
                .is_err()
        );
        fakes
            .login()
            .login(credentials("ha@example.com", "NewPassword456"), &from_ip(1))
            .await
            .unwrap();
    }
}
