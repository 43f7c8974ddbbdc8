//! Disabling and enabling accounts, for callers the policies allow.

use super::*;

#[derive(Clone)]
pub struct UserAdminService {
    store: Arc<dyn ProfileStore>,
    accounts: Arc<dyn AccountAdmin>,
    guard: SessionGuard,
    audit: Audit,
    permissions: Arc<Permissions>,
}

impl UserAdminService {
    pub fn new(
        store: Arc<dyn ProfileStore>,
        accounts: Arc<dyn AccountAdmin>,
        guard: SessionGuard,
        audit: Audit,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            store,
            accounts,
            guard,
            audit,
            permissions,
        }
    }

    /// The caller's token is current and the policies let them manage `target`.
    async fn authorise(&self, caller: &Caller, target: Option<&UserId>) -> Result<(), AppError> {
        self.permissions
            .authorise(caller, actions::USERS_MANAGE, Target::User(target))
            .await
            .map(drop)
    }

    /// Sign-in on or off in Cognito. A user Cognito no longer has (deleted
    /// there directly) leaves a profile behind: it is cleaned up now, and the
    /// answer is 404.
    async fn set_enabled(&self, target: &UserId, enabled: bool) -> Result<(), AppError> {
        match with_retries(|| self.accounts.set_enabled(target.as_str(), enabled)).await {
            Err(AppError::NotFound(_)) => {
                self.store.delete_user_data(target).await?;
                tracing::warn!(target = %target, "profile of a user Cognito no longer has, removed");
                Err(AppError::NotFound("user"))
            }
            other => other,
        }
    }

    fn other_user<'a>(caller: &Caller, target: Option<&'a UserId>) -> Result<&'a UserId, AppError> {
        let target = target.ok_or(AppError::NotFound("user"))?;
        if *target == caller.user_id {
            return Err(AppError::validation(
                "user_id",
                "is your own account; another administrator must do this",
            ));
        }
        Ok(target)
    }

    /// Sign-in off in Cognito first (no new login or refresh), then every
    /// session ends (refresh tokens revoked, access tokens refused at once by
    /// the cut-off), then the profile says so. Each step is safe to repeat, so
    /// a retry finishes what a failure interrupted.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn disable(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.authorise(caller, target).await?;
        let target = Self::other_user(caller, target)?;
        self.set_enabled(target, false).await?;
        with_retries(|| self.accounts.sign_out_user(target.as_str())).await?;
        with_retries(|| self.guard.end_all(target)).await?;
        with_retries(|| self.store.set_status(target, UserStatus::Disabled)).await?;
        self.audit
            .record(
                AuditEvent::new(target.clone(), AuditAction::Disabled, Some(origin))
                    .by(&caller.user_id),
            )
            .await;
        tracing::info!(target = %target, "account disabled");
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn enable(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.authorise(caller, target).await?;
        let target = Self::other_user(caller, target)?;
        self.set_enabled(target, true).await?;
        with_retries(|| self.store.set_status(target, UserStatus::Active)).await?;
        self.audit
            .record(
                AuditEvent::new(target.clone(), AuditAction::Enabled, Some(origin))
                    .by(&caller.user_id),
            )
            .await;
        tracing::info!(target = %target, "account enabled");
        Ok(())
    }
}
