//! The AWS SDK clients of one cold start, and how a failed call is reported.

use crate::domain::{AppError, BoxError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::RequestId;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// Timeouts of every SDK call (see [`AwsClients::from_env`]).
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(9);

/// An AWS service a function can hold a client for, named by its IAM prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AwsService {
    Cognito,
    DynamoDb,
    Kms,
    Ses,
    Sns,
    Sqs,
}

impl AwsService {
    /// The prefix of the service's IAM actions (`dynamodb:GetItem`).
    pub fn iam_prefix(self) -> &'static str {
        match self {
            Self::Cognito => "cognito-idp",
            Self::DynamoDb => "dynamodb",
            Self::Kms => "kms",
            Self::Ses => "ses",
            Self::Sns => "sns",
            Self::Sqs => "sqs",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Cognito => "Cognito",
            Self::DynamoDb => "DynamoDB",
            Self::Kms => "KMS",
            Self::Ses => "SES",
            Self::Sns => "SNS",
            Self::Sqs => "SQS",
        }
    }
}

/// The SDK configuration, loaded once per cold start, and the clients built from
/// it. A client is built only when an adapter asks for it, so a function holds
/// exactly the clients of the adapters it is wired with ([`Self::built`]).
pub struct AwsClients {
    sdk: aws_config::SdkConfig,
    cognito: OnceLock<aws_sdk_cognitoidentityprovider::Client>,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    kms: OnceLock<aws_sdk_kms::Client>,
    ses: OnceLock<aws_sdk_sesv2::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    built: Mutex<Vec<AwsService>>,
}

impl AwsClients {
    /// From the environment: region, credentials and `AWS_ENDPOINT_URL*` (the only
    /// switch between AWS and the local stack), with explicit timeouts: the SDK
    /// sets none by default, and a call that hangs would hold the function to its
    /// own timeout. No per-attempt timeout: a Cognito call waits on its triggers
    /// (up to 5 s each, retried), and retrying a sign-up that is still running
    /// would create a conflict. The operation timeout stays under the functions'
    /// 10 s, so a caller gets a 503 rather than Lambda's timeout.
    pub async fn from_env() -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .load()
            .await;
        Self::new(config)
    }

    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        Self {
            sdk,
            cognito: OnceLock::new(),
            dynamodb: OnceLock::new(),
            kms: OnceLock::new(),
            ses: OnceLock::new(),
            sns: OnceLock::new(),
            sqs: OnceLock::new(),
            built: Mutex::new(Vec::new()),
        }
    }

    /// A configuration that is never used to call AWS: for tests of the wiring.
    #[cfg(any(test, feature = "testing"))]
    pub fn unconfigured() -> Self {
        Self::new(
            aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::from_static("us-east-1"))
                .build(),
        )
    }

    fn record(&self, service: AwsService) {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if !built.contains(&service) {
            built.push(service);
            built.sort();
        }
    }

    pub(crate) fn cognito(&self) -> aws_sdk_cognitoidentityprovider::Client {
        self.record(AwsService::Cognito);
        self.cognito
            .get_or_init(|| aws_sdk_cognitoidentityprovider::Client::new(&self.sdk))
            .clone()
    }

    pub(crate) fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.record(AwsService::DynamoDb);
        self.dynamodb
            .get_or_init(|| aws_sdk_dynamodb::Client::new(&self.sdk))
            .clone()
    }

    pub(crate) fn kms(&self) -> aws_sdk_kms::Client {
        self.record(AwsService::Kms);
        self.kms
            .get_or_init(|| aws_sdk_kms::Client::new(&self.sdk))
            .clone()
    }

    pub(crate) fn ses(&self) -> aws_sdk_sesv2::Client {
        self.record(AwsService::Ses);
        self.ses
            .get_or_init(|| aws_sdk_sesv2::Client::new(&self.sdk))
            .clone()
    }

    pub(crate) fn sns(&self) -> aws_sdk_sns::Client {
        self.record(AwsService::Sns);
        self.sns
            .get_or_init(|| aws_sdk_sns::Client::new(&self.sdk))
            .clone()
    }

    pub(crate) fn sqs(&self) -> aws_sdk_sqs::Client {
        self.record(AwsService::Sqs);
        self.sqs
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk))
            .clone()
    }

    /// The services whose clients were built so far, in order.
    pub fn built(&self) -> Vec<AwsService> {
        self.built.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Which AWS call failed and how: the error code and request id, never the
/// message (Cognito's messages can quote the token or username that was sent).
/// Attached as the source of `AppError::Unexpected` or `Unavailable`, so the log
/// line of a 5xx names the call.
#[derive(Debug)]
pub struct AwsCallError {
    pub service: AwsService,
    pub operation: &'static str,
    pub code: String,
    pub request_id: Option<String>,
    transport: Option<BoxError>,
}

impl fmt::Display for AwsCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} failed: {}",
            self.service.label(),
            self.operation,
            self.code
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AwsCallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.transport
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Error codes that say "try again later", whichever the service.
const RETRYABLE: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "LimitExceededException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailableException",
    "KMSThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalErrorException",
    "ServiceUnavailable",
    // Cognito could not get an answer from a trigger (it timed out three times,
    // or Lambda throttled it): an overloaded dependency, not a bug.
    "UnexpectedLambdaException",
];

