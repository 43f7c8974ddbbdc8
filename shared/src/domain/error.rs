use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure a use case can report. Adapters translate SDK errors into these at
/// the edge; `crate::http::problem` maps them to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{field} {reason}")]
    Validation { field: &'static str, reason: String },
    #[error("the request body {0}")]
    MalformedBody(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("an account with this email already exists")]
    EmailTaken,
    /// `If-Match` names a version that is no longer current.
    #[error("the profile has changed since the version in If-Match; read it again")]
    PreconditionFailed,
    /// The path exists, not with this method; `allow` lists the ones it has.
    #[error("this path does not take that method; it takes {allow}")]
    MethodNotAllowed { allow: String },
    /// A write lost to concurrent writes more often than it retries.
    #[error("{0}")]
    Conflict(&'static str),
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the account has not been confirmed yet")]
    UserNotConfirmed,
    /// A wrong code, an unknown account or one already confirmed: one answer,
    /// so a confirmation cannot tell which accounts exist.
    #[error(
        "the code is wrong or has been used, or the password is not the one of this registration (register again for a new code)"
    )]
    InvalidCode,
    /// SMS goes only to the deployment's allowed country calling codes.
    #[error("no SMS is sent to this number's country; numbers starting with {allowed} can be used")]
    SmsCountryNotAllowed { allowed: String },
    #[error("the confirmation code has expired; ask for a new one")]
    ExpiredCode,
    /// A sensitive change for an account with TOTP on came without `mfa_code`.
    #[error(
        "this account has an authenticator app on: send mfa_code (its current code, or a recovery code)"
    )]
    MfaCodeRequired,
    /// A holder of a role that needs a second factor (`MfaRequiredRoles`) who
    /// has not turned one on yet.
    #[error(
        "your role needs a second factor: turn on an authenticator app (POST /users/me/mfa/totp) before anything else"
    )]
    MfaEnrollmentRequired,
    /// A second-factor code (TOTP or recovery) that is wrong or was used.
    #[error("the code is wrong, or was used already; wait for the next one")]
    WrongMfaCode,
    /// A sign-in challenge that expired (3 minutes), took five wrong codes or
    /// was answered already.
    #[error("this sign-in has expired or ended; log in again")]
    InvalidMfaSession,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("too many attempts; try again later")]
    TooManyRequests { retry_after: Option<Duration> },
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("unexpected failure")]
    Unexpected(#[source] BoxError),
}

impl AppError {
    pub fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Validation {
            field,
            reason: reason.into(),
        }
    }

    pub fn unexpected(err: impl Into<BoxError>) -> Self {
        Self::Unexpected(err.into())
    }
}
