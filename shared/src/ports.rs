//! The traits the use cases need. Adapters in `crate::adapters` implement them.

use crate::domain::{
    AccessToken, AppError, ConfirmationCode, ConfirmedUser, DisplayName, Email, Locale, NewProfile,
    Password, Profile, ProfileCreation, RefreshToken, Registered, Tokens, UserId,
};
use async_trait::async_trait;

/// What a sign-up carries besides the credentials.
#[derive(Debug, Clone, Default)]
pub struct SignUpDetails {
    pub display_name: Option<DisplayName>,
    pub locale: Option<Locale>,
}

/// The identity provider (Cognito in production).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        details: &SignUpDetails,
    ) -> Result<Registered, AppError>;

    async fn confirm_sign_up(&self, email: &Email, code: &ConfirmationCode)
    -> Result<(), AppError>;

    /// Sends a new sign-up code. Succeeds, sending nothing, for an unknown or
    /// already confirmed account, so callers cannot tell them apart.
    async fn resend_confirmation(&self, email: &Email) -> Result<(), AppError>;

    async fn login(&self, email: &Email, password: &Password) -> Result<Tokens, AppError>;

    /// New access and id tokens; `Unauthenticated` for a revoked or unknown token.
    async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError>;

    /// Revokes every refresh token of the token's user.
    async fn sign_out(&self, token: &AccessToken) -> Result<(), AppError>;

    /// `InvalidCredentials` when `current` is wrong.
    async fn change_password(
        &self,
        token: &AccessToken,
        current: &Password,
        new: &Password,
    ) -> Result<(), AppError>;

    /// Sends a reset code. Succeeds, sending nothing, for an unknown account.
    async fn forgot_password(&self, email: &Email) -> Result<(), AppError>;

    async fn reset_password(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        new: &Password,
    ) -> Result<(), AppError>;

    /// Revokes every refresh token of the account with this email; returns its id.
    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError>;
}

/// The identity provider's view of a user, read with their own access token.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    async fn confirmed_user(&self, token: &AccessToken) -> Result<ConfirmedUser, AppError>;
}

/// A user's partition as one read: the profile and the session cut-off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSnapshot {
    pub profile: Option<Profile>,
    /// Access tokens issued before this (epoch seconds) are refused.
    pub sessions_revoked_before: Option<i64>,
}

/// Where profiles and role assignments live (DynamoDB in production).
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Creates the profile and its default role assignment together, or nothing.
    /// A profile that already exists is left as it is.
    async fn create_profile(&self, profile: &NewProfile) -> Result<ProfileCreation, AppError>;

    /// Everything about one user in one round trip.
    async fn get_user(&self, user_id: &UserId) -> Result<UserSnapshot, AppError>;
}

/// Per-user session cut-offs.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn sessions_revoked_before(&self, user_id: &UserId) -> Result<Option<i64>, AppError>;

    /// Moves the cut-off forward to `cutoff` (never back).
    async fn revoke_sessions(&self, user_id: &UserId, cutoff: i64) -> Result<(), AppError>;
}

/// Login-attempt counters, keyed by a digest of the email.
#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// Counts an attempt at `now` (epoch seconds) atomically, opening a new window
    /// if none is open. `Err(wait)` when the email is locked: nothing is counted.
    async fn reserve_attempt(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Result<(), std::time::Duration>, AppError>;

    /// Gives back an attempt that did not test the password (e.g. Cognito was down).
    async fn release_attempt(&self, key: &str) -> Result<(), AppError>;

    /// Forgets the window after a successful login.
    async fn clear(&self, key: &str) -> Result<(), AppError>;
}
