//! Pure types and rules. No AWS SDK, no Lambda runtime.

pub mod audit;
mod error;
pub mod messages;
pub mod mfa;
pub mod notifications;
mod password;
pub mod permissions;
pub mod preferences;
mod profile;
pub mod session;
mod signup;
mod throttle;
mod values;

pub use error::{AppError, BoxError};
pub use password::{NewPassword, Password, PasswordPolicy};
pub use profile::{
    ConfirmedUser, ListPosition, NewProfile, Profile, ProfileCreation, UserQuery, UserStatus,
    UserSummary,
};
pub use signup::{SignUpDecision, SignUpPolicy, domain_list};
pub use throttle::{
    Admission, CODE_TRIES, LOGIN_PER_EMAIL, LOGIN_PER_EMAIL_AND_IP, Limit, MFA_CODE_TRIES, OnLimit,
    SENDS_PER_ADDRESS, SMS_PER_ACCOUNT, SMS_PER_NUMBER, Window, login_per_ip, sends_per_ip,
};
pub use values::{
    AccessToken, ConfirmationCode, DisplayName, Email, Locale, PhoneNumber, RefreshToken, Role,
    SmsCountries, UserId,
};

/// Tokens handed to a caller after a successful login. `Debug` never prints them.
#[derive(Clone, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i32,
    /// Who the access token is for and when it was issued; never sent to callers.
    #[serde(skip)]
    pub issued: Option<TokenIssue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenIssue {
    pub user_id: UserId,
    /// The access token's `iat`, in epoch seconds.
    pub issued_at: i64,
    /// The sign-in the tokens belong to (the access token's `origin_jti`).
    pub session_id: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Where a request came from, as API Gateway saw it (the TCP peer, not a
/// header the caller could set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: String,
    pub user_agent: Option<String>,
}

/// Who calls a route that other services may call too: a user with their access
/// token, or a service with its client-credentials token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(Caller),
    Service {
        client_id: String,
        scopes: Vec<String>,
    },
}

/// The authenticated caller of a protected endpoint, from the authorizer's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    /// The identity provider's name for the user (the access token's
    /// `username`): what Cognito's admin APIs take.
    pub username: String,
    pub groups: Vec<String>,
    /// The access token's `iat`, in epoch seconds.
    pub issued_at: i64,
    pub access_token: AccessToken,
    /// The sign-in the token comes from (its `origin_jti`): one session.
    pub session_id: Option<String>,
}

/// What the identity provider says after a sign-up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Registered {
    pub user_id: UserId,
    pub email: Email,
    pub confirmed: bool,
}
