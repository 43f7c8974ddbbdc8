//! Authentication use cases, one file per capability. Each service holds only
//! the ports its use cases call, so a function wired with it builds only the AWS
//! clients its IAM policy allows.
//!
//! - [`sign_up`]: register, confirm, resend the code (Cognito only).
//! - [`sessions`]: the session cut-off ([`SessionGuard`]), login (Cognito and the
//!   table's login windows), refresh (Cognito only), logout.
//! - [`passwords`]: change, forgot, reset.

mod passwords;
mod sessions;
mod sign_up;

pub use passwords::{
    ForgotPasswordService, PasswordChange, PasswordReset, PasswordResetService, PasswordService,
};
pub use sessions::{Credentials, LoginService, LogoutService, RefreshService, SessionGuard};
pub use sign_up::{ConfirmService, Registration, SignUpAnswer, SignUpService, TakenAddresses};

use crate::domain::AppError;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Confirmed {
    pub confirmed: bool,
}

/// The answer to requests whose outcome must not reveal whether an account exists.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Accepted {
    pub message: &'static str,
}

/// Runs `step` up to three times while it fails for reasons a retry can fix
/// (on top of the SDK's own retries of throttling and transient errors).
pub(crate) async fn with_retries<T, F, Fut>(mut step: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempts_left = 3;
    loop {
        match step().await {
            Err(AppError::Unavailable(_) | AppError::Unexpected(_)) if attempts_left > 1 => {
                attempts_left -= 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn transient_failures_are_retried_but_client_errors_are_not() {
        let calls = AtomicU32::new(0);
        let flaky = with_retries(|| async {
            match calls.fetch_add(1, Ordering::Relaxed) {
                0 => Err(AppError::unexpected("blip")),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(flaky.unwrap(), 7);
        let refused = AtomicU32::new(0);
        let result: Result<(), AppError> = with_retries(|| async {
            refused.fetch_add(1, Ordering::Relaxed);
            Err(AppError::InvalidCode)
        })
        .await;
        assert!(matches!(result, Err(AppError::InvalidCode)));
        assert_eq!(refused.load(Ordering::Relaxed), 1);
    }
}