/// One AWS call, for reporting its failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub service: AwsService,
    pub operation: &'static str,
}

impl Call {
    pub fn cognito(operation: &'static str) -> Self {
        Self {
            service: AwsService::Cognito,
            operation,
        }
    }

    pub fn dynamodb(operation: &'static str) -> Self {
        Self {
            service: AwsService::DynamoDb,
            operation,
        }
    }

    pub fn of(service: AwsService, operation: &'static str) -> Self {
        Self { service, operation }
    }

    /// Splits an SDK failure into the service's own error, for the caller to
    /// translate, or an `AppError` for everything else: a transport failure is
    /// `Unavailable`, a failure to build or read the request `Unexpected`.
    pub fn split<E, R>(self, err: SdkError<E, R>) -> Result<E, AppError>
    where
        E: std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let (code, unavailable) = match &err {
            SdkError::ServiceError(_) => ("", false),
            SdkError::TimeoutError(_) => ("timeout", true),
            SdkError::DispatchFailure(_) => ("dispatch failure", true),
            SdkError::ResponseError(_) => ("unreadable response", false),
            SdkError::ConstructionFailure(_) => ("request construction", false),
            _ => ("unknown SDK failure", false),
        };
        if let SdkError::ServiceError(service) = err {
            return Ok(service.into_err());
        }
        let cause = AwsCallError {
            service: self.service,
            operation: self.operation,
            code: code.to_owned(),
            request_id: None,
            transport: Some(Box::new(err)),
        };
        Err(if unavailable {
            AppError::Unavailable(Box::new(cause))
        } else {
            AppError::Unexpected(Box::new(cause))
        })
    }

    /// A service error the caller did not expect: `Unavailable` when the code says
    /// to try again later, `Unexpected` otherwise; either way with the typed cause.
    pub fn failed<E: ProvideErrorMetadata + RequestId>(self, err: &E) -> AppError {
        let code = err.code().unwrap_or("unknown error").to_owned();
        let retryable = RETRYABLE.contains(&code.as_str());
        let cause = Box::new(AwsCallError {
            service: self.service,
            operation: self.operation,
            code,
            request_id: err.request_id().map(str::to_owned),
            transport: None,
        });
        if retryable {
            AppError::Unavailable(cause)
        } else {
            AppError::Unexpected(cause)
        }
    }

    /// A failure worth retrying that carries no service error of its own.
    pub fn unavailable(self, code: &str) -> AppError {
        AppError::Unavailable(Box::new(AwsCallError {
            service: self.service,
            operation: self.operation,
            code: code.to_owned(),
            request_id: None,
            transport: None,
        }))
    }

    /// Any failure of a call that expects no particular error.
    pub fn any<E, R>(self, err: SdkError<E, R>) -> AppError
    where
        E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        match self.split(err) {
            Ok(service) => self.failed(&service),
            Err(err) => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use std::error::Error as _;

    #[test]
    fn an_unexpected_service_error_names_the_call_and_code_but_not_the_message() {
        let err = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("secret-token-in-message")
                .build(),
        );
        let app = Call::dynamodb("PutItem").failed(&err);
        assert!(matches!(app, AppError::Unexpected(_)));
        let cause = app.source().map(ToString::to_string).unwrap_or_default();
        assert!(cause.starts_with("DynamoDB PutItem failed"), "{cause}");
        assert!(!cause.contains("secret-token"), "{cause}");
    }

    #[test]
    fn a_trigger_cognito_got_no_answer_from_is_unavailable_but_a_bad_answer_is_a_bug() {
        use aws_sdk_cognitoidentityprovider::operation::sign_up::SignUpError;
        use aws_sdk_cognitoidentityprovider::types::error::{
            InvalidLambdaResponseException, UnexpectedLambdaException,
        };
        use aws_sdk_dynamodb::error::ErrorMetadata;
        let meta = |code: &str| ErrorMetadata::builder().code(code).build();
        let unanswered = SignUpError::UnexpectedLambdaException(
            UnexpectedLambdaException::builder()
                .meta(meta("UnexpectedLambdaException"))
                .build(),
        );
        assert!(matches!(
            Call::of(AwsService::Cognito, "SignUp").failed(&unanswered),
            AppError::Unavailable(_)
        ));
        let malformed = SignUpError::InvalidLambdaResponseException(
            InvalidLambdaResponseException::builder()
                .meta(meta("InvalidLambdaResponseException"))
                .build(),
        );
        assert!(matches!(
            Call::of(AwsService::Cognito, "SignUp").failed(&malformed),
            AppError::Unexpected(_)
        ));
    }

    #[test]
    fn clients_are_recorded_once_each_when_first_built() {
        let clients = AwsClients::unconfigured();
        assert!(clients.built().is_empty());
        clients.dynamodb();
        clients.dynamodb();
        assert_eq!(clients.built(), vec![AwsService::DynamoDb]);
    }
}
