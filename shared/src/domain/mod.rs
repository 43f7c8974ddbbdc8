//! Pure types and rules. No AWS SDK, no Lambda runtime.

mod error;
mod password;
mod profile;
mod values;

pub use error::{AppError, BoxError};
pub use password::{Password, PasswordPolicy};
pub use profile::{NewProfile, Profile, ProfileCreation, UserStatus};
pub use values::{ConfirmationCode, DisplayName, Email, Role, UserId};

/// Tokens handed to a caller after a successful login. `Debug` never prints them.
#[derive(Clone, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i32,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// What the identity provider says after a sign-up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Registered {
    pub user_id: UserId,
    pub email: Email,
    pub confirmed: bool,
}
