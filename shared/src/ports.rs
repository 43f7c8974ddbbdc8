//! The traits the use cases need. Adapters in `crate::adapters` implement them.

use crate::domain::{
    AppError, ConfirmationCode, DisplayName, Email, NewProfile, Password, Profile, ProfileCreation,
    Registered, Tokens, UserId,
};
use async_trait::async_trait;

/// The identity provider (Cognito in production).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        display_name: Option<&DisplayName>,
    ) -> Result<Registered, AppError>;

    async fn confirm_sign_up(&self, email: &Email, code: &ConfirmationCode)
    -> Result<(), AppError>;

    async fn login(&self, email: &Email, password: &Password) -> Result<Tokens, AppError>;
}

/// Where profiles and role assignments live (DynamoDB in production).
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Creates the profile and its default role assignment together, or nothing.
    /// A profile that already exists is left as it is.
    async fn create_profile(&self, profile: &NewProfile) -> Result<ProfileCreation, AppError>;

    async fn get_profile(&self, user_id: &UserId) -> Result<Option<Profile>, AppError>;
}
