//! One's own account: deleting it (the current password first).

use super::*;

/// One's own account: deleting it, and changing its email (below). Deleting:
/// the password is checked (behind the login
/// throttle: a stolen token must not become a way to guess it), then the
/// application data goes, then the Cognito user. Each step is safe to repeat,
/// and the order means a failure half-way leaves what a retry finishes: while
/// the Cognito user exists the password still proves the caller.
#[derive(Clone)]
pub struct AccountService {
    pub(super) store: Arc<dyn ProfileStore>,
    pub(super) directory: Arc<dyn UserDirectory>,
    pub(super) authenticator: Arc<dyn Authenticator>,
    pub(super) accounts: Arc<dyn AccountAdmin>,
    pub(super) throttle: Throttle,
    pub(super) guard: SessionGuard,
    pub(super) audit: Audit,
    /// The address rules of sign-up, for a new address too.
    pub(super) addresses: crate::domain::SignUpPolicy,
}

/// What guards changes to one's account: the login and send limits, the
/// session cut-off, and the address rules of sign-up.
pub struct AccountGuards {
    pub throttle: Throttle,
    pub sessions: SessionGuard,
    pub addresses: crate::domain::SignUpPolicy,
}

impl AccountService {
    pub fn new(
        store: Arc<dyn ProfileStore>,
        directory: Arc<dyn UserDirectory>,
        authenticator: Arc<dyn Authenticator>,
        accounts: Arc<dyn AccountAdmin>,
        guards: AccountGuards,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            directory,
            authenticator,
            accounts,
            throttle: guards.throttle,
            guard: guards.sessions,
            audit,
            addresses: guards.addresses,
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
        self.guard.check(caller, &me)?;
        let email = match me.profile {
            Some(profile) => profile.email,
            None => {
                self.directory
                    .confirmed_user(&caller.access_token)
                    .await?
                    .email
            }
        };
        check_password(
            &self.throttle,
            &*self.authenticator,
            &email,
            password,
            origin,
        )
        .await?;
        with_retries(|| self.guard.end_all(&caller.user_id)).await?;
        with_retries(|| self.store.delete_user_data(&caller.user_id)).await?;
        with_retries(|| self.accounts.sign_out_user(&caller.username)).await?;
        with_retries(|| self.accounts.delete_user(&caller.username)).await?;
        // The trail outlives the account, for its retention.
        self.audit
            .user(&caller.user_id, AuditAction::Deleted, Some(origin))
            .await;
        tracing::info!("account deleted");
        Ok(())
    }
}
