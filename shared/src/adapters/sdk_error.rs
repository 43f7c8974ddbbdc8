use crate::domain::AppError;
use aws_sdk_dynamodb::error::SdkError;
use std::error::Error;

/// Splits an SDK failure into the service's own error, for the caller to translate,
/// or a transport-level failure, which is always `Unavailable`.
pub(crate) fn service_error<E, R>(err: SdkError<E, R>) -> Result<E, AppError>
where
    E: Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(service) => Ok(service.into_err()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            Err(AppError::Unavailable(Box::new(err)))
        }
        other => Err(AppError::Unexpected(Box::new(other))),
    }
}
