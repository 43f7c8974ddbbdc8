//! Changing one's email: the password, then a code to the new address.

use super::*;

/// Changing one's email (the same ports as deleting one's account): the
/// current password first (a stolen access token alone must not move the
/// account to another mailbox), checked behind the login throttle; then a code
/// goes to the new address (through Cognito, which keeps the old address as the
/// login and contact until the code is entered); then the profile follows and
/// every session ends. An address another account has gets the same answer as
/// a free one, and nothing changes.
impl AccountService {
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn request_email_change(
        &self,
        caller: &Caller,
        new_email: &Email,
        password: &Password,
        origin: &Origin,
    ) -> Result<crate::services::Accepted, AppError> {
        self.addresses.admits(new_email)?;
        let me = current_profile(&*self.store, &self.guard, caller)
            .await?
            .ok_or(AppError::NotFound("profile"))?;
        check_password(
            &self.throttle,
            &*self.authenticator,
            &me.email,
            password,
            origin,
        )
        .await?;
        self.throttle.send_attempt(new_email, origin).await?;
        // Remembered only when Cognito holds it: the profile never names an
        // address Cognito did not accept.
        if self
            .accounts
            .request_email_change(&caller.username, new_email)
            .await?
        {
            self.store
                .set_pending_email(&caller.user_id, new_email)
                .await?;
        }
        Ok(crate::services::Accepted {
            message: "If the address can be used, a code has been sent to it.",
        })
    }
}

/// Completing an email change: the code, then the profile follows, every
/// session ends, and the old address is told.
#[derive(Clone)]
pub struct EmailChangeVerification {
    account: AccountService,
    notices: crate::services::Notices,
}

impl EmailChangeVerification {
    pub fn new(account: AccountService, notices: crate::services::Notices) -> Self {
        Self { account, notices }
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn verify(
        &self,
        caller: &Caller,
        code: &crate::domain::ConfirmationCode,
        origin: &Origin,
    ) -> Result<crate::domain::Profile, AppError> {
        let me = current_profile(&*self.account.store, &self.account.guard, caller).await?;
        let old_email = me.as_ref().map(|p| p.email.clone());
        // Nothing pending: answered like a wrong code.
        let pending = me
            .and_then(|p| p.pending_email)
            .ok_or(AppError::InvalidCode)?;
        let verified = tried_code(
            &self.account.throttle,
            &self.account.audit,
            caller,
            CodePurpose::EmailChange,
            origin,
            self.account
                .directory
                .verify_email(&caller.access_token, code),
        )
        .await;
        verified?;
        // Cognito now holds the new address; the profile follows it, and every
        // session ends (as after a password change).
        with_retries(|| self.account.store.set_email(&caller.user_id, &pending)).await?;
        with_retries(|| self.account.accounts.sign_out_user(&caller.username)).await?;
        with_retries(|| self.account.guard.end_all(&caller.user_id)).await?;
        self.account
            .audit
            .user(&caller.user_id, AuditAction::EmailChanged, Some(origin))
            .await;
        // The old address hears of it: if this was not its owner, they know.
        if let Some(old) = old_email {
            let mut data = serde_json::Map::new();
            data.insert("old_email".into(), old.as_str().into());
            self.notices
                .send(
                    crate::services::Notices::moment_id("email-changed", &caller.user_id),
                    &caller.user_id,
                    "email-changed",
                    data,
                    Some(old),
                )
                .await;
        }
        self.account
            .store
            .get_user(&caller.user_id)
            .await?
            .profile
            .ok_or(AppError::NotFound("profile"))
    }
}
