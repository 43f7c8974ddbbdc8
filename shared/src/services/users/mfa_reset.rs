//! The helpdesk path for a user who lost both the authenticator app and the
//! recovery codes: an administrator turns their second factor off.

use super::*;
use crate::ports::{MfaAdmin, MfaStore};
use crate::services::Notices;

/// Turning another user's second factor off, for callers allowed to manage
/// users; audited with the administrator as actor, and the user is emailed.
#[derive(Clone)]
pub struct MfaResetService {
    admin: Arc<dyn MfaAdmin>,
    store: Arc<dyn MfaStore>,
    permissions: Arc<Permissions>,
    audit: Audit,
    notices: Notices,
}

impl MfaResetService {
    pub fn new(
        admin: Arc<dyn MfaAdmin>,
        store: Arc<dyn MfaStore>,
        permissions: Arc<Permissions>,
        audit: Audit,
        notices: Notices,
    ) -> Self {
        Self {
            admin,
            store,
            permissions,
            audit,
            notices,
        }
    }

    /// Cognito first (sign-in asks for no code), then the sealed secret and
    /// recovery codes are forgotten; a retry after a failure finishes the job.
    /// Not for one's own account (that is `DELETE /users/me/mfa/totp`, which
    /// asks for the second factor).
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn reset(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.permissions
            .authorise(caller, actions::USERS_MANAGE, Target::User(target))
            .await?;
        let target = target.ok_or(AppError::NotFound("user"))?;
        if *target == caller.user_id {
            return Err(AppError::validation(
                "user_id",
                "is your own account: turn your app off with DELETE /users/me/mfa/totp",
            ));
        }
        with_retries(|| self.admin.turn_off_totp(target.as_str())).await?;
        with_retries(|| self.store.clear_mfa(target)).await?;
        self.audit
            .record(
                AuditEvent::new(target.clone(), AuditAction::MfaReset, Some(origin))
                    .by(&caller.user_id),
            )
            .await;
        crate::services::auth::tell_second_factor(&self.notices, target, "mfa_reset", 0).await;
        tracing::info!(target = %target, "second factor reset");
        Ok(())
    }
}
