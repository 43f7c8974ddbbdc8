//! Account administration: disabling and enabling accounts, for callers the
//! access rule (`domain::access`) allows; and deleting one's own account.

use super::auth::with_retries;
use crate::domain::access::{Permission, allows};
use crate::domain::session::token_is_current;
use crate::domain::{AppError, Caller, Origin, Password, UserId, UserStatus};
use crate::ports::{AccountAdmin, Authenticator, ProfileStore, UserDirectory};
use crate::services::{SessionGuard, Throttle};
use std::sync::Arc;

#[derive(Clone)]
pub struct UserAdminService {
    store: Arc<dyn ProfileStore>,
    accounts: Arc<dyn AccountAdmin>,
    guard: SessionGuard,
}

impl UserAdminService {
    pub fn new(
        store: Arc<dyn ProfileStore>,
        accounts: Arc<dyn AccountAdmin>,
        guard: SessionGuard,
    ) -> Self {
        Self {
            store,
            accounts,
            guard,
        }
    }

    /// The caller's token is current and their roles allow managing users.
    async fn authorise(&self, caller: &Caller) -> Result<(), AppError> {
        let me = self.store.get_user(&caller.user_id).await?;
        if !token_is_current(caller.issued_at, me.sessions_revoked_before) {
            return Err(AppError::Unauthenticated("the token has been revoked"));
        }
        let roles = me.profile.map(|p| p.roles).unwrap_or_default();
        if allows(&roles, Permission::ManageUsers) {
            Ok(())
        } else {
            Err(AppError::Forbidden("you may not manage users".into()))
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
    pub async fn disable(&self, caller: &Caller, target: Option<&UserId>) -> Result<(), AppError> {
        self.authorise(caller).await?;
        let target = Self::other_user(caller, target)?;
        with_retries(|| self.accounts.set_enabled(target.as_str(), false)).await?;
        with_retries(|| self.accounts.sign_out_user(target.as_str())).await?;
        with_retries(|| self.guard.end_all(target)).await?;
        with_retries(|| self.store.set_status(target, UserStatus::Disabled)).await?;
        tracing::info!(target = %target, "account disabled");
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn enable(&self, caller: &Caller, target: Option<&UserId>) -> Result<(), AppError> {
        self.authorise(caller).await?;
        let target = Self::other_user(caller, target)?;
        with_retries(|| self.accounts.set_enabled(target.as_str(), true)).await?;
        with_retries(|| self.store.set_status(target, UserStatus::Active)).await?;
        tracing::info!(target = %target, "account enabled");
        Ok(())
    }
}

/// Deleting one's own account: the password is checked (behind the login
/// throttle: a stolen token must not become a way to guess it), then the
/// application data goes, then the Cognito user. Each step is safe to repeat,
/// and the order means a failure half-way leaves what a retry finishes: while
/// the Cognito user exists the password still proves the caller.
#[derive(Clone)]
pub struct AccountDeletionService {
    store: Arc<dyn ProfileStore>,
    directory: Arc<dyn UserDirectory>,
    authenticator: Arc<dyn Authenticator>,
    accounts: Arc<dyn AccountAdmin>,
    throttle: Throttle,
    guard: SessionGuard,
}

impl AccountDeletionService {
    pub fn new(
        store: Arc<dyn ProfileStore>,
        directory: Arc<dyn UserDirectory>,
        authenticator: Arc<dyn Authenticator>,
        accounts: Arc<dyn AccountAdmin>,
        throttle: Throttle,
        guard: SessionGuard,
    ) -> Self {
        Self {
            store,
            directory,
            authenticator,
            accounts,
            throttle,
            guard,
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn delete_own(
        &self,
        caller: &Caller,
        password: &Password,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let me = self.store.get_user(&caller.user_id).await?;
        if !token_is_current(caller.issued_at, me.sessions_revoked_before) {
            return Err(AppError::Unauthenticated("the token has been revoked"));
        }
        let email = match me.profile {
            Some(profile) => profile.email,
            None => {
                self.directory
                    .confirmed_user(&caller.access_token)
                    .await?
                    .email
            }
        };
        let count = self.throttle.login_attempt(&email, origin).await?;
        match self.authenticator.login(&email, password).await {
            Ok(_) => self.throttle.login_succeeded(count).await?,
            Err(AppError::InvalidCredentials) => return Err(AppError::InvalidCredentials),
            Err(other) => {
                self.throttle.login_untested(count).await?;
                return Err(other);
            }
        }
        with_retries(|| self.guard.end_all(&caller.user_id)).await?;
        with_retries(|| self.store.delete_user_data(&caller.user_id)).await?;
        with_retries(|| self.accounts.sign_out_user(&caller.username)).await?;
        with_retries(|| self.accounts.delete_user(&caller.username)).await?;
        tracing::info!("account deleted");
        Ok(())
    }
}
