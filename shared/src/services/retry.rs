//! Retrying a step that failed for a reason a retry can fix: one rule for
//! every service (the SDK already retries throttling and transient errors; this
//! covers a whole step, such as a conditional write that must happen).

use crate::domain::AppError;
use std::time::Duration;

/// Runs `step` up to three times while it fails for reasons a retry can fix
/// (on top of the SDK's own retries of throttling and transient errors).
pub async fn with_retries<T, F, Fut>(mut step: F) -> Result<T, AppError>
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
